// GPU == reference by bits for the norm family (dsk/norm/norm_cuda.cuh vs reference/norm.*):
// RMSNorm with / without weight, residual add, fused add + RMSNorm; random rows of odd and
// model sizes, strided rows, named edge rows (NaN, +-inf, +-0, all-zero with eps 0, overflow of the
// sum of squares, subnormals), in place, and T = 1 vs T = many. Outputs are poisoned before each
// launch (support/device_mirror.cuh).
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "norm_gpu_kernels.hpp"
#include "reference/norm.hpp"

using namespace dsk;
using dsk::quant::test::Rng;
namespace gn = dsk::test::gpu_norm;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Row t of kind t % 10.
void fill_row(Rng& rng, float* x, int64_t n, int kind) {
  const float s = std::ldexp(1.0f, rng.below(40) - 20);
  for (int64_t i = 0; i < n; ++i) x[i] = s * rng.normal();
  switch (kind) {
    case 1: x[rng.below(static_cast<int>(n))] = kNaN; break;
    case 2: x[rng.below(static_cast<int>(n))] = kInf; break;
    case 3: x[rng.below(static_cast<int>(n))] = -kInf; break;
    case 4: for (int64_t i = 0; i < n; ++i) x[i] = rng.below(2) ? 0.0f : -0.0f; break;
    case 5: for (int64_t i = 0; i < n; ++i) x[i] = 3e37f * rng.normal(); break;         // ss overflows
    case 6: for (int64_t i = 0; i < n; ++i) x[i] = std::ldexp(rng.normal(), -140); break;  // subnormal
    case 7: for (int64_t i = 0; i < n; ++i) x[i] = (i % 3 == 0) ? -0.0f : 1e-30f * rng.normal(); break;
    default: break;
  }
}

std::vector<float> rows(Rng& rng, int64_t T, int64_t n, int64_t stride, bool edges) {
  const int64_t st = stride ? stride : n;
  std::vector<float> x(static_cast<size_t>(T * st), 777.0f);
  for (int64_t t = 0; t < T; ++t) fill_row(rng, x.data() + t * st, n, edges ? static_cast<int>(t % 10) : 0);
  return x;
}

void require_same(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  REQUIRE(dsk::test::compare_bits(got, want).count == 0);
}

const int64_t kSizes[] = {1, 2, 7, 31, 32, 33, 255, 256, 257, 513, 1000, 1536, 4096, 7168, 10007};
}  // namespace

TEST_CASE("norm gpu: rms_norm == reference, random and edge rows, with and without weight", "[norm][gpu]") {
  Rng rng(11);
  for (int64_t n : kSizes)
    for (int64_t T : {1, 3, 12})
      for (int variant = 0; variant < 4; ++variant) {
        const bool with_w = variant & 1, strided = variant & 2;
        const int64_t xs = strided ? n + 5 : 0, ys = strided ? n + 3 : 0;
        auto x = rows(rng, T, n, xs, T > 3);
        std::vector<float> w(n);
        for (float& v : w) v = rng.uniform(-2.0f, 2.0f);
        if (n > 3) w[1] = kNaN;
        if (n > 3) w[2] = -0.0f;
        const float eps = (variant == 1) ? 0.0f : 1e-6f;
        std::vector<float> want(static_cast<size_t>(T * (ys ? ys : n)), dsk::test::poison()), got = want;
        norm::RmsNormParams p;
        p.x = x.data(); p.w = with_w ? w.data() : nullptr; p.T = T; p.n = n; p.x_stride = xs; p.y_stride = ys; p.eps = eps;
        p.y = want.data();
        REQUIRE(ref::norm::rms_norm(p).ok());
        p.y = got.data();
        REQUIRE(gn::rms_norm(p).ok());
        INFO("n=" << n << " T=" << T << " variant=" << variant);
        // Padding between strided rows is not written by either side: compare the rows only.
        for (int64_t t = 0; t < T; ++t)
          REQUIRE(dsk::test::compare_bits(got.data() + t * (ys ? ys : n), want.data() + t * (ys ? ys : n), n).count == 0);
      }
}

