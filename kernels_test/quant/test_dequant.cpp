// dequant.hpp: hand-built blocks -> hand-computed values, for every type.
#include <cmath>
#include <limits>
#include <vector>

#include "catch.hpp"
#include "dsk/quant/dequant.hpp"
#include "quant_test_util.hpp"

using namespace dsk;
using namespace dsk::quant;
using dsk::quant::test::dequant;

TEST_CASE("dequantize Q8_0", "[quant][dequant]") {
  block_q8_0 b{};
  b.d = f16{0x3800};  // 0.5
  b.qs[0] = 1;
  b.qs[1] = -2;
  b.qs[2] = 127;
  b.qs[3] = -128;
  const auto y = dequant(b);
  CHECK(y[0] == 0.5f);
  CHECK(y[1] == -1.0f);
  CHECK(y[2] == 63.5f);
  CHECK(y[3] == -64.0f);
  CHECK(y[31] == 0.0f);
  b.d = f16{0x0001};  // 2^-24, subnormal: kept
  b.qs[0] = 3;
  CHECK(dequant(b)[0] == std::ldexp(3.0f, -24));
}

TEST_CASE("dequantize Q8_K", "[quant][dequant]") {
  block_q8_K b{};
  b.d = 0.25f;
  b.qs[0] = 5;
  b.qs[255] = -128;
  const auto y = dequant(b);
  CHECK(y[0] == 1.25f);
  CHECK(y[255] == -32.0f);
  CHECK(y[1] == 0.0f);
}

TEST_CASE("dequantize Q4_K", "[quant][dequant]") {
  block_q4_K b{};
  b.d = f16{0x3c00};     // 1
  b.dmin = f16{0x3800};  // 0.5
  // sub-block 0: sc 3, m 2 -> y = 3q - 1; sub-block 5: sc 17, m 33 -> y = 17q - 16.5.
  b.scales[0] = 3;
  b.scales[4] = 2;
  b.scales[9] = 0x11;  // low nibbles of sc_5 (1) and m_5 (1)
  b.scales[1] = 0x40;  // top bits of sc_5 (1)
  b.scales[5] = 0x80;  // top bits of m_5 (2)
  b.qs[0] = 0x05;      // element 0: q 5
  b.qs[64] = 0x70;     // element 160 (sub-block 5): q 7; element 128: q 0
  const auto y = dequant(b);
  CHECK(y[0] == 14.0f);
  CHECK(y[1] == -1.0f);
  CHECK(y[160] == 102.5f);
  CHECK(y[161] == -16.5f);
  CHECK(y[128] == 0.0f);
  // float rounding of d1*q - m1: 1024*63*15 - 2^-10 = 967679.999..., rounds to 967680 in float.
  block_q4_K r{};
  r.d = f16{0x6400};     // 1024
  r.dmin = f16{0x1400};  // 2^-10
  r.scales[0] = 63;
  r.scales[4] = 1;
  r.qs[0] = 0x0F;
  CHECK(dequant(r)[0] == 967680.0f);
  CHECK(dequant(r)[1] == -std::ldexp(1.0f, -10));
}

TEST_CASE("dequantize Q2_K", "[quant][dequant]") {
  block_q2_K b{};
  b.d = f16{0x3800};     // 0.5
  b.dmin = f16{0x3400};  // 0.25
  b.scales[0] = 0x32;    // sc 2, m 3: y = q - 0.75
  b.scales[2] = 0x0F;    // sc 15, m 0: y = 7.5 q
  b.scales[6] = 0xF1;    // sc 1, m 15: y = 0.5 q - 3.75
  b.qs[0] = 0b11100100;  // elements 0, 32, 64, 96: q 0, 1, 2, 3
  b.qs[1] = 0b00000011;  // element 1: q 3
  const auto y = dequant(b);
  CHECK(y[0] == -0.75f);
  CHECK(y[1] == 2.25f);
  CHECK(y[32] == 7.5f);
  CHECK(y[64] == 0.0f);
  CHECK(y[96] == -2.25f);
  CHECK(y[97] == -3.75f);
}

