// The deepseek4 forward pass on the CPU (see the header).
#include "forward/deepseek4_forward.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "dsk/moe/moe.hpp"
#include "dsk/rope/rope.hpp"
#include "dsk/router/router.hpp"
#include "dsk/v4/attention.hpp"
#include "dsk/v4/compressor.hpp"
#include "dsk/v4/hc.hpp"
#include "dsk/v4/indexer.hpp"
#include "reference/moe.hpp"
#include "reference/rope.hpp"
#include "reference/router.hpp"
#include "reference/v4_attention.hpp"
#include "reference/v4_compressor.hpp"
#include "reference/v4_hc.hpp"
#include "reference/v4_indexer.hpp"
#include "reference/v4_kv_storage.hpp"

namespace dsk::forward {

namespace {

using backend::moe_tensor;

Result<void> check(const Status& s, const std::string& what) {
  if (s.ok()) return {};
  return Error(what + ": " + to_string(s));
}

size_t sz(int64_t n) { return static_cast<size_t>(n); }

v4::HcWeight hc_weight(const model::TensorRef& t) { return v4::HcWeight{t.type, t.data, t.nb1}; }

const float* f32(const model::TensorRef& t) { return reinterpret_cast<const float*>(t.data); }

// Rows [r0, r0 + n) of a 2-D weight as a weight of its own (the grouped output projection).
model::TensorRef row_slice(const model::TensorRef& t, int64_t r0, int64_t n) {
  model::TensorRef s = t;
  s.data = t.data + static_cast<size_t>(r0) * t.nb1;
  s.ne[1] = n;
  s.n_bytes = static_cast<size_t>(n) * t.nb1;
  return s;
}

constexpr float kRouterNormFloor = 6.103515625e-5f;  // ds4's lower bound of the weights' divisor (spec §4.4)

}  // namespace

// IndexerTies::torch_cpu: torch.topk's CPU selection (aten TopKImpl.h: pairs (score, index), the
// comparator "NaN first, then larger", std::partial_sort when k * 64 <= the row, else std::nth_element)
// over a row of `row` scores where the rows not visible yet are -inf, as transformers' full forward
// builds it. Only tokens with more visible rows than top_k change (otherwise every visible row is
// chosen either way). idx rows: ascending, then -1.
void Deepseek4Forward::torch_topk(const float* scores, int64_t stride, const int32_t* n_vis, int64_t T, int64_t K,
                                  int64_t n_rows, int32_t* idx, int32_t* count) const {
  const int64_t row = std::max(opt_.indexer_torch_row > 0 ? opt_.indexer_torch_row : n_rows, n_rows);
  using Elem = std::pair<float, int64_t>;
  const auto before = [](const Elem& x, const Elem& y) {
    return (std::isnan(x.first) && !std::isnan(y.first)) || x.first > y.first;
  };
  std::vector<Elem> q(sz(row));
  for (int64_t t = 0; t < T; ++t) {
    if (n_vis[t] <= K) continue;
    for (int64_t j = 0; j < row; ++j)
      q[sz(j)] = {j < n_vis[t] ? scores[t * stride + j] : -std::numeric_limits<float>::infinity(), j};
    const int64_t k = std::min(K, row);
    if (k * 64 <= row)
      std::partial_sort(q.begin(), q.begin() + k, q.end(), before);
    else
      std::nth_element(q.begin(), q.begin() + (k - 1), q.end(), before);
    std::vector<int32_t> sel;
    for (int64_t j = 0; j < k; ++j)
      if (q[sz(j)].second < n_vis[t]) sel.push_back(static_cast<int32_t>(q[sz(j)].second));
    std::sort(sel.begin(), sel.end());
    for (int64_t j = 0; j < K; ++j) idx[t * K + j] = j < static_cast<int64_t>(sel.size()) ? sel[sz(j)] : -1;
    count[t] = static_cast<int32_t>(sel.size());
  }
}

Deepseek4Forward::Deepseek4Forward(const model::Deepseek4Model& m, backend::CpuOps& ops, Deepseek4Options o)
    : m_(m), ops_(ops), opt_(o) {}

Result<void> Deepseek4Forward::init() {
  const auto& c = m_.config;
  bool any_csa_layer = false;
  for (const auto& L : m_.layers) any_csa_layer = any_csa_layer || L.compress_ratio == 4;
  if (opt_.kv_storage == KvStorage::official && any_csa_layer &&
      (c.indexer_head_dim & (c.indexer_head_dim - 1)) != 0)
    return Error::format("deepseek4: --kv-storage official needs a power-of-two indexer head dim (Hadamard), "
                         "the file has %u; use --kv-storage exact", c.indexer_head_dim);
  if (opt_.n_ctx < 1 || opt_.n_ctx > INT32_MAX)
    return Error::format("context size %lld must be in 1 .. 2^31-1", static_cast<long long>(opt_.n_ctx));
  if (c.n_hc < 1 || c.n_hc > static_cast<uint32_t>(v4::kMaxHc))
    return Error::format("deepseek4: hyper_connection.count %u outside 1..%d", c.n_hc, v4::kMaxHc);
  bool any_csa = false;
  for (const auto& L : m_.layers) any_csa = any_csa || L.compress_ratio == 4;
  if (any_csa && (c.n_rot > c.indexer_head_dim || c.n_rot % 2 != 0))
    return Error::format("deepseek4: rope.dimension_count %u does not fit the indexer heads of %u", c.n_rot,
                         c.indexer_head_dim);
  rope::YarnConfig y;  // plain RoPE of the uncompressed layers (spec §3): no YaRN, mscale 1
  y.n_dims = static_cast<int>(c.n_rot);
  y.n_ctx_orig = static_cast<int>(c.n_ctx_orig_yarn ? c.n_ctx_orig_yarn : 4096);
  y.freq_base = c.rope_freq_base;
  y.freq_scale = 1.0;
  y.ext_factor = 0.0;
  y.attn_factor = 1.0;
  rope_plain_ = rope::make_table(y, opt_.n_ctx);
  // Compressed layers: compress_rope_freq_base with YaRN (factor rope.scaling.factor); ds4 passes the
  // attn_factor that cancels ggml's YaRN magnitude, so mscale is 1 (spec §3).
  const double factor = c.rope_scaling_factor > 0.0f ? c.rope_scaling_factor : 1.0;
  y.freq_base = c.compress_rope_freq_base;
  y.freq_scale = 1.0 / factor;
  y.ext_factor = factor != 1.0 ? 1.0 : 0.0;
  y.attn_factor = factor != 1.0 ? 1.0 / (1.0 + 0.1 * std::log(factor)) : 1.0;
  y.beta_fast = c.yarn_beta_fast;
  y.beta_slow = c.yarn_beta_slow;
  rope_comp_ = rope::make_table(y, opt_.n_ctx);

  cache_.assign(c.n_layer, LayerCache{});
  for (const auto& L : m_.layers) {
    LayerCache& lc = cache_[L.index];
    lc.raw.assign(sz(opt_.n_ctx) * c.head_dim, 0.0f);
    const int64_t R = L.compress_ratio;
    if (R == 0) continue;
    const int64_t coff = R == 4 ? 2 : 1, D = c.head_dim, ID = c.indexer_head_dim;
    lc.comp.assign(sz(opt_.n_ctx / R + 1) * sz(D), 0.0f);
    lc.comp_state_kv.assign(sz(coff * R * coff * D), 0.0f);
    lc.comp_state_sc.assign(sz(coff * R * coff * D), 0.0f);
    if (R == 4) {
      lc.index.assign(sz(opt_.n_ctx / 4 + 1) * sz(ID), 0.0f);
      lc.index_state_kv.assign(sz(2 * 4 * 2 * ID), 0.0f);
      lc.index_state_sc.assign(sz(2 * 4 * 2 * ID), 0.0f);
    }
  }
  return {};
}

Result<void> Deepseek4Forward::store_round(float* x, int64_t T, int64_t n, bool index, bool f16) const {
  if (opt_.kv_storage != KvStorage::official || T == 0) return {};
  v4::KvStoreParams p;
  p.kind = index ? v4::KvRowKind::index : v4::KvRowKind::attn;
  p.x = x;
  p.y = x;
  p.T = T;
  p.n = n;
  p.n_rope = index ? 0 : m_.config.n_rot;
  p.f16 = f16;
  return check(ref::v4::kv_store(p), index ? "indexer rows (Hadamard + FP4)" : "KV rows (FP8 + F16)");
}

Result<void> Deepseek4Forward::rope(float* x, int64_t T, const int32_t* pos, int64_t n_head, int64_t head_dim,
                                    bool compressed, bool inverse, bool head_norm) {
  const auto& c = m_.config;
  const int64_t R = c.n_rot;
  rope::Params p;
  p.x = x;
  p.y = x;
  p.pos = pos;
  p.table = rope::RopeTable{compressed ? rope_comp_.data() : rope_plain_.data(), opt_.n_ctx, static_cast<int>(R)};
  p.T = T;
  p.n_head = n_head;
  p.head_dim = head_dim;
  p.rope_offset = head_dim - R;
  p.rope_dims = R;
  p.mode = rope::Mode::interleaved;
  p.inverse = inverse;
  p.norm = head_norm ? rope::HeadNorm::weightless : rope::HeadNorm::none;
  p.eps = c.rms_eps;
  return check(ref::rope::apply(p), "rope");
}

Result<void> Deepseek4Forward::compress(const model::Deepseek4Layer& L, const float* n, int64_t T, int64_t pos0,
                                        bool indexer, LayerCache& lc) {
  const auto& c = m_.config;
  const int64_t E = c.n_embd, R = indexer ? 4 : L.compress_ratio;
  const bool overlap = R == 4;
  const int64_t D = indexer ? c.indexer_head_dim : c.head_dim, W = (overlap ? 2 : 1) * D;
  const model::TensorRef& wkv = indexer ? L.indexer_compressor_kv : L.attn_compressor_kv;
  const model::TensorRef& wg = indexer ? L.indexer_compressor_gate : L.attn_compressor_gate;
  const model::TensorRef& ape = indexer ? L.indexer_compressor_ape : L.attn_compressor_ape;
  const model::TensorRef& norm = indexer ? L.indexer_compressor_norm : L.attn_compressor_norm;
  std::vector<float> kv(sz(T * W)), g(sz(T * W));
  DSK_TRY(ops_.matmul(wkv, 0, n, E, T, kv.data(), W));
  DSK_TRY(ops_.matmul(wg, 0, n, E, T, g.data(), W));
  const int64_t rows = v4::compressor_rows(pos0, T, R), w0 = pos0 / R;
  std::vector<float>& store = indexer ? lc.index : lc.comp;
  float* out = store.data() + w0 * D;  // window w's row at row w
  v4::CompressorParams cp;
  cp.kv = kv.data();
  cp.gate = g.data();
  cp.ape_type = ape.type;
  cp.ape = ape.data;
  cp.T = T;
  cp.p0 = pos0;
  cp.ratio = R;
  cp.overlap = overlap;
  cp.head_dim = D;
  cp.state_kv = (indexer ? lc.index_state_kv : lc.comp_state_kv).data();
  cp.state_score = (indexer ? lc.index_state_sc : lc.comp_state_sc).data();
  cp.out = rows > 0 ? out : nullptr;
  DSK_TRY(check(ref::v4::compress(cp), wkv.name));
  if (rows == 0) return {};
  DSK_TRY(ops_.rms_norm(out, D, &norm, rows, D, c.rms_eps, out, D));
  std::vector<int32_t> start(sz(rows));  // RoPE at each window's first position
  for (int64_t w = 0; w < rows; ++w) start[sz(w)] = static_cast<int32_t>((w0 + w) * R);
  DSK_TRY(rope(out, rows, start.data(), 1, D, true, false, false));
  // KV storage official: attention rows FP8 (non-RoPE dims) + F16, indexer rows Hadamard + FP4 + F16.
  return store_round(out, rows, D, indexer, true);
}

// a [T, E] (the HC-collapsed sublayer input) -> out [T, E].
Result<void> Deepseek4Forward::attention(const model::Deepseek4Layer& L, const float* a, int64_t T, int64_t pos0,
                                         float* out) {
  const auto& c = m_.config;
  const int64_t E = c.n_embd, H = c.n_head, D = c.head_dim, QL = c.q_lora, HD = H * D;
  const int64_t G = c.n_out_group, OL = c.o_lora;
  const int64_t R = L.compress_ratio;
  const bool comp = R != 0;
  LayerCache& lc = cache_[L.index];

  std::vector<float> n(sz(T * E));
  DSK_TRY(ops_.rms_norm(a, E, &L.attn_norm, T, E, c.rms_eps, n.data(), E));
  // Q: q_a -> q_a_norm -> q_b; then per head weightless RMSNorm and RoPE of the tail (one rope call).
  std::vector<float> qr(sz(T * QL)), q(sz(T * HD));
  DSK_TRY(ops_.matmul(L.attn_q_a, 0, n.data(), E, T, qr.data(), QL));
  DSK_TRY(ops_.rms_norm(qr.data(), QL, &L.attn_q_a_norm, T, QL, c.rms_eps, qr.data(), QL));
  DSK_TRY(ops_.matmul(L.attn_q_b, 0, qr.data(), QL, T, q.data(), HD));
  // KV: RMSNorm(attn_kv . n, attn_kv_a_norm), RoPE of the tail.
  std::vector<float> kv(sz(T * D));
  DSK_TRY(ops_.matmul(L.attn_kv, 0, n.data(), E, T, kv.data(), D));
  DSK_TRY(ops_.rms_norm(kv.data(), D, &L.attn_kv_a_norm, T, D, c.rms_eps, kv.data(), D));

  std::vector<int32_t> pos(sz(T));
  for (int64_t t = 0; t < T; ++t) pos[sz(t)] = static_cast<int32_t>(pos0 + t);
  DSK_TRY(rope(q.data(), T, pos.data(), H, D, comp, false, true));
  DSK_TRY(rope(kv.data(), T, pos.data(), 1, D, comp, false, false));

  // Raw rows: position p's row at index p (official storage: FP8 on the non-RoPE dims, then F16).
  DSK_TRY(store_round(kv.data(), T, D, false, true));
  std::memcpy(lc.raw.data() + pos0 * D, kv.data(), sz(T * D) * sizeof(float));

  // Token t (position p) sees the raw rows max(0, p - n_swa + 1) .. p, oldest first.
  const int64_t W = c.n_swa;
  std::vector<int32_t> raw_idx(sz(T * W)), n_raw(sz(T));
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = pos0 + t, first = std::max<int64_t>(0, p - W + 1);
    n_raw[sz(t)] = static_cast<int32_t>(p - first + 1);
    for (int64_t j = first; j <= p; ++j) raw_idx[sz(t * W + (j - first))] = static_cast<int32_t>(j);
  }

