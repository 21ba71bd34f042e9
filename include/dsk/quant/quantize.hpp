// dsk/quant/quantize.hpp — quantization of float blocks, host and device from one source.
//
// Activations (Q8_0, Q8_K, and ik_llama.cpp's Q8_2) come in flavours that reproduce, byte for
// byte for finite inputs, the quantizer of a given ggml build (docs/quant.md):
//   ggml_ref  ggml-quants.c quantize_row_q8_0_ref / quantize_row_q8_K_ref (ggml's reference, and
//             its generic scalar CPU path):
//               Q8_0: amax = max|x|; d = amax/127; id = d ? 1/d : 0; q = roundf(x*id) (half away
//                     from zero); d stored as fp16.
//               Q8_K: max = the x of largest |x| (first one); iscale = -127/max;
//                     q = min(127, nearest_int(iscale*x)) (ties to even, ggml's 1.5*2^23 trick);
//                     d = 1/iscale (float32); amax == 0 gives d = 0, q = 0.
//   ggml_x86  ggml's x86 CPU backend (AVX/AVX2 quantize_row_q8_0; its quantize_row_q8_K calls
//             the ref): Q8_0: d = amax/127; id = amax ? 127/amax : 0; q = round-to-nearest-even
//             (x*id), saturated to int8.  Q8_K: as ggml_ref.
//   ik_x86    ik_llama.cpp built with AVX2 (iqk_quantize_row_q8_K): Q8_K: d = amax/127 (positive,
//             float32); id = amax ? 127/amax : 0; q = rne(id*x) saturated to int8; bsums from the
//             unsaturated int32 values.  Q8_0: as ggml_x86.
//   quantize_block(x, block_q8_2&): ik_llama.cpp's AVX2 quantize_row_q8_2_x4 per 32 elements:
//             d = bf16(amax/127); id = d > 0 ? 1/d : 0; q = rne(x*id) saturated; s = sum q.
// Where x*id is not finite (id overflows for amax below ~3.7e-37) each flavour reproduces what
// its build computes: ggml_ref gives q = 0 (x86's float->int conversion of inf/NaN, truncated to
// a byte), the SIMD flavours q = -128 (cvtps gives INT_MIN, packs saturate).
//
// Non-finite policy (all quantizers here): a block whose max |x| is not finite (it holds a NaN or
// an infinity) becomes d = NaN (fp16 0x7e00, bf16 0x7fc0 or float32 0x7fc00000; dmin too where the
// format has one), every other byte 0, so every dequantized value and every dot product with the
// block is NaN, identically on host and device.
//
// Weights (Q4_K, Q6_K, Q2_K): dsk's own deterministic quantizers (not byte-identical to ggml's):
// per sub-block a least-squares fit over a few candidate scales, then 6-/8-/4-bit sub-block scales
// under an fp16 super-scale, each sub-block's (scale, min) refined against the stored values.
// A block with a value beyond +-2^19 (kWeightMax) is treated like a non-finite one. IQ2_XXS has no
// quantizer yet: iq2_xxs_random_block() makes random valid blocks for tests.
#pragma once

#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/half.hpp"
#include "dsk/quant/blocks.hpp"

