// include/dsk/v4/kv_storage.hpp + reference/v4_kv_storage.*: DeepSeek-V4 KV storage rounding (FP8-E4M3
// blocks of 64 on attention rows, Hadamard + FP4-E2M1 blocks of 32 on indexer rows, F16 stored rows)
// against an independent float64 oracle: value tables built from the format definitions, nearest value by
// search with ties to the even code, scales from frexp, every product and quotient exact in double.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "dsk/core/half.hpp"
#include "reference/v4_kv_storage.hpp"

using namespace dsk;
using dsk::quant::test::Rng;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// ---- oracle ---------------------------------------------------------------------------------------

struct Format {
  std::vector<double> mag;  // non-negative values by code, ascending (code = index)
  double max;
  double floor;             // amax floor
  float inv;                // fl(1/max)
  int block;
};

Format e4m3_format() {
  Format f;
  for (int c = 0; c <= 126; ++c) {  // 127 (S.1111.111) is NaN
    const int E = c >> 3, M = c & 7;
    f.mag.push_back(E == 0 ? std::ldexp(double(M), -9) : std::ldexp(1.0 + M / 8.0, E - 7));
  }
  f.max = 448.0;
  f.floor = double(1.0e-4f);
  f.inv = static_cast<float>(1.0 / 448.0);
  f.block = 64;
  return f;
}

Format e2m1_format() {
  Format f;
  f.mag = {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0};
  f.max = 6.0;
  f.floor = 6.0 * std::ldexp(1.0, -126);
  f.inv = static_cast<float>(1.0 / 6.0);
  f.block = 32;
  return f;
}

// Nearest table value to |v| (v already within [-max, max]), ties to the even code, sign of v kept.
double nearest(const Format& f, double v) {
  const double a = std::fabs(v);
  size_t best = 0;
  for (size_t i = 1; i < f.mag.size(); ++i) {
    const double d = std::fabs(a - f.mag[i]), db = std::fabs(a - f.mag[best]);
    if (d < db || (d == db && (i & 1) == 0)) best = i;
  }
  return std::copysign(f.mag[best], v);
}

// ceil(log2(v)) of a positive double.
int ceil_log2_d(double v) {
  int ex = 0;
  const double m = std::frexp(v, &ex);  // v = m * 2^ex, m in [0.5, 1)
  return m == 0.5 ? ex - 1 : ex;
}

int oracle_exp(const Format& f, const float* x, int n) {
  double amax = 0;
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(double(x[i])));
  amax = std::max(amax, f.floor);
  const float prod = static_cast<float>(amax * double(f.inv));  // exact product, one rounding to float
  return ceil_log2_d(prod);
}

void oracle_block(const Format& f, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) {
      for (int k = 0; k < n; ++k) y[k] = kNaN;
      return;
    }
  const double s = std::ldexp(1.0, oracle_exp(f, x, n));
  for (int i = 0; i < n; ++i) {
    const double v = std::clamp(double(x[i]) / s, -f.max, f.max);
    y[i] = static_cast<float>(nearest(f, v) * s);  // exact, or beyond FLT_MAX -> inf
  }
}

void oracle_blocks(const Format& f, const float* x, float* y, int64_t n) {
  for (int64_t i0 = 0; i0 < n; i0 += f.block) oracle_block(f, x + i0, y + i0, int(std::min<int64_t>(f.block, n - i0)));
}

// Walsh-Hadamard in float64, H[i][j] = (-1)^popcount(i & j), times 1/sqrt(n).
std::vector<double> hadamard_d(const float* x, int64_t n) {
  std::vector<double> y(n);
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < n; ++j) s += (__builtin_popcountll(uint64_t(i & j)) & 1) ? -double(x[j]) : double(x[j]);
    y[i] = s / std::sqrt(double(n));
  }
  return y;
}

