// dsk/core/math.hpp — transcendental functions from correctly rounded operations only.
//
// exp, log, log1p, softplus, sqrt(softplus), sigmoid, silu and tanh, written with the operations of
// dsk/core/fp.hpp (+ - * / fma sqrt, each correctly rounded by IEEE 754 on the host and on the GPU)
// and integer bit manipulation. The same source therefore gives the same bits on both sides, unlike
// the C library or CUDA's expf/__expf, whose results differ between platforms and versions.
// Accuracy against float64 (max ulp over a dense sweep) is measured by kernels_test/core/test_math
// and recorded in docs/numerics.md.
//
// Non-finite inputs follow the usual IEEE conventions: NaN in -> NaN out; exp(-inf) = 0,
// exp(+inf) = inf; log(0) = -inf, log(x<0) = NaN; sigmoid(+-inf) = 1 / 0; silu(-inf) = -0;
// softplus(+inf) = inf, softplus(-inf) = 0; tanh(+-inf) = +-1.
#pragma once

#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"

namespace dsk::math {

namespace detail {

// 2^n as a float, for n in [-126, 127].
DSK_HD float pow2i(int32_t n) { return fp::from_bits(static_cast<uint32_t>(n + 127) << 23); }

// Round to the nearest integer, ties to even, for |x| < 2^22 (exact: the magic-number trick).
DSK_HD float rint_small(float x) { return fp::sub(fp::add(x, 12582912.0f), 12582912.0f); }

// ln 2 split: kLn2Hi has 16 significant bits, so k * kLn2Hi is exact for |k| < 2^8.
constexpr float kLn2Hi = 0.693145751953125f;          // 0x3f317200
constexpr float kLn2Lo = 1.428606765330187045e-06f;   // ln2 - kLn2Hi
constexpr float kLog2e = 1.44269502162933349609375f;  // nearest float to 1/ln 2

// exp(r) for |r| <= ~0.35: degree-7 Taylor polynomial (truncation < 6e-9 relative), Horner in fma.
DSK_HD float exp_poly(float r) {
  float p = 1.98412698412698412698e-4f;  // 1/5040
  p = fp::fma(p, r, 1.38888888888888888889e-3f);  // 1/720
  p = fp::fma(p, r, 8.33333333333333333333e-3f);  // 1/120
  p = fp::fma(p, r, 4.16666666666666666667e-2f);  // 1/24
  p = fp::fma(p, r, 1.66666666666666666667e-1f);  // 1/6
  p = fp::fma(p, r, 0.5f);
  p = fp::fma(p, r, 1.0f);
  return fp::fma(p, r, 1.0f);
}

// log(m) for m in [sqrt(1/2), sqrt(2)]: f = m - 1, s = f / (2 + f), log m = 2 atanh(s)
// = 2s + s^3 (2/3 + 2/5 s^2 + ...), |s| <= 0.1716.
DSK_HD float log_reduced(float m) {
  const float f = fp::sub(m, 1.0f);  // exact (Sterbenz)
  const float s = fp::div(f, fp::add(2.0f, f));
  const float z = fp::mul(s, s);
  float p = 0.15384615384615384615f;      // 2/13
  p = fp::fma(p, z, 0.18181818181818181818f);  // 2/11
  p = fp::fma(p, z, 0.22222222222222222222f);  // 2/9
  p = fp::fma(p, z, 0.28571428571428571429f);  // 2/7
  p = fp::fma(p, z, 0.4f);                     // 2/5
  p = fp::fma(p, z, 0.66666666666666666667f);  // 2/3
  // log m = f - (f - 2s) + s z p, with f - 2s = s f (exact identity: 2s(1 + f/2) = f, so
  // f - 2s = s*f); computing s*f with one rounding keeps the result within about one ulp.
  const float sf = fp::mul(s, f);
  return fp::sub(f, fp::sub(sf, fp::mul(fp::mul(s, z), p)));
}

// m * e^x, with m's product taken before the final scaling by 2^k, so that a result in the
// subnormal range is rounded once (silu's tail needs this). exp(x) is exp_scaled(x, 1).
DSK_HD float exp_scaled(float x, float m) {
  // Outside [-120, 89] m e^x (|m| <= 120) is 0 or inf in float; clamping keeps k in range and lets the scaling
  // below produce them with correct IEEE rounding.
  const float xc = x < -120.0f ? -120.0f : (x > 89.0f ? 89.0f : x);
  const float kf = rint_small(fp::mul(xc, kLog2e));
  const int32_t k = static_cast<int32_t>(kf);
  // r = x - k ln2 in two fma steps (Cody-Waite); the first is exact.
  float r = fp::fma(-kf, kLn2Hi, xc);
  r = fp::fma(-kf, kLn2Lo, r);
  const float p = fp::mul(m, exp_poly(r));
  // p * 2^k with k in [-173, 128]: split the scaling so that each factor is a normal float and
  // only the last multiplication rounds (into the subnormal range or to inf).
  if (k > 127) return fp::mul(fp::mul(p, pow2i(127)), pow2i(k - 127));
  if (k < -125) return fp::mul(fp::mul(p, pow2i(k + 64)), pow2i(-64));
  return fp::mul(p, pow2i(k));
}

}  // namespace detail

DSK_HD float exp(float x) {
  if (fp::is_nan(x)) return fp::add(x, x);
  return detail::exp_scaled(x, 1.0f);
}

DSK_HD float log(float x) {
  if (fp::is_nan(x)) return fp::add(x, x);
  if (x < 0.0f) return fp::canonical_nan();
  if (x == 0.0f) return fp::from_bits(0xff800000u);  // -inf (also for -0)
  if (fp::is_inf(x)) return x;
  uint32_t u = fp::bits(x);
  int32_t e = 0;
  if (u < 0x00800000u) {  // subnormal: scale by 2^23 (exact)
    u = fp::bits(fp::mul(x, 8388608.0f));
    e = -23;
  }
  e += static_cast<int32_t>(u >> 23) - 127;
  uint32_t mb = (u & 0x007fffffu) | 0x3f800000u;  // m in [1, 2)
  if (mb > 0x3fb504f3u) {                          // m > sqrt(2): use m/2, e+1
    mb -= 0x00800000u;
    ++e;
  }
  const float lm = detail::log_reduced(fp::from_bits(mb));
  const float ef = fp::from_int(e);
  // e ln2 + log m: e*kLn2Hi is exact (|e| <= 149), the low part joins log m first.
  return fp::add(fp::mul(ef, detail::kLn2Hi), fp::fma(ef, detail::kLn2Lo, lm));
}

DSK_HD float log1p(float x) {
  if (fp::is_nan(x)) return fp::add(x, x);
  if (x < -1.0f) return fp::canonical_nan();
  if (x == -1.0f) return fp::from_bits(0xff800000u);
  if (fp::is_inf(x)) return x;
  if (fp::abs(x) < 5.9604644775390625e-8f) return x;  // |x| < 2^-24: log1p(x) rounds to x
  const float u = fp::add(1.0f, x);
  if (u == 1.0f) return x;
  // u = 1 + x rounded; x - (u - 1) is that rounding error (exact where it matters), and
  // log(1 + x) = log(u) + err / u to first order.
  const float err = fp::sub(x, fp::sub(u, 1.0f));
  return fp::add(log(u), fp::div(err, u));
}

// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|).
DSK_HD float softplus(float x) {
  if (fp::is_nan(x)) return fp::add(x, x);
  if (fp::is_inf(x)) return x > 0.0f ? x : 0.0f;
  const float pos = x > 0.0f ? x : 0.0f;
  return fp::add(pos, log1p(exp(-fp::abs(x))));
}

// sqrt(softplus(x)): the DeepSeek-V4 router score. Below -20, softplus(x) = e^x (1 - e^x/2 ...)
// to far better than float precision, so the root is e^{x/2}; this keeps full precision where
// softplus itself would be subnormal or zero but its root is not.
DSK_HD float sqrt_softplus(float x) {
  if (x < -20.0f) return exp(fp::mul(0.5f, x));
  return fp::sqrt(softplus(x));
}

// sigmoid(x) = 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below, so that neither branch
// overflows and tiny results keep their precision.
DSK_HD float sigmoid(float x) {
  if (fp::is_nan(x)) return fp::add(x, x);
  if (x >= 0.0f) return fp::div(1.0f, fp::add(1.0f, exp(-x)));
  const float e = exp(x);
  return fp::div(e, fp::add(1.0f, e));
}

// silu(x) = x / (1 + e^-x); below -80 (where e^-x nears overflow) x e^x, the same to float
// precision, scaled once at the end so that subnormal results round once.
DSK_HD float silu(float x) {
  if (fp::is_nan(x)) return fp::add(x, x);
  if (x < -80.0f) return x < -120.0f ? -0.0f : detail::exp_scaled(x, x);
  return fp::div(x, fp::add(1.0f, exp(-x)));
}

// tanh: odd Taylor polynomial below 0.625, 1 - 2 / (e^{2|x|} + 1) above, sign restored.
DSK_HD float tanh(float x) {
  if (fp::is_nan(x)) return fp::add(x, x);
  const float ax = fp::abs(x);
  float t;
  if (ax < 2.44140625e-4f) return x;  // |x| < 2^-12: tanh x rounds to x
  if (ax < 0.625f) {
    // tanh x = x + x^3 P(x^2), P from the Taylor series 2^2n (2^2n - 1) B_2n / (2n)! up to x^23;
    // the truncation is below 2e-10 relative at 0.625.
    const float z = fp::mul(ax, ax);
    float p = -3.927832388331683e-05f;           // x^23
    p = fp::fma(p, z, 9.691537956929451e-05f);   // x^21
    p = fp::fma(p, z, -2.3912911424355248e-04f); // x^19
    p = fp::fma(p, z, 5.90027440945586e-04f);    // x^17
    p = fp::fma(p, z, -1.4558343870513183e-03f); // x^15
    p = fp::fma(p, z, 3.592128036572481e-03f);   // x^13
    p = fp::fma(p, z, -8.863235529902197e-03f);  // x^11
    p = fp::fma(p, z, 2.1869488536155203e-02f);  // x^9
    p = fp::fma(p, z, -5.396825396825397e-02f);  // x^7
    p = fp::fma(p, z, 1.3333333333333333e-01f);  // x^5
    p = fp::fma(p, z, -3.3333333333333333e-01f); // x^3
    t = fp::fma(fp::mul(ax, z), p, ax);
  } else {
    const float e2 = exp(fp::mul(2.0f, ax));  // inf for large |x|: 2 / inf = 0, t = 1
    t = fp::sub(1.0f, fp::div(2.0f, fp::add(e2, 1.0f)));
  }
  return (fp::bits(x) & 0x80000000u) ? -t : t;
}

}  // namespace dsk::math
