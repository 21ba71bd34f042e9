// dsk/v4/kv_storage.hpp — DeepSeek-V4 KV storage rounding (`--kv-storage official`): what the official
// inference code (DeepSeek-V4-Flash inference/model.py + kernel.py) and ds4 do to the rows they store.
//
//  - attention KV rows (raw window rows and compressed rows, head_dim wide): the non-RoPE dims
//    [0, head_dim - n_rope) go through an FP8-E4M3FN round trip in blocks of 64 with a power-of-two
//    (UE8M0) scale per block (official: act_quant(kv[..., :-rd], 64, scale_fmt="ue8m0", inplace=True));
//    the RoPE dims are kept; then ds4 rounds the whole stored row to F16 (raw rows; its CPU also
//    compressed rows).
//  - indexer rows (the indexer compressor's rows; also the indexer queries, not stored): a Walsh-Hadamard
//    rotation of the whole row (official rotate_activation: fast_hadamard_transform, scale n^-1/2), then an
//    FP4-E2M1 round trip in blocks of 32 with a power-of-two scale (official fp4_act_quant(x, 32,
//    inplace=True)); stored rows are F16-rounded by ds4's CPU as well.
//
// NUMERICS (every step exact or one stated rounding; no library function):
//  Block of n values x_i (n <= 64 for FP8, <= 32 for FP4; a shorter last block is a block of its own):
//   - any x_i NaN or +-inf -> every y_i of the block is the canonical NaN (dsk's policy, as its Q8_0 /
//     Q8_K quantizers; the official kernel and ds4 would turn a NaN into +448*scale silently);
//   - amax = max_i |x_i| (exact; order free), floored: FP8 max(amax, 1e-4f), FP4 max(amax, 6*2^-126);
//   - scale exponent e = ceil_log2(fp::mul(amax, inv)) with inv = fl(1/448) (FP8) or fl(1/6) (FP4),
//     ceil_log2 read from the float's bits (exponent - 127, + 1 when any mantissa bit is set): the
//     official kernel's fast_round_scale; scale s = 2^e (e in [-22, 120] for FP8, [-126, 126] for FP4);
//   - v = fp::div(x_i, s) (exact: s is a power of two), clamped to [-448, 448] / [-6, 6] as the official
//     code does (the clamp never binds: |x_i| / s <= 448 / 6 for every finite amax, checked over all
//     floats once; the block maximum of 448 * 2^k maps to 448 exactly);
//   - q = the nearest E4M3FN / E2M1 value, ties to even mantissa (= even code), sign kept (so a negative
//     value that rounds to zero gives -0, and +-0 stay +-0): the CUDA / torch RNE casts;
//   - y_i = fp::mul(q, s): exact, except that |x| near FLT_MAX rounds up to 2^128 = inf (as the official
//     kernel computes in float32; such values never occur in a model).
//  E4M3FN: bias 7, no infinities, 0x7f / 0xff NaN; normal (1 + m/8)·2^(E-7) up to 448, subnormal m·2^-9.
//  E2M1: bias 1; values 0, 0.5, 1, 1.5, 2, 3, 4, 6.
//  Hadamard (n a power of two): the in-place butterfly with strides h = 1, 2, 4, ..., n/2, each pair
//   (x[j], x[j+h]) with (j & h) == 0 -> (fp::add(a, b), fp::sub(a, b)) — natural (Sylvester) order,
//   H[i][j] = (-1)^popcount(i & j) — then every element fp::mul by fl(n^-1/2) (n = 128: 0.08838834764831845,
//   ds4's constant). The pairs of one stage are independent, so any parallel schedule that keeps the
//   stage order gives these bits.
//  F16 rounding: f32 -> f16 -> f32, round to nearest even, overflow to inf, subnormals kept
//   (dsk/core/half.hpp).
//
// Differences from the references, by design: ds4's CPU takes the scale exponent as
// ceilf(log2f(amax / 448)) with the C library's log2f, which rounds to k for amax/448 a few ulps above
// 2^k (ds4 then uses 2^k and clamps to 448, where the official kernel uses 2^(k+1)); dsk follows the
// official kernel (exact ceil of the exact product's float). The official code keeps its rows in bf16
// (its activation type); dsk, like ds4, computes in float32 and rounds stored rows to F16.
#pragma once

#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/half.hpp"
#include "dsk/core/status.hpp"