// The butterfly's rounding order, written recursively: each half transformed on its own (the strides
// below n/2 never mix the halves), then the stride-n/2 stage (lo + hi, lo - hi); unscaled.
std::vector<float> hadamard_rec(const std::vector<float>& x) {
  const size_t n = x.size();
  if (n == 1) return x;
  const std::vector<float> lo = hadamard_rec(std::vector<float>(x.begin(), x.begin() + n / 2));
  const std::vector<float> hi = hadamard_rec(std::vector<float>(x.begin() + n / 2, x.end()));
  std::vector<float> y(n);
  for (size_t i = 0; i < n / 2; ++i) {
    y[i] = lo[i] + hi[i];
    y[i + n / 2] = lo[i] - hi[i];
  }
  return y;
}

bool same_bits(float a, float b) { return fp::canonical_bits(a) == fp::canonical_bits(b); }

// Random row of n values in several regimes (by seed): plain normals, wide exponents, rows with tiny
// or subnormal members, exact E4M3 / E2M1 ties.
std::vector<float> random_row(Rng& rng, int64_t n, int kind, const Format& f) {
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) {
    float v = rng.normal();
    switch (kind) {
      case 0: break;
      case 1: v = std::ldexp(v, rng.below(60) - 30); break;
      case 2: v = (rng.below(4) == 0) ? std::ldexp(v, -140 + rng.below(20)) : v; break;  // float subnormals
      case 3: v = std::ldexp(v, -20 + rng.below(6)); break;  // blocks around the 1e-4 floor
      case 4: {  // exact ties: midpoints of adjacent table values, times the block's scale
        const size_t k = size_t(rng.below(int(f.mag.size()) - 1));
        const double mid = 0.5 * (f.mag[k] + f.mag[k + 1]);
        v = float(std::copysign(mid, double(v)) * std::ldexp(1.0, -3));
        if (i % f.block == 0) v = float(f.max * std::ldexp(1.0, -3));  // pins the block's scale to 2^-3
        break;
      }
      default: break;
    }
    x[i] = v;
  }
  return x;
}

}  // namespace

