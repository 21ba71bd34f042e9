// reference/quant.hpp: the type-dispatching row functions and their errors.
#include <stdexcept>
#include <vector>

#include "catch.hpp"
#include "dsk/quant/dot.hpp"
#include "reference/quant.hpp"
#include "quant_test_util.hpp"

using namespace dsk;
using namespace dsk::quant;
using dsk::quant::test::Rng;
using dsk::quant::test::random_block;

TEST_CASE("ref: activation types, block sizes, row bytes", "[quant][ref]") {
  CHECK(ref::activation_type(GgmlType::Q8_0) == GgmlType::Q8_0);
  for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q2_K, GgmlType::IQ2_XXS})
    CHECK(ref::activation_type(t) == GgmlType::Q8_K);
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    CHECK(ref::activation_type(t) == GgmlType::F32);
    CHECK(ref::block_elems(t) == 1);
    CHECK(ref::dot_block_elems(t) == 32);
  }
  CHECK(ref::block_elems(GgmlType::Q4_K) == 256);
  CHECK(ref::dot_block_elems(GgmlType::Q8_0) == 32);
  CHECK(ref::row_bytes(GgmlType::Q4_K, 512) == 288);
  CHECK(ref::row_bytes(GgmlType::Q8_K, 256) == 292);
  CHECK(ref::row_bytes(GgmlType::F16, 3) == 6);
  CHECK(ref::row_bytes(GgmlType::IQ2_XXS, 768) == 198);
}

TEST_CASE("ref: errors are std::invalid_argument", "[quant][ref]") {
  std::vector<float> x(512, 1.0f), y(512);
  std::vector<uint8_t> q(4096);
  CHECK_THROWS_AS(ref::activation_type(GgmlType::Q8_K), std::invalid_argument);
  CHECK_THROWS_AS(ref::activation_type(GgmlType::Q4_0), std::invalid_argument);
  CHECK_THROWS_AS(ref::block_elems(GgmlType::Q5_K), std::invalid_argument);
  CHECK_THROWS_AS(ref::quantize_row(GgmlType::Q4_K, x.data(), q.data(), 100), std::invalid_argument);
  CHECK_THROWS_AS(ref::quantize_row(GgmlType::IQ2_XXS, x.data(), q.data(), 256), std::invalid_argument);
  CHECK_THROWS_AS(ref::quantize_row(GgmlType::Q3_K, x.data(), q.data(), 256), std::invalid_argument);
  CHECK_THROWS_AS(ref::dequantize_row(GgmlType::Q8_0, q.data(), y.data(), 48), std::invalid_argument);
  CHECK_THROWS_AS(ref::dequantize_row(GgmlType::MXFP4, q.data(), y.data(), 32), std::invalid_argument);
  CHECK_THROWS_AS(ref::dot_row(GgmlType::F16, q.data(), x.data(), 48), std::invalid_argument);
  CHECK_THROWS_AS(ref::dot_row(GgmlType::Q8_K, q.data(), q.data(), 256), std::invalid_argument);
  CHECK_THROWS_AS(ref::row_bytes(GgmlType::Q6_K, 255), std::invalid_argument);
  CHECK_THROWS_WITH(ref::quantize_row(GgmlType::Q4_K, x.data(), q.data(), 100),
                    "dsk::ref::quantize_row: K = 100 is not a multiple of 256 for Q4_K");
}

TEST_CASE("ref: rows are the per-block functions", "[quant][ref]") {
  Rng rng(17);
  const int64_t K = 512;
  std::vector<float> x(K);
  for (float& v : x) v = rng.normal();
  SECTION("quantize_row / dequantize_row") {
    std::vector<block_q8_K> a(2);
    ref::quantize_row(GgmlType::Q8_K, x.data(), a.data(), K, Q8Flavor::ik_x86);
    block_q8_K b;
    quantize_block(x.data() + 256, b, Q8Flavor::ik_x86);
    CHECK(test::same_bytes(a[1], b));
    std::vector<float> y(K);
    ref::dequantize_row(GgmlType::Q8_K, a.data(), y.data(), K);
    const auto yb = test::dequant(b);
    for (int i = 0; i < 256; ++i) CHECK(fp::bits(y[256 + i]) == fp::bits(yb[i]));
    std::vector<f16> h(7);
    ref::quantize_row(GgmlType::F16, x.data(), h.data(), 7);
    for (int i = 0; i < 7; ++i) CHECK(h[i].bits == f16::from_float(x[i]).bits);
    std::vector<block_q6_K> w(2);
    ref::quantize_row(GgmlType::Q6_K, x.data(), w.data(), K);
    block_q6_K wb;
    quantize_block(x.data(), wb);
    CHECK(test::same_bytes(w[0], wb));
  }
  SECTION("dot_row and gemv") {
    std::vector<block_q4_K> w(6);  // 3 rows of 2 blocks
    for (auto& b : w) b = random_block<block_q4_K>(rng);
    std::vector<block_q8_K> a(2);
    ref::quantize_row(GgmlType::Q8_K, x.data(), a.data(), K);
    std::vector<float> y(3);
    ref::gemv(GgmlType::Q4_K, w.data(), 3, a.data(), K, y.data());
    for (int m = 0; m < 3; ++m) {
      const float want = dot_row(w.data() + 2 * m, a.data(), 2);
      CHECK(fp::bits(y[m]) == fp::bits(want));
      CHECK(fp::bits(ref::dot_row(GgmlType::Q4_K, w.data() + 2 * m, a.data(), K)) == fp::bits(want));
    }
    // strided rows: every other row of the 3
    std::vector<float> y2(2);
    ref::gemv(GgmlType::Q4_K, w.data(), 2, a.data(), K, y2.data(), 2 * 2 * sizeof(block_q4_K));
    CHECK(fp::bits(y2[1]) == fp::bits(y[2]));
    // float weights: F16 row of 64 with an F32 activation row
    std::vector<f16> wh(64);
    for (auto& v : wh) v = f16::from_float(rng.normal());
    const float r = ref::dot_row(GgmlType::F16, wh.data(), x.data(), 64);
    CHECK(fp::bits(r) == fp::bits(dot_row(reinterpret_cast<const block_f16*>(wh.data()),
                                          reinterpret_cast<const block_f32*>(x.data()), 2)));
  }
}
