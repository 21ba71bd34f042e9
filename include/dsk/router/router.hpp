// dsk/router/router.hpp — MoE routing: expert scores, (grouped) top-k selection with a selection
// bias, hash-routed layers, renormalized and scaled weights.
//
// NUMERICS (per token; tokens independent):
//  1. scores p_e from the logits l_e (float, [n_expert]):
//       softmax        ops::softmax_row<kNT> (max, exp(l - max), vector_sum<32>, divide)   V2/Lite
//       sigmoid        math::sigmoid(l_e)                                                  V3/R1/K2
//       sqrt_softplus  math::sqrt_softplus(l_e)                                            V4
//  2. selection keys s_e = fp::add(p_e, bias_e) (p_e without a bias). The bias never enters weights.
//  3. groups (n_group > 1): group g holds experts [g*G, (g+1)*G), G = n_expert/n_group; its score is
//     the best key (max) or fp::add(best, second best) (sum_top2, V3 noaux_tc); the topk_group best
//     groups (ops::key_before on (group score, g)) stay eligible, the others are excluded.
//  4. top-k over eligible experts: slot j = 0..k-1 holds the best remaining expert under
//     ops::key_before on (s_e, e): larger first, NaN below every number, ties to the lower index.
//     So no expert appears twice and every id is in range whatever the logits (NaN, inf).
//     Hash layers instead take ids[j] = tid2eid[token_id * tid2eid_stride + j] (no bias, no groups).
//  5. weights w_j = p_{id_j}; when normalize: S = sum over j = 0..k-1 sequentially from +0.0f;
//     D = fp::add(S, norm_eps) (norm_eps 0: D = S); D = D < norm_floor ? norm_floor : D (V4 floor
//     6.103515625e-5; 0: off); w_j = fp::div(w_j, D). Finally w_j = fp::mul(w_j, scale).
// Output slots are in selection order (best first).
#pragma once

#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/math.hpp"
#include "dsk/core/status.hpp"
#include "dsk/ops/ops.hpp"

namespace dsk::router {

inline constexpr int kNT = 32;           // one warp per token: the softmax sum order
inline constexpr int kMaxExperts = 512;  // n_expert: a multiple of 32 in [32, 512]
inline constexpr int kMaxK = 16;

enum class Scoring : int { softmax = 1, sigmoid = 2, sqrt_softplus = 4 };  // GGUF expert_gating_func
enum class GroupScore : int { max = 0, sum_top2 = 1 };

struct Params {
  const float* logits = nullptr;  // [T, n_expert]
  int64_t logits_stride = 0;      // elements, 0: n_expert
  int64_t T = 0;
  int32_t n_expert = 0;
  int32_t k = 0;
  Scoring scoring = Scoring::sigmoid;
  const float* bias = nullptr;    // [n_expert] selection bias (exp_probs_b) or nullptr
  int32_t n_group = 0;            // 0 or 1: no groups
  int32_t topk_group = 0;
  GroupScore group_score = GroupScore::sum_top2;
  bool normalize = false;
  float norm_eps = 0.0f;          // added to the sum (HF: 1e-20); 0: none
  float norm_floor = 0.0f;        // lower bound of the divisor (ds4: 6.103515625e-5); 0: none
  float scale = 1.0f;             // expert_weights_scale / routed_scaling_factor
  // Hash-routed layers (V4 tid2eid): ids from the table row of each token's id.
  const int32_t* tid2eid = nullptr;  // [n_vocab rows of >= k] or nullptr
  int64_t tid2eid_stride = 0;        // elements per row, 0: k
  int64_t n_vocab = 0;
  const int32_t* token_ids = nullptr;  // [T] when tid2eid
  int32_t* ids = nullptr;         // [T, out_stride] out
  float* weights = nullptr;       // [T, out_stride] out
  int64_t out_stride = 0;         // 0: k
};

DSK_HD float score(Scoring s, float logit) {
  return s == Scoring::sigmoid ? math::sigmoid(logit) : math::sqrt_softplus(logit);
}

// The weights of k selected scores p_sel[0..k-1] (step 5), in place.
DSK_HD void finish_weights(float* w, int k, bool normalize, float norm_eps, float norm_floor, float scale) {
  if (normalize) {
    float s = 0.0f;
    for (int j = 0; j < k; ++j) s = fp::add(s, w[j]);
    float d = norm_eps != 0.0f ? fp::add(s, norm_eps) : s;
    if (d < norm_floor) d = norm_floor;
    for (int j = 0; j < k; ++j) w[j] = fp::div(w[j], d);
  }
  for (int j = 0; j < k; ++j) w[j] = fp::mul(w[j], scale);
}

inline Status validate(const Params& p) {
  if (p.T < 0) return Status::Invalid("router: T < 0");
  if (p.n_expert < 32 || p.n_expert > kMaxExperts || p.n_expert % 32 != 0)
    return Status::Unsupported("router: n_expert must be a multiple of 32 in [32, 512]");
  if (p.k < 1 || p.k > kMaxK) return Status::Unsupported("router: k must be in [1, 16]");
  if (p.scoring != Scoring::softmax && p.scoring != Scoring::sigmoid && p.scoring != Scoring::sqrt_softplus)
    return Status::Unsupported("router: scoring");
  if (p.T > 0 && (!p.logits || !p.ids || !p.weights)) return Status::Invalid("router: null logits / ids / weights");
  if (p.logits_stride != 0 && p.logits_stride < p.n_expert) return Status::Invalid("router: logits_stride < n_expert");
  if (p.out_stride != 0 && p.out_stride < p.k) return Status::Invalid("router: out_stride < k");
  if (p.n_group > 1) {
    if (p.tid2eid) return Status::Invalid("router: groups with a hash table");
    if (p.n_expert % p.n_group != 0) return Status::Invalid("router: n_group does not divide n_expert");
    if (p.topk_group < 1 || p.topk_group > p.n_group) return Status::Invalid("router: topk_group not in [1, n_group]");
    const int32_t gsize = p.n_expert / p.n_group;
    if (p.group_score != GroupScore::max && p.group_score != GroupScore::sum_top2)
      return Status::Unsupported("router: group score");
    if (p.group_score == GroupScore::sum_top2 && gsize < 2) return Status::Invalid("router: sum_top2 needs groups of >= 2");
    if (p.k > p.topk_group * gsize) return Status::Invalid("router: k > experts in the kept groups");
  } else if (p.n_group < 0) {
    return Status::Invalid("router: n_group < 0");
  }
  if (p.tid2eid) {
    if (p.n_vocab <= 0 || (p.T > 0 && !p.token_ids)) return Status::Invalid("router: hash table without n_vocab / token_ids");
    if (p.tid2eid_stride != 0 && p.tid2eid_stride < p.k) return Status::Invalid("router: tid2eid_stride < k");
  }
  if (!fp::is_finite(p.scale) || !fp::is_finite(p.norm_eps) || !fp::is_finite(p.norm_floor) || p.norm_eps < 0.0f ||
      p.norm_floor < 0.0f)
    return Status::Invalid("router: scale / norm_eps / norm_floor must be finite (eps, floor >= 0)");
  return Status::Ok();
}

}  // namespace dsk::router
