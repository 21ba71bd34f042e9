// include/dsk/norm/norm.hpp + reference/norm.*: RMSNorm, add, fused add + RMSNorm.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "reference/norm.hpp"

using namespace dsk;
using dsk::quant::test::Rng;

namespace {
std::vector<double> oracle_rms(const float* x, const float* w, int64_t n, double eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  const double r = 1.0 / std::sqrt(ss / double(n) + eps);
  std::vector<double> y(n);
  for (int64_t i = 0; i < n; ++i) y[i] = double(x[i]) * r * (w ? double(w[i]) : 1.0);
  return y;
}
}  // namespace

TEST_CASE("norm: rms_norm vs float64 oracle, odd sizes, with and without weight", "[norm]") {
  Rng rng(1);
  for (int64_t n : {1, 7, 31, 32, 255, 256, 257, 1000, 7168}) {
    const int64_t T = 3;
    std::vector<float> x(T * n), w(n), y(T * n);
    for (float& v : x) v = rng.normal() * 3.0f;
    for (float& v : w) v = rng.uniform(0.5f, 1.5f);
    for (bool with_w : {false, true}) {
      norm::RmsNormParams p;
      p.x = x.data(); p.y = y.data(); p.w = with_w ? w.data() : nullptr; p.T = T; p.n = n; p.eps = 1e-6f;
      REQUIRE(ref::norm::rms_norm(p).ok());
      for (int64_t t = 0; t < T; ++t) {
        auto want = oracle_rms(x.data() + t * n, p.w, n, 1e-6);
        for (int64_t i = 0; i < n; ++i) REQUIRE(std::fabs(y[t * n + i] - want[i]) <= 4e-6 * (1 + std::fabs(want[i])));
      }
    }
  }
}

TEST_CASE("norm: the per-row order is the stated one (vector_sum<256>, div, sqrt)", "[norm]") {
  Rng rng(2);
  const int64_t n = 777;
  std::vector<float> x(n), y(n);
  for (float& v : x) v = rng.normal();
  norm::RmsNormParams p;
  p.x = x.data(); p.y = y.data(); p.T = 1; p.n = n; p.eps = 1e-5f;
  REQUIRE(ref::norm::rms_norm(p).ok());
  float ss = order::vector_sum<256>(n, [&](int64_t i) { return x[i] * x[i]; });
  const float r = 1.0f / std::sqrt(ss / 777.0f + 1e-5f);
  for (int64_t i = 0; i < n; ++i) REQUIRE(fp::bits(y[i]) == fp::bits(x[i] * r));
}

TEST_CASE("norm: T=1 equals T=many by bits; in place; strides", "[norm]") {
  Rng rng(3);
  const int64_t n = 513, T = 9, xs = 600;
  std::vector<float> x(T * xs), w(n), y(T * n), y1(n);
  for (float& v : x) v = rng.normal();
  for (float& v : w) v = rng.normal();
  norm::RmsNormParams p;
  p.x = x.data(); p.w = w.data(); p.y = y.data(); p.T = T; p.n = n; p.x_stride = xs;
  REQUIRE(ref::norm::rms_norm(p).ok());
  for (int64_t t = 0; t < T; ++t) {
    norm::RmsNormParams q = p;
    q.x = x.data() + t * xs; q.y = y1.data(); q.T = 1; q.x_stride = 0;
    REQUIRE(ref::norm::rms_norm(q).ok());
    REQUIRE(test::compare_bits(y1.data(), y.data() + t * n, n).count == 0);
  }
  std::vector<float> z(x.begin(), x.begin() + n);
  norm::RmsNormParams q = p;
  q.x = z.data(); q.y = z.data(); q.T = 1; q.x_stride = 0;
  REQUIRE(ref::norm::rms_norm(q).ok());
  REQUIRE(test::compare_bits(z.data(), y.data(), n).count == 0);
}

