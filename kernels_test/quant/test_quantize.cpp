// quantize.hpp: activation quantizer bytes (ggml ref / x86 / ik flavours) from hand vectors,
// the non-finite policy, weight quantizer error bounds, F16/BF16, the IQ2_XXS generator.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "catch.hpp"
#include "dsk/quant/dequant.hpp"
#include "dsk/quant/quantize.hpp"
#include "quant_test_util.hpp"

using namespace dsk;
using namespace dsk::quant;
using dsk::quant::test::dequant;
using dsk::quant::test::Rng;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

template <class B>
B quantized(const std::vector<float>& x, Q8Flavor f) {
  B b;
  quantize_block(x.data(), b, f);
  return b;
}

std::vector<int> qs_of(const block_q8_0& b, int n) { return std::vector<int>(b.qs, b.qs + n); }
std::vector<int> qs_of(const block_q8_K& b, int n) { return std::vector<int>(b.qs, b.qs + n); }

}  // namespace

TEST_CASE("Q8_0 quantizer: ggml_ref rounds half away, x86 rounds half even", "[quant][quantize]") {
  // amax 127: d = 1 (fp16 0x3c00), id = 1 in both flavours, x*id == x.
  std::vector<float> x(32, 0.0f);
  const float v[] = {127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, 3.49999f, -126.5f, 0.0f, -0.0f, 64.75f};
  for (int i = 0; i < 11; ++i) x[i] = v[i];
  const auto r = quantized<block_q8_0>(x, Q8Flavor::ggml_ref);
  const auto s = quantized<block_q8_0>(x, Q8Flavor::ggml_x86);
  const auto k = quantized<block_q8_0>(x, Q8Flavor::ik_x86);
  CHECK(r.d.bits == 0x3c00);
  CHECK(s.d.bits == 0x3c00);
  CHECK(qs_of(r, 11) == std::vector<int>{127, 3, -3, 1, -1, 2, 3, -127, 0, 0, 65});
  CHECK(qs_of(s, 11) == std::vector<int>{127, 2, -2, 0, 0, 2, 3, -126, 0, 0, 65});
  CHECK(test::same_bytes(s, k));  // ik's quantize_row_q8_0 is ggml's x86 code

  // amax 1: d = 1/127 (fp16 0x2008), id = 127 exactly in both flavours (numpy float32).
  std::fill(x.begin(), x.end(), 0.0f);
  x[0] = -1.0f;
  x[1] = fp::from_bits(0x3b810204u);  // * 127 = 0.5
  x[2] = fp::from_bits(0x3c418306u);  // * 127 = 1.5
  x[3] = fp::from_bits(0xbca14285u);  // * 127 = -2.5
  x[4] = -0.5f;                       // -63.5
  x[5] = -0.7f;                       // -88.9
  x[6] = 0.25f;                       // 31.75
  const auto r1 = quantized<block_q8_0>(x, Q8Flavor::ggml_ref);
  const auto s1 = quantized<block_q8_0>(x, Q8Flavor::ggml_x86);
  CHECK(r1.d.bits == 0x2008);
  CHECK(qs_of(r1, 7) == std::vector<int>{-127, 1, 2, -3, -64, -89, 32});
  CHECK(qs_of(s1, 7) == std::vector<int>{-127, 0, 2, -2, -64, -89, 32});

  // id = 1/d and id = 127/amax differ: amax 0x3e199999 gives 846.66675 vs 846.6667, so
  // x = 0x3c112244 lands on 7.5000005 (ref: 8) vs 7.4999995 (x86: 7). d: fp16 0x14d6.
  std::fill(x.begin(), x.end(), 0.0f);
  x[0] = fp::from_bits(0x3e199999u);
  x[1] = fp::from_bits(0x3c112244u);
  const auto r2 = quantized<block_q8_0>(x, Q8Flavor::ggml_ref);
  const auto s2 = quantized<block_q8_0>(x, Q8Flavor::ggml_x86);
  CHECK(r2.d.bits == 0x14d6);
  CHECK(s2.d.bits == 0x14d6);
  CHECK(qs_of(r2, 2) == std::vector<int>{127, 8});
  CHECK(qs_of(s2, 2) == std::vector<int>{127, 7});
}