  // Compressed rows: token at p sees windows c < floor((p+1)/R) (spec §9): all of them on ratio-128
  // layers, the indexer's top_k of them on ratio-4 layers.
  std::vector<int32_t> comp_idx, n_comp(sz(T));
  int64_t comp_stride = 0;
  const int64_t n_vis_all = comp ? (pos0 + T) / R : 0;
  if (comp) {
    DSK_TRY(compress(L, n.data(), T, pos0, false, lc));
    std::vector<int32_t> n_vis(sz(T));
    for (int64_t t = 0; t < T; ++t) n_vis[sz(t)] = static_cast<int32_t>((pos0 + t + 1) / R);
    if (R == 4) {
      DSK_TRY(compress(L, n.data(), T, pos0, true, lc));
      const int64_t IH = c.n_indexer_head, ID = c.indexer_head_dim, K = c.indexer_top_k;
      std::vector<float> qi(sz(T * IH * ID)), wts(sz(T * IH));
      DSK_TRY(ops_.matmul(L.indexer_q_b, 0, qr.data(), QL, T, qi.data(), IH * ID));
      DSK_TRY(rope(qi.data(), T, pos.data(), IH, ID, true, false, false));
      DSK_TRY(store_round(qi.data(), T * IH, ID, true, false));  // official: queries Hadamard + FP4, not stored
      DSK_TRY(ops_.matmul(L.indexer_proj, 0, n.data(), E, T, wts.data(), IH));
      comp_stride = K;
      comp_idx.assign(sz(T * K), -1);
      v4::IndexerParams ip;
      ip.q = qi.data();
      ip.w = wts.data();
      ip.keys = v4::KvRows{GgmlType::F32, lc.index.data(), 0, n_vis_all};
      ip.n_vis = n_vis.data();
      ip.T = T;
      ip.n_head = IH;
      ip.head_dim = ID;
      ip.top_k = K;
      ip.idx = comp_idx.data();
      ip.count = n_comp.data();
      std::vector<float> scores;
      if (opt_.indexer_ties == IndexerTies::torch_cpu) {
        scores.assign(sz(T * std::max<int64_t>(1, n_vis_all)), 0.0f);
        ip.scores = scores.data();
        ip.scores_stride = std::max<int64_t>(1, n_vis_all);
      }
      DSK_TRY(check(ref::v4::indexer(ip), L.indexer_proj.name));
      if (opt_.indexer_ties == IndexerTies::torch_cpu)
        torch_topk(scores.data(), ip.scores_stride, n_vis.data(), T, K, n_vis_all, comp_idx.data(), n_comp.data());
    } else {
      comp_stride = std::max<int64_t>(1, n_vis_all);
      comp_idx.assign(sz(T * comp_stride), -1);
      for (int64_t t = 0; t < T; ++t) {
        n_comp[sz(t)] = n_vis[sz(t)];
        for (int32_t j = 0; j < n_vis[sz(t)]; ++j) comp_idx[sz(t * comp_stride + j)] = j;
      }
    }
  }