TEST_CASE("v4 kv_storage: constants and scale exponent", "[v4][kv_storage]") {
  CHECK(v4::kE4m3Inv == 1.0f / 448.0f);
  CHECK(v4::kE2m1Inv == 1.0f / 6.0f);
  CHECK(v4::kFp8AmaxFloor == 1.0e-4f);
  CHECK(double(v4::kFp4AmaxFloor) == 6.0 * std::ldexp(1.0, -126));
  CHECK(v4::hadamard_scale(128) == static_cast<float>(0.08838834764831845));
  for (int k = 0; k <= 20; ++k) CHECK(v4::hadamard_scale(int64_t{1} << k) == static_cast<float>(1.0 / std::sqrt(std::ldexp(1.0, k))));
  for (int e = -126; e <= 127; ++e) CHECK(double(v4::pow2i(e)) == std::ldexp(1.0, e));
  // ceil_log2 from bits == ceil(log2) for normal floats: powers of two, their neighbours, samples
  Rng rng(11);
  for (int e = -125; e <= 126; ++e) {
    const float p = std::ldexp(1.0f, e);
    CHECK(v4::ceil_log2(p) == e);
    CHECK(v4::ceil_log2(std::nextafter(p, kInf)) == e + 1);
    CHECK(v4::ceil_log2(std::nextafter(p, 0.0f)) == e);
  }
  for (int i = 0; i < 100000; ++i) {
    const float v = fp::from_bits((rng.u32() % 0x7f000000u) + 0x00800000u);
    REQUIRE(v4::ceil_log2(v) == ceil_log2_d(v));
  }
  // The official kernel multiplies by fl(1/448); dividing by 448 gives the same exponent for every
  // sampled amax (the product's relative error, 0.36 ulp, never crosses a power of two).
  for (uint32_t b = 0x38d1b717u; b < 0x7f000000u; b += 997u) {
    const float amax = fp::from_bits(b);
    REQUIRE(v4::ceil_log2(amax * v4::kE4m3Inv) == v4::ceil_log2(amax / 448.0f));
    REQUIRE(v4::ceil_log2(amax * v4::kE2m1Inv) == v4::ceil_log2(amax / 6.0f));
  }
  // the scale never lets a value past the format's maximum (so the official clamp never binds): every
  // 101st float as amax, and the neighbours of max * 2^k (checked over all floats during development)
  for (uint32_t b = 0x00800000u; b < 0x7f800000u; b += 101u) {
    const float amax = fp::from_bits(b);
    REQUIRE(amax / v4::pow2i(v4::block_scale_exp(amax, v4::kFp8AmaxFloor, v4::kE4m3Inv)) <= 448.0f);
    REQUIRE(amax / v4::pow2i(v4::block_scale_exp(amax, v4::kFp4AmaxFloor, v4::kE2m1Inv)) <= 6.0f);
  }
  for (int k = -20; k <= 100; ++k)
    for (float m : {448.0f, 6.0f}) {
      float a = std::ldexp(m, k);
      for (int i = 0; i < 4; ++i, a = std::nextafter(a, kInf)) {
        const bool f8 = m == 448.0f;
        const int32_t e = f8 ? v4::block_scale_exp(a, v4::kFp8AmaxFloor, v4::kE4m3Inv)
                             : v4::block_scale_exp(a, v4::kFp4AmaxFloor, v4::kE2m1Inv);
        REQUIRE(a / v4::pow2i(e) <= m);
        if (i == 0 && (!f8 || k >= -18)) REQUIRE(e == k);  // max * 2^k itself: scale 2^k, maps to max
      }
    }
  // amax/448 one ulp above 2^k: the scale is 2^(k+1) (exact ceil; ds4's log2f would give 2^k).
  {
    const float amax = std::nextafter(448.0f * 0x1p-9f, kInf);  // amax * fl(1/448) = 2^-9 + 1 ulp
    REQUIRE(v4::ceil_log2(amax * v4::kE4m3Inv) == -8);
    std::vector<float> x(64, 0.25f), y(64);
    x[5] = amax;
    CHECK(v4::fp8_block(x.data(), y.data(), 64) == -8);
    CHECK(y[5] == 224.0f * 0x1p-8f);  // 448.0000x * 2^-9 -> 224 * 2^-8
  }
}