TEST_CASE("norm gpu: add and add_rms_norm == reference", "[norm][gpu]") {
  Rng rng(12);
  for (int64_t n : kSizes)
    for (int64_t T : {1, 4, 13})
      for (bool with_w : {false, true}) {
        auto a = rows(rng, T, n, 0, true), b = rows(rng, T, n, 0, T > 4);
        std::vector<float> w(n);
        for (float& v : w) v = rng.uniform(0.5f, 1.5f);
        const size_t sz = static_cast<size_t>(T * n);
        INFO("n=" << n << " T=" << T << " w=" << with_w);
        {
          std::vector<float> want(sz), got(sz);
          norm::AddParams p;
          p.a = a.data(); p.b = b.data(); p.T = T; p.n = n;
          p.y = want.data();
          REQUIRE(ref::norm::add(p).ok());
          p.y = got.data();
          REQUIRE(gn::add(p).ok());
          require_same(got, want);
        }
        {
          std::vector<float> ws(sz), wy(sz), gs(sz), gy(sz);
          norm::AddRmsNormParams p;
          p.a = a.data(); p.b = b.data(); p.w = with_w ? w.data() : nullptr; p.T = T; p.n = n; p.eps = 1e-5f;
          p.s = ws.data(); p.y = wy.data();
          REQUIRE(ref::norm::add_rms_norm(p).ok());
          p.s = gs.data(); p.y = gy.data();
          REQUIRE(gn::add_rms_norm(p).ok());
          require_same(gs, ws);
          require_same(gy, wy);
        }
      }
}

TEST_CASE("norm gpu: in place (y = x; s = a, y = s; add y = b)", "[norm][gpu]") {
  Rng rng(13);
  for (int64_t n : {7, 256, 2049, 7168}) {
    const int64_t T = 9;
    auto x = rows(rng, T, n, 0, true), b = rows(rng, T, n, 0, false);
    {
      auto want = x, got = x;
      norm::RmsNormParams p;
      p.T = T; p.n = n;
      p.x = p.y = want.data();
      REQUIRE(ref::norm::rms_norm(p).ok());
      p.x = p.y = got.data();
      REQUIRE(gn::rms_norm(p).ok());
      require_same(got, want);
    }
    {
      auto wa = x, ga = x;
      norm::AddRmsNormParams p;
      p.b = b.data(); p.T = T; p.n = n;
      p.a = p.s = p.y = wa.data();
      REQUIRE(ref::norm::add_rms_norm(p).ok());
      p.a = p.s = p.y = ga.data();
      REQUIRE(gn::add_rms_norm(p).ok());
      require_same(ga, wa);
    }
    {
      auto wb = b, gb = b;
      norm::AddParams p;
      p.a = x.data(); p.T = T; p.n = n;
      p.b = p.y = wb.data();
      REQUIRE(ref::norm::add(p).ok());
      p.b = p.y = gb.data();
      REQUIRE(gn::add(p).ok());
      require_same(gb, wb);
    }
  }
}

TEST_CASE("norm gpu: T = 1 per row equals T = many", "[norm][gpu]") {
  Rng rng(14);
  const int64_t n = 5120, T = 70;
  auto x = rows(rng, T, n, 0, true);
  std::vector<float> w(n);
  for (float& v : w) v = rng.uniform(0.5f, 1.5f);
  std::vector<float> all(static_cast<size_t>(T * n)), one(n);
  norm::RmsNormParams p;
  p.x = x.data(); p.w = w.data(); p.y = all.data(); p.T = T; p.n = n;
  REQUIRE(gn::rms_norm(p).ok());
  for (int64_t t = 0; t < T; t += 7) {
    norm::RmsNormParams q = p;
    q.x = x.data() + t * n; q.y = one.data(); q.T = 1;
    REQUIRE(gn::rms_norm(q).ok());
    REQUIRE(dsk::test::compare_bits(one.data(), all.data() + t * n, n).count == 0);
  }
}

TEST_CASE("norm gpu: launchers reject what validate rejects, T = 0 is a no-op", "[norm][gpu]") {
  std::vector<float> x(8), y(8);
  norm::RmsNormParams p;
  p.x = x.data(); p.y = y.data(); p.T = 1; p.n = 0;
  CHECK(gn::rms_norm(p).code == Status::kInvalidArgument);
  p.n = 8; p.eps = -1.0f;
  CHECK(gn::rms_norm(p).code == Status::kInvalidArgument);
  p.eps = 1e-6f; p.T = 0;
  CHECK(gn::rms_norm(p).ok());
  p.T = 1; p.n = norm::kMaxN + 1;
  CHECK(gn::rms_norm(p).code == Status::kUnsupported);
}