  std::vector<float> o(sz(T * HD));
  v4::SinkAttentionParams ap;
  ap.q = q.data();
  ap.raw = v4::KvRows{GgmlType::F32, lc.raw.data(), 0, pos0 + T};
  ap.raw_idx = raw_idx.data();
  ap.raw_idx_stride = W;
  ap.n_raw = n_raw.data();
  if (comp) {
    ap.comp = v4::KvRows{GgmlType::F32, lc.comp.data(), 0, n_vis_all};
    ap.comp_idx = comp_idx.data();
    ap.comp_idx_stride = comp_stride;
    ap.n_comp = n_comp.data();
  }
  ap.sinks = f32(L.attn_sinks);
  ap.T = T;
  ap.n_head = H;
  ap.head_dim = D;
  ap.kq_scale = v4::attn_scale(D);
  ap.out = o.data();
  DSK_TRY(check(ref::v4::sink_attention(ap), L.attn_sinks.name));
  DSK_TRY(rope(o.data(), T, pos.data(), H, D, comp, true, false));

  // Grouped output: group g (heads g*H/G ..) through rows g*OL .. of attn_output_a, then attn_output_b.
  const int64_t GW = HD / G;
  std::vector<float> low(sz(T * G * OL));
  for (int64_t g = 0; g < G; ++g)
    DSK_TRY(ops_.matmul(row_slice(L.attn_output_a, g * OL, OL), 0, o.data() + g * GW, HD, T, low.data() + g * OL,
                        G * OL));
  return ops_.matmul(L.attn_output_b, 0, low.data(), G * OL, T, out, E);
}