namespace dsk::quant {

enum class Q8Flavor : int { ggml_ref = 0, ggml_x86 = 1, ik_x86 = 2 };

namespace detail {

// ggml's nearest_int: round to nearest even by adding 1.5*2^23 and reading the mantissa; exact
// for |f| <= 2^22. For non-finite f it gives what x86 computes: +-inf -> -2^22, and NaN (x86's
// default NaN 0xffc00000 from 0*inf) -> 0; the GPU's NaN has another payload, so NaN is mapped
// explicitly. (Q8_K's tiny-max case reaches these; stored as int8 both become 0.)
DSK_HD int32_t ggml_nearest_int(float f) {
  if (fp::is_nan(f)) return 0;
  return static_cast<int32_t>(fp::bits(fp::add(f, 12582912.0f)) & 0x007fffffu) - 0x00400000;
}

// x86 cvtps2dq (round to nearest even); NaN, infinities and out-of-range values give INT32_MIN.
DSK_HD int32_t cvt_rne(float f) {
  const float a = fp::abs(f);
  if (!(a < 2147483648.0f)) return INT32_MIN;
  if (a >= 8388608.0f) return static_cast<int32_t>(f);  // already integral
  // a + 2^23 lies in [2^23, 2^24) where the spacing is 1: the addition rounds a to nearest even.
  const int32_t r = static_cast<int32_t>(fp::sub(fp::add(a, 8388608.0f), 8388608.0f));
  return (fp::bits(f) & 0x80000000u) ? -r : r;
}

DSK_HD int8_t sat8(int32_t v) { return static_cast<int8_t>(v < -128 ? -128 : v > 127 ? 127 : v); }
DSK_HD int16_t wrap16(uint32_t v) { return static_cast<int16_t>(static_cast<uint16_t>(v & 0xFFFFu)); }

// Round v to the nearest integer in [lo, hi] (ties to even); NaN gives lo. For the weight
// quantizers, where out-of-range ratios are clamped before rounding.
DSK_HD int clamp_round(float v, int lo, int hi) {
  if (!(v > fp::from_int(lo))) return lo;
  if (!(v < fp::from_int(hi))) return hi;
  return cvt_rne(v);
}

// max |x| over n values, or +inf when one is not finite (the non-finite policy's test).
DSK_HD float max_abs(const float* x, int n) {
  float amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float a = fp::abs(x[i]);
    if (!fp::is_finite(a)) return fp::from_bits(0x7f800000u);
    if (a > amax) amax = a;
  }
  return amax;
}

inline constexpr uint16_t kF16NaN = 0x7e00u;
inline constexpr uint16_t kBF16NaN = 0x7fc0u;
// Largest |x| the weight quantizers accept (2^19); a block with a larger value is treated like a
// non-finite one (d = NaN). Every format's fp16 super-scales stay finite below it (the tightest,
// Q2_K's dmin, reaches 65504*15 ~ 9.8e5), so no NaN (whose sign and payload differ between host
// and device) can reach the stored bytes.
inline constexpr float kWeightMax = 524288.0f;
DSK_HD bool weight_block_ok(const float* x) { return max_abs(x, kQK_K) <= kWeightMax; }

}  // namespace detail

// --- Activations ---------------------------------------------------------------------------------
//
// The Q8_0 / Q8_K quantizers are written as per-block pieces, so that a kernel which finds a
// block's maximum cooperatively (dsk/gemv/quantize_act.hpp) derives its scale and quants with the
// very same functions as quantize_block below:
//   amax  = max |x| (max_abs; +inf when the block holds a NaN or an infinity). max |x| is order
//           independent: it equals from_bits(max over i of abs_bits(x[i])), as abs_bits is
//           monotonic in |x| for non-negative floats (subnormals and -0 included).
//   max   = for Q8_K's ggml flavours, the x of largest |x| with the smallest index (its sign
//           matters: ggml's iscale = -127/max).
//   q8_0_scale / q8_K_scale: the stored d and the multiplier of the quants, from amax (and max);
//   q8_0_quant / q8_K_quant: one element's quant (and, for Q8_K, what it adds to its bsum).

// |x| as bits: monotonic in |x|; >= 0x7f800000 exactly when x is not finite.
DSK_HD uint32_t abs_bits(float x) { return fp::bits(x) & 0x7fffffffu; }
// max_abs's value from the largest abs_bits of a block (+inf when that is not finite).
DSK_HD float amax_of_bits(uint32_t max_abs_bits) {
  return max_abs_bits >= 0x7f800000u ? fp::from_bits(0x7f800000u) : fp::from_bits(max_abs_bits);
}

// Q8_0: a block whose amax is not finite stores d = NaN and quants 0 (q8_0_quant is not called).
struct Q8_0Scale {
  f16 d;     // stored scale
  float id;  // quant multiplier
};
DSK_HD Q8_0Scale q8_0_scale(float amax, Q8Flavor flavor) {
  if (!fp::is_finite(amax)) return {f16{detail::kF16NaN}, 0.0f};
  const float d = fp::div(amax, 127.0f);
  if (flavor == Q8Flavor::ggml_ref) return {f16::from_float(d), d != 0.0f ? fp::div(1.0f, d) : 0.0f};
  return {f16::from_float(d), amax != 0.0f ? fp::div(127.0f, amax) : 0.0f};  // ggml_x86 and ik_x86
}
DSK_HD int8_t q8_0_quant(float x, float id, Q8Flavor flavor) {
  if (flavor == Q8Flavor::ggml_ref) {
    const float r = fp::round_half_away(fp::mul(x, id));
    return static_cast<int8_t>(fp::is_finite(r) ? static_cast<int32_t>(r) : 0);
  }
  return detail::sat8(detail::cvt_rne(fp::mul(x, id)));
}