TEST_CASE("norm: edge values", "[norm]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> y(4);
  norm::RmsNormParams p;
  p.y = y.data(); p.T = 1; p.n = 4; p.eps = 1e-6f;
  SECTION("zero row with eps: zeros keep their sign") {
    std::vector<float> x = {0.0f, -0.0f, 0.0f, -0.0f};
    p.x = x.data();
    REQUIRE(ref::norm::rms_norm(p).ok());
    CHECK(fp::bits(y[0]) == 0u);
    CHECK(fp::bits(y[1]) == 0x80000000u);
  }
  SECTION("zero row, eps 0: 0 * inf = NaN") {
    std::vector<float> x(4, 0.0f);
    p.x = x.data(); p.eps = 0.0f;
    REQUIRE(ref::norm::rms_norm(p).ok());
    CHECK(fp::is_nan(y[0]));
  }
  SECTION("NaN poisons the row") {
    std::vector<float> x = {1.0f, nan, 2.0f, 3.0f};
    p.x = x.data();
    REQUIRE(ref::norm::rms_norm(p).ok());
    for (float v : y) CHECK(fp::is_nan(v));
  }
  SECTION("inf: finite entries become 0, inf entries NaN") {
    std::vector<float> x = {1.0f, inf, -2.0f, 3.0f};
    p.x = x.data();
    REQUIRE(ref::norm::rms_norm(p).ok());
    CHECK(y[0] == 0.0f);
    CHECK(fp::is_nan(y[1]));
    CHECK(fp::bits(y[2]) == 0x80000000u);
  }
  SECTION("huge values do not overflow to a wrong scale silently") {
    std::vector<float> x = {3e19f, 3e19f, 3e19f, 3e19f};  // x^2 overflows float
    p.x = x.data();
    REQUIRE(ref::norm::rms_norm(p).ok());
    CHECK(y[0] == 0.0f);  // documented: ss = inf, r = 0
  }
}

TEST_CASE("norm: add and fused add + rms_norm", "[norm]") {
  Rng rng(4);
  const int64_t n = 300, T = 5;
  std::vector<float> a(T * n), b(T * n), w(n), s(T * n), y(T * n), s2(T * n), y2(T * n);
  for (float& v : a) v = rng.normal();
  for (float& v : b) v = rng.normal();
  for (float& v : w) v = rng.normal();
  norm::AddParams ap;
  ap.a = a.data(); ap.b = b.data(); ap.y = s2.data(); ap.T = T; ap.n = n;
  REQUIRE(ref::norm::add(ap).ok());
  for (int64_t i = 0; i < T * n; ++i) REQUIRE(fp::bits(s2[i]) == fp::bits(a[i] + b[i]));
  norm::RmsNormParams rp;
  rp.x = s2.data(); rp.w = w.data(); rp.y = y2.data(); rp.T = T; rp.n = n;
  REQUIRE(ref::norm::rms_norm(rp).ok());
  norm::AddRmsNormParams fp_;
  fp_.a = a.data(); fp_.b = b.data(); fp_.w = w.data(); fp_.s = s.data(); fp_.y = y.data(); fp_.T = T; fp_.n = n;
  REQUIRE(ref::norm::add_rms_norm(fp_).ok());
  REQUIRE(test::compare_bits(s, s2).count == 0);
  REQUIRE(test::compare_bits(y, y2).count == 0);
  // s aliasing a (the residual stream updated in place)
  std::vector<float> a2 = a;
  fp_.a = a2.data(); fp_.s = a2.data();
  REQUIRE(ref::norm::add_rms_norm(fp_).ok());
  REQUIRE(test::compare_bits(a2, s2).count == 0);
}

TEST_CASE("norm: invalid params return a Status", "[norm]") {
  float x[4] = {}, y[4] = {};
  norm::RmsNormParams p;
  p.x = x; p.y = y; p.T = 1; p.n = 4;
  CHECK(ref::norm::rms_norm(p).ok());
  auto q = p; q.n = 0;
  CHECK(ref::norm::rms_norm(q).code == Status::kInvalidArgument);
  q = p; q.x = nullptr;
  CHECK(ref::norm::rms_norm(q).code == Status::kInvalidArgument);
  q = p; q.eps = -1.0f;
  CHECK(ref::norm::rms_norm(q).code == Status::kInvalidArgument);
  q = p; q.x_stride = 3;
  CHECK(ref::norm::rms_norm(q).code == Status::kInvalidArgument);
  q = p; q.T = 0; q.x = nullptr;
  CHECK(ref::norm::rms_norm(q).ok());
  norm::AddRmsNormParams f;
  f.T = 1; f.n = 4;
  CHECK(ref::norm::add_rms_norm(f).code == Status::kInvalidArgument);
}