// b [T, E] (the HC-collapsed sublayer input) -> out [T, E].
Result<void> Deepseek4Forward::ffn(const model::Deepseek4Layer& L, const float* b, std::span<const int32_t> tokens,
                                   float* out) {
  const auto& c = m_.config;
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t E = c.n_embd, NE = c.n_expert, K = c.n_expert_used;
  std::vector<float> z(sz(T * E));
  DSK_TRY(ops_.rms_norm(b, E, &L.ffn_norm, T, E, c.rms_eps, z.data(), E));
  // The router works on multiples of 32 experts: other counts are padded with experts of logit -inf and
  // selection bias -inf (score 0, never chosen: ties go to the lower index), so the choice and the
  // weights are those of the real experts.
  const int64_t NP = (NE + 31) / 32 * 32;
  std::vector<float> logits(sz(T * NP), -std::numeric_limits<float>::infinity());
  DSK_TRY(ops_.matmul(L.ffn_gate_inp, 0, z.data(), E, T, logits.data(), NP));
  std::vector<float> padded_bias;
  if (NP != NE && !L.hash) {
    padded_bias.assign(sz(NP), -std::numeric_limits<float>::infinity());
    for (int64_t e = 0; e < NE; ++e) padded_bias[sz(e)] = L.exp_probs_b.present() ? f32(L.exp_probs_b)[e] : 0.0f;
  }

  std::vector<int32_t> ids(sz(T * K));
  std::vector<float> w(sz(T * K));
  router::Params rp;
  rp.logits = logits.data();
  rp.T = T;
  rp.n_expert = static_cast<int32_t>(NP);
  rp.k = static_cast<int32_t>(K);
  rp.scoring = router::Scoring::sqrt_softplus;
  if (L.hash) {
    rp.tid2eid = reinterpret_cast<const int32_t*>(L.ffn_gate_tid2eid.data);
    rp.tid2eid_stride = L.ffn_gate_tid2eid.ne[0];
    rp.n_vocab = L.ffn_gate_tid2eid.ne[1];
    rp.token_ids = tokens.data();
  } else {
    rp.bias = !padded_bias.empty() ? padded_bias.data() : L.exp_probs_b.present() ? f32(L.exp_probs_b) : nullptr;
    if (c.n_expert_groups > 1) {
      rp.n_group = static_cast<int32_t>(c.n_expert_groups);
      rp.topk_group = static_cast<int32_t>(c.n_group_used);
    }
  }
  rp.normalize = c.expert_weights_norm;
  rp.norm_floor = c.expert_weights_norm ? kRouterNormFloor : 0.0f;
  rp.scale = c.expert_weights_scale;
  rp.ids = ids.data();
  rp.weights = w.data();
  DSK_TRY(check(ref::router::select(rp), L.ffn_gate_inp.name));

  moe::Params mp;
  mp.x = z.data();
  mp.y = out;
  mp.T = T;
  mp.n_embd = E;
  mp.n_ff = L.ffn_gate_exps.ne[1];
  mp.n_expert = static_cast<int32_t>(NE);
  mp.k = static_cast<int32_t>(K);
  mp.ids = ids.data();
  mp.weights = w.data();
  mp.gate = moe_tensor(L.ffn_gate_exps);
  mp.up = moe_tensor(L.ffn_up_exps);
  mp.down = moe_tensor(L.ffn_down_exps);
  mp.clamp = true;
  mp.limit = c.swiglu_clamp[L.index];
  mp.weight_before_down = true;
  if (L.ffn_gate_shexp.present()) {
    mp.n_ff_shared = L.ffn_gate_shexp.ne[1];
    mp.gate_shared = moe_tensor(L.ffn_gate_shexp);
    mp.up_shared = moe_tensor(L.ffn_up_shexp);
    mp.down_shared = moe_tensor(L.ffn_down_shexp);
    mp.shared_clamp = true;
  }
  return check(ref::moe::moe(mp), L.ffn_gate_exps.name);
}