namespace dsk::v4 {

inline constexpr int kKvFp8Block = 64;     // E4M3 block of attention rows (non-RoPE dims)
inline constexpr int kIndexFp4Block = 32;  // E2M1 block of indexer rows
inline constexpr float kE4m3Max = 448.0f;
inline constexpr float kE2m1Max = 6.0f;
inline constexpr float kE4m3Inv = 0x1.24924ap-9f;    // fl(1/448), the official fp8_max_inv
inline constexpr float kE2m1Inv = 0x1.555556p-3f;    // fl(1/6), fp4_max_inv
inline constexpr float kFp8AmaxFloor = 0x1.a36e2ep-14f;  // fl(1e-4)
inline constexpr float kFp4AmaxFloor = 0x1.8p-124f;      // 6 * 2^-126 (7.052966104933725e-38)
inline constexpr float kSqrtHalf = 0x1.6a09e6p-1f;       // fl(sqrt(0.5))

// ceil(log2(x)) of a positive finite float from its bits (the official fast_log2_ceil; exact for
// normal x, and -126 for every subnormal x, which the floors above never produce).
DSK_HD int32_t ceil_log2(float x) {
  const uint32_t b = fp::bits(x);
  return static_cast<int32_t>((b >> 23) & 0xffu) - 127 + ((b & 0x7fffffu) != 0u ? 1 : 0);
}

// 2^e for e in [-126, 127] from bits (the official fast_pow2).
DSK_HD float pow2i(int32_t e) { return fp::from_bits(static_cast<uint32_t>(e + 127) << 23); }

// The power-of-two block scale exponent of a finite amax: ceil_log2(max(amax, floor) * inv).
DSK_HD int32_t block_scale_exp(float amax, float floor_v, float inv) {
  return ceil_log2(fp::mul(amax > floor_v ? amax : floor_v, inv));
}

// ---- E4M3FN ---------------------------------------------------------------------------------------

// Nearest E4M3FN value of a finite |v| <= 448, ties to even mantissa, sign kept.
DSK_HD float e4m3_round(float v) {
  const uint32_t b = fp::bits(v);
  const uint32_t sign = b & 0x80000000u, a = b & 0x7fffffffu;
  uint32_t r;
  if (a >= 0x3c800000u) {  // >= 2^-6: normal E4M3, keep 3 of the 23 mantissa bits
    r = (a + 0x7ffffu + ((a >> 20) & 1u)) & ~0xfffffu;
  } else {  // subnormal grid 2^-9: rint(|v| * 512), exact scalings and one RNE integer rounding
    const float t = fp::mul(fp::from_bits(a), 512.0f);          // < 8, exact
    const float m = fp::sub(fp::add(t, 8388608.0f), 8388608.0f);  // round to integer, ties to even
    r = fp::bits(fp::mul(m, 0x1p-9f));
  }
  return fp::from_bits(sign | r);
}

// The code byte of an E4M3FN value (one e4m3_round returned); decode is exact.
DSK_HD uint8_t e4m3_encode(float q) {
  const uint32_t b = fp::bits(q);
  const uint32_t sign = (b >> 24) & 0x80u, a = b & 0x7fffffffu;
  if (a < 0x3c800000u) return static_cast<uint8_t>(sign | static_cast<uint32_t>(fp::mul(fp::from_bits(a), 512.0f)));
  const uint32_t e = (a >> 23) - 127u + 7u;
  return static_cast<uint8_t>(sign | (e << 3) | ((a >> 20) & 7u));
}

DSK_HD float e4m3_decode(uint8_t c) {
  const uint32_t sign = static_cast<uint32_t>(c & 0x80u) << 24, e = (c >> 3) & 15u, m = c & 7u;
  if (e == 15u && m == 7u) return fp::canonical_nan();
  if (e == 0u) return fp::from_bits(sign | fp::bits(fp::mul(fp::from_int(static_cast<int32_t>(m)), 0x1p-9f)));
  return fp::from_bits(sign | ((e - 7u + 127u) << 23) | (m << 20));
}

// ---- E2M1 -----------------------------------------------------------------------------------------

// Nearest E2M1 value of a finite |v| <= 6, ties to even mantissa, sign kept.
DSK_HD float e2m1_round(float v) {
  const uint32_t b = fp::bits(v);
  const uint32_t sign = b & 0x80000000u, a = b & 0x7fffffffu;
  uint32_t r;
  if (a >= 0x3f800000u) {  // >= 1: normal E2M1, keep 1 mantissa bit
    r = (a + 0x1fffffu + ((a >> 22) & 1u)) & ~0x3fffffu;
  } else {  // grid 0.5: rint(|v| * 2)
    const float t = fp::mul(fp::from_bits(a), 2.0f);
    const float m = fp::sub(fp::add(t, 8388608.0f), 8388608.0f);
    r = fp::bits(fp::mul(m, 0.5f));
  }
  return fp::from_bits(sign | r);
}

// The 4-bit code of an E2M1 value (one e2m1_round returned); decode is exact.
DSK_HD uint8_t e2m1_encode(float q) {
  const uint32_t b = fp::bits(q);
  const uint32_t sign = (b >> 28) & 0x8u, a = b & 0x7fffffffu;
  if (a < 0x3f800000u) return static_cast<uint8_t>(sign | static_cast<uint32_t>(fp::mul(fp::from_bits(a), 2.0f)));
  const uint32_t e = (a >> 23) - 127u + 1u;
  return static_cast<uint8_t>(sign | (e << 1) | ((a >> 22) & 1u));
}

DSK_HD float e2m1_decode(uint8_t c) {
  const uint32_t sign = static_cast<uint32_t>(c & 0x8u) << 28, e = (c >> 1) & 3u, m = c & 1u;
  if (e == 0u) return fp::from_bits(sign | (m ? 0x3f000000u : 0u));
  return fp::from_bits(sign | ((e - 1u + 127u) << 23) | (m << 22));
}

// ---- block round trips ------------------------------------------------------------------------------

// y[i] = the block's round trip of x[i], i < n (x may equal y). Returns the scale exponent e (the
// UE8M0 byte would be e + 127), or INT32_MIN for a non-finite block (all NaN).
DSK_HD int32_t fp8_block(const float* x, float* y, int n) {
  float amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (!fp::is_finite(x[i])) {
      for (int k = 0; k < n; ++k) y[k] = fp::canonical_nan();
      return INT32_MIN;
    }
    const float a = fp::abs(x[i]);
    if (a > amax) amax = a;
  }
  const int32_t e = block_scale_exp(amax, kFp8AmaxFloor, kE4m3Inv);
  const float s = pow2i(e);
  for (int i = 0; i < n; ++i) {
    float v = fp::div(x[i], s);
    if (v > kE4m3Max) v = kE4m3Max;
    if (v < -kE4m3Max) v = -kE4m3Max;
    y[i] = fp::mul(e4m3_round(v), s);
  }
  return e;
}