// Q8_K: a block whose amax is not finite, or (except ik_x86) is 0, stores d = NaN / 0 with every
// quant and bsum 0 (q8_K_zero; q8_K_quant is not called).
DSK_HD bool q8_K_zero(float amax, Q8Flavor flavor) {
  return !fp::is_finite(amax) || (flavor != Q8Flavor::ik_x86 && amax == 0.0f);
}
struct Q8_KScale {
  float d;   // stored scale
  float id;  // quant multiplier (ggml: iscale = -127/max)
};
// max is read by the ggml flavours only (for a block that is not q8_K_zero); for a q8_K_zero
// block, d is what it stores (NaN or 0).
DSK_HD Q8_KScale q8_K_scale(float amax, float max, Q8Flavor flavor) {
  if (!fp::is_finite(amax)) return {fp::canonical_nan(), 0.0f};
  if (flavor == Q8Flavor::ik_x86) return {fp::div(amax, 127.0f), amax != 0.0f ? fp::div(127.0f, amax) : 0.0f};
  if (amax == 0.0f) return {0.0f, 0.0f};
  const float iscale = fp::div(-127.0f, max);
  return {fp::div(1.0f, iscale), iscale};
}
// One element's stored quant; `sum` gets what it adds to its bsum (a uint32 sum, wrapping as
// ik's SIMD int32 adds; its low 16 bits are the bsum).
DSK_HD int8_t q8_K_quant(float x, float id, Q8Flavor flavor, uint32_t& sum) {
  if (flavor == Q8Flavor::ik_x86) {
    const int32_t q = detail::cvt_rne(fp::mul(id, x));
    sum += static_cast<uint32_t>(q);  // bsums from the unsaturated values
    return detail::sat8(q);
  }
  const int32_t v = detail::ggml_nearest_int(fp::mul(id, x));
  const int8_t q = static_cast<int8_t>(v < 127 ? v : 127);  // ggml stores MIN(127, v) into an int8
  sum += static_cast<uint32_t>(static_cast<int32_t>(q));
  return q;
}

DSK_HD void quantize_block(const float* DSK_RESTRICT x, block_q8_0& y, Q8Flavor flavor = Q8Flavor::ggml_ref) {
  const float amax = detail::max_abs(x, kQK8_0);
  const Q8_0Scale s = q8_0_scale(amax, flavor);
  y.d = s.d;
  const bool finite = fp::is_finite(amax);
  for (int i = 0; i < kQK8_0; ++i) y.qs[i] = finite ? q8_0_quant(x[i], s.id, flavor) : int8_t{0};
}

DSK_HD void quantize_block(const float* DSK_RESTRICT x, block_q8_K& y, Q8Flavor flavor = Q8Flavor::ggml_ref) {
  const float amax = detail::max_abs(x, kQK_K);
  if (q8_K_zero(amax, flavor)) {
    y.d = q8_K_scale(amax, 0.0f, flavor).d;
    for (int i = 0; i < kQK_K; ++i) y.qs[i] = 0;
    for (int j = 0; j < kQK_K / 16; ++j) y.bsums[j] = 0;
    return;
  }
  float max = 0.0f, am = 0.0f;  // the first value of largest magnitude, with its sign
  for (int i = 0; i < kQK_K; ++i) {
    const float a = fp::abs(x[i]);
    if (a > am) {
      am = a;
      max = x[i];
    }
  }
  const Q8_KScale s = q8_K_scale(amax, max, flavor);
  for (int j = 0; j < kQK_K / 16; ++j) {
    uint32_t sum = 0;
    for (int i = 16 * j; i < 16 * j + 16; ++i) y.qs[i] = q8_K_quant(x[i], s.id, flavor, sum);
    y.bsums[j] = detail::wrap16(sum);
  }
  y.d = s.d;
}

DSK_HD void quantize_block(const float* DSK_RESTRICT x, block_q8_2& y) {
  const float amax = detail::max_abs(x, kQK8_0);
  if (!fp::is_finite(amax)) {
    y.d = bf16{detail::kBF16NaN};
    y.s = 0;
    for (int i = 0; i < kQK8_0; ++i) y.qs[i] = 0;
    return;
  }
  y.d = bf16::from_float(fp::div(amax, 127.0f));
  const float d = y.d.to_float();
  const float id = d > 0.0f ? fp::div(1.0f, d) : 0.0f;
  uint32_t sum = 0;
  for (int i = 0; i < kQK8_0; ++i) {
    const int32_t q = detail::cvt_rne(fp::mul(x[i], id));
    sum += static_cast<uint32_t>(q);
    y.qs[i] = detail::sat8(q);
  }
  y.s = detail::wrap16(sum);
}

