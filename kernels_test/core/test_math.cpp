// dsk/core/math.hpp: accuracy against float64 over a dense sweep of all float inputs, and the
// documented values at special points. The GPU test (test_core_gpu) checks the same functions give
// the same bits on the device.
#include <cmath>
#include <cstdio>

#include "catch.hpp"
#include "dsk/core/math.hpp"
#include "math_oracle.hpp"

using namespace dsk;
using test::MathFn;

namespace {
// Bounds recorded in docs/numerics.md (measured with a stride-61 sweep; a few tenths of headroom).
double ulp_bound(MathFn f) {
  switch (f) {
    case MathFn::exp: return 1.0;
    case MathFn::log: return 1.0;
    case MathFn::log1p: return 1.75;
    case MathFn::softplus: return 2.25;
    case MathFn::sqrt_softplus: return 1.75;
    case MathFn::sigmoid: return 2.5;
    case MathFn::silu: return 2.5;
    case MathFn::tanh: return 1.5;
  }
  return 0.0;
}
}  // namespace

TEST_CASE("math functions: max ulp vs float64 over a sweep of all floats", "[core][math]") {
  // Every 509th bit pattern (8.4M inputs per function) covers every binade densely.
  for (MathFn f : test::kMathFns) {
    double worst = 0.0;
    uint32_t worst_at = 0;
    for (uint64_t u = 0; u < (1ull << 32); u += 509) {
      const float x = fp::from_bits(static_cast<uint32_t>(u));
      const double e = test::ulp_error(test::math_eval(f, x), test::math_oracle(f, static_cast<double>(x)));
      if (e > worst) {
        worst = e;
        worst_at = static_cast<uint32_t>(u);
      }
    }
    std::printf("  %-14s max %.3f ulp (at %a)\n", test::math_fn_name(f), worst, fp::from_bits(worst_at));
    INFO(test::math_fn_name(f) << " worst input bits " << worst_at);
    CHECK(worst <= ulp_bound(f));
  }
}

TEST_CASE("math functions: special values", "[core][math]") {
  const float inf = INFINITY;
  CHECK(math::exp(0.0f) == 1.0f);
  CHECK(math::exp(-inf) == 0.0f);
  CHECK(math::exp(inf) == inf);
  CHECK(math::exp(88.8f) == inf);
  CHECK(math::exp(88.72f) < inf);
  CHECK(math::exp(-103.0f) > 0.0f);  // subnormal, not flushed
  CHECK(math::exp(-104.0f) == 0.0f);
  CHECK(std::isnan(math::exp(NAN)));
  CHECK(math::log(1.0f) == 0.0f);
  CHECK(math::log(0.0f) == -inf);
  CHECK(math::log(-0.0f) == -inf);
  CHECK(std::isnan(math::log(-1.0f)));
  CHECK(math::log(inf) == inf);
  CHECK(math::log(1e-45f) < -103.0f);
  CHECK(math::log1p(-1.0f) == -inf);
  CHECK(std::isnan(math::log1p(-2.0f)));
  CHECK(fp::bits(math::log1p(-0.0f)) == 0x80000000u);
  CHECK(math::log1p(1e-30f) == 1e-30f);
  CHECK(math::softplus(inf) == inf);
  CHECK(math::softplus(-inf) == 0.0f);
  CHECK(math::softplus(100.0f) == 100.0f);
  CHECK(math::sqrt_softplus(-300.0f) == 0.0f);
  CHECK(math::sqrt_softplus(-200.0f) > 0.0f);  // e^-100 is subnormal, not zero
  CHECK(math::sqrt_softplus(-100.0f) > 0.0f);  // e^-50: root of a value below float range
  CHECK(math::sigmoid(inf) == 1.0f);
  CHECK(math::sigmoid(-inf) == 0.0f);
  CHECK(math::sigmoid(0.0f) == 0.5f);
  CHECK(math::silu(inf) == inf);
  CHECK(fp::bits(math::silu(-inf)) == 0x80000000u);
  CHECK(math::silu(0.0f) == 0.0f);
  CHECK(math::tanh(inf) == 1.0f);
  CHECK(math::tanh(-inf) == -1.0f);
  CHECK(fp::bits(math::tanh(-0.0f)) == 0x80000000u);
  CHECK(math::tanh(20.0f) == 1.0f);
  for (MathFn f : test::kMathFns) CHECK(std::isnan(test::math_eval(f, NAN)));
}

TEST_CASE("math functions: monotone across the tanh and sigmoid branch points", "[core][math]") {
  // Branch switches must not create a visible step.
  float prev = math::tanh(0.6f);
  for (float x = 0.6f; x < 0.65f; x = std::nextafter(x, 1.0f)) {
    const float t = math::tanh(x);
    REQUIRE(t >= prev);
    prev = t;
  }
  prev = math::sigmoid(-0.01f);
  for (int i = -100000; i <= 100000; ++i) {
    const float s = math::sigmoid(static_cast<float>(i) * 1e-7f);
    REQUIRE(s >= prev);
    prev = s;
  }
}