TEST_CASE("v4 kv_storage: E4M3 and E2M1 rounding vs the table oracle", "[v4][kv_storage]") {
  for (int which = 0; which < 2; ++which) {
    const Format f = which == 0 ? e4m3_format() : e2m1_format();
    auto rnd = [&](float v) { return which == 0 ? v4::e4m3_round(v) : v4::e2m1_round(v); };
    auto check = [&](float v) {
      const float got = rnd(v), want = static_cast<float>(nearest(f, v));
      if (!same_bits(got, want)) FAIL_CHECK("value " << v << " got " << got << " want " << want);
    };
    // every value, its neighbours, every midpoint (exact in float) and its neighbours, both signs
    for (size_t k = 0; k < f.mag.size(); ++k)
      for (float sgn : {1.0f, -1.0f}) {
        const float v = sgn * float(f.mag[k]);
        check(v);
        if (k > 0) check(std::nextafter(v, 0.0f));
        if (k + 1 < f.mag.size()) {
          check(std::nextafter(v, sgn * kInf));
          const float mid = sgn * float(0.5 * (f.mag[k] + f.mag[k + 1]));
          REQUIRE(double(std::fabs(mid)) == 0.5 * (f.mag[k] + f.mag[k + 1]));
          check(mid);
          check(std::nextafter(mid, 0.0f));
          check(std::nextafter(mid, sgn * kInf));
        }
      }
    // ties go to the even code
    if (which == 0) {
      CHECK(v4::e4m3_round(0.5f * 0x1p-9f) == 0.0f);        // 0 | 2^-9: to 0
      CHECK(v4::e4m3_round(1.5f * 0x1p-9f) == 0x1p-8f);      // 1 | 2 (x 2^-9): to 2
      CHECK(v4::e4m3_round(7.5f * 0x1p-9f) == 0x1p-6f);      // subnormal max | min normal: to min normal
      CHECK(v4::e4m3_round(1.0625f) == 1.0f);                // 1 | 1.125: to 1
      CHECK(v4::e4m3_round(1.1875f) == 1.25f);               // 1.125 | 1.25: to 1.25
      CHECK(v4::e4m3_round(432.0f) == 448.0f);               // 416 | 448: to 448 (code 126, even)
      CHECK(fp::bits(v4::e4m3_round(-0x1p-12f)) == 0x80000000u);  // rounds to -0
      CHECK(fp::bits(v4::e4m3_round(-0.0f)) == 0x80000000u);
      CHECK(fp::bits(v4::e4m3_round(0x1p-149f)) == 0u);      // float subnormal
    } else {
      CHECK(v4::e2m1_round(0.25f) == 0.0f);
      CHECK(v4::e2m1_round(0.75f) == 1.0f);
      CHECK(v4::e2m1_round(1.25f) == 1.0f);
      CHECK(v4::e2m1_round(1.75f) == 2.0f);
      CHECK(v4::e2m1_round(2.5f) == 2.0f);
      CHECK(v4::e2m1_round(3.5f) == 4.0f);
      CHECK(v4::e2m1_round(5.0f) == 4.0f);
      CHECK(v4::e2m1_round(-5.5f) == -6.0f);
      CHECK(fp::bits(v4::e2m1_round(-0.2f)) == 0x80000000u);
    }
    // every 389th float of magnitude <= max
    const uint32_t top = fp::bits(float(f.max));
    for (uint32_t b = 0; b <= top; b += 389u) {
      check(fp::from_bits(b));
      check(fp::from_bits(b | 0x80000000u));
    }
  }
}

TEST_CASE("v4 kv_storage: E4M3 / E2M1 codes", "[v4][kv_storage]") {
  const Format f8 = e4m3_format(), f4 = e2m1_format();
  for (int c = 0; c < 256; ++c) {
    const float v = v4::e4m3_decode(uint8_t(c));
    if ((c & 0x7f) == 0x7f) {
      CHECK(std::isnan(v));
      continue;
    }
    CHECK(double(v) == ((c & 0x80) ? -1.0 : 1.0) * f8.mag[c & 0x7f]);
    CHECK(std::signbit(v) == ((c & 0x80) != 0));
    CHECK(v4::e4m3_encode(v) == c);
    CHECK(same_bits(v4::e4m3_round(v), v));
  }
  for (int c = 0; c < 16; ++c) {
    const float v = v4::e2m1_decode(uint8_t(c));
    CHECK(double(v) == ((c & 8) ? -1.0 : 1.0) * f4.mag[c & 7]);
    CHECK(std::signbit(v) == ((c & 8) != 0));
    CHECK(v4::e2m1_encode(v) == c);
  }
}

