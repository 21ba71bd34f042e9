// blocks.hpp and tables.hpp: the byte layouts and the IQ2_XXS tables.
#include <cstddef>

#include "catch.hpp"
#include "dsk/quant/blocks.hpp"
#include "dsk/quant/tables.hpp"

using namespace dsk;
using namespace dsk::quant;

TEST_CASE("block layouts are ggml's, byte for byte", "[quant][blocks]") {
  CHECK(offsetof(block_q8_0, qs) == 2);
  CHECK(offsetof(block_q8_K, qs) == 4);
  CHECK(offsetof(block_q8_K, bsums) == 260);
  CHECK(offsetof(block_q4_K, dmin) == 2);
  CHECK(offsetof(block_q4_K, scales) == 4);
  CHECK(offsetof(block_q4_K, qs) == 16);
  CHECK(offsetof(block_q6_K, qh) == 128);
  CHECK(offsetof(block_q6_K, scales) == 192);
  CHECK(offsetof(block_q6_K, d) == 208);
  CHECK(offsetof(block_q2_K, qs) == 16);
  CHECK(offsetof(block_q2_K, d) == 80);
  CHECK(offsetof(block_q2_K, dmin) == 82);
  CHECK(offsetof(block_iq2_xxs, qs) == 2);
  CHECK(offsetof(block_q8_2, s) == 2);
  CHECK(offsetof(block_q8_2, qs) == 4);
  CHECK(alignof(block_q6_K) == 2);
  CHECK(alignof(block_q8_K) == 4);
}

TEST_CASE("Q4_K scale/min unpacking", "[quant][blocks]") {
  // Bytes 0..3: sc_0..3 low 6 bits, top 2 bits = bits 4..5 of sc_4..7; 4..7 the same for mins;
  // 8..11: low nibble sc_4..7, high nibble m_4..7.
  const uint8_t s[12] = {0x01 | 0x40, 0x3f, 0x00 | 0xC0, 0x22,   // sc 1, 63, 0, 34; hi bits of sc4=1, sc6=3
                         0x05, 0x80 | 0x10, 0x3e, 0xC0 | 0x07,   // m 5, 16, 62, 7; hi of m5=2, m7=3
                         0x21, 0x43, 0x65, 0x87};                // sc4..7 low 1,3,5,7; m4..7 low 2,4,6,8
  const int want_sc[8] = {1, 63, 0, 34, 1 | (1 << 4), 3, 5 | (3 << 4), 7};
  const int want_m[8] = {5, 16, 62, 7, 2, 4 | (2 << 4), 6, 8 | (3 << 4)};
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    q4k_scale_min(s, j, sc, m);
    CHECK(sc == want_sc[j]);
    CHECK(m == want_m[j]);
  }
}

TEST_CASE("element accessors follow ggml's element order", "[quant][blocks]") {
  SECTION("Q4_K") {
    block_q4_K b{};
    b.qs[0] = 0x21;   // element 0 -> 1, element 32 -> 2
    b.qs[33] = 0x43;  // element 65 -> 3, element 97 -> 4
    b.qs[127] = 0xF5; // element 223 -> 5, element 255 -> 15
    CHECK(q4k_quant(b, 0) == 1);
    CHECK(q4k_quant(b, 32) == 2);
    CHECK(q4k_quant(b, 65) == 3);
    CHECK(q4k_quant(b, 97) == 4);
    CHECK(q4k_quant(b, 223) == 5);
    CHECK(q4k_quant(b, 255) == 15);
    CHECK(q4k_quant(b, 1) == 0);
  }
  SECTION("Q2_K") {
    block_q2_K b{};
    b.qs[0] = 0b11100100;  // elements 0, 32, 64, 96 -> 0, 1, 2, 3
    b.qs[32 + 5] = 0b01000000;  // element 128+96+5 = 229 -> 1
    CHECK(q2k_quant(b, 0) == 0);
    CHECK(q2k_quant(b, 32) == 1);
    CHECK(q2k_quant(b, 64) == 2);
    CHECK(q2k_quant(b, 96) == 3);
    CHECK(q2k_quant(b, 229) == 1);
    CHECK(q2k_quant(b, 128 + 5) == 0);
  }
  SECTION("Q6_K") {
    block_q6_K b{};
    for (auto& v : b.ql) v = 0;
    for (auto& v : b.qh) v = 0;
    // element 0: ql[0] low, qh[0] bits 0-1; element 32: ql[32] low, qh[0] bits 2-3;
    // element 64: ql[0] high, qh[0] bits 4-5; element 96: ql[32] high, qh[0] bits 6-7.
    b.ql[0] = 0xA5;          // low 5, high 10
    b.ql[32] = 0x3F;         // low 15, high 3
    b.qh[0] = 0b11100100;    // 0, 1, 2, 3
    CHECK(q6k_quant(b, 0) == 5 - 32);
    CHECK(q6k_quant(b, 32) == (15 | 16) - 32);
    CHECK(q6k_quant(b, 64) == (10 | 32) - 32);
    CHECK(q6k_quant(b, 96) == (3 | 48) - 32);
    // second half: element 128 + 64 + 7 = 199: ql[64 + 7] high nibble, qh[32 + 7] bits 4-5
    b.ql[71] = 0xF0;
    b.qh[39] = 0b00110000;
    CHECK(q6k_quant(b, 199) == 63 - 32);
  }
  SECTION("IQ2_XXS words") {
    block_iq2_xxs b{};
    b.qs[8] = 0x3412;
    b.qs[9] = 0x7856;
    b.qs[10] = 0xBBAA;
    b.qs[11] = 0xF0DD;
    CHECK(iq2xxs_word(b, 2, 0) == 0x78563412u);
    CHECK(iq2xxs_word(b, 2, 1) == 0xF0DDBBAAu);
  }
}

TEST_CASE("IQ2_XXS tables", "[quant][tables]") {
  // Spot values of ggml's iq2xxs_grid (ggml-common.h); the whole table is compared with gguf-py's
  // copy by the quant_gguf_crosscheck test.
  CHECK(iq2xxs_grid(0) == 0x0808080808080808ull);
  CHECK(iq2xxs_grid(1) == 0x080808080808082bull);
  CHECK(iq2xxs_grid(2) == 0x0808080808081919ull);
  CHECK(iq2xxs_grid(127) == 0x082b192b2b190808ull);
  CHECK(iq2xxs_grid(128) == 0x082b2b0808082b08ull);
  CHECK(iq2xxs_grid(255) == 0x2b2b2b1908081908ull);
  CHECK(iq2xxs_grid_value(1, 0) == 0x2b);
  CHECK(iq2xxs_grid_value(1, 1) == 0x08);
  for (int i = 0; i < 256; ++i)
    for (int j = 0; j < 8; ++j) {
      const int v = iq2xxs_grid_value(i, j);
      CHECK((v == 0x08 || v == 0x19 || v == 0x2b));
    }
  for (int i = 0; i < 256; ++i)  // distinct entries
    for (int k = i + 1; k < 256; ++k) CHECK(iq2xxs_grid(i) != iq2xxs_grid(k));
  for (int i = 0; i < 128; ++i) {
    int parity = 0;
    for (int b = 0; b < 7; ++b) parity ^= (i >> b) & 1;
    CHECK(ksigns_iq2xs(i) == (i | (parity << 7)));
  }
  CHECK(ksigns_iq2xs(1) == 129);
  CHECK(ksigns_iq2xs(127) == 255);
  for (int j = 0; j < 8; ++j) CHECK(kmask_iq2xs(j) == kKmaskIq2xs[j]);
  CHECK(kKmaskIq2xs[7] == 128);
}
