// reference/router.cpp — see reference/router.hpp.
#include "reference/router.hpp"

namespace dsk::ref::router {

using namespace dsk::router;
using dsk::ops::key_before;

Status select(const Params& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int32_t n = p.n_expert, k = p.k;
  const int64_t ls = p.logits_stride ? p.logits_stride : n;
  const int64_t os = p.out_stride ? p.out_stride : k;
  const int64_t hs = p.tid2eid_stride ? p.tid2eid_stride : k;
  if (p.tid2eid)
    for (int64_t t = 0; t < p.T; ++t) {
      const int32_t tok = p.token_ids[t];
      if (tok < 0 || tok >= p.n_vocab) return Status::Invalid("router: token id outside the hash table");
      for (int32_t j = 0; j < k; ++j) {
        const int32_t e = p.tid2eid[tok * hs + j];
        if (e < 0 || e >= n) return Status::Invalid("router: hash table entry outside [0, n_expert)");
      }
    }

  float prob[kMaxExperts], key[kMaxExperts];
  bool eligible[kMaxExperts];
  for (int64_t t = 0; t < p.T; ++t) {
    const float* l = p.logits + t * ls;
    if (p.scoring == Scoring::softmax) ops::softmax_row<kNT>(l, prob, n);
    else
      for (int32_t e = 0; e < n; ++e) prob[e] = score(p.scoring, l[e]);
    int32_t* ids = p.ids + t * os;
    float* w = p.weights + t * os;

    if (p.tid2eid) {
      for (int32_t j = 0; j < k; ++j) ids[j] = p.tid2eid[p.token_ids[t] * hs + j];
    } else {
      for (int32_t e = 0; e < n; ++e) {
        key[e] = p.bias ? fp::add(prob[e], p.bias[e]) : prob[e];
        eligible[e] = true;
      }
      if (p.n_group > 1) {
        const int32_t G = n / p.n_group;
        float gscore[kMaxExperts];
        bool keep[kMaxExperts];
        for (int32_t g = 0; g < p.n_group; ++g) {
          int32_t b1 = g * G;  // best, then second best, by key_before
          for (int32_t e = g * G + 1; e < (g + 1) * G; ++e)
            if (key_before(key[e], e, key[b1], b1)) b1 = e;
          if (p.group_score == GroupScore::max) {
            gscore[g] = key[b1];
          } else {
            int32_t b2 = -1;
            for (int32_t e = g * G; e < (g + 1) * G; ++e)
              if (e != b1 && (b2 < 0 || key_before(key[e], e, key[b2], b2))) b2 = e;
            gscore[g] = fp::add(key[b1], key[b2]);
          }
          keep[g] = false;
        }
        for (int32_t r = 0; r < p.topk_group; ++r) {
          int32_t best = -1;
          for (int32_t g = 0; g < p.n_group; ++g)
            if (!keep[g] && (best < 0 || key_before(gscore[g], g, gscore[best], best))) best = g;
          keep[best] = true;
        }
        for (int32_t e = 0; e < n; ++e) eligible[e] = keep[e / G];
      }
      for (int32_t j = 0; j < k; ++j) {
        int32_t best = -1;
        for (int32_t e = 0; e < n; ++e)
          if (eligible[e] && (best < 0 || key_before(key[e], e, key[best], best))) best = e;
        ids[j] = best;
        eligible[best] = false;
      }
    }
    for (int32_t j = 0; j < k; ++j) w[j] = prob[ids[j]];
    finish_weights(w, k, p.normalize, p.norm_eps, p.norm_floor, p.scale);
  }
  return Status::Ok();
}

}  // namespace dsk::ref::router