TEST_CASE("v4 kv_storage: FP8 / FP4 blocks vs the float64 oracle", "[v4][kv_storage]") {
  Rng rng(7);
  for (int which = 0; which < 2; ++which) {
    const Format f = which == 0 ? e4m3_format() : e2m1_format();
    auto blk = [&](const float* x, float* y, int n) { return which == 0 ? v4::fp8_block(x, y, n) : v4::fp4_block(x, y, n); };
    int64_t checked = 0;
    for (int kind = 0; kind < 5; ++kind)
      for (int rep = 0; rep < 300; ++rep) {
        const int n = rep < 20 ? 1 + rep : f.block;  // short (last) blocks too
        std::vector<float> x = random_row(rng, n, kind, f), y(n, test::poison()), want(n);
        const int e = blk(x.data(), y.data(), n);
        oracle_block(f, x.data(), want.data(), n);
        REQUIRE(e == oracle_exp(f, x.data(), n));
        REQUIRE(test::compare_bits(y, want).count == 0);
        // in place gives the same
        std::vector<float> z = x;
        blk(z.data(), z.data(), n);
        REQUIRE(test::compare_bits(z, want).count == 0);
        checked += n;
      }
    CHECK(checked > 0);

    // zero blocks: signs kept, the floor's scale
    std::vector<float> z(f.block, 0.0f), y(f.block);
    for (int i = 1; i < f.block; i += 2) z[i] = -0.0f;
    const int ez = blk(z.data(), y.data(), f.block);
    CHECK(ez == (which == 0 ? -22 : -126));
    for (int i = 0; i < f.block; ++i) CHECK(fp::bits(y[i]) == fp::bits(z[i]));

    // all members tiny (below the floor): the floor's scale; FP8: values below 2^-32 round to zero
    std::vector<float> t(f.block);
    for (int i = 0; i < f.block; ++i) t[i] = std::ldexp(float(i + 1), which == 0 ? -40 : -140);
    std::vector<float> tw(f.block);
    blk(t.data(), y.data(), f.block);
    oracle_block(f, t.data(), tw.data(), f.block);
    CHECK(test::compare_bits(y, tw).count == 0);

    // the largest floats: the round trip overflows to inf (as the official kernel's float32 product)
    std::vector<float> big(f.block, 1.0f);
    big[0] = FLT_MAX;
    big[1] = -FLT_MAX;
    blk(big.data(), y.data(), f.block);
    oracle_block(f, big.data(), tw.data(), f.block);
    CHECK(test::compare_bits(y, tw).count == 0);
    CHECK(y[0] == kInf);
    CHECK(y[1] == -kInf);

    // the block maximum is kept (amax = 448 * 2^k / 6 * 2^k exactly)
    std::vector<float> m(f.block, 0.5f);
    m[3] = float(f.max) * 0x1p-5f;
    blk(m.data(), y.data(), f.block);
    CHECK(y[3] == m[3]);

    // NaN or inf anywhere: the whole block NaN
    for (float bad : {kNaN, kInf, -kInf}) {
      std::vector<float> b = random_row(rng, f.block, 0, f);
      b[f.block / 2] = bad;
      CHECK(blk(b.data(), y.data(), f.block) == INT32_MIN);
      for (float v : y) CHECK(fp::bits(v) == fp::kCanonicalNaNBits);
    }
  }
}

