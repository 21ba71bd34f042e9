// dsk/ops/ops.hpp — embedding gather, SwiGLU (plain and clamped), row softmax, row argmax, and the
// total order on (score, index) that every selection in dsk uses.
//
// NUMERICS (rows independent; every token the same order):
//  embedding  y = dequantize_block(...) of row ids[t] of the table (dsk/quant/dequant.hpp, exact
//             ggml formulas); an id outside [0, n_vocab) gives a row of NaN (never a read outside).
//  swiglu     y = fp::mul(math::silu(g), u).
//             clamped (DeepSeek-V4): g' = g > L ? L : g (no lower bound); u' = u > L ? L : (u < -L ? -L : u);
//             y = fp::mul(math::silu(g'), u'). NaN passes through the clamps (comparisons are false).
//  softmax    m = max over the row with NaNs skipped (fp::max_num; -inf if none);
//             e_i = math::exp(fp::sub(x_i, m)); S = order::vector_sum<kSoftmaxNT>(e); y_i = fp::div(e_i, S).
//             Policies: a NaN anywhere gives a row of NaN; a +inf gives NaN (inf - inf) for the row;
//             a row with no value above -inf (fully masked) gives +0 everywhere (NaN if it holds a NaN).
//  argmax     the first index under key_before (below): the largest value, lowest index among
//             equals (+0 == -0), NaN below every number (-inf included); an all-NaN row gives 0.
//             key_before is a strict total order on (value, index) pairs, so any reduction tree a
//             kernel uses gives the same answer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/math.hpp"
#include "dsk/core/reduce.hpp"
#include "dsk/core/status.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::ops {

inline constexpr int kSoftmaxNT = 256;  // threads of the row softmax kernel (its sum order)

// --- the ranking order --------------------------------------------------------------------------

// True when (a, ia) ranks before (b, ib): larger value first; NaN after every number; equal values
// (and two NaNs) by lower index.
DSK_HD bool key_before(float a, int32_t ia, float b, int32_t ib) {
  const bool an = fp::is_nan(a), bn = fp::is_nan(b);
  if (an || bn) return (an && bn) ? ia < ib : bn;
  if (a > b) return true;
  if (a < b) return false;
  return ia < ib;
}

// --- per-element / per-row math ------------------------------------------------------------------

DSK_HD float swiglu(float g, float u) { return fp::mul(math::silu(g), u); }

DSK_HD float clamp_gate(float g, float limit) { return g > limit ? limit : g; }
DSK_HD float clamp_up(float u, float limit) { return u > limit ? limit : (u < -limit ? -limit : u); }
DSK_HD float swiglu_clamped(float g, float u, float limit) {
  return fp::mul(math::silu(clamp_gate(g, limit)), clamp_up(u, limit));
}

// The softmax row on one thread in the order of an NT-thread kernel. y may alias x.
template <int NT>
DSK_HD void softmax_row(const float* x, float* y, int64_t n) {
  float m = fp::from_bits(0xff800000u);  // -inf
  bool any_nan = false;
  for (int64_t i = 0; i < n; ++i) {
    m = fp::max_num(m, x[i]);
    any_nan = any_nan || fp::is_nan(x[i]);
  }
  if (m == fp::from_bits(0xff800000u)) {
    for (int64_t i = 0; i < n; ++i) y[i] = any_nan ? fp::canonical_nan() : 0.0f;
    return;
  }
  const float s = order::vector_sum<NT>(n, [&](int64_t i) { return math::exp(fp::sub(x[i], m)); });
  for (int64_t i = 0; i < n; ++i) y[i] = fp::div(math::exp(fp::sub(x[i], m)), s);
}

DSK_HD int32_t argmax_row(const float* x, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; ++i)
    if (key_before(x[i], i, x[best], best)) best = i;
  return best;
}

// --- Params -------------------------------------------------------------------------------------