DSK_HD int32_t fp4_block(const float* x, float* y, int n) {
  float amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (!fp::is_finite(x[i])) {
      for (int k = 0; k < n; ++k) y[k] = fp::canonical_nan();
      return INT32_MIN;
    }
    const float a = fp::abs(x[i]);
    if (a > amax) amax = a;
  }
  const int32_t e = block_scale_exp(amax, kFp4AmaxFloor, kE2m1Inv);
  const float s = pow2i(e);
  for (int i = 0; i < n; ++i) {
    float v = fp::div(x[i], s);
    if (v > kE2m1Max) v = kE2m1Max;
    if (v < -kE2m1Max) v = -kE2m1Max;
    y[i] = fp::mul(e2m1_round(v), s);
  }
  return e;
}

// ---- Hadamard ---------------------------------------------------------------------------------------

DSK_HD bool is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

// fl(n^-1/2) for n = 2^k (k <= 252): 2^(-k/2), or fl(sqrt(1/2)) * 2^(-(k-1)/2) for odd k.
DSK_HD float hadamard_scale(int64_t n) {
  int32_t k = 0;
  while ((int64_t{1} << k) < n) ++k;
  return (k & 1) ? fp::mul(kSqrtHalf, pow2i(-(k - 1) / 2)) : pow2i(-k / 2);
}

// In place over n = 2^k floats (see NUMERICS).
DSK_HD void hadamard(float* x, int64_t n) {
  for (int64_t h = 1; h < n; h <<= 1)
    for (int64_t i = 0; i < n; i += 2 * h)
      for (int64_t j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = fp::add(a, b);
        x[j + h] = fp::sub(a, b);
      }
  const float s = hadamard_scale(n);
  for (int64_t i = 0; i < n; ++i) x[i] = fp::mul(x[i], s);
}

DSK_HD float f16_round(float v) { return f16_bits_to_f32(f32_to_f16_bits(v)); }