TEST_CASE("Q8_0 quantizer: all-zero and tiny blocks", "[quant][quantize]") {
  for (Q8Flavor f : {Q8Flavor::ggml_ref, Q8Flavor::ggml_x86}) {
    std::vector<float> x(32, 0.0f);
    x[3] = -0.0f;
    const auto b = quantized<block_q8_0>(x, f);
    CHECK(b.d.bits == 0);
    CHECK(qs_of(b, 32) == std::vector<int>(32, 0));
  }
  // amax 1e-38: d = amax/127 is a nonzero float32 subnormal (fp16 0), and id overflows to inf:
  // ggml ref converts inf/NaN to 0 bytes, the SIMD code to -128 (INT_MIN saturated).
  std::vector<float> x(32, 0.0f);
  x[0] = 1e-38f;
  x[1] = -5e-39f;
  const auto r = quantized<block_q8_0>(x, Q8Flavor::ggml_ref);
  const auto s = quantized<block_q8_0>(x, Q8Flavor::ggml_x86);
  CHECK(r.d.bits == 0);
  CHECK(s.d.bits == 0);
  CHECK(qs_of(r, 32) == std::vector<int>(32, 0));
  CHECK(qs_of(s, 32) == std::vector<int>(32, -128));
}

TEST_CASE("Q8_K quantizer: ggml_ref signed max, nearest_int ties to even", "[quant][quantize]") {
  std::vector<float> x(256, 0.0f);
  SECTION("negative max: iscale = 1, d = 1") {
    const float v[] = {-127.0f, 63.5f, -62.5f, 1.5f, 0.5f, -0.5f, 100.25f};
    for (int i = 0; i < 7; ++i) x[i] = v[i];
    x[200] = 3.0f;
    const auto r = quantized<block_q8_K>(x, Q8Flavor::ggml_ref);
    CHECK(r.d == 1.0f);
    CHECK(qs_of(r, 7) == std::vector<int>{-127, 64, -62, 2, 0, 0, 100});
    CHECK(r.qs[200] == 3);
    CHECK(r.bsums[0] == -127 + 64 - 62 + 2 + 100);
    CHECK(r.bsums[12] == 3);
    CHECK(r.bsums[1] == 0);
    // ik x86: d = amax/127 = 1, q = rne(x): the same bytes here
    CHECK(test::same_bytes(r, quantized<block_q8_K>(x, Q8Flavor::ik_x86)));
  }
  SECTION("positive max: iscale = -1, d = -1 (ref) vs d = 1 (ik)") {
    const float v[] = {127.0f, 63.5f, -62.5f, 1.5f};
    for (int i = 0; i < 4; ++i) x[i] = v[i];
    const auto r = quantized<block_q8_K>(x, Q8Flavor::ggml_ref);
    CHECK(r.d == -1.0f);
    CHECK(qs_of(r, 4) == std::vector<int>{-127, -64, 62, -2});
    CHECK(r.bsums[0] == -127 - 64 + 62 - 2);
    const auto k = quantized<block_q8_K>(x, Q8Flavor::ik_x86);
    CHECK(k.d == 1.0f);
    CHECK(qs_of(k, 4) == std::vector<int>{127, 64, -62, 2});
    CHECK(k.bsums[0] == 127 + 64 - 62 + 2);
    // the x86 ggml backend quantizes Q8_K with the ref code
    CHECK(test::same_bytes(r, quantized<block_q8_K>(x, Q8Flavor::ggml_x86)));
  }
  SECTION("the first value of largest magnitude sets the sign") {
    x[0] = -254.0f;
    x[1] = 254.0f;
    x[2] = 127.0f;
    const auto r = quantized<block_q8_K>(x, Q8Flavor::ggml_ref);
    CHECK(r.d == 2.0f);  // iscale = -127/-254 = 0.5
    CHECK(qs_of(r, 3) == std::vector<int>{-127, 127, 64});  // 63.5 -> 64
  }
  SECTION("inexact iscale: max -3 gives iscale 42.333332 (numpy float32)") {
    x[0] = -3.0f;
    x[1] = 3.0f;
    x[2] = 1.0f;
    x[3] = -1.5f;
    x[4] = 0.0118110236f;  // * iscale = 0.49999997
    const auto r = quantized<block_q8_K>(x, Q8Flavor::ggml_ref);
    CHECK(fp::bits(r.d) == 0x3cc18306u);  // 1/42.333332
    CHECK(qs_of(r, 5) == std::vector<int>{-127, 127, 42, -64, 0});
  }
  SECTION("all-zero block") {
    x[17] = -0.0f;
    for (Q8Flavor f : {Q8Flavor::ggml_ref, Q8Flavor::ggml_x86, Q8Flavor::ik_x86}) {
      const auto b = quantized<block_q8_K>(x, f);
      CHECK(fp::bits(b.d) == 0u);
      CHECK(qs_of(b, 256) == std::vector<int>(256, 0));
      for (int j = 0; j < 16; ++j) CHECK(b.bsums[j] == 0);
    }
  }
  SECTION("tiny max: iscale overflows") {
    x[0] = 1e-38f;
    x[1] = -1e-39f;
    const auto r = quantized<block_q8_K>(x, Q8Flavor::ggml_ref);
    CHECK(fp::bits(r.d) == 0x80000000u);  // 1 / -inf
    CHECK(qs_of(r, 256) == std::vector<int>(256, 0));
    for (int j = 0; j < 16; ++j) CHECK(r.bsums[j] == 0);
    const auto k = quantized<block_q8_K>(x, Q8Flavor::ik_x86);
    CHECK(k.d == 1e-38f / 127.0f);
    CHECK(qs_of(k, 256) == std::vector<int>(256, -128));  // INT_MIN saturated
    for (int j = 0; j < 16; ++j) CHECK(k.bsums[j] == 0);  // 16 * INT_MIN wraps to 0
  }
}