// y[t, :] = dequantized row ids[t] of table [n_vocab rows of n_embd, type]. Types: F32, F16, BF16,
// Q8_0, Q4_K, Q6_K, Q2_K, IQ2_XXS; n_embd a multiple of the type's block.
struct EmbedParams {
  GgmlType type = GgmlType::F32;
  const void* table = nullptr;
  size_t row_bytes = 0;  // 0: packed
  int64_t n_embd = 0;
  int64_t n_vocab = 0;
  const int32_t* ids = nullptr;  // [T]
  int64_t T = 0;
  float* y = nullptr;
  int64_t y_stride = 0;  // elements, 0: n_embd
};

// y[t, i] = swiglu(g[t, i], u[t, i]) (clamped when clamp). y may alias g or u.
struct SwigluParams {
  const float* g = nullptr;
  const float* u = nullptr;
  float* y = nullptr;
  int64_t T = 0, n = 0;
  int64_t g_stride = 0, u_stride = 0, y_stride = 0;  // 0: n
  bool clamp = false;
  float limit = 10.0f;  // > 0, finite
};

// y[t, :] = softmax(x[t, :]). y may alias x.
struct SoftmaxParams {
  const float* x = nullptr;
  float* y = nullptr;
  int64_t T = 0, n = 0;
  int64_t x_stride = 0, y_stride = 0;
};

// idx[t] = argmax(x[t, :]).
struct ArgmaxParams {
  const float* x = nullptr;
  int32_t* idx = nullptr;
  int64_t T = 0, n = 0;
  int64_t x_stride = 0;
};

inline bool embed_type_supported(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0:
    case GgmlType::Q4_K: case GgmlType::Q6_K: case GgmlType::Q2_K: case GgmlType::IQ2_XXS: return true;
    default: return false;
  }
}

inline Status validate(const EmbedParams& p) {
  if (!embed_type_supported(p.type)) return Status::Unsupported("embed: type");
  if (p.T < 0 || p.n_embd <= 0 || p.n_vocab <= 0) return Status::Invalid("embed: bad T / n_embd / n_vocab");
  if (p.n_vocab > INT32_MAX) return Status::Unsupported("embed: n_vocab > INT32_MAX");
  if (p.T > 0 && (!p.table || !p.ids || !p.y)) return Status::Invalid("embed: null pointer");
  const GgmlTypeInfo& ti = ggml_type_info(p.type);
  if (p.n_embd % ti.block_elems != 0) return Status::Invalid("embed: n_embd not a multiple of the block");
  const size_t packed = static_cast<size_t>(p.n_embd / ti.block_elems) * ti.block_bytes;
  if (p.row_bytes != 0 && p.row_bytes < packed) return Status::Invalid("embed: row_bytes < the row's size");
  if (p.y_stride != 0 && p.y_stride < p.n_embd) return Status::Invalid("embed: y_stride < n_embd");
  return Status::Ok();
}

namespace detail {
inline Status rows(int64_t T, int64_t n, std::initializer_list<int64_t> strides) {
  if (T < 0 || n <= 0) return Status::Invalid("ops: bad T / n");
  for (int64_t s : strides)
    if (s != 0 && s < n) return Status::Invalid("ops: stride < n");
  return Status::Ok();
}
}  // namespace detail

inline Status validate(const SwigluParams& p) {
  if (Status s = detail::rows(p.T, p.n, {p.g_stride, p.u_stride, p.y_stride}); !s.ok()) return s;
  if (p.T > 0 && (!p.g || !p.u || !p.y)) return Status::Invalid("swiglu: null pointer");
  if (p.clamp && !(p.limit > 0.0f && fp::is_finite(p.limit))) return Status::Invalid("swiglu: limit must be finite and > 0");
  return Status::Ok();
}

inline Status validate(const SoftmaxParams& p) {
  if (Status s = detail::rows(p.T, p.n, {p.x_stride, p.y_stride}); !s.ok()) return s;
  if (p.T > 0 && (!p.x || !p.y)) return Status::Invalid("softmax: null pointer");
  return Status::Ok();
}

inline Status validate(const ArgmaxParams& p) {
  if (Status s = detail::rows(p.T, p.n, {p.x_stride}); !s.ok()) return s;
  if (p.n > INT32_MAX) return Status::Unsupported("argmax: n > INT32_MAX");
  if (p.T > 0 && (!p.x || !p.idx)) return Status::Invalid("argmax: null pointer");
  return Status::Ok();
}

}  // namespace dsk::ops
