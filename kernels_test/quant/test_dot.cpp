// dot.hpp: hand-computed block dots, float64 oracle, NR-row == 1-row bits, the canonical row
// order, int32 bounds at the extremes, non-finite blocks.
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "dsk/quant/dot.hpp"
#include "quant_test_util.hpp"

using namespace dsk;
using namespace dsk::quant;
using dsk::quant::test::Rng;
using dsk::quant::test::random_block;

#define DSK_WEIGHT_BLOCKS block_q8_0, block_q4_K, block_q6_K, block_q2_K, block_iq2_xxs, block_f32, block_f16, block_bf16

TEST_CASE("block dots: hand-computed values", "[quant][dot]") {
  SECTION("Q8_0") {
    block_q8_0 w{}, a{};
    w.d = f16{0x3800};  // 0.5
    w.qs[0] = 2;
    w.qs[1] = -3;
    a.d = f16{0x3400};  // 0.25
    a.qs[0] = 10;
    a.qs[1] = 4;
    CHECK(dot_block(w, a) == 1.0f);  // (0.5*0.25) * (20 - 12)
  }
  SECTION("Q4_K") {
    block_q4_K w{};
    w.d = f16{0x3c00};
    w.dmin = f16{0x3800};
    w.scales[0] = 3;  // sc_0
    w.scales[4] = 2;  // m_0
    for (int l = 0; l < 32; ++l) w.qs[l] = 0x01;  // elements 0..31: q 1 (32..63: q 0)
    block_q8_K a{};
    a.d = 0.5f;
    for (int i = 0; i < 32; ++i) a.qs[i] = 2;
    a.bsums[0] = a.bsums[1] = 32;
    CHECK(dot_block(w, a) == 64.0f);  // (1*0.5)*(3*64) - (0.5*0.5)*(2*64); w_i = 2, a_i = 1
  }
  SECTION("Q2_K") {
    block_q2_K w{};
    w.d = f16{0x3800};
    w.dmin = f16{0x3400};
    w.scales[0] = 0x32;                           // sc 2, m 3
    for (int l = 0; l < 16; ++l) w.qs[l] = 0x03;  // elements 0..15: q 3
    block_q8_K a{};
    a.d = 2.0f;
    for (int i = 0; i < 16; ++i) a.qs[i] = 1;
    a.bsums[0] = 16;
    CHECK(dot_block(w, a) == 72.0f);  // (0.5*2)*(2*48) - (0.25*2)*(3*16); w_i = 2.25, a_i = 2
  }
  SECTION("Q6_K") {
    block_q6_K w{};
    w.d = f16{0x4000};
    w.scales[0] = -3;  // other scales 0; all q = -32
    block_q8_K a{};
    a.d = 0.5f;
    for (int i = 0; i < 16; ++i) a.qs[i] = 1;
    CHECK(dot_block(w, a) == 1536.0f);  // (2*0.5) * (-3 * 16 * -32)
  }
  SECTION("IQ2_XXS") {
    block_iq2_xxs w{};
    w.d = f16{0x3c00};
    w.qs[7] = 5u << 12;  // group 1: ls 5 (bits 28..31 of its second word)
    block_q8_K a{};
    a.d = 1.0f;
    for (int i = 0; i < 32; ++i) a.qs[i] = 1;
    for (int i = 32; i < 64; ++i) a.qs[i] = -2;
    // isum = 1*(32*8*1) + 11*(32*8*-2) = -5376; r = -5376 * 0.125
    CHECK(dot_block(w, a) == -672.0f);
  }
  SECTION("F32: fused multiply-adds") {
    block_f32 w{}, x{};
    w.v[0] = -(1.0f + std::ldexp(1.0f, -11));
    x.v[0] = 1.0f;
    w.v[1] = 1.0f + std::ldexp(1.0f, -12);
    x.v[1] = 1.0f + std::ldexp(1.0f, -12);
    // (1 + 2^-12)^2 - (1 + 2^-11) = 2^-24 exactly with fma; mul then add would give 0.
    CHECK(dot_block(w, x) == std::ldexp(1.0f, -24));
  }
  SECTION("F16 and BF16") {
    block_f16 w{};
    block_bf16 v{};
    block_f32 x{};
    w.v[0] = f16{0x3c00};   // 1
    w.v[31] = f16{0xc000};  // -2
    v.v[0] = bf16{0x3f80};  // 1
    v.v[31] = bf16{0xc000}; // -2
    x.v[0] = 3.0f;
    x.v[31] = 0.25f;
    CHECK(dot_block(w, x) == 2.5f);
    CHECK(dot_block(v, x) == 2.5f);
  }
}