TEST_CASE("Q8_2 quantizer (ik_llama.cpp x86)", "[quant][quantize]") {
  std::vector<float> x(32, 0.0f);
  x[0] = 254.0f;  // d = 2 (bf16 exact), id = 0.5
  x[1] = 5.0f;    // 2.5 -> 2
  x[2] = -5.0f;   // -2.5 -> -2
  x[3] = 1.0f;    // 0.5 -> 0
  x[4] = -7.0f;   // -3.5 -> -4
  block_q8_2 b;
  quantize_block(x.data(), b);
  CHECK(b.d.bits == 0x4000);
  CHECK(std::vector<int>(b.qs, b.qs + 5) == std::vector<int>{127, 2, -2, 0, -4});
  CHECK(b.s == 127 + 2 - 2 + 0 - 4);
  // d = 127.49609375/127 = 1 + 2^-8 rounds (tie, to even) to bf16 1.0: id = 1, 127.496 -> 127.
  std::fill(x.begin(), x.end(), 0.0f);
  x[0] = -127.49609375f;
  x[1] = 126.5f;
  quantize_block(x.data(), b);
  CHECK(b.d.bits == 0x3f80);
  CHECK(std::vector<int>(b.qs, b.qs + 2) == std::vector<int>{-127, 126});
  CHECK(b.s == -1);
  const auto y = dequant(b);
  CHECK(y[0] == -127.0f);
  CHECK(y[1] == 126.0f);
}

TEST_CASE("activation quantizers: non-finite policy", "[quant][quantize][nonfinite]") {
  for (float bad : {kNaN, kInf, -kInf}) {
    for (int pos : {0, 7, 31}) {
      std::vector<float> x(256, 1.0f);
      x[pos] = bad;
      for (Q8Flavor f : {Q8Flavor::ggml_ref, Q8Flavor::ggml_x86, Q8Flavor::ik_x86}) {
        const auto a = quantized<block_q8_0>(x, f);
        CHECK(a.d.bits == 0x7e00);
        CHECK(qs_of(a, 32) == std::vector<int>(32, 0));
        for (float v : dequant(a)) CHECK(fp::is_nan(v));
        const auto k = quantized<block_q8_K>(x, f);
        CHECK(fp::bits(k.d) == 0x7fc00000u);
        CHECK(qs_of(k, 256) == std::vector<int>(256, 0));
        for (int j = 0; j < 16; ++j) CHECK(k.bsums[j] == 0);
        for (float v : dequant(k)) CHECK(fp::is_nan(v));
      }
      block_q8_2 b;
      quantize_block(x.data(), b);
      CHECK(b.d.bits == 0x7fc0);
      CHECK(b.s == 0);
      for (float v : dequant(b)) CHECK(fp::is_nan(v));
    }
  }
}

