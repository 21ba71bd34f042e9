// dsk/core/fp.hpp — float operations with the rounding stated in the source.
//
// Every compared float path in dsk (kernels and their references) is written with these helpers
// instead of bare operators. On the device they are the _rn intrinsics, which the compiler never
// contracts into a fused multiply-add whatever the user's -fmad setting; on the host they are the
// plain IEEE operations (the project builds host code with -ffp-contract=off; docs/numerics.md).
// fma() is the one fused operation, written where a fused multiply-add is meant, on both sides.
#pragma once

#include <cstdint>
#include <cstring>

#include "dsk/core/config.hpp"

#if !DSK_DEVICE_CODE
#include <cmath>
#endif

namespace dsk::fp {

DSK_HD float add(float a, float b) {
#if DSK_DEVICE_CODE
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

DSK_HD float sub(float a, float b) {
#if DSK_DEVICE_CODE
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

DSK_HD float mul(float a, float b) {
#if DSK_DEVICE_CODE
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

DSK_HD float div(float a, float b) {
#if DSK_DEVICE_CODE
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

DSK_HD float fma(float a, float b, float c) {
#if DSK_DEVICE_CODE
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

DSK_HD float sqrt(float a) {
#if DSK_DEVICE_CODE
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

// int32 -> float, round to nearest even (exact below 2^24).
DSK_HD float from_int(int32_t v) {
#if DSK_DEVICE_CODE
  return __int2float_rn(v);
#else
  return static_cast<float>(v);
#endif
}

DSK_HD uint32_t bits(float f) {
#if DSK_DEVICE_CODE
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

DSK_HD float from_bits(uint32_t u) {
#if DSK_DEVICE_CODE
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

DSK_HD bool is_nan(float f) { return (bits(f) & 0x7fffffffu) > 0x7f800000u; }
DSK_HD bool is_inf(float f) { return (bits(f) & 0x7fffffffu) == 0x7f800000u; }
DSK_HD bool is_finite(float f) { return (bits(f) & 0x7f800000u) != 0x7f800000u; }
DSK_HD float abs(float f) { return from_bits(bits(f) & 0x7fffffffu); }

// The canonical quiet NaN (0x7fc00000). Comparisons of outputs map every NaN to it.
constexpr uint32_t kCanonicalNaNBits = 0x7fc00000u;
DSK_HD float canonical_nan() { return from_bits(kCanonicalNaNBits); }
DSK_HD uint32_t canonical_bits(float f) { return is_nan(f) ? kCanonicalNaNBits : bits(f); }

// max/min that return the other operand when one is NaN (IEEE maxNum), identical on both sides.
DSK_HD float max_num(float a, float b) {
  if (is_nan(a)) return b;
  if (is_nan(b)) return a;
  return a > b ? a : b;  // ties (incl. +0 vs -0) return b
}
DSK_HD float min_num(float a, float b) {
  if (is_nan(a)) return b;
  if (is_nan(b)) return a;
  return a < b ? a : b;
}

// Round half away from zero to an integer-valued float (C roundf), from exact operations only.
// |x| >= 2^23 is already integral.
DSK_HD float round_half_away(float x) {
  const float ax = abs(x);
  if (!(ax < 8388608.0f)) return x;  // already integral, or NaN
  // ax - trunc(ax) is exact below 2^23, so no rounding can move the halfway decision.
  float r = from_int(static_cast<int32_t>(ax));
  if (sub(ax, r) >= 0.5f) r = add(r, 1.0f);
  return (bits(x) & 0x80000000u) ? from_bits(bits(r) | 0x80000000u) : r;
}

}  // namespace dsk::fp