TEST_CASE("dequantize Q6_K", "[quant][dequant]") {
  block_q6_K b{};
  b.d = f16{0x4000};  // 2
  b.scales[0] = -3;
  b.scales[2] = 5;
  b.scales[4] = 127;
  b.scales[6] = -128;
  b.ql[0] = 0xA5;
  b.ql[32] = 0x3F;
  b.qh[0] = 0b11100100;
  const auto y = dequant(b);
  CHECK(y[0] == 162.0f);    // (2 * -3) * (5 - 32)
  CHECK(y[1] == 192.0f);    // (2 * -3) * -32
  CHECK(y[32] == -10.0f);   // (2 * 5) * (31 - 32)
  CHECK(y[64] == 2540.0f);  // (2 * 127) * (42 - 32)
  CHECK(y[96] == -4864.0f); // (2 * -128) * (51 - 32)
  CHECK(y[16] == 0.0f);     // scale 0
}

TEST_CASE("dequantize IQ2_XXS", "[quant][dequant]") {
  block_iq2_xxs b{};
  b.d = f16{0x3c00};  // 1
  // group 0: grid indices 1, 0, 255, 2; sign indices 1, 0, 127, 3; scale 5 -> db = 5.5/4 = 1.375
  const uint32_t w0 = 0x02FF0001u;
  const uint32_t w1 = 1u | (0u << 7) | (127u << 14) | (3u << 21) | (5u << 28);
  b.qs[0] = static_cast<uint16_t>(w0);
  b.qs[1] = static_cast<uint16_t>(w0 >> 16);
  b.qs[2] = static_cast<uint16_t>(w1);
  b.qs[3] = static_cast<uint16_t>(w1 >> 16);
  const auto y = dequant(b);
  // grid[1] = 2b 08 08 08 08 08 08 08 (element 0 first); signs 0b10000001
  CHECK(y[0] == -59.125f);
  CHECK(y[1] == 11.0f);
  CHECK(y[7] == -11.0f);
  // grid[0]: all 8, no signs
  for (int j = 8; j < 16; ++j) CHECK(y[j] == 11.0f);
  // grid[255] = 08 19 08 08 19 2b 2b 2b, all negative
  CHECK(y[16] == -11.0f);
  CHECK(y[17] == -34.375f);
  CHECK(y[21] == -59.125f);
  CHECK(y[23] == -59.125f);
  // grid[2] = 19 19 08 ..., elements 0 and 1 negative
  CHECK(y[24] == -34.375f);
  CHECK(y[25] == -34.375f);
  CHECK(y[26] == 11.0f);
  // group 1: all-zero words: grid[0], no signs, scale 0 -> db = 0.125 -> 8 * 0.125
  for (int j = 32; j < 64; ++j) CHECK(y[j] == 1.0f);
}

TEST_CASE("dequantize F32/F16/BF16 dot blocks", "[quant][dequant]") {
  block_f16 h{};
  h.v[0] = f16{0x3c00};
  h.v[1] = f16{0xc000};
  h.v[2] = f16{0x0001};
  h.v[3] = f16{0x7c00};
  const auto yh = dequant(h);
  CHECK(yh[0] == 1.0f);
  CHECK(yh[1] == -2.0f);
  CHECK(yh[2] == std::ldexp(1.0f, -24));
  CHECK(yh[3] == std::numeric_limits<float>::infinity());
  block_bf16 b{};
  b.v[0] = bf16{0x3f80};
  b.v[1] = bf16{0xc040};
  const auto yb = dequant(b);
  CHECK(yb[0] == 1.0f);
  CHECK(yb[1] == -3.0f);
  block_f32 f{};
  f.v[5] = -0.0f;
  CHECK(fp::bits(dequant(f)[5]) == 0x80000000u);
}

TEST_CASE("dequantize NaN scales give NaN everywhere", "[quant][dequant]") {
  block_q4_K b{};
  b.d = b.dmin = f16{0x7e00};
  for (float v : dequant(b)) CHECK(fp::is_nan(v));
  block_q6_K c{};
  c.d = f16{0x7e00};
  for (float v : dequant(c)) CHECK(fp::is_nan(v));
}
