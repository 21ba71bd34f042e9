// float64 oracles and the ulp distance used by the math tests (CPU accuracy and GPU sweeps).
#pragma once

#include <cmath>
#include <cstdint>

#include "dsk/core/math.hpp"

namespace dsk::test {

enum class MathFn { exp, log, log1p, softplus, sqrt_softplus, sigmoid, silu, tanh };
inline constexpr MathFn kMathFns[] = {MathFn::exp,          MathFn::log,     MathFn::log1p, MathFn::softplus,
                                      MathFn::sqrt_softplus, MathFn::sigmoid, MathFn::silu,  MathFn::tanh};
inline const char* math_fn_name(MathFn f) {
  const char* names[] = {"exp", "log", "log1p", "softplus", "sqrt_softplus", "sigmoid", "silu", "tanh"};
  return names[static_cast<int>(f)];
}

// The function under test (host build of the one source).
inline float math_eval(MathFn f, float x) {
  switch (f) {
    case MathFn::exp: return math::exp(x);
    case MathFn::log: return math::log(x);
    case MathFn::log1p: return math::log1p(x);
    case MathFn::softplus: return math::softplus(x);
    case MathFn::sqrt_softplus: return math::sqrt_softplus(x);
    case MathFn::sigmoid: return math::sigmoid(x);
    case MathFn::silu: return math::silu(x);
    case MathFn::tanh: return math::tanh(x);
  }
  return 0.0f;
}

inline double softplus64(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

inline double math_oracle(MathFn f, double x) {
  switch (f) {
    case MathFn::exp: return std::exp(x);
    case MathFn::log: return std::log(x);
    case MathFn::log1p: return std::log1p(x);
    case MathFn::softplus: return softplus64(x);
    case MathFn::sqrt_softplus: return std::sqrt(softplus64(x));
    case MathFn::sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case MathFn::silu: return x / (1.0 + std::exp(-x));
    case MathFn::tanh: return std::tanh(x);
  }
  return 0.0;
}

// Error of `got` in units of the float ulp at `want` (subnormal spacing 2^-149 at the bottom).
// Non-finite expectations must be matched exactly (NaN by NaN, inf by inf of the same sign).
inline double ulp_error(float got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0.0 : INFINITY;
  if (std::isnan(got)) return INFINITY;
  const float wf = static_cast<float>(want);
  if (std::isinf(wf)) return (std::isinf(got) && std::signbit(got) == std::signbit(wf)) ? 0.0 : INFINITY;
  int e = 0;
  std::frexp(want == 0.0 ? 1e-300 : want, &e);
  const double ulp = std::fmax(std::ldexp(1.0, e - 24), std::ldexp(1.0, -149));
  return std::fabs(static_cast<double>(got) - want) / ulp;
}

}  // namespace dsk::test
