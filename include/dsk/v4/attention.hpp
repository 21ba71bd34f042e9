// dsk/v4/attention.hpp — DeepSeek-V4 attention core: shared-KV MQA with learned per-head sinks over
// a per-token list of visible KV rows (spec §4.3 step 9). One row per position serves as both K and
// V for every head. Q arrives per-head RMS-normalized and roped; the inverse RoPE of the output is
// the rope family's job (dsk/rope: inverse = true, rope_offset = head_dim - n_rot).
//
// Visible rows of token t: raw rows raw_idx[t][0 .. n_raw[t]) (the sliding window, oldest first),
// then compressed rows comp_idx[t][0 .. n_comp[t]) (in index order, after the indexer's choice on
// ratio-4 layers). Raw and compressed rows may cover the same tokens; nothing is de-duplicated.
//
// NUMERICS (per token t and head h; tokens and heads independent, nothing depends on T, on other
// tokens' lists or on where the rows are stored):
//  1. Rows are widened exactly to float (F32, F16, BF16). Visible row j (list order) has the score
//     s_j = fp::mul(kq_scale, dot_f32(q_h, row_j, head_dim)) (dsk/v4/common.hpp: 32-element fma
//     blocks, order::row_sum). kq_scale is 1/sqrt(head_dim) for V4 (attn_scale()), no YaRN mscale.
//  2. Chunks of kChunk = 256 list entries (chunk c = entries [256c, 256c+256)), as the MLA contract
//     (dsk/attention/attention.hpp):
//       m_c = max_num of s_j over the chunk (from -inf);
//       a row with s_j = -inf is skipped (weight exactly 0: the masking rule); otherwise
//       e_j = math::exp(fp::sub(s_j, m_c)), l_c = fp::add(l_c, e_j), o_c[d] = fp::fma(e_j, row_j[d], o_c[d]),
//       j ascending from +0.0f.
//  3. Merge with the sink, chunks ascending: M = max_num(-inf, sink_h, m_0, m_1, ...) (the sink joins
//     the max; no sink when sinks == nullptr);
//       f_c = m_c == -inf ? 0 : math::exp(fp::sub(m_c, M));  L = fp::fma(f_c, l_c, L);
//       O[d] = fp::fma(f_c, o_c[d], O[d])  (from +0.0f);
//     then the sink term, denominator only: L = fp::add(L, math::exp(fp::sub(sink_h, M))) (skipped for
//     no sink or sink = -inf); out[d] = fp::div(O[d], L).
//     Nothing live (no row with a score above -inf, no sink): out = +0 (L = 0 exactly; otherwise
//     L >= 1, because the maximum contributes exp(0) = 1).
//  A flash-decoding kernel: one block per (token, head, chunk) writes (m_c, l_c, o_c); the combine
//  merges in chunk order with the sink. The chunking depends only on the list length.
// Non-finite values: a NaN score (from a NaN in q or a row) or a +inf score (inf - inf) makes the
// head's output NaN; a NaN sink makes it NaN; a -inf score masks that row.
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

inline constexpr int64_t kAttnChunk = 256;  // list entries per softmax chunk (part of the contract)

// 1/sqrt(head_dim) with both operations rounded (V4's attention scale).
DSK_HD float attn_scale(int64_t head_dim) {
  return fp::div(1.0f, fp::sqrt(fp::from_int(static_cast<int32_t>(head_dim))));
}

// Step 1: the score of q (head_dim floats) with a stored row.
DSK_HD float attn_score(const float* q, GgmlType t, const void* row, int64_t head_dim, float kq_scale) {
  return fp::mul(kq_scale, dot_f32_at(head_dim, [&](int64_t i) { return q[i]; }, [&](int64_t i) { return load(t, row, i); }));
}

// Step 2's weight of a row (the caller skips the row when s == -inf).
DSK_HD bool attn_live(float s) { return !(s == neg_inf()); }
DSK_HD float attn_weight(float s, float m_c) { return math::exp(fp::sub(s, m_c)); }

// Step 3's factor of chunk c.
DSK_HD float attn_chunk_factor(float m_c, float M) { return m_c == neg_inf() ? 0.0f : math::exp(fp::sub(m_c, M)); }

