// The deepseek4 forward pass on the CPU (see the header).
#include "forward/deepseek4_forward.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "dsk/moe/moe.hpp"
#include "dsk/rope/rope.hpp"
#include "dsk/router/router.hpp"
#include "dsk/v4/attention.hpp"
#include "dsk/v4/hc.hpp"
#include "reference/moe.hpp"
#include "reference/rope.hpp"
#include "reference/router.hpp"
#include "reference/v4_attention.hpp"
#include "reference/v4_hc.hpp"

namespace dsk::forward {

namespace {

Result<void> check(const Status& s, const std::string& what) {
  if (s.ok()) return {};
  return Error(what + ": " + to_string(s));
}

size_t sz(int64_t n) { return static_cast<size_t>(n); }

v4::HcWeight hc_weight(const model::TensorRef& t) { return v4::HcWeight{t.type, t.data, t.nb1}; }

const float* f32(const model::TensorRef& t) { return reinterpret_cast<const float*>(t.data); }

moe::Tensor moe_tensor(const model::TensorRef& t) {
  moe::Tensor m;
  m.type = t.type;
  m.data = t.data;
  m.row_bytes = t.nb1;
  m.expert_bytes = static_cast<size_t>(t.ne[1]) * t.nb1;
  return m;
}

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

Deepseek4Forward::Deepseek4Forward(const model::Deepseek4Model& m, backend::CpuOps& ops, Deepseek4Options o)
    : m_(m), ops_(ops), opt_(o) {}

Result<void> Deepseek4Forward::init() {
  const auto& c = m_.config;
  if (opt_.n_ctx < 1 || opt_.n_ctx > INT32_MAX)
    return Error::format("context size %lld must be in 1 .. 2^31-1", static_cast<long long>(opt_.n_ctx));
  for (const auto& L : m_.layers)
    if (L.compress_ratio != 0)
      return Error::format("deepseek4: layer %u has compress ratio %u: compressed (CSA / HCA) layers are not yet "
                           "supported by the CPU forward",
                           L.index, L.compress_ratio);
  if (c.n_hc < 1 || c.n_hc > static_cast<uint32_t>(v4::kMaxHc))
    return Error::format("deepseek4: hyper_connection.count %u outside 1..%d", c.n_hc, v4::kMaxHc);
  rope::YarnConfig y;  // plain RoPE of the uncompressed layers (spec §3): no YaRN, mscale 1
  y.n_dims = static_cast<int>(c.n_rot);
  y.n_ctx_orig = static_cast<int>(c.n_ctx_orig_yarn ? c.n_ctx_orig_yarn : 4096);
  y.freq_base = c.rope_freq_base;
  y.freq_scale = 1.0;
  y.ext_factor = 0.0;
  y.attn_factor = 1.0;
  rope_plain_ = rope::make_table(y, opt_.n_ctx);
  raw_kv_.assign(c.n_layer, std::vector<float>(sz(opt_.n_ctx) * c.head_dim, 0.0f));
  return {};
}

// a [T, E] (the HC-collapsed sublayer input) -> out [T, E].
Result<void> Deepseek4Forward::attention(const model::Deepseek4Layer& L, const float* a, int64_t T, int64_t pos0,
                                         float* out) {
  const auto& c = m_.config;
  const int64_t E = c.n_embd, H = c.n_head, D = c.head_dim, R = c.n_rot, QL = c.q_lora, HD = H * D;
  const int64_t G = c.n_out_group, OL = c.o_lora;

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
  const rope::RopeTable table{rope_plain_.data(), opt_.n_ctx, static_cast<int>(R)};
  auto rope_params = [&](float* x, int64_t n_head, bool inverse, rope::HeadNorm norm) {
    rope::Params p;
    p.x = x;
    p.y = x;
    p.pos = pos.data();
    p.table = table;
    p.T = T;
    p.n_head = n_head;
    p.head_dim = D;
    p.rope_offset = D - R;
    p.rope_dims = R;
    p.mode = rope::Mode::interleaved;
    p.inverse = inverse;
    p.norm = norm;
    p.eps = c.rms_eps;
    return p;
  };
  DSK_TRY(check(ref::rope::apply(rope_params(q.data(), H, false, rope::HeadNorm::weightless)), "q rope"));
  DSK_TRY(check(ref::rope::apply(rope_params(kv.data(), 1, false, rope::HeadNorm::none)), "kv rope"));

  // Raw rows: position p's row at index p (exact: float32).
  float* cache = raw_kv_[L.index].data();
  std::memcpy(cache + pos0 * D, kv.data(), sz(T * D) * sizeof(float));

  // Token t (position p) sees the raw rows max(0, p - n_swa + 1) .. p, oldest first.
  const int64_t W = c.n_swa;
  std::vector<int32_t> raw_idx(sz(T * W)), n_raw(sz(T));
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = pos0 + t, first = std::max<int64_t>(0, p - W + 1);
    n_raw[sz(t)] = static_cast<int32_t>(p - first + 1);
    for (int64_t j = first; j <= p; ++j) raw_idx[sz(t * W + (j - first))] = static_cast<int32_t>(j);
  }
  std::vector<float> o(sz(T * HD));
  v4::SinkAttentionParams ap;
  ap.q = q.data();
  ap.raw = v4::KvRows{GgmlType::F32, cache, 0, pos0 + T};
  ap.raw_idx = raw_idx.data();
  ap.raw_idx_stride = W;
  ap.n_raw = n_raw.data();
  ap.sinks = f32(L.attn_sinks);
  ap.T = T;
  ap.n_head = H;
  ap.head_dim = D;
  ap.kq_scale = v4::attn_scale(D);
  ap.out = o.data();
  DSK_TRY(check(ref::v4::sink_attention(ap), L.attn_sinks.name));
  DSK_TRY(check(ref::rope::apply(rope_params(o.data(), H, true, rope::HeadNorm::none)), "output inverse rope"));

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
  std::vector<float> logits(sz(T * NE));
  DSK_TRY(ops_.matmul(L.ffn_gate_inp, 0, z.data(), E, T, logits.data(), NE));

  std::vector<int32_t> ids(sz(T * K));
  std::vector<float> w(sz(T * K));
  router::Params rp;
  rp.logits = logits.data();
  rp.T = T;
  rp.n_expert = static_cast<int32_t>(NE);
  rp.k = static_cast<int32_t>(K);
  rp.scoring = router::Scoring::sqrt_softplus;
  if (L.hash) {
    rp.tid2eid = reinterpret_cast<const int32_t*>(L.ffn_gate_tid2eid.data);
    rp.tid2eid_stride = L.ffn_gate_tid2eid.ne[0];
    rp.n_vocab = L.ffn_gate_tid2eid.ne[1];
    rp.token_ids = tokens.data();
  } else {
    rp.bias = L.exp_probs_b.present() ? f32(L.exp_probs_b) : nullptr;
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
  if (raw_kv_.size() != c.n_layer) return Error("deepseek4 forward: init() was not called (or failed)");
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
