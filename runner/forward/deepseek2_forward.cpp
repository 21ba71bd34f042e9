// The deepseek2 forward pass over backend::Ops (see the header).
#include "forward/deepseek2_forward.hpp"

#include <cmath>
#include <string>

#include "dsk/rope/rope.hpp"

namespace dsk::forward {

Deepseek2Forward::Deepseek2Forward(const model::Deepseek2Model& m, backend::Ops& ops, Deepseek2Options o)
    : m_(m), ops_(ops), opt_(o) {}

Result<void> Deepseek2Forward::init() {
  const auto& c = m_.config;
  if (opt_.n_ctx < 1) return Error::format("context size %lld must be at least 1", static_cast<long long>(opt_.n_ctx));
  // RoPE as llama.cpp's build_deepseek2 sets it up: YaRN when rope.scaling.type is yarn, the
  // attn_factor that cancels ggml's YaRN magnitude, and kq_scale = mscale^2 / sqrt(d_qk).
  const float factor = c.rope_freq_scale > 0.0f ? 1.0f / c.rope_freq_scale : 1.0f;
  rope::YarnConfig y;
  y.n_dims = static_cast<int>(c.d_rope);
  y.n_ctx_orig = static_cast<int>(c.n_ctx_orig_yarn ? c.n_ctx_orig_yarn : c.n_ctx_train);
  y.freq_base = c.rope_freq_base;
  y.freq_scale = c.rope_freq_scale;
  y.ext_factor = c.yarn_ext_factor >= 0.0f ? c.yarn_ext_factor : (c.rope_scaling == model::RopeScaling::yarn ? 1.0 : 0.0);
  y.attn_factor = rope::deepseek2_rope_attn_factor(factor);
  y.beta_fast = c.yarn_beta_fast;
  y.beta_slow = c.yarn_beta_slow;
  kq_scale_ = rope::mla_kq_scale(factor, c.yarn_log_mul, static_cast<int>(c.d_qk), c.yarn_attn_factor);
  DSK_TRY(ops_.init_rope(y, opt_.n_ctx));
  if (opt_.n_seq < 1) return Error::format("%d sequences: at least one", opt_.n_seq);
  DSK_TRY(ops_.init_kv(static_cast<int>(c.n_layer), opt_.n_seq, opt_.n_ctx, c.d_rope + c.kv_lora));
  return {};
}

// x: the residual stream, h: attn_norm(x) of this layer on entry; on return x has both residual adds
// and h = next_norm(x) (the next layer's attn_norm or the output norm): each residual add is
// fused with the norm that follows it.
Result<void> Deepseek2Forward::layer(const model::Deepseek2Layer& L, float* x, float* h, const model::TensorRef& next_norm,
                                     std::span<const int32_t> tokens) {
  const auto& c = m_.config;
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t E = c.n_embd, H = c.n_head, dqk = c.d_qk, kvw = c.kv_lora + c.d_rope;

  // --- attention ---
  float* q = ops_.alloc(static_cast<size_t>(T * H * dqk));
  // kv_a output per token: [c_kv (kv_lora) | k_rope (d_rope)]; its product and q's first one share h.
  float* kva = ops_.alloc(static_cast<size_t>(T * kvw));
  if (c.is_lite) {
    DSK_TRY(ops_.matmul_pair(L.attn_q, q, H * dqk, L.attn_kv_a_mqa, kva, kvw, h, E, T));
  } else {
    float* cq = ops_.alloc(static_cast<size_t>(T * c.q_lora));
    DSK_TRY(ops_.matmul_pair(L.attn_q_a, cq, c.q_lora, L.attn_kv_a_mqa, kva, kvw, h, E, T));
    DSK_TRY(ops_.rms_norm(cq, c.q_lora, &L.attn_q_a_norm, T, c.q_lora, c.rms_eps, cq, c.q_lora));
    DSK_TRY(ops_.matmul(L.attn_q_b, 0, cq, c.q_lora, T, q, H * dqk));
  }
  const backend::MlaShape shape{H, c.d_nope, c.d_rope, c.d_v, c.kv_lora, kq_scale_};
  // c_kv normed and k_rope roped into the cache, q's rope tails rotated: one op.
  DSK_TRY(ops_.mla_prep(static_cast<int>(L.index), shape, q, kva, L.attn_kv_a_norm, c.rms_eps, T));
  float* attn = ops_.alloc(static_cast<size_t>(T * H * c.d_v));
  DSK_TRY(ops_.mla_attention(static_cast<int>(L.index), L.attn_k_b, L.attn_v_b, shape, q, T, attn));
  float* o = ops_.alloc(static_cast<size_t>(T * E));
  DSK_TRY(ops_.matmul(L.attn_output, 0, attn, H * c.d_v, T, o, E));
  DSK_TRY(ops_.add_rms_norm(x, o, T, E, &L.ffn_norm, c.rms_eps, x, h));

  // --- feed-forward ---
  float* y = ops_.alloc(static_cast<size_t>(T * E));
  if (!L.is_moe) {
    DSK_TRY(ops_.ffn(L.ffn_gate, L.ffn_up, L.ffn_down, h, T, y));
  } else {
    float* logits = ops_.alloc(static_cast<size_t>(T * c.n_expert));
    DSK_TRY(ops_.matmul(L.ffn_gate_inp, 0, h, E, T, logits, c.n_expert));
    backend::RouterOptions ro;
    ro.n_expert = static_cast<int32_t>(c.n_expert);
    ro.k = static_cast<int32_t>(c.n_expert_used);
    ro.scoring = static_cast<int>(c.gating);
    ro.bias = L.exp_probs_b.present() ? &L.exp_probs_b : nullptr;
    if (opt_.group_limited_routing && c.n_expert_groups > 1) {
      ro.n_group = static_cast<int32_t>(c.n_expert_groups);
      ro.topk_group = static_cast<int32_t>(c.n_group_used);
    }
    ro.normalize = c.expert_weights_norm;
    ro.scale = c.expert_weights_scale;
    backend::Routing r;
    r.k = ro.k;
    r.ids = ops_.alloc_i32(static_cast<size_t>(T * ro.k));
    r.weights = ops_.alloc(static_cast<size_t>(T * ro.k));
    DSK_TRY(ops_.route(logits, T, ro, r));
    backend::Ops::SharedExperts sh;
    if (L.ffn_gate_shexp.present()) sh = {&L.ffn_gate_shexp, &L.ffn_up_shexp, &L.ffn_down_shexp};
    DSK_TRY(ops_.moe(L.ffn_gate_exps, L.ffn_up_exps, L.ffn_down_exps, sh, h, T, r, y));
  }
  return ops_.add_rms_norm(x, y, T, E, &next_norm, c.rms_eps, x, h);
}

Result<void> Deepseek2Forward::eval(std::span<const int32_t> tokens, int64_t pos0, bool all_logits,
                                    std::vector<float>& logits) {
  const int64_t T = static_cast<int64_t>(tokens.size());
  if (T == 0) return Error("eval: no tokens");
  if (pos0 < 0 || pos0 + T > opt_.n_ctx)
    return Error::format("context full: %lld tokens at position %lld exceed the context of %lld (use -c)",
                         static_cast<long long>(T), static_cast<long long>(pos0), static_cast<long long>(opt_.n_ctx));
  std::vector<int32_t> seq(static_cast<size_t>(T), 0);
  std::vector<int64_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[static_cast<size_t>(t)] = pos0 + t;
  return step(tokens, seq, pos, all_logits ? T : 1, &logits, {}, nullptr);
}

Result<void> Deepseek2Forward::step(std::span<const int32_t> tokens, std::span<const int32_t> seq,
                                    std::span<const int64_t> pos, int64_t out_rows, std::vector<float>* logits,
                                    std::span<const dsk::sample::SamplerParams> sampler, int32_t* next) {
  const auto& c = m_.config;
  const int64_t T = static_cast<int64_t>(tokens.size());
  if (T == 0) return Error("eval: no tokens");
  if (seq.size() != tokens.size() || pos.size() != tokens.size())
    return Error("step: tokens, sequence ids and positions of different counts");
  if (out_rows < 1 || out_rows > T || static_cast<int64_t>(sampler.size()) > out_rows)
    return Error("step: bad output row count");
  if (!sampler.empty() && !next) return Error("step: sampling needs an output for the tokens");
  for (size_t t = 0; t < pos.size(); ++t)
    if (pos[t] < 0 || pos[t] >= opt_.n_ctx)
      return Error::format("context full: position %lld is outside the context of %lld (use -c)",
                           static_cast<long long>(pos[t]), static_cast<long long>(opt_.n_ctx));
  for (int32_t t : tokens)
    if (t < 0 || static_cast<uint32_t>(t) >= c.n_vocab)
      return Error::format("token id %d is outside the vocabulary (n_vocab %u)", t, c.n_vocab);
  ops_.reset_scratch();
  ops_.set_outputs({logits != nullptr, sampler});
  DSK_TRY(ops_.begin(seq, pos));
  const int64_t E = c.n_embd;
  float* x = ops_.alloc(static_cast<size_t>(T * E));
  DSK_TRY(ops_.embed(m_.token_embd, tokens, x));
  float* h = ops_.alloc(static_cast<size_t>(T * E));
  const auto& layers = m_.layers;
  if (layers.empty()) {
    DSK_TRY(ops_.rms_norm(x, E, &m_.output_norm, T, E, c.rms_eps, h, E));
  } else {
    DSK_TRY(ops_.rms_norm(x, E, &layers.front().attn_norm, T, E, c.rms_eps, h, E));
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const model::TensorRef& next_norm = i + 1 < layers.size() ? layers[i + 1].attn_norm : m_.output_norm;
    auto r = layer(layers[i], x, h, next_norm, tokens);
    if (!r) return std::move(r).error().context("layer " + std::to_string(layers[i].index));
  }
  // h = output_norm(x) for every row (the last layer's fused add + norm); the head on the last rows.
  const int64_t rows = out_rows;
  float* out = ops_.alloc(static_cast<size_t>(rows) * c.n_vocab);
  DSK_TRY(ops_.matmul(m_.output, 0, h + (T - rows) * E, E, rows, out, c.n_vocab));
  if (logits) logits->resize(static_cast<size_t>(rows) * c.n_vocab);
  return ops_.finish(out, rows, static_cast<int32_t>(c.n_vocab), logits ? logits->data() : nullptr, next);
}

}  // namespace dsk::forward