// --- Float dot blocks ----------------------------------------------------------------------------

DSK_HD void quantize_block(const float* DSK_RESTRICT x, block_f32& y) {
  for (int i = 0; i < kQKF; ++i) y.v[i] = x[i];
}
DSK_HD void quantize_block(const float* DSK_RESTRICT x, block_f16& y) {
  for (int i = 0; i < kQKF; ++i) y.v[i] = f16::from_float(x[i]);
}
DSK_HD void quantize_block(const float* DSK_RESTRICT x, block_bf16& y) {
  for (int i = 0; i < kQKF; ++i) y.v[i] = bf16::from_float(x[i]);
}

// --- Weights -------------------------------------------------------------------------------------

namespace detail {

// Sum of squared errors of y = dl*L - ml (the dequantization formula) against x, with L chosen
// per element as the nearest level in [0, nmax]; writes L when it is not null.
DSK_HD float asym_error(const float* x, int n, int nmax, float dl, float ml, uint8_t* L) {
  float err = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = dl != 0.0f ? clamp_round(fp::div(fp::add(x[i], ml), dl), 0, nmax) : 0;
    if (L) L[i] = static_cast<uint8_t>(l);
    const float e = fp::sub(fp::sub(fp::mul(dl, fp::from_int(l)), ml), x[i]);
    err = fp::fma(e, e, err);
  }
  return err;
}

// Fit x ~ s*L - m with s >= 0, m >= 0, L in 0..nmax over n elements: for a few candidate level
// spacings around (max - min)/nmax, assign levels, solve the least-squares line through them and
// keep the fit with the smallest squared error.
DSK_HD void fit_asym(const float* x, int n, int nmax, float& s_out, float& m_out) {
  float lo = 0.0f, hi = x[0];
  for (int i = 0; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  s_out = 0.0f;
  m_out = fp::sub(0.0f, lo);
  if (!(hi > lo)) return;
  const float range = fp::sub(hi, lo);
  float best = asym_error(x, n, nmax, fp::div(range, fp::from_int(nmax)), m_out, nullptr);
  s_out = fp::div(range, fp::from_int(nmax));
  for (int t = -4; t <= 12; ++t) {
    const float iscale = fp::div(fp::add(fp::from_int(nmax), fp::mul(0.1f, fp::from_int(t))), range);
    float sl = 0.0f, sl2 = 0.0f, sx = 0.0f, slx = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float l = fp::from_int(clamp_round(fp::mul(fp::sub(x[i], lo), iscale), 0, nmax));
      sl = fp::add(sl, l);
      sl2 = fp::fma(l, l, sl2);
      sx = fp::add(sx, x[i]);
      slx = fp::fma(l, x[i], slx);
    }
    const float fn = fp::from_int(n);
    const float det = fp::sub(fp::mul(fn, sl2), fp::mul(sl, sl));
    if (!(det > 0.0f)) continue;
    float s = fp::div(fp::sub(fp::mul(fn, slx), fp::mul(sl, sx)), det);
    float b = fp::div(fp::sub(sx, fp::mul(s, sl)), fn);
    if (b > 0.0f) {  // the format's offset is -m with m >= 0
      b = 0.0f;
      s = fp::div(slx, sl2);
    }
    if (!(s > 0.0f)) continue;
    const float err = asym_error(x, n, nmax, s, fp::sub(0.0f, b), nullptr);
    if (err < best) {
      best = err;
      s_out = s;
      m_out = fp::sub(0.0f, b);
    }
  }
}

