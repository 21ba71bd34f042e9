// reference/v4_indexer.cpp — see reference/v4_indexer.hpp.
#include "reference/v4_indexer.hpp"

#include <algorithm>
#include <vector>

namespace dsk::ref::v4 {

using namespace dsk::v4;

Status indexer(const IndexerParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  for (int64_t t = 0; t < p.T; ++t)
    if (p.n_vis[t] < 0 || p.n_vis[t] > p.keys.n_rows) return Status::Invalid("v4 indexer: n_vis outside [0, n_rows]");
  const int64_t H = p.n_head, D = p.head_dim;
  const int64_t qh = p.q_head_stride ? p.q_head_stride : D, qt = p.q_token_stride ? p.q_token_stride : qh * H;
  const int64_t ws = p.w_stride ? p.w_stride : H, is = p.idx_stride ? p.idx_stride : p.top_k;
  const int64_t ss = p.scores_stride ? p.scores_stride : p.keys.n_rows;
  const size_t rb = p.keys.row_bytes ? p.keys.row_bytes : static_cast<size_t>(D) * row_type_size(p.keys.type);
  const float scale = p.scale != 0.0f ? p.scale : indexer_scale(D, H);
  std::vector<float> wsc(H), score;
  std::vector<int32_t> order;
  for (int64_t t = 0; t < p.T; ++t) {
    const int32_t n = p.n_vis[t];
    const bool select = n > p.top_k;
    int32_t* idx = p.idx + t * is;
    if (select || p.scores) {
      for (int64_t h = 0; h < H; ++h) wsc[h] = fp::mul(p.w[t * ws + h], scale);
      score.resize(n);
      for (int32_t c = 0; c < n; ++c)
        score[c] = indexer_score(p.q + t * qt, qh, wsc.data(), H, p.keys.type,
                                 static_cast<const char*>(p.keys.data) + rb * static_cast<size_t>(c), D);
      if (p.scores)
        for (int32_t c = 0; c < n; ++c) p.scores[t * ss + c] = score[c];
    }
    int64_t k = n;
    if (select) {
      // the top_k under key_before (a strict total order), then ascending index order
      order.resize(n);
      for (int32_t c = 0; c < n; ++c) order[c] = c;
      std::nth_element(order.begin(), order.begin() + (p.top_k - 1), order.end(), [&](int32_t a, int32_t b) {
        return dsk::ops::key_before(score[a], a, score[b], b);
      });
      k = p.top_k;
      std::sort(order.begin(), order.begin() + k);
      for (int64_t i = 0; i < k; ++i) idx[i] = order[i];
    } else {
      for (int32_t c = 0; c < n; ++c) idx[c] = c;
    }
    for (int64_t i = k; i < p.top_k; ++i) idx[i] = -1;
    if (p.count) p.count[t] = static_cast<int32_t>(k);
  }
  return Status::Ok();
}

}  // namespace dsk::ref::v4
