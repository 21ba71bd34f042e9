// dsk/v4/hc.hpp — DeepSeek-V4 hyper-connections (mHC): the "pre" step (control vector, Sinkhorn
// split, stream collapse), the "post" step (stream expansion) and the output head's collapse
// (spec deepseek4-architecture.md §4.1, §4.2, §4.5; ds4 hc_split_sinkhorn_one / hc_post_one /
// output_hc_head_one).
//
// State X of one token: n_hc streams of n_embd, stream-major (X[h][d] at h*n_embd + d). N = n_hc*n_embd.
// Control values: n_ctrl = 2*n_hc + n_hc*n_hc, in the order [pre (n_hc), post (n_hc), comb (n_hc^2)].
//
// NUMERICS (per token; tokens independent, nothing depends on T):
//  1. flat = weightless RMSNorm of all N values in the norm family's formula (dsk/norm/norm.hpp,
//     kNT = 256): ss = order::vector_sum<256>(x_i*x_i); r = norm::rms_inv(ss, N, norm_eps);
//     flat_i = fp::mul(x_i, r). (norm_eps is the model's RMS epsilon, not hc_eps.)
//  2. mix[k] = dot_f32(fn row k widened exactly, flat, N) (dsk/v4/common.hpp: 32-element fma
//     blocks + order::row_sum), k = 0..n_ctrl-1 (the head: k = 0..n_hc-1).
//  3. split (hc_split, one thread; every sum below is sequential, index ascending, from +0.0f):
//       pre[h]  = fp::add(math::sigmoid(fp::fma(mix[h], scale[0], base[h])), hc_eps)
//       post[h] = fp::mul(2, math::sigmoid(fp::fma(mix[n+h], scale[1], base[n+h])))       (no eps)
//       C[r][c] = fp::fma(mix[2n + r*n + c], scale[2], base[2n + r*n + c])   (r: source stream, c: destination)
//       row softmax: m = max_num over c; e = math::exp(fp::sub(C[r][c], m)); s = sum_c e;
//                    C[r][c] = fp::add(fp::div(e, s), hc_eps)
//       column normalization: s = sum_r C[r][c]; C[r][c] = fp::div(C[r][c], fp::add(s, hc_eps))
//       then (sinkhorn_iters - 1) times: row normalization (the same with sum_c), column normalization.
//     ds4's CPU multiplies by a reciprocal, its CUDA divides; dsk divides (one rounding).
//  4. collapse: y[d] = sum_h w[h]*X[h][d] as acc = +0; acc = fp::fma(w[h], X[h][d], acc), h ascending
//     (w = pre for the sublayers, the head weights for the output head).
//  5. post (expand): X'[c][d] = post[c]*f[d] + sum_r C[r][c]*X[r][d] as
//       acc = fp::mul(f[d], post[c]); acc = fp::fma(C[r][c], X[r][d], acc), r ascending.
//     C is applied transposed: destination c gathers the sources r through column c (spec §4.2; the
//     transformers port's matmul(comb, X) uses C[c][r], which ds4 and the spec do not).
//  6. head: w[h] = fp::add(math::sigmoid(fp::fma(mix[h], scale[0], base[h])), hc_eps); y = collapse(w).
// Non-finite values propagate: a NaN or inf anywhere in X makes flat (hence mix and every output
// of the token) NaN; non-finite fn / scale / base propagate through IEEE arithmetic.
// Transformers differs (post = sigmoid + eps, comb = sigmoid + eps then n full Sinkhorn passes,
// untransposed comb); dsk follows ds4 and the spec, whose weights the GGUF files carry.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/math.hpp"
#include "dsk/core/status.hpp"
#include "dsk/norm/norm.hpp"
#include "dsk/quant/types.hpp"
#include "dsk/v4/common.hpp"