TEST_CASE("v4 kv_storage: Hadamard", "[v4][kv_storage]") {
  // unit vectors give the natural-order (Sylvester) rows, exactly +-scale
  for (int64_t n : {1, 2, 4, 32, 128}) {
    const float s = v4::hadamard_scale(n);
    for (int64_t k = 0; k < n; ++k) {
      std::vector<float> x(n, 0.0f);
      x[k] = 1.0f;
      v4::hadamard(x.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const bool neg = __builtin_popcountll(uint64_t(i & k)) & 1;
        REQUIRE(fp::bits(x[i]) == fp::bits(neg ? -s : s));
      }
    }
  }
  Rng rng(3);
  // small integers: every butterfly sum is exact, so the result is the exact sum rounded once by the
  // final product
  for (int64_t n : {2, 16, 64, 128, 256}) {
    std::vector<float> x(n);
    for (auto& v : x) v = float(rng.below(2001) - 1000);
    std::vector<float> y = x;
    v4::hadamard(y.data(), n);
    const float s = v4::hadamard_scale(n);
    for (int64_t i = 0; i < n; ++i) {
      double S = 0;
      for (int64_t j = 0; j < n; ++j) S += (__builtin_popcountll(uint64_t(i & j)) & 1) ? -double(x[j]) : double(x[j]);
      REQUIRE(fp::bits(y[i]) == fp::bits(static_cast<float>(S * double(s))));
    }
  }
  // real values: within log2(n) + 1 roundings of the float64 transform; applied twice gives x back
  for (int64_t n : {32, 128, 512}) {
    std::vector<float> x(n);
    for (auto& v : x) v = rng.normal() * 3.0f;
    std::vector<float> y = x;
    v4::hadamard(y.data(), n);
    const std::vector<double> w = hadamard_d(x.data(), n);
    double l1 = 0;
    for (float v : x) l1 += std::fabs(double(v));
    const double bound = (std::log2(double(n)) + 2) * 0x1p-24 * l1 / std::sqrt(double(n));
    double worst = 0;
    for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(double(y[i]) - w[i]));
    CHECK(worst <= bound);
    v4::hadamard(y.data(), n);
    for (int64_t i = 0; i < n; ++i) CHECK(std::fabs(double(y[i]) - double(x[i])) <= 4 * bound);
  }
  // the stage order (strides 1, 2, ..., n/2) by bits, against the recursive form
  for (int64_t n : {2, 8, 32, 128, 1024}) {
    std::vector<float> x(n);
    for (auto& v : x) v = rng.normal() * 3.0f;
    std::vector<float> y = x, want = hadamard_rec(x);
    v4::hadamard(y.data(), n);
    const float s = v4::hadamard_scale(n);
    for (auto& v : want) v = v * s;
    REQUIRE(test::compare_bits(y, want).count == 0);
  }
  // NaN spreads to the whole row
  std::vector<float> x(32, 1.0f);
  x[7] = kNaN;
  v4::hadamard(x.data(), 32);
  for (float v : x) CHECK(std::isnan(v));
}

TEST_CASE("v4 kv_storage: attention and indexer rows", "[v4][kv_storage]") {
  Rng rng(5);
  const Format f8 = e4m3_format(), f4 = e2m1_format();
  // attention rows: FP8 blocks over the non-RoPE dims (last block partial when not a multiple of 64),
  // RoPE dims only F16-rounded; V4-Flash (512, 64), dsv4-tiny (64, 16) and odd shapes
  struct Shape { int64_t n, rope; };
  for (Shape sh : {Shape{512, 64}, Shape{64, 16}, Shape{100, 4}, Shape{64, 0}, Shape{48, 48}, Shape{7, 2}})
    for (bool f16 : {true, false})
      for (int kind = 0; kind < 4; ++kind) {
        std::vector<float> x = random_row(rng, sh.n, kind, f8), y(sh.n, test::poison()), want(sh.n);
        v4::kv_attn_row(x.data(), y.data(), sh.n, sh.rope, f16);
        oracle_blocks(f8, x.data(), want.data(), sh.n - sh.rope);
        for (int64_t i = sh.n - sh.rope; i < sh.n; ++i) want[i] = x[i];
        if (f16)
          for (auto& v : want) v = f16_bits_to_f32(f32_to_f16_bits(v));
        REQUIRE(test::compare_bits(y, want).count == 0);
      }
  // indexer rows: Hadamard of the whole row, FP4 blocks of 32, F16 when stored
  for (int64_t n : {128, 32, 16, 256})
    for (bool f16 : {true, false})
      for (int kind = 0; kind < 4; ++kind) {
        std::vector<float> x = random_row(rng, n, kind, f4), y(n, test::poison()), h = x, want(n);
        v4::kv_index_row(x.data(), y.data(), n, f16);
        v4::hadamard(h.data(), n);
        oracle_blocks(f4, h.data(), want.data(), n);
        if (f16)
          for (auto& v : want) v = f16_bits_to_f32(f32_to_f16_bits(v));
        REQUIRE(test::compare_bits(y, want).count == 0);
        std::vector<float> z = x;  // in place
        v4::kv_index_row(z.data(), z.data(), n, f16);
        REQUIRE(test::compare_bits(z, want).count == 0);
      }
  // F16: stored values beyond its range become inf, below it zero (FP8 leaves 2^-31 .. in a tiny block)
  std::vector<float> x(64, 0.0f), y(64);
  x[0] = 1.0e5f;
  x[1] = -7.0e4f;
  v4::kv_attn_row(x.data(), y.data(), 64, 32, true);
  CHECK(y[0] == kInf);
  CHECK(y[1] == -kInf);
  std::vector<float> t(64);
  for (int i = 0; i < 64; ++i) t[i] = std::ldexp(float(i + 1), -30);
  v4::kv_attn_row(t.data(), y.data(), 64, 0, true);
  CHECK(y[0] == 0.0f);        // 2^-30 survives FP8 (scale 2^-22, code 2 * 2^-9), F16 rounds it to zero
  CHECK(y[63] == 0x1p-24f);   // F16's smallest subnormal
}