TEST_CASE("activation quantizers: error bound on random data", "[quant][quantize]") {
  Rng rng(11);
  for (int t = 0; t < 200; ++t) {
    std::vector<float> x(256);
    const float scale = std::ldexp(1.0f, rng.below(14) - 4);  // fp16 d stays normal
    for (float& v : x) v = scale * rng.normal();
    for (Q8Flavor f : {Q8Flavor::ggml_ref, Q8Flavor::ggml_x86, Q8Flavor::ik_x86}) {
      const auto k = quantized<block_q8_K>(x, f);
      const auto yk = dequant(k);
      float amax = 0.0f;
      for (float v : x) amax = std::max(amax, std::fabs(v));
      for (int i = 0; i < 256; ++i) CHECK(std::fabs(yk[i] - x[i]) <= amax / 127.0f * 0.5001f);
      for (int j = 0; j < 16; ++j) {
        int s = 0;
        for (int i = 0; i < 16; ++i) s += k.qs[16 * j + i];
        CHECK(k.bsums[j] == s);
      }
      for (int b = 0; b < 8; ++b) {
        const std::vector<float> xb(x.begin() + 32 * b, x.begin() + 32 * b + 32);
        const auto q = quantized<block_q8_0>(xb, f);
        const auto y = dequant(q);
        float am = 0.0f;
        for (float v : xb) am = std::max(am, std::fabs(v));
        // fp16 d adds a relative error of 2^-11 on top of the half step
        for (int i = 0; i < 32; ++i) CHECK(std::fabs(y[i] - xb[i]) <= am / 127.0f * 0.5f + am * 0.0006f);
      }
    }
  }
}

// --- weights ---