// Step 3's denominator after the chunks: L plus the sink term.
DSK_HD float attn_add_sink(float L, bool has_sink, float sink, float M) {
  if (!has_sink || sink == neg_inf()) return L;
  return fp::add(L, math::exp(fp::sub(sink, M)));
}

DSK_HD float attn_finish(float O_d, float L) { return L == 0.0f ? 0.0f : fp::div(O_d, L); }

struct SinkAttentionParams {
  const float* q = nullptr;       // [T, n_head, head_dim] (normed, roped)
  int64_t q_token_stride = 0;     // 0: n_head * q_head_stride
  int64_t q_head_stride = 0;      // 0: head_dim
  KvRows raw;                     // the raw (sliding-window) rows
  const int32_t* raw_idx = nullptr;  // token t's raw list at raw_idx + t * raw_idx_stride
  int64_t raw_idx_stride = 0;        // 0: every token reads the same list
  const int32_t* n_raw = nullptr;    // [T]; nullptr: no raw rows
  KvRows comp;                    // the compressed rows
  const int32_t* comp_idx = nullptr;
  int64_t comp_idx_stride = 0;       // 0: every token reads the same list
  const int32_t* n_comp = nullptr;   // [T]; nullptr: no compressed rows
  const float* sinks = nullptr;   // [n_head] (attn_sinks); nullptr: no sink
  int64_t T = 0, n_head = 0, head_dim = 0;
  float kq_scale = 1.0f;
  float* out = nullptr;           // [T, n_head, head_dim]
  int64_t out_token_stride = 0;   // 0: n_head * out_head_stride
  int64_t out_head_stride = 0;    // 0: head_dim
};

namespace detail {
inline Status kv_rows(const KvRows& r, int64_t head_dim, bool used) {
  if (!used) return Status::Ok();
  if (!row_type_ok(r.type)) return Status::Unsupported("v4 attention: row type (F32, F16, BF16)");
  if (r.n_rows < 0) return Status::Invalid("v4 attention: n_rows < 0");
  if (r.n_rows > 0 && !r.data) return Status::Invalid("v4 attention: null rows");
  if (r.row_bytes != 0 && r.row_bytes < static_cast<size_t>(head_dim) * row_type_size(r.type))
    return Status::Invalid("v4 attention: row_bytes < the row's size");
  return Status::Ok();
}
}  // namespace detail

// Shapes and pointers (the lists' contents are checked by the reference, which reads them).
inline Status validate(const SinkAttentionParams& p) {
  if (p.T < 0 || p.n_head <= 0 || p.head_dim <= 0) return Status::Invalid("v4 attention: bad T / n_head / head_dim");
  if (p.head_dim > INT32_MAX) return Status::Unsupported("v4 attention: head_dim");
  if (p.T > 0 && (!p.q || !p.out)) return Status::Invalid("v4 attention: null q / out");
  if (p.n_raw && !p.raw_idx) return Status::Invalid("v4 attention: n_raw without raw_idx");
  if (p.n_comp && !p.comp_idx) return Status::Invalid("v4 attention: n_comp without comp_idx");
  if (Status s = detail::kv_rows(p.raw, p.head_dim, p.n_raw != nullptr); !s.ok()) return s;
  if (Status s = detail::kv_rows(p.comp, p.head_dim, p.n_comp != nullptr); !s.ok()) return s;
  const int64_t qh = p.q_head_stride ? p.q_head_stride : p.head_dim;
  const int64_t oh = p.out_head_stride ? p.out_head_stride : p.head_dim;
  if (qh < p.head_dim || oh < p.head_dim) return Status::Invalid("v4 attention: head stride < head_dim");
  if ((p.q_token_stride && p.q_token_stride < qh * p.n_head) || (p.out_token_stride && p.out_token_stride < oh * p.n_head))
    return Status::Invalid("v4 attention: token stride < n_head * head stride");
  if (p.raw_idx_stride < 0 || p.comp_idx_stride < 0) return Status::Invalid("v4 attention: index stride < 0");
  if (!fp::is_finite(p.kq_scale)) return Status::Invalid("v4 attention: kq_scale");
  return Status::Ok();
}

}  // namespace dsk::v4