Result<void> Deepseek4Forward::layer(const model::Deepseek4Layer& L, float* x, std::span<const int32_t> tokens,
                                     int64_t pos0) {
  const auto& c = m_.config;
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t E = c.n_embd;
  const int nh = static_cast<int>(c.n_hc);
  std::vector<float> s(sz(T * E)), f(sz(T * E)), post(sz(T * nh)), comb(sz(T * nh * nh));

  auto pre = [&](const model::TensorRef& fn, const model::TensorRef& scale, const model::TensorRef& base) {
    v4::HcPreParams p;
    p.x = x;
    p.fn = hc_weight(fn);
    p.scale = f32(scale);
    p.base = f32(base);
    p.T = T;
    p.n_embd = E;
    p.n_hc = nh;
    p.sinkhorn_iters = static_cast<int>(c.sinkhorn_iters);
    p.hc_eps = c.hc_eps;
    p.norm_eps = c.rms_eps;
    p.y = s.data();
    p.post = post.data();
    p.comb = comb.data();
    return check(ref::v4::hc_pre(p), fn.name);
  };
  auto post_step = [&]() {
    v4::HcPostParams p;
    p.f = f.data();
    p.x = x;
    p.post = post.data();
    p.comb = comb.data();
    p.T = T;
    p.n_embd = E;
    p.n_hc = nh;
    p.y = x;  // in place (allowed: each (token, d) reads all streams before writing)
    return check(ref::v4::hc_post(p), "hc_post");
  };

  DSK_TRY(pre(L.hc_attn_fn, L.hc_attn_scale, L.hc_attn_base));
  DSK_TRY(attention(L, s.data(), T, pos0, f.data()));
  DSK_TRY(post_step());
  DSK_TRY(pre(L.hc_ffn_fn, L.hc_ffn_scale, L.hc_ffn_base));
  DSK_TRY(ffn(L, s.data(), tokens, f.data()));
  return post_step();
}