// Shared by Q4_K (NS = 8 sub-blocks of 32, nmax 15, 6-bit scales) and Q2_K (16 of 16, nmax 3,
// 4-bit scales): fit each sub-block, quantize the scales and mins under fp16 super-scales, refine
// each sub-block's (scale, min) pair by +-1 against the stored values, and return the levels.
template <int NS, int N, int NMAX, int SMAX>
DSK_HD void quantize_asym(const float* x, f16& d_out, f16& dmin_out, int (&sc)[NS], int (&mn)[NS],
                          uint8_t (&L)[NS * N]) {
  float s[NS], m[NS], smax = 0.0f, mmax = 0.0f;
  for (int j = 0; j < NS; ++j) {
    fit_asym(x + N * j, N, NMAX, s[j], m[j]);
    smax = s[j] > smax ? s[j] : smax;
    mmax = m[j] > mmax ? m[j] : mmax;
  }
  d_out = f16::from_float(fp::div(smax, fp::from_int(SMAX)));
  dmin_out = f16::from_float(fp::div(mmax, fp::from_int(SMAX)));
  const float d = d_out.to_float(), dmin = dmin_out.to_float();
  for (int j = 0; j < NS; ++j) {
    const int sc0 = d > 0.0f ? clamp_round(fp::div(s[j], d), 0, SMAX) : 0;
    const int m0 = dmin > 0.0f ? clamp_round(fp::div(m[j], dmin), 0, SMAX) : 0;
    sc[j] = sc0;
    mn[j] = m0;
    float best = fp::from_bits(0x7f800000u);
    for (int a = sc0 - 1; a <= sc0 + 1; ++a) {
      for (int b = m0 - 1; b <= m0 + 1; ++b) {
        if (a < 0 || a > SMAX || b < 0 || b > SMAX) continue;
        const float err = asym_error(x + N * j, N, NMAX, fp::mul(d, fp::from_int(a)), fp::mul(dmin, fp::from_int(b)),
                                     nullptr);
        if (err < best) {
          best = err;
          sc[j] = a;
          mn[j] = b;
        }
      }
    }
    asym_error(x + N * j, N, NMAX, fp::mul(d, fp::from_int(sc[j])), fp::mul(dmin, fp::from_int(mn[j])), L + N * j);
  }
}

// Symmetric fit for Q6_K: x ~ s*L with L in -32..31, the largest |x| mapped near -32 (the side
// with one more level); least squares over candidate spacings.
DSK_HD float fit_sym(const float* x, int n) {
  float max = 0.0f, amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float a = fp::abs(x[i]);
    if (a > amax) {
      amax = a;
      max = x[i];
    }
  }
  if (amax == 0.0f) return 0.0f;
  float best_s = fp::div(max, -32.0f), best = 0.0f;
  bool have = false;
  for (int t = -6; t <= 6; ++t) {
    const float iscale = fp::div(fp::sub(0.0f, fp::add(32.0f, fp::mul(0.1f, fp::from_int(t)))), max);
    float slx = 0.0f, sl2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float l = fp::from_int(clamp_round(fp::mul(iscale, x[i]), -32, 31));
      slx = fp::fma(l, x[i], slx);
      sl2 = fp::fma(l, l, sl2);
    }
    if (!(sl2 > 0.0f)) continue;
    const float s = fp::div(slx, sl2);
    float err = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float l = fp::from_int(clamp_round(fp::div(x[i], s), -32, 31));
      const float e = fp::sub(fp::mul(s, l), x[i]);
      err = fp::fma(e, e, err);
    }
    if (!have || err < best) {
      have = true;
      best = err;
      best_s = s;
    }
  }
  return best_s;
}

}  // namespace detail