TEST_CASE("v4 kv_storage: reference over rows", "[v4][kv_storage]") {
  Rng rng(9);
  const int64_t T = 5, n = 128, xs = 130, ys = 136;
  std::vector<float> x(T * xs);
  for (auto& v : x) v = rng.normal();
  for (v4::KvRowKind kind : {v4::KvRowKind::attn, v4::KvRowKind::index}) {
    std::vector<float> y(T * ys, test::poison());
    v4::KvStoreParams p;
    p.kind = kind;
    p.x = x.data(); p.x_stride = xs;
    p.y = y.data(); p.y_stride = ys;
    p.T = T; p.n = n; p.n_rope = 32;
    REQUIRE(ref::v4::kv_store(p).ok());
    for (int64_t t = 0; t < T; ++t) {  // each row as the row function alone
      std::vector<float> w(n);
      if (kind == v4::KvRowKind::attn) v4::kv_attn_row(x.data() + t * xs, w.data(), n, 32, true);
      else v4::kv_index_row(x.data() + t * xs, w.data(), n, true);
      REQUIRE(test::compare_bits(y.data() + t * ys, w.data(), n).count == 0);
      for (int64_t i = n; i < ys; ++i) REQUIRE(fp::bits(y[t * ys + i]) == test::kPoisonBits);  // padding untouched
    }
    // in place
    std::vector<float> z = x;
    p.x = z.data(); p.y = z.data(); p.y_stride = xs;
    REQUIRE(ref::v4::kv_store(p).ok());
    for (int64_t t = 0; t < T; ++t) REQUIRE(test::compare_bits(z.data() + t * xs, y.data() + t * ys, n).count == 0);
  }
  // validation: nothing written on error
  std::vector<float> y(T * n, test::poison());
  v4::KvStoreParams p;
  p.x = x.data(); p.x_stride = xs; p.y = y.data(); p.T = T; p.n = n;
  auto bad = [&](v4::KvStoreParams q) {
    const Status s = ref::v4::kv_store(q);
    CHECK_FALSE(s.ok());
    for (float v : y) REQUIRE(fp::bits(v) == test::kPoisonBits);
  };
  { auto q = p; q.n = 0; bad(q); }
  { auto q = p; q.T = -1; bad(q); }
  { auto q = p; q.n_rope = n + 1; bad(q); }
  { auto q = p; q.n_rope = -1; bad(q); }
  { auto q = p; q.kind = static_cast<v4::KvRowKind>(7); bad(q); }
  { auto q = p; q.kind = v4::KvRowKind::index; q.n = 96; bad(q); }
  { auto q = p; q.x_stride = n - 1; bad(q); }
  { auto q = p; q.y = nullptr; bad(q); }
  { auto q = p; q.y = const_cast<float*>(x.data()) + 1; q.y_stride = xs; bad(q); }  // overlapping
  { auto q = p; q.y = const_cast<float*>(x.data()); q.y_stride = n; bad(q); }       // in place, other stride
  { auto q = p; q.T = 0; q.x = nullptr; q.y = nullptr; CHECK(ref::v4::kv_store(q).ok()); }
}