// ---- stored rows ------------------------------------------------------------------------------------

// An attention KV row of n values: FP8 blocks of 64 over [0, n - n_rope), the last n_rope dims kept;
// then, when f16, every value F16-rounded. x may equal y.
DSK_HD void kv_attn_row(const float* x, float* y, int64_t n, int64_t n_rope, bool f16) {
  const int64_t n_fp8 = n - n_rope;
  for (int64_t i0 = 0; i0 < n_fp8; i0 += kKvFp8Block) {
    const int64_t m = n_fp8 - i0 < kKvFp8Block ? n_fp8 - i0 : kKvFp8Block;
    fp8_block(x + i0, y + i0, static_cast<int>(m));
  }
  for (int64_t i = n_fp8 < 0 ? 0 : n_fp8; i < n; ++i) y[i] = x[i];
  if (f16)
    for (int64_t i = 0; i < n; ++i) y[i] = f16_round(y[i]);
}

// An indexer row (or query head) of n = 2^k values: Hadamard, FP4 blocks of 32, then F16 when f16
// (stored rows; ds4 does not round the queries). x may equal y; otherwise y must not overlap x.
DSK_HD void kv_index_row(const float* x, float* y, int64_t n, bool f16) {
  if (x != y)
    for (int64_t i = 0; i < n; ++i) y[i] = x[i];
  hadamard(y, n);
  for (int64_t i0 = 0; i0 < n; i0 += kIndexFp4Block) {
    const int64_t m = n - i0 < kIndexFp4Block ? n - i0 : kIndexFp4Block;
    fp4_block(y + i0, y + i0, static_cast<int>(m));
  }
  if (f16)
    for (int64_t i = 0; i < n; ++i) y[i] = f16_round(y[i]);
}

// ---- params (the op over rows) ----------------------------------------------------------------------

enum class KvRowKind : int32_t {
  attn = 0,   // kv_attn_row: FP8 non-RoPE dims
  index = 1,  // kv_index_row: Hadamard + FP4
};

struct KvStoreParams {
  KvRowKind kind = KvRowKind::attn;
  const float* x = nullptr;  // [T, x_stride]
  int64_t x_stride = 0;      // 0: n
  float* y = nullptr;        // [T, y_stride]; may equal x with the same stride (in place)
  int64_t y_stride = 0;      // 0: n
  int64_t T = 0;
  int64_t n = 0;             // row length (index: a power of two)
  int64_t n_rope = 0;        // attn: trailing dims kept (0 .. n)
  bool f16 = true;           // F16-round the result (stored rows)
};

inline Status validate(const KvStoreParams& p) {
  if (p.T < 0 || p.n <= 0) return Status::Invalid("v4 kv_store: bad sizes");
  if (p.kind != KvRowKind::attn && p.kind != KvRowKind::index) return Status::Invalid("v4 kv_store: kind");
  if (p.kind == KvRowKind::attn && (p.n_rope < 0 || p.n_rope > p.n)) return Status::Invalid("v4 kv_store: n_rope outside 0..n");
  if (p.kind == KvRowKind::index && (!is_pow2(p.n) || p.n > (int64_t{1} << 20)))
    return Status::Unsupported("v4 kv_store: index rows need a power-of-two length <= 2^20 (Hadamard)");
  const int64_t xs = p.x_stride ? p.x_stride : p.n, ys = p.y_stride ? p.y_stride : p.n;
  if (xs < p.n || ys < p.n) return Status::Invalid("v4 kv_store: stride < n");
  if (p.T > 0 && (!p.x || !p.y)) return Status::Invalid("v4 kv_store: null pointer");
  if (p.T > 0 && p.x == p.y && xs != ys) return Status::Invalid("v4 kv_store: in place needs equal strides");
  if (p.T > 0 && p.x != p.y) {  // out of place: the two spans must not overlap
    const uintptr_t x0 = reinterpret_cast<uintptr_t>(p.x), y0 = reinterpret_cast<uintptr_t>(p.y);
    const uintptr_t xe = x0 + static_cast<uintptr_t>((p.T - 1) * xs + p.n) * sizeof(float);
    const uintptr_t ye = y0 + static_cast<uintptr_t>((p.T - 1) * ys + p.n) * sizeof(float);
    if (x0 < ye && y0 < xe) return Status::Invalid("v4 kv_store: x and y overlap");
  }
  return Status::Ok();
}

}  // namespace dsk::v4