DSK_HD void quantize_block(const float* DSK_RESTRICT x, block_q4_K& y) {
  for (int i = 0; i < 12; ++i) y.scales[i] = 0;
  for (int i = 0; i < kQK_K / 2; ++i) y.qs[i] = 0;
  if (!detail::weight_block_ok(x)) {
    y.d = y.dmin = f16{detail::kF16NaN};
    return;
  }
  int sc[8], mn[8];
  uint8_t L[kQK_K];
  detail::quantize_asym<8, 32, 15, 63>(x, y.d, y.dmin, sc, mn, L);
  for (int j = 0; j < 8; ++j) {  // the packing q4k_scale_min reads
    if (j < 4) {
      y.scales[j] = static_cast<uint8_t>(sc[j]);
      y.scales[j + 4] = static_cast<uint8_t>(mn[j]);
    } else {
      y.scales[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
      y.scales[j - 4] = static_cast<uint8_t>(y.scales[j - 4] | ((sc[j] >> 4) << 6));
      y.scales[j] = static_cast<uint8_t>(y.scales[j] | ((mn[j] >> 4) << 6));
    }
  }
  for (int e = 0; e < kQK_K; ++e) {
    uint8_t& q = y.qs[(e / 64) * 32 + e % 32];
    q = static_cast<uint8_t>(q | (L[e] << ((e % 64) < 32 ? 0 : 4)));
  }
}

DSK_HD void quantize_block(const float* DSK_RESTRICT x, block_q2_K& y) {
  for (int i = 0; i < kQK_K / 16; ++i) y.scales[i] = 0;
  for (int i = 0; i < kQK_K / 4; ++i) y.qs[i] = 0;
  if (!detail::weight_block_ok(x)) {
    y.d = y.dmin = f16{detail::kF16NaN};
    return;
  }
  int sc[16], mn[16];
  uint8_t L[kQK_K];
  detail::quantize_asym<16, 16, 3, 15>(x, y.d, y.dmin, sc, mn, L);
  for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<uint8_t>(sc[j] | (mn[j] << 4));
  for (int e = 0; e < kQK_K; ++e) {
    uint8_t& q = y.qs[32 * (e / 128) + e % 32];
    q = static_cast<uint8_t>(q | (L[e] << (2 * ((e % 128) / 32))));
  }
}

DSK_HD void quantize_block(const float* DSK_RESTRICT x, block_q6_K& y) {
  for (int i = 0; i < kQK_K / 2; ++i) y.ql[i] = 0;
  for (int i = 0; i < kQK_K / 4; ++i) y.qh[i] = 0;
  for (int i = 0; i < kQK_K / 16; ++i) y.scales[i] = 0;
  if (!detail::weight_block_ok(x)) {
    y.d = f16{detail::kF16NaN};
    return;
  }
  float s[16], smax = 0.0f, sabs = 0.0f;
  for (int j = 0; j < 16; ++j) {
    s[j] = detail::fit_sym(x + 16 * j, 16);
    if (fp::abs(s[j]) > sabs) {
      sabs = fp::abs(s[j]);
      smax = s[j];
    }
  }
  y.d = f16::from_float(fp::div(smax, -128.0f));  // the largest scale becomes -128
  const float d = y.d.to_float();
  for (int j = 0; j < 16; ++j) {
    const float* xs = x + 16 * j;
    const int sc0 = d != 0.0f ? detail::clamp_round(fp::div(s[j], d), -128, 127) : 0;
    int sc = sc0;
    float best = fp::from_bits(0x7f800000u);
    for (int a = sc0 - 1; a <= sc0 + 1; ++a) {
      if (a < -128 || a > 127) continue;
      const float ds = fp::mul(d, fp::from_int(a));
      float err = 0.0f;
      for (int i = 0; i < 16; ++i) {
        const int l = ds != 0.0f ? detail::clamp_round(fp::div(xs[i], ds), -32, 31) : 0;
        const float e = fp::sub(fp::mul(ds, fp::from_int(l)), xs[i]);
        err = fp::fma(e, e, err);
      }
      if (err < best) {
        best = err;
        sc = a;
      }
    }
    y.scales[j] = static_cast<int8_t>(sc);
    const float ds = fp::mul(d, fp::from_int(sc));
    for (int i = 0; i < 16; ++i) {
      const int e = 16 * j + i, h = e / 128, k = (e % 128) / 32, l = e % 32;
      const int q = (ds != 0.0f ? detail::clamp_round(fp::div(xs[i], ds), -32, 31) : 0) + 32;
      uint8_t& lo = y.ql[64 * h + 32 * (k & 1) + l];
      lo = static_cast<uint8_t>(lo | ((q & 0xF) << (k < 2 ? 0 : 4)));
      y.qh[32 * h + l] = static_cast<uint8_t>(y.qh[32 * h + l] | ((q >> 4) << (2 * k)));
    }
  }
}

// --- IQ2_XXS: random valid blocks ----------------------------------------------------------------

// splitmix64: a small deterministic generator, the same on host and device.
DSK_HD uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Every bit pattern of the 64 quant bytes is a valid IQ2_XXS block (8-bit grid indices, 7-bit
// sign indices, 4-bit scales); d is a random finite fp16 of either sign with magnitude in
// [2^-14, 2^2) (normal, the range real models use).
DSK_HD block_iq2_xxs iq2_xxs_random_block(uint64_t& state) {
  block_iq2_xxs b;
  const uint64_t r = splitmix64(state);
  const uint32_t exp = 1u + static_cast<uint32_t>(r % 16u);  // biased exponent 1..16
  b.d = f16{static_cast<uint16_t>(((r >> 8) & 0x8000u) | (exp << 10) | ((r >> 20) & 0x3FFu))};
  for (int i = 0; i < kQK_K / 8; i += 4) {
    const uint64_t w = splitmix64(state);
    for (int k = 0; k < 4; ++k) b.qs[i + k] = static_cast<uint16_t>(w >> (16 * k));
  }
  return b;
}

}  // namespace dsk::quant
