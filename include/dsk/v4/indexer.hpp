// dsk/v4/indexer.hpp — the DeepSeek-V4 lightning indexer (ratio-4 layers, spec §6; ds4
// indexer_allowed_decode_one): per-token scores of the visible indexer rows and the top-k choice of
// compressed rows the attention may read.
//
// Inputs per token t: the indexer queries q [n_head, head_dim] (indexer.attn_q_b · qr_n, roped at the
// token's position, Hadamard + FP4 simulated: the caller's), the head weights w [n_head]
// (indexer.proj · attn_norm output, unscaled) and the number of visible rows n_vis[t] (V4: floor((p+1)/4),
// the rows of windows closed at or before p). Keys: the indexer compressor's rows (QAT'd).
//
// NUMERICS (per token t and visible row c; tokens and rows independent):
//  scale = fp::div(1, fp::sqrt(float(head_dim * n_head)))   (V4: 1/sqrt(8192); indexer_scale())
//  w'_h = fp::mul(w_h, scale)
//  d_h = dot_f32(q_h, K_c, head_dim)   (dsk/v4/common.hpp: 32-element fma blocks, order::row_sum)
//  score_c = order::vector_sum<kIndexerNT = 32>(n_head, h -> fp::mul(w'_h, relu(d_h)))
//            (lane l of one warp sums heads l, l+32, ... in order; tree32 over the lanes)
//  relu(d) = d > 0 ? d : +0, NaN kept (a NaN in q or a key makes the score NaN).
// Selection: when n_vis <= top_k every visible row is chosen (ds4 then computes no score); otherwise
// the top_k rows first under ops::key_before(score, c) — larger score first, equal scores (and +-0)
// by lower index, NaN after every number — a strict total order, so any sorting network, radix sort
// or merge gives the same set. The chosen rows are written in ascending index order (the order the
// attention reads them in); count = min(top_k, n_vis); unused slots hold -1.
// transformers scales the ReLU'd dot by 1/sqrt(head_dim) and the weights by 1/sqrt(n_head); the
// product is the same factor, dsk applies it once to the weights as ds4 does.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/reduce.hpp"
#include "dsk/core/status.hpp"
#include "dsk/ops/ops.hpp"
#include "dsk/quant/types.hpp"
#include "dsk/v4/common.hpp"

namespace dsk::v4 {

inline constexpr int kIndexerNT = 32;  // lanes of the head sum (one warp per scored row)

DSK_HD float indexer_scale(int64_t head_dim, int64_t n_head) {
  return fp::div(1.0f, fp::sqrt(fp::from_int(static_cast<int32_t>(head_dim * n_head))));
}

DSK_HD float indexer_relu(float d) { return (d > 0.0f || fp::is_nan(d)) ? d : 0.0f; }

// score of key row c (head_dim elements of type t) given the scaled weights ws[h] = w_h * scale.
DSK_HD float indexer_score(const float* q, int64_t q_head_stride, const float* ws, int64_t n_head, GgmlType t,
                           const void* key, int64_t head_dim) {
  return order::vector_sum<kIndexerNT>(n_head, [&](int64_t h) {
    const float* qh = q + h * q_head_stride;
    const float d = dot_f32_at(head_dim, [&](int64_t i) { return qh[i]; }, [&](int64_t i) { return load(t, key, i); });
    return fp::mul(ws[h], indexer_relu(d));
  });
}

struct IndexerParams {
  const float* q = nullptr;      // [T, n_head, head_dim]
  int64_t q_token_stride = 0;    // 0: n_head * q_head_stride
  int64_t q_head_stride = 0;     // 0: head_dim
  const float* w = nullptr;      // [T, n_head] head weights (unscaled)
  int64_t w_stride = 0;          // 0: n_head
  KvRows keys;                   // indexer compressed rows, head_dim each
  const int32_t* n_vis = nullptr;  // [T] visible rows 0 .. n_vis[t]-1 (each <= keys.n_rows)
  int64_t T = 0, n_head = 0, head_dim = 0;
  int64_t top_k = 512;
  float scale = 0.0f;            // 0: indexer_scale(head_dim, n_head)
  int32_t* idx = nullptr;        // [T, idx_stride] chosen rows, ascending, then -1
  int64_t idx_stride = 0;        // 0: top_k
  int32_t* count = nullptr;      // [T] min(top_k, n_vis[t]); may be null
  float* scores = nullptr;       // optional [T, scores_stride]: score_c for c < n_vis[t] (computed then
  int64_t scores_stride = 0;     //   even when n_vis <= top_k); 0: keys.n_rows
};

inline Status validate(const IndexerParams& p) {
  if (p.T < 0 || p.n_head <= 0 || p.head_dim <= 0 || p.top_k <= 0) return Status::Invalid("v4 indexer: bad sizes");
  if (p.head_dim * p.n_head > INT32_MAX || p.keys.n_rows > INT32_MAX) return Status::Unsupported("v4 indexer: too large");
  if (!row_type_ok(p.keys.type)) return Status::Unsupported("v4 indexer: key type (F32, F16, BF16)");
  if (p.keys.n_rows < 0) return Status::Invalid("v4 indexer: n_rows < 0");
  if (p.T > 0 && (!p.q || !p.w || !p.n_vis || !p.idx || (p.keys.n_rows > 0 && !p.keys.data)))
    return Status::Invalid("v4 indexer: null pointer");
  if (p.keys.row_bytes != 0 && p.keys.row_bytes < static_cast<size_t>(p.head_dim) * row_type_size(p.keys.type))
    return Status::Invalid("v4 indexer: row_bytes < the row's size");
  const int64_t qh = p.q_head_stride ? p.q_head_stride : p.head_dim;
  if (qh < p.head_dim || (p.q_token_stride && p.q_token_stride < qh * p.n_head)) return Status::Invalid("v4 indexer: q strides");
  if ((p.w_stride && p.w_stride < p.n_head) || (p.idx_stride && p.idx_stride < p.top_k) ||
      (p.scores_stride && p.scores_stride < p.keys.n_rows))
    return Status::Invalid("v4 indexer: stride");
  if (!(p.scale >= 0.0f) || !fp::is_finite(p.scale)) return Status::Invalid("v4 indexer: scale");
  return Status::Ok();
}

}  // namespace dsk::v4