namespace {

template <class B>
double rms_over_range(const std::vector<float>& x, const B& b) {
  const auto y = dequant(b);
  double e2 = 0.0;
  float lo = x[0], hi = x[0];
  for (int i = 0; i < 256; ++i) {
    e2 += (static_cast<double>(y[i]) - x[i]) * (static_cast<double>(y[i]) - x[i]);
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  return std::sqrt(e2 / 256.0) / (static_cast<double>(hi) - lo);
}

std::vector<float> weight_data(Rng& rng, int kind) {
  std::vector<float> x(256);
  const float scale = std::ldexp(1.0f, rng.below(12) - 10);
  for (int i = 0; i < 256; ++i) {
    switch (kind) {
      case 0: x[i] = scale * rng.normal(); break;                       // gaussian
      case 1: x[i] = scale * rng.uniform(-1.0f, 1.0f); break;           // uniform
      case 2: x[i] = scale * (rng.normal() + 3.0f); break;              // shifted (all positive-ish)
      default: x[i] = scale * rng.normal() * (rng.below(64) == 0 ? 8.0f : 1.0f);  // outliers
    }
  }
  return x;
}

// The same error for a naive quantizer with exact (unquantized) scales: per sub-block of n,
// levels lo + k*(hi - lo)/nmax (lo = min(0, min x)), or for the symmetric Q6_K s*k, s = max|x|/31.
double naive_rms_over_range(const std::vector<float>& x, int n, int nmax, bool sym) {
  double e2 = 0.0;
  for (int j = 0; j < 256; j += n) {
    double lo = 0.0, hi = x[j], am = 0.0;
    for (int i = j; i < j + n; ++i) {
      lo = std::min(lo, static_cast<double>(x[i]));
      hi = std::max(hi, static_cast<double>(x[i]));
      am = std::max(am, std::fabs(static_cast<double>(x[i])));
    }
    for (int i = j; i < j + n; ++i) {
      double y;
      if (sym) {
        const double st = am / 31.0;
        y = st > 0 ? st * std::max(-32.0, std::min(31.0, std::nearbyint(x[i] / st))) : 0.0;
      } else {
        const double st = (hi - lo) / nmax;
        y = st > 0 ? lo + st * std::nearbyint((x[i] - lo) / st) : lo;
      }
      e2 += (y - x[i]) * (y - x[i]);
    }
  }
  const auto [mn, mx] = std::minmax_element(x.begin(), x.end());
  return std::sqrt(e2 / 256.0) / (static_cast<double>(*mx) - *mn);
}

template <class B>
void weight_quality(int n, int nmax, bool sym, double bound_mean, double bound_max, double bound_vs_naive,
                    const char* name) {
  Rng rng(1234);
  double sum = 0.0, worst = 0.0, naive = 0.0;
  int count = 0;
  for (int kind = 0; kind < 4; ++kind)
    for (int t = 0; t < 60; ++t) {
      const auto x = weight_data(rng, kind);
      B b, b2;
      quantize_block(x.data(), b);
      quantize_block(x.data(), b2);
      CHECK(test::same_bytes(b, b2));  // deterministic
      const double r = rms_over_range(x, b);
      sum += r;
      worst = std::max(worst, r);
      naive += naive_rms_over_range(x, n, nmax, sym);
      ++count;
    }
  std::printf("%s: RMS error / block range: mean %.5f, worst %.5f; naive min/max with exact scales: mean %.5f\n",
              name, sum / count, worst, naive / count);
  CHECK(sum / count <= bound_mean);
  CHECK(worst <= bound_max);
  CHECK(sum / naive <= bound_vs_naive);
}

}  // namespace

TEST_CASE("weight quantizers: RMS error relative to the block range", "[quant][quantize][weights]") {
  // Measured (seed 1234, 240 blocks): Q4_K mean 0.0131 / worst 0.0193 (naive 0.0144); Q6_K
  // 0.0040 / 0.0084 (naive 0.0044); Q2_K 0.0509 / 0.0864 (naive 0.0630).
  weight_quality<block_q4_K>(32, 15, false, 0.015, 0.025, 0.95, "Q4_K");
  weight_quality<block_q6_K>(16, 63, true, 0.0045, 0.01, 0.95, "Q6_K");
  weight_quality<block_q2_K>(16, 3, false, 0.06, 0.1, 0.9, "Q2_K");
}

TEST_CASE("weight quantizers: exact cases, zero and non-finite blocks", "[quant][quantize][weights]") {
  std::vector<float> x(256, 0.0f);
  SECTION("zero block") {
    block_q4_K a;
    quantize_block(x.data(), a);
    for (float v : dequant(a)) CHECK(v == 0.0f);
    block_q6_K b;
    quantize_block(x.data(), b);
    for (float v : dequant(b)) CHECK(v == 0.0f);
    block_q2_K c;
    quantize_block(x.data(), c);
    for (float v : dequant(c)) CHECK(v == 0.0f);
  }
  SECTION("values on a Q4_K grid come back exactly") {
    // q * (63 * 2^-7) - 63 * 2^-5: sub-block scale and min are 63 times fp16-exact super-scales
    for (int i = 0; i < 256; ++i) x[i] = static_cast<float>(i % 16) * 0.4921875f - 1.96875f;
    block_q4_K a;
    quantize_block(x.data(), a);
    const auto y = dequant(a);
    for (int i = 0; i < 256; ++i) CHECK(y[i] == x[i]);
  }
  SECTION("values on a Q6_K grid come back exactly") {
    // q * 0.25 with q = -32 in every sub-block: scale -128 * -2^-9
    for (int i = 0; i < 256; ++i) x[i] = static_cast<float>(i % 16 == 0 ? -32 : (i * 7) % 64 - 32) * 0.25f;
    block_q6_K b;
    quantize_block(x.data(), b);
    const auto y = dequant(b);
    for (int i = 0; i < 256; ++i) CHECK(y[i] == x[i]);
  }
  SECTION("values on a Q2_K grid come back exactly") {
    for (int i = 0; i < 256; ++i) x[i] = static_cast<float>(i % 4) * 3.75f - 1.875f;  // 15 * 0.25, 15 * 0.125
    block_q2_K c;
    quantize_block(x.data(), c);
    const auto y = dequant(c);
    for (int i = 0; i < 256; ++i) CHECK(y[i] == x[i]);
  }
  SECTION("non-finite or beyond 2^19: d (and dmin) NaN, every value NaN") {
    for (float bad : {kNaN, kInf, -kInf, 524288.06f, -3e38f}) {
      for (float& v : x) v = 1.0f;
      x[100] = bad;
      block_q4_K a;
      quantize_block(x.data(), a);
      CHECK(a.d.bits == 0x7e00);
      CHECK(a.dmin.bits == 0x7e00);
      for (float v : dequant(a)) CHECK(fp::is_nan(v));
      block_q6_K b;
      quantize_block(x.data(), b);
      CHECK(b.d.bits == 0x7e00);
      for (float v : dequant(b)) CHECK(fp::is_nan(v));
      block_q2_K c;
      quantize_block(x.data(), c);
      CHECK(c.d.bits == 0x7e00);
      CHECK(c.dmin.bits == 0x7e00);
      for (float v : dequant(c)) CHECK(fp::is_nan(v));
    }
  }
}

TEST_CASE("weight quantizers: extreme but accepted ranges", "[quant][quantize][weights]") {
  // +-2^19 is accepted by every format (fp16 super-scales stay finite); tiny values underflow
  // the fp16 scales to zero without NaNs.
  Rng rng(8);
  std::vector<float> x(256);
  for (float& v : x) v = 524288.0f * rng.uniform(-1.0f, 1.0f);
  x[17] = -524288.0f;
  x[200] = 524288.0f;
  auto check_close = [&](const std::vector<float>& y, double rel) {
    for (int i = 0; i < 256; ++i) CHECK(std::fabs(static_cast<double>(y[i]) - x[i]) <= rel * 1048576.0);
  };
  block_q4_K a;
  quantize_block(x.data(), a);
  check_close(dequant(a), 0.05);
  block_q6_K b;
  quantize_block(x.data(), b);
  check_close(dequant(b), 0.02);
  block_q2_K c;
  quantize_block(x.data(), c);
  check_close(dequant(c), 0.25);
  for (float& v : x) v = std::ldexp(rng.uniform(-1.0f, 1.0f), -140);
  quantize_block(x.data(), a);
  quantize_block(x.data(), b);
  quantize_block(x.data(), c);
  for (float v : dequant(a)) CHECK(v == 0.0f);
  for (float v : dequant(b)) CHECK(v == 0.0f);
  for (float v : dequant(c)) CHECK(v == 0.0f);
}

TEST_CASE("F16/BF16 dot blocks round to nearest even", "[quant][quantize]") {
  std::vector<float> x(32, 0.0f);
  x[0] = 1.0f;
  x[1] = 65520.0f;                 // rounds to inf
  x[2] = 65519.0f;                 // largest half
  x[3] = std::ldexp(1.0f, -25);    // tie between 0 and the smallest subnormal: 0
  x[4] = std::ldexp(3.0f, -25);    // 1.5 units of 2^-24: tie, to 2
  x[5] = kNaN;
  x[6] = 1.00390625f;              // bf16 tie -> 1.0
  x[7] = 1.01171875f;              // bf16 tie -> 1.015625
  block_f16 h;
  quantize_block(x.data(), h);
  CHECK(h.v[0].bits == 0x3c00);
  CHECK(h.v[1].bits == 0x7c00);
  CHECK(h.v[2].bits == 0x7bff);
  CHECK(h.v[3].bits == 0x0000);
  CHECK(h.v[4].bits == 0x0002);
  CHECK(h.v[5].bits == 0x7e00);
  block_bf16 b;
  quantize_block(x.data(), b);
  CHECK(b.v[0].bits == 0x3f80);
  CHECK(b.v[6].bits == 0x3f80);
  CHECK(b.v[7].bits == 0x3f82);
}

TEST_CASE("IQ2_XXS random blocks are valid", "[quant][quantize]") {
  uint64_t state = 99;
  int used_scale[16] = {};
  for (int t = 0; t < 200; ++t) {
    const block_iq2_xxs b = iq2_xxs_random_block(state);
    const float d = b.d.to_float();
    CHECK(fp::is_finite(d));
    CHECK(std::fabs(d) >= std::ldexp(1.0f, -14));
    CHECK(std::fabs(d) < 4.0f);
    const auto y = dequant(b);
    for (int g = 0; g < 8; ++g) {
      const int ls = static_cast<int>(iq2xxs_word(b, g, 1) >> 28);
      ++used_scale[ls];
      const float db = d * (0.5f + static_cast<float>(ls)) * 0.25f;
      for (int i = 32 * g; i < 32 * g + 32; ++i) {
        const float m = std::fabs(y[i] / db);
        CHECK((m == 8.0f || m == 25.0f || m == 43.0f));
      }
    }
  }
  for (int s = 0; s < 16; ++s) CHECK(used_scale[s] > 0);
}