Result<void> Deepseek4Forward::eval(std::span<const int32_t> tokens, int64_t pos0, bool all_logits,
                                    std::vector<float>& logits) {
  const auto& c = m_.config;
  const int64_t T = static_cast<int64_t>(tokens.size());
  if (cache_.size() != c.n_layer) return Error("deepseek4 forward: init() was not called (or failed)");
  if (T == 0) return Error("eval: no tokens");
  if (pos0 < 0 || pos0 + T > opt_.n_ctx)
    return Error::format("context full: %lld tokens at position %lld exceed the context of %lld (use -c)",
                         static_cast<long long>(T), static_cast<long long>(pos0), static_cast<long long>(opt_.n_ctx));
  for (int32_t t : tokens)
    if (t < 0 || static_cast<uint32_t>(t) >= c.n_vocab)
      return Error::format("token id %d is outside the vocabulary (n_vocab %u)", t, c.n_vocab);
  const int64_t E = c.n_embd, NH = c.n_hc;
  // Embedding, copied into every stream (spec §4.0).
  std::vector<float> e(sz(T * E)), x(sz(T * NH * E));
  DSK_TRY(ops_.embed(m_.token_embd, tokens, e.data()));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < NH; ++h)
      std::memcpy(x.data() + (t * NH + h) * E, e.data() + t * E, sz(E) * sizeof(float));
  for (const auto& L : m_.layers) {
    auto r = layer(L, x.data(), tokens, pos0);
    if (!r) return std::move(r).error().context("layer " + std::to_string(L.index));
  }
  const int64_t rows = all_logits ? T : 1;
  std::vector<float> y(sz(rows * E));
  v4::HcHeadParams hp;
  hp.x = x.data() + (T - rows) * NH * E;
  hp.fn = hc_weight(m_.output_hc_fn);
  hp.scale = f32(m_.output_hc_scale);
  hp.base = f32(m_.output_hc_base);
  hp.T = rows;
  hp.n_embd = E;
  hp.n_hc = static_cast<int>(NH);
  hp.hc_eps = c.hc_eps;
  hp.norm_eps = c.rms_eps;
  hp.y = y.data();
  DSK_TRY(check(ref::v4::hc_head(hp), m_.output_hc_fn.name));
  DSK_TRY(ops_.rms_norm(y.data(), E, &m_.output_norm, rows, E, c.rms_eps, y.data(), E));
  logits.resize(sz(rows) * c.n_vocab);
  return ops_.matmul(m_.output, 0, y.data(), E, rows, logits.data(), c.n_vocab);
}

}  // namespace dsk::forward
