// reference/v4_attention.cpp — see reference/v4_attention.hpp.
#include "reference/v4_attention.hpp"

#include <vector>

namespace dsk::ref::v4 {

using namespace dsk::v4;

namespace {
size_t row_stride(const KvRows& r, int64_t head_dim) {
  return r.row_bytes ? r.row_bytes : static_cast<size_t>(head_dim) * row_type_size(r.type);
}
}  // namespace

Status sink_attention(const SinkAttentionParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int64_t D = p.head_dim, H = p.n_head;
  for (int64_t t = 0; t < p.T; ++t) {  // the lists' contents, before anything is written
    const int32_t nr = p.n_raw ? p.n_raw[t] : 0, nc = p.n_comp ? p.n_comp[t] : 0;
    if (nr < 0 || nc < 0) return Status::Invalid("v4 attention: negative row count");
    for (int32_t i = 0; i < nr; ++i)
      if (p.raw_idx[t * p.raw_idx_stride + i] < 0 || p.raw_idx[t * p.raw_idx_stride + i] >= p.raw.n_rows)
        return Status::Invalid("v4 attention: raw row index out of range");
    for (int32_t i = 0; i < nc; ++i)
      if (p.comp_idx[t * p.comp_idx_stride + i] < 0 || p.comp_idx[t * p.comp_idx_stride + i] >= p.comp.n_rows)
        return Status::Invalid("v4 attention: compressed row index out of range");
  }
  const int64_t qh = p.q_head_stride ? p.q_head_stride : D, qt = p.q_token_stride ? p.q_token_stride : qh * H;
  const int64_t oh = p.out_head_stride ? p.out_head_stride : D, ot = p.out_token_stride ? p.out_token_stride : oh * H;
  const size_t rs_raw = row_stride(p.raw, D), rs_comp = row_stride(p.comp, D);

  std::vector<const void*> rows;
  std::vector<GgmlType> types;
  std::vector<float> s, O(D), oc(D), ocs, mc, lc;
  for (int64_t t = 0; t < p.T; ++t) {
    // the visible list: raw entries, then compressed entries
    const int32_t nr = p.n_raw ? p.n_raw[t] : 0, ncomp = p.n_comp ? p.n_comp[t] : 0;
    rows.clear();
    types.clear();
    for (int32_t i = 0; i < nr; ++i) {
      rows.push_back(static_cast<const char*>(p.raw.data) + rs_raw * p.raw_idx[t * p.raw_idx_stride + i]);
      types.push_back(p.raw.type);
    }
    for (int32_t i = 0; i < ncomp; ++i) {
      rows.push_back(static_cast<const char*>(p.comp.data) + rs_comp * p.comp_idx[t * p.comp_idx_stride + i]);
      types.push_back(p.comp.type);
    }
    const int64_t n = static_cast<int64_t>(rows.size()), nch = (n + kAttnChunk - 1) / kAttnChunk;
    s.resize(n);
    mc.assign(nch, 0.0f);
    lc.assign(nch, 0.0f);
    ocs.assign(static_cast<size_t>(nch * D), 0.0f);
    for (int64_t h = 0; h < H; ++h) {
      const float* q = p.q + t * qt + h * qh;
      for (int64_t j = 0; j < n; ++j) s[j] = attn_score(q, types[j], rows[j], D, p.kq_scale);
      // step 2: chunks
      for (int64_t c = 0; c < nch; ++c) {
        const int64_t j0 = c * kAttnChunk, j1 = j0 + kAttnChunk < n ? j0 + kAttnChunk : n;
        float m = neg_inf();
        for (int64_t j = j0; j < j1; ++j) m = fp::max_num(m, s[j]);
        float l = 0.0f;
        for (float& a : oc) a = 0.0f;
        for (int64_t j = j0; j < j1; ++j) {
          if (!attn_live(s[j])) continue;
          const float e = attn_weight(s[j], m);
          l = fp::add(l, e);
          for (int64_t d = 0; d < D; ++d) oc[d] = fp::fma(e, load(types[j], rows[j], d), oc[d]);
        }
        mc[c] = m;
        lc[c] = l;
        for (int64_t d = 0; d < D; ++d) ocs[c * D + d] = oc[d];
      }
      // step 3: merge in chunk order, then the sink
      const bool has_sink = p.sinks != nullptr;
      const float sink = has_sink ? p.sinks[h] : 0.0f;
      float M = neg_inf();
      if (has_sink) M = fp::max_num(M, sink);
      for (int64_t c = 0; c < nch; ++c) M = fp::max_num(M, mc[c]);
      float L = 0.0f;
      for (float& a : O) a = 0.0f;
      for (int64_t c = 0; c < nch; ++c) {
        const float f = attn_chunk_factor(mc[c], M);
        L = fp::fma(f, lc[c], L);
        for (int64_t d = 0; d < D; ++d) O[d] = fp::fma(f, ocs[c * D + d], O[d]);
      }
      L = attn_add_sink(L, has_sink, sink, M);
      float* out = p.out + t * ot + h * oh;
      for (int64_t d = 0; d < D; ++d) out[d] = attn_finish(O[d], L);
    }
  }
  return Status::Ok();
}

}  // namespace dsk::ref::v4
