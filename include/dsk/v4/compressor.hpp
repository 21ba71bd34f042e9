// dsk/v4/compressor.hpp — the DeepSeek-V4 KV compressor's pooling (spec §5; ds4
// compressor_decode_one / compressor_pool_decode_state): gated softmax pooling over time, one row per
// window of R tokens, with ratio-4 layers' overlapping windows.
//
// Per token at position p the caller supplies the projections kv_p = Wkv·n_p and g_p = Wgate·n_p
// (W = coff·D values each; coff = 2 with overlap, else 1; F16 weights, F32 activations: ref::gemv).
// The op adds the positional bias, keeps the rows later windows need in an explicit state, and for
// every p with (p+1) % R == 0 emits the pooled row of window w = (p+1)/R - 1 (tokens wR .. wR+R-1).
// The emitted row is the pooled vector only: the caller then applies RMSNorm with
// attn_compressor_norm (norm family), RoPE at the window start wR (rope family; spec §5 / §12.2) and
// the FP8 (attention) or Hadamard + FP4 (indexer) simulation.
//
// V4: ratio 4 with overlap (D = 512 attention, D = 128 indexer), ratio 128 without (D = 512).
//
// NUMERICS (per emitted window and dimension j in 0..D-1; windows and dimensions independent):
//  score of token q, column i: sc_q[i] = fp::add(g_q[i], ape[(q mod R) * W + i]) (ape widened exactly).
//  Candidates, in this order: with overlap and w >= 1, the previous window's tokens q = (w-1)R + r,
//  r ascending, with (kv_q[j], sc_q[j]) (first half); then the window's own tokens q = wR + r, r
//  ascending, with (kv_q[off + j], sc_q[off + j]), off = D with overlap, 0 without. Window 0 of an
//  overlapping compressor has only its own R candidates (ds4's empty lanes, kv 0 and score -1e30,
//  get weight exactly 0: the same value).
//  pool: m = max_num over the candidates' scores (from -inf); e_i = math::exp(fp::sub(sc_i, m));
//        den = fp::add(den, e_i); num = fp::fma(e_i, kv_i, num), candidates in order from +0.0f;
//        out[j] = fp::div(num, den).
//  A GPU kernel: one thread per (window, j), sequential over <= 2R candidates, exactly this order.
// Non-finite values: every candidate score -inf gives 0 (ds4's rule; NaN if one is NaN); a NaN
// score, or a +inf one (inf - inf), gives NaN; a non-finite kv propagates per IEEE (0 * inf = NaN).
//
// STATE (what makes prefill-then-decode equal one long prefill): a ring of S = coff·R rows, token q
// in slot q mod S, each slot holding kv_q (W floats) and sc_q (W floats, bias added). A call over
// tokens p0 .. p0+T-1 reads slots of tokens before p0 only (the current window's earlier tokens, and
// with overlap the previous window) and leaves the slots of its last min(T, S) tokens written, so the
// next call continues at p0 + T. At p0 = 0 nothing is read (the contents may be anything). Every
// emitted value depends only on the tokens' kv / g, never on how the positions were split into calls.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/math.hpp"
#include "dsk/core/status.hpp"
#include "dsk/quant/types.hpp"
#include "dsk/v4/common.hpp"

namespace dsk::v4 {

// The number of rows emitted by a call over positions [p0, p0 + T): windows ending inside it.
DSK_HD int64_t compressor_rows(int64_t p0, int64_t T, int64_t ratio) { return (p0 + T) / ratio - p0 / ratio; }

// Candidate i of the pooling: (kv, score) pairs given by cand(i, kv, sc), i = 0..n-1 in order.
template <class Cand>
DSK_HD float compressor_pool(int n, Cand&& cand) {
  float m = neg_inf();
  bool any_nan = false;
  for (int i = 0; i < n; ++i) {
    float kv, sc;
    cand(i, kv, sc);
    m = fp::max_num(m, sc);
    any_nan = any_nan || fp::is_nan(sc);
  }
  if (m == neg_inf()) return any_nan ? fp::canonical_nan() : 0.0f;
  float den = 0.0f, num = 0.0f;
  for (int i = 0; i < n; ++i) {
    float kv, sc;
    cand(i, kv, sc);
    const float e = math::exp(fp::sub(sc, m));
    den = fp::add(den, e);
    num = fp::fma(e, kv, num);
  }
  return fp::div(num, den);
}

struct CompressorParams {
  const float* kv = nullptr;    // [T, W] kv projections of positions p0 .. p0+T-1
  int64_t kv_stride = 0;        // 0: W
  const float* gate = nullptr;  // [T, W] gate projections (before the bias)
  int64_t gate_stride = 0;      // 0: W
  GgmlType ape_type = GgmlType::F32;  // F32, F16, BF16
  const void* ape = nullptr;    // [ratio rows][W] (ggml [W, ratio]): bias of token q is row q mod ratio
  int64_t T = 0, p0 = 0;
  int64_t ratio = 4;            // R >= 1
  bool overlap = true;          // ratio-4 layers: true; ratio 128: false
  int64_t head_dim = 0;         // D; W = (overlap ? 2 : 1) * D
  float* state_kv = nullptr;    // [S, W], S = (overlap ? 2 : 1) * R; in / out
  float* state_score = nullptr; // [S, W]; in / out
  float* out = nullptr;         // [compressor_rows(p0, T, R), D]: window floor(p0/R) first
  int64_t out_stride = 0;       // 0: D
};

DSK_HD int64_t compressor_width(const CompressorParams& p) { return (p.overlap ? 2 : 1) * p.head_dim; }
DSK_HD int64_t compressor_state_rows(const CompressorParams& p) { return (p.overlap ? 2 : 1) * p.ratio; }

inline Status validate(const CompressorParams& p) {
  if (p.T < 0 || p.p0 < 0 || p.ratio < 1 || p.head_dim <= 0) return Status::Invalid("v4 compressor: bad T / p0 / ratio / head_dim");
  if (p.p0 + p.T > INT32_MAX || p.ratio > 65536) return Status::Unsupported("v4 compressor: positions or ratio too large");
  if (!row_type_ok(p.ape_type)) return Status::Unsupported("v4 compressor: ape type (F32, F16, BF16)");
  const int64_t W = compressor_width(p);
  if (p.T > 0 && (!p.kv || !p.gate || !p.ape || !p.state_kv || !p.state_score))
    return Status::Invalid("v4 compressor: null pointer");
  if (compressor_rows(p.p0, p.T, p.ratio) > 0 && !p.out) return Status::Invalid("v4 compressor: null out");
  if ((p.kv_stride && p.kv_stride < W) || (p.gate_stride && p.gate_stride < W) ||
      (p.out_stride && p.out_stride < p.head_dim))
    return Status::Invalid("v4 compressor: stride");
  return Status::Ok();
}

}  // namespace dsk::v4