TEMPLATE_TEST_CASE("block dots match a float64 oracle", "[quant][dot]", DSK_WEIGHT_BLOCKS) {
  using W = TestType;
  using A = act_block_t<W>;
  Rng rng(7);
  for (int t = 0; t < 300; ++t) {
    const W w = random_block<W>(rng);
    const A a = random_block<A>(rng);
    const auto [want, mag] = test::dot_oracle(w, a);
    const float got = dot_block(w, a);
    INFO("t = " << t << " got " << got << " want " << want << " magnitude " << mag);
    CHECK(std::fabs(static_cast<double>(got) - want) <= 4e-6 * mag + 1e-30);
  }
}

namespace {

template <class W, int NR>
void check_multi_block(Rng& rng) {
  using A = act_block_t<W>;
  constexpr int64_t stride = 3;  // rows 3 blocks apart; the blocks between are not read
  std::vector<A> a(NR * stride);
  for (A& b : a) b = random_block<A>(rng);
  const W w = random_block<W>(rng);
  float r[NR];
  dot_block_multi<NR>(w, a.data(), stride, r);
  for (int k = 0; k < NR; ++k) CHECK(fp::bits(r[k]) == fp::bits(dot_block(w, a[k * stride])));
}

template <class W, int NR>
void check_multi_row(Rng& rng, int nb) {
  using A = act_block_t<W>;
  const int64_t stride = nb + 2;
  std::vector<W> w(nb);
  for (W& b : w) b = random_block<W>(rng);
  std::vector<A> a(NR * stride);
  for (A& b : a) b = random_block<A>(rng);
  float r[NR];
  dot_row_multi<NR>(w.data(), a.data(), stride, nb, r);
  for (int k = 0; k < NR; ++k) CHECK(fp::bits(r[k]) == fp::bits(dot_row(w.data(), a.data() + k * stride, nb)));
}

template <class W, int... NR>
void check_all_nr(Rng& rng, std::integer_sequence<int, NR...>) {
  (check_multi_block<W, NR + 1>(rng), ...);
  for (int nb : {1, 5, 33, 70}) (check_multi_row<W, NR + 1>(rng, nb), ...);
}

// The canonical row order written out independently of reduce.hpp: 32 contiguous chunks of
// ceil(nb/32) blocks summed sequentially, then a balanced pairwise tree over the 32 chunk sums.
float tree(const float* v, int n) { return n == 1 ? v[0] : tree(v, n / 2) + tree(v + n / 2, n / 2); }
float canonical_row(const std::vector<float>& r) {
  const int nb = static_cast<int>(r.size()), L = (nb + 31) / 32;
  float slot[32];
  for (int c = 0; c < 32; ++c) {
    float acc = 0.0f;
    for (int b = c * L; b < std::min(nb, (c + 1) * L); ++b) acc += r[b];
    slot[c] = acc;
  }
  return tree(slot, 32);
}

}  // namespace

TEMPLATE_TEST_CASE("multi-row dots have the bits of the single-row dots", "[quant][dot]", DSK_WEIGHT_BLOCKS) {
  Rng rng(21);
  check_all_nr<TestType>(rng, std::make_integer_sequence<int, 8>{});
}

TEMPLATE_TEST_CASE("row dots use the canonical row order", "[quant][dot]", DSK_WEIGHT_BLOCKS) {
  using W = TestType;
  using A = act_block_t<W>;
  Rng rng(5);
  for (int nb : {1, 2, 3, 5, 31, 32, 33, 63, 64, 65, 100, 257}) {
    std::vector<W> w(nb);
    std::vector<A> a(nb);
    std::vector<float> r(nb);
    for (int b = 0; b < nb; ++b) {
      w[b] = random_block<W>(rng);
      a[b] = random_block<A>(rng);
      r[b] = dot_block(w[b], a[b]);
    }
    INFO("nb = " << nb);
    CHECK(fp::bits(dot_row(w.data(), a.data(), nb)) == fp::bits(canonical_row(r)));
  }
}

TEST_CASE("row order differs from a sequential sum (the test can fail)", "[quant][dot]") {
  // 64 blocks, 2 per slot: slots 1, 0, 1e8, -1e8. Sequentially 1 + 1e8 - 1e8 = 0; the tree adds
  // (1 + 0) + (1e8 - 1e8) = 1.
  std::vector<float> r(64, 0.0f);
  r[0] = 1.0f;
  r[4] = 1e8f;
  r[6] = -1e8f;
  float seq = 0.0f;
  for (float v : r) seq += v;
  CHECK(seq == 0.0f);
  CHECK(canonical_row(r) == 1.0f);
  CHECK(order::row_sum(64, [&](int b) { return r[b]; }) == 1.0f);
}