namespace dsk::v4 {

inline constexpr int kHcNormNT = norm::kNT;  // threads of the control RMSNorm (its sum order)
inline constexpr int kMaxHc = 16;            // streams a split supports (one thread holds C)

DSK_HD int hc_ctrl(int n_hc) { return 2 * n_hc + n_hc * n_hc; }

// --- per-token math, shared with kernels ----------------------------------------------------------

// Step 3: pre[n], post[n], comb[n*n] (C[r][c] at r*n + c) from mix[hc_ctrl(n)].
DSK_HD void hc_split(const float* mix, const float* scale, const float* base, int n, int iters, float eps,
                     float* pre, float* post, float* comb) {
  for (int h = 0; h < n; ++h) pre[h] = fp::add(math::sigmoid(fp::fma(mix[h], scale[0], base[h])), eps);
  for (int h = 0; h < n; ++h)
    post[h] = fp::mul(2.0f, math::sigmoid(fp::fma(mix[n + h], scale[1], base[n + h])));
  const float* cm = mix + 2 * n;
  const float* cb = base + 2 * n;
  for (int r = 0; r < n; ++r) {
    float* row = comb + r * n;
    float m = neg_inf();
    for (int c = 0; c < n; ++c) {
      row[c] = fp::fma(cm[r * n + c], scale[2], cb[r * n + c]);
      m = fp::max_num(m, row[c]);
    }
    float s = 0.0f;
    for (int c = 0; c < n; ++c) {
      row[c] = math::exp(fp::sub(row[c], m));
      s = fp::add(s, row[c]);
    }
    for (int c = 0; c < n; ++c) row[c] = fp::add(fp::div(row[c], s), eps);
  }
  auto col_norm = [&]() {
    for (int c = 0; c < n; ++c) {
      float s = 0.0f;
      for (int r = 0; r < n; ++r) s = fp::add(s, comb[r * n + c]);
      const float d = fp::add(s, eps);
      for (int r = 0; r < n; ++r) comb[r * n + c] = fp::div(comb[r * n + c], d);
    }
  };
  col_norm();
  for (int it = 1; it < iters; ++it) {
    for (int r = 0; r < n; ++r) {
      float s = 0.0f;
      for (int c = 0; c < n; ++c) s = fp::add(s, comb[r * n + c]);
      const float d = fp::add(s, eps);
      for (int c = 0; c < n; ++c) comb[r * n + c] = fp::div(comb[r * n + c], d);
    }
    col_norm();
  }
}

// Step 4: element d of the collapse of x (n streams of n_embd) with weights w.
DSK_HD float hc_collapse(const float* x, int64_t n_embd, int n, const float* w, int64_t d) {
  float acc = 0.0f;
  for (int h = 0; h < n; ++h) acc = fp::fma(w[h], x[h * n_embd + d], acc);
  return acc;
}

// Step 5: element (c, d) of the new streams from the sublayer output's f_d and the old streams x.
DSK_HD float hc_expand(float f_d, const float* x, int64_t n_embd, int n, const float* post, const float* comb, int c,
                       int64_t d) {
  float acc = fp::mul(f_d, post[c]);
  for (int r = 0; r < n; ++r) acc = fp::fma(comb[r * n + c], x[r * n_embd + d], acc);
  return acc;
}

// Step 6: the head's collapse weights from its mix[n].
DSK_HD void hc_head_weights(const float* mix, float scale, const float* base, int n, float eps, float* w) {
  for (int h = 0; h < n; ++h) w[h] = fp::add(math::sigmoid(fp::fma(mix[h], scale, base[h])), eps);
}

// --- Params ---------------------------------------------------------------------------------------

// The control projection's weight: n_rows rows of n_hc*n_embd (ggml [hc_dim, n_rows]).
struct HcWeight {
  GgmlType type = GgmlType::F16;  // F32, F16, BF16
  const void* data = nullptr;
  size_t row_bytes = 0;           // 0: packed
};

// Sublayer pre step: y = collapse(x, pre), plus post and comb for the post step.
struct HcPreParams {
  const float* x = nullptr;   // [T, n_hc * n_embd]
  int64_t x_stride = 0;       // 0: n_hc * n_embd
  HcWeight fn;                // hc_{attn,ffn}_fn: hc_ctrl(n_hc) rows
  const float* scale = nullptr;  // [3]
  const float* base = nullptr;   // [hc_ctrl(n_hc)]
  int64_t T = 0, n_embd = 0;
  int n_hc = 4;
  int sinkhorn_iters = 20;    // >= 1 (hyper_connection.sinkhorn_iterations)
  float hc_eps = 1e-6f;       // hyper_connection.epsilon
  float norm_eps = 1e-6f;     // attention.layer_norm_rms_epsilon (control RMSNorm)
  float* y = nullptr;         // [T, n_embd] sublayer input
  int64_t y_stride = 0;       // 0: n_embd
  float* post = nullptr;      // [T, n_hc]
  float* comb = nullptr;      // [T, n_hc * n_hc], C[r][c] at r * n_hc + c
  float* pre = nullptr;       // optional [T, n_hc]
  float* mix = nullptr;       // optional [T, hc_ctrl(n_hc)] (step 2's raw control vector)
};

// Sublayer post step: y[c] = post[c] * f + sum_r C[r][c] * x[r]. y may equal x (each (token, d)
// reads all of x[., d] before writing y[., d]); no other overlap.
struct HcPostParams {
  const float* f = nullptr;     // [T, n_embd] sublayer output
  int64_t f_stride = 0;         // 0: n_embd
  const float* x = nullptr;     // [T, n_hc * n_embd] the streams that went into the pre step
  int64_t x_stride = 0;         // 0: n_hc * n_embd
  const float* post = nullptr;  // [T, n_hc]
  const float* comb = nullptr;  // [T, n_hc * n_hc]
  int64_t T = 0, n_embd = 0;
  int n_hc = 4;
  float* y = nullptr;           // [T, n_hc * n_embd]
  int64_t y_stride = 0;         // 0: n_hc * n_embd
};

// Output head collapse: y = collapse(x, w), w from output_hc_{fn,scale,base}.
struct HcHeadParams {
  const float* x = nullptr;  // [T, n_hc * n_embd]
  int64_t x_stride = 0;
  HcWeight fn;                   // output_hc_fn: n_hc rows
  const float* scale = nullptr;  // [1]
  const float* base = nullptr;   // [n_hc]
  int64_t T = 0, n_embd = 0;
  int n_hc = 4;
  float hc_eps = 1e-6f;
  float norm_eps = 1e-6f;
  float* y = nullptr;        // [T, n_embd]
  int64_t y_stride = 0;
  float* w = nullptr;        // optional [T, n_hc]
};

namespace detail {
inline Status hc_shape(int64_t T, int64_t n_embd, int n_hc) {
  if (T < 0 || n_embd <= 0) return Status::Invalid("hc: bad T / n_embd");
  if (n_hc < 1 || n_hc > kMaxHc) return Status::Unsupported("hc: n_hc outside 1..16");
  if (n_embd * n_hc > norm::kMaxN) return Status::Unsupported("hc: n_hc * n_embd > 2^24");
  return Status::Ok();
}
inline bool hc_bad_stride(int64_t s, int64_t n) { return s != 0 && s < n; }
inline bool hc_bad_eps(float e) { return !(e >= 0.0f) || !fp::is_finite(e); }
inline Status hc_weight(const HcWeight& w, int64_t row_elems) {
  if (!row_type_ok(w.type)) return Status::Unsupported("hc: fn type (F32, F16, BF16)");
  if (w.row_bytes != 0 && w.row_bytes < static_cast<size_t>(row_elems) * row_type_size(w.type))
    return Status::Invalid("hc: fn row_bytes < the row's size");
  return Status::Ok();
}
}  // namespace detail

inline Status validate(const HcPreParams& p) {
  if (Status s = detail::hc_shape(p.T, p.n_embd, p.n_hc); !s.ok()) return s;
  const int64_t N = p.n_embd * p.n_hc;
  if (Status s = detail::hc_weight(p.fn, N); !s.ok()) return s;
  if (p.T > 0 && (!p.x || !p.fn.data || !p.scale || !p.base || !p.y || !p.post || !p.comb))
    return Status::Invalid("hc_pre: null pointer");
  if (p.sinkhorn_iters < 1) return Status::Invalid("hc_pre: sinkhorn_iters must be >= 1");
  if (detail::hc_bad_eps(p.hc_eps) || detail::hc_bad_eps(p.norm_eps)) return Status::Invalid("hc_pre: eps");
  if (detail::hc_bad_stride(p.x_stride, N) || detail::hc_bad_stride(p.y_stride, p.n_embd))
    return Status::Invalid("hc_pre: stride");
  return Status::Ok();
}

inline Status validate(const HcPostParams& p) {
  if (Status s = detail::hc_shape(p.T, p.n_embd, p.n_hc); !s.ok()) return s;
  const int64_t N = p.n_embd * p.n_hc;
  if (p.T > 0 && (!p.f || !p.x || !p.post || !p.comb || !p.y)) return Status::Invalid("hc_post: null pointer");
  if (detail::hc_bad_stride(p.f_stride, p.n_embd) || detail::hc_bad_stride(p.x_stride, N) ||
      detail::hc_bad_stride(p.y_stride, N))
    return Status::Invalid("hc_post: stride");
  if (p.y == p.x && p.y_stride != p.x_stride) return Status::Invalid("hc_post: y aliases x with another stride");
  return Status::Ok();
}

inline Status validate(const HcHeadParams& p) {
  if (Status s = detail::hc_shape(p.T, p.n_embd, p.n_hc); !s.ok()) return s;
  const int64_t N = p.n_embd * p.n_hc;
  if (Status s = detail::hc_weight(p.fn, N); !s.ok()) return s;
  if (p.T > 0 && (!p.x || !p.fn.data || !p.scale || !p.base || !p.y)) return Status::Invalid("hc_head: null pointer");
  if (detail::hc_bad_eps(p.hc_eps) || detail::hc_bad_eps(p.norm_eps)) return Status::Invalid("hc_head: eps");
  if (detail::hc_bad_stride(p.x_stride, N) || detail::hc_bad_stride(p.y_stride, p.n_embd))
    return Status::Invalid("hc_head: stride");
  return Status::Ok();
}

}  // namespace dsk::v4