TEST_CASE("int32 sums at the extremes of every format", "[quant][dot]") {
  block_q8_K a{};
  a.d = 1.0f;
  for (auto& q : a.qs) q = -128;
  for (auto& s : a.bsums) s = -32768;
  SECTION("Q8_0") {
    block_q8_0 w{}, x{};
    w.d = x.d = f16{0x3c00};
    for (auto& q : w.qs) q = -128;
    for (auto& q : x.qs) q = -128;
    CHECK(dot_block(w, x) == 524288.0f);  // 32 * 128^2 = 2^19
  }
  SECTION("Q4_K") {
    block_q4_K w{};
    w.d = w.dmin = f16{0x3c00};
    for (auto& s : w.scales) s = 0xFF;  // every sc_j = m_j = 63
    for (auto& q : w.qs) q = 0xFF;      // every q = 15
    const int64_t isum = 8LL * 63 * 32 * 15 * -128, msum = 8LL * 63 * 2 * -32768;
    REQUIRE(std::llabs(isum) < (1LL << 31));
    REQUIRE(std::llabs(msum) < (1LL << 31));
    CHECK(dot_block(w, a) == static_cast<float>(isum) - static_cast<float>(msum));
  }
  SECTION("Q2_K") {
    block_q2_K w{};
    w.d = w.dmin = f16{0x3c00};
    for (auto& s : w.scales) s = 0xFF;  // sc 15, m 15
    for (auto& q : w.qs) q = 0xFF;      // q 3
    const int64_t isum = 16LL * 15 * 16 * 3 * -128, msum = 16LL * 15 * -32768;
    CHECK(dot_block(w, a) == static_cast<float>(isum) - static_cast<float>(msum));
  }
  SECTION("Q6_K") {
    block_q6_K w{};
    w.d = f16{0x3c00};
    for (auto& s : w.scales) s = -128;  // ql = qh = 0: q = -32
    const int64_t isum = 16LL * -128 * 16 * -32 * -128;  // -2^27
    REQUIRE(isum == -(1LL << 27));
    CHECK(dot_block(w, a) == static_cast<float>(isum));
  }
  SECTION("IQ2_XXS") {
    block_iq2_xxs w{};
    w.d = f16{0x3c00};
    for (auto& q : w.qs) q = 0xFFFF;  // grid[255], all signs negative (ksigns[127] = 255), ls 15
    int64_t g = 0;                    // sum of grid[255] magnitudes times 4 entries per group
    for (int j = 0; j < 8; ++j) g += iq2xxs_grid_value(255, j);
    const int64_t isum = 8LL * 31 * 4 * g * 128;  // (-grid) * (-128)
    REQUIRE(isum < (1LL << 31));
    CHECK(dot_block(w, a) == static_cast<float>(isum) * 0.125f);
  }
}

TEMPLATE_TEST_CASE("NaN blocks give NaN dots", "[quant][dot][nonfinite]", DSK_WEIGHT_BLOCKS) {
  using W = TestType;
  using A = act_block_t<W>;
  Rng rng(3);
  std::vector<float> x(256, 0.5f);
  x[9] = std::numeric_limits<float>::quiet_NaN();
  A a_nan;
  quantize_block(x.data(), a_nan);  // non-finite policy: d NaN (float types: the NaN itself)
  std::vector<W> w(3);
  std::vector<A> a(3);
  for (int b = 0; b < 3; ++b) {
    w[b] = random_block<W>(rng);
    a[b] = random_block<A>(rng);
  }
  CHECK(fp::is_nan(dot_block(w[0], a_nan)));
  a[1] = a_nan;
  CHECK(fp::is_nan(dot_row(w.data(), a.data(), 3)));
  if constexpr (!std::is_same_v<W, block_iq2_xxs>) {  // IQ2_XXS has no quantizer
    W w_nan;
    quantize_block(x.data(), w_nan);
    CHECK(fp::is_nan(dot_block(w_nan, a[0])));
  }
  if constexpr (!std::is_same_v<A, block_f32>) {  // an infinity makes a quantized block NaN too
    x[9] = -std::numeric_limits<float>::infinity();
    quantize_block(x.data(), a_nan);
    CHECK(fp::is_nan(dot_block(w[2], a_nan)));
  }
}
