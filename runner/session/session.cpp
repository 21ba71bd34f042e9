#include "session/session.hpp"

#include <algorithm>
#include <cstdio>
#include <set>
#include <thread>

#include "backend/cpu_ops.hpp"
#include "backend/cuda_ops.hpp"

namespace dsk::session {

Result<std::unique_ptr<Session>> Session::open(const std::string& path, const SessionOptions& o) {
  std::unique_ptr<Session> s(new Session());
  DSK_TRY_ASSIGN(gguf::Reader r, gguf::Reader::open(path));
  s->reader_.emplace(std::move(r));
  auto arch = s->reader_->metadata().get_string("general.architecture");
  if (!arch) return std::move(arch).error();
  if (arch.value() != "deepseek2")
    return Error::format("%s: architecture '%.*s' is not supported (supported: deepseek2)", path.c_str(),
                         static_cast<int>(arch.value().size()), arch.value().data());
  DSK_TRY_ASSIGN(model::Deepseek2Model m, model::load_deepseek2(*s->reader_));
  s->model_ = std::move(m);
  if (auto t = tok::Tokenizer::from_gguf(s->reader_->metadata())) {
    s->tokenizer_.emplace(std::move(t).value());
  } else {
    s->tokenizer_error_ = std::move(t).error().message();
  }
  if (o.backend == BackendKind::cuda) {
    backend::CudaOptions co;
    co.synthetic_weights = o.synthetic_weights;
    co.profile = o.profile;
    co.graphs = o.cuda_graphs;
    DSK_TRY_ASSIGN(s->ops_, backend::make_cuda_ops(co));
  } else {
    const int threads = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
    s->ops_ = std::make_unique<backend::CpuOps>(threads);
  }
  if (o.backend == BackendKind::cuda) DSK_TRY(s->upload_weights(o));
  forward::Deepseek2Options fo;
  if (o.n_seq < 1 || o.n_seq > 64) return Error::format("%d sequences: 1 to 64 are supported", o.n_seq);
  fo.n_seq = o.n_seq;
  s->n_past_.assign(static_cast<size_t>(o.n_seq), 0);
  fo.n_ctx = o.n_ctx > 0 ? o.n_ctx : std::min<int64_t>(s->model_.config.n_ctx_train ? s->model_.config.n_ctx_train : 4096, 4096);
  s->forward_ = std::make_unique<forward::Deepseek2Forward>(s->model_, *s->ops_, fo);
  DSK_TRY(s->forward_->init());
  return s;
}

// Every tensor the forward uses, once (a derived or tied tensor may appear twice).
std::vector<const model::TensorRef*> forward_tensors(const model::Deepseek2Model& m) {
  std::vector<const model::TensorRef*> v = {&m.token_embd, &m.output_norm, &m.output};
  for (const auto& L : m.layers)
    for (const model::TensorRef* t :
         {&L.attn_norm, &L.attn_q_a, &L.attn_q_a_norm, &L.attn_q_b, &L.attn_q, &L.attn_kv_a_mqa, &L.attn_kv_a_norm,
          &L.attn_k_b, &L.attn_v_b, &L.attn_output, &L.ffn_norm, &L.ffn_gate, &L.ffn_up, &L.ffn_down, &L.ffn_gate_inp,
          &L.exp_probs_b, &L.ffn_gate_exps, &L.ffn_up_exps, &L.ffn_down_exps, &L.ffn_gate_shexp, &L.ffn_up_shexp,
          &L.ffn_down_shexp})
      if (t->present()) v.push_back(t);
  std::vector<const model::TensorRef*> out;
  std::set<const uint8_t*> seen;
  for (const model::TensorRef* t : v)
    if (t->present() && seen.insert(t->data).second) out.push_back(t);
  return out;
}

// The CUDA backend: one clear error when the model does not fit, else every weight copied now,
// with progress on stderr for large models.
Result<void> Session::upload_weights(const SessionOptions& o) {
  const auto tensors = forward_tensors(model_);
  double weights = 0;
  for (const model::TensorRef* t : tensors) weights += static_cast<double>(t->n_bytes);
  const auto& c = model_.config;
  const int64_t n_ctx = o.n_ctx > 0 ? o.n_ctx : std::min<int64_t>(c.n_ctx_train ? c.n_ctx_train : 4096, 4096);
  const double kv = static_cast<double>(n_ctx) * static_cast<double>(c.kv_lora + c.d_rope) * 4.0 * c.n_layer * std::max(1, o.n_seq);
  const double free_b = static_cast<double>(ops_->free_memory());
  const double gib = 1024.0 * 1024.0 * 1024.0;
  // Headroom for activations and the kernels' scratch: 5 % of the weights + 1 GiB.
  const double need = weights + kv + 0.05 * weights + gib;
  if (free_b > 0 && need > free_b)
    return Error::format("the model does not fit on the GPU: it needs about %.2f GiB (weights %.2f GiB, KV cache of %lld "
                         "tokens x sequences %.2f GiB, scratch ~%.2f GiB) and %.2f GiB are free",
                         need / gib, weights / gib, static_cast<long long>(n_ctx), kv / gib, (0.05 * weights + gib) / gib,
                         free_b / gib);
  const bool progress = weights > gib && !o.synthetic_weights;
  double done = 0, next = 0.1;
  for (const model::TensorRef* t : tensors) {
    DSK_TRY(ops_->prepare_weight(*t));
    done += static_cast<double>(t->n_bytes);
    if (progress && done / weights >= next) {
      std::fprintf(stderr, "\rdsk: weights to GPU %3.0f %% (%.1f / %.1f GiB)", 100.0 * done / weights, done / gib, weights / gib);
      next += 0.1;
    }
  }
  if (progress) std::fprintf(stderr, "\n");
  return {};
}

Result<void> Session::check_seq(int32_t seq) const {
  if (seq >= 0 && static_cast<size_t>(seq) < n_past_.size()) return {};
  return Error::format("sequence %d does not exist (the session has %zu; SessionOptions::n_seq)", seq, n_past_.size());
}

Result<void> Session::eval(std::span<const int32_t> tokens, bool all_logits, std::vector<float>& logits) {
  return eval(0, tokens, all_logits, &logits);
}

Result<void> Session::eval(int32_t seq, std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits,
                           const dsk::sample::SamplerParams* sampler, int32_t* next) {
  DSK_TRY(check_seq(seq));
  const int64_t T = static_cast<int64_t>(tokens.size());
  if (T == 0) return Error("eval: no tokens");
  int64_t& past = n_past_[static_cast<size_t>(seq)];
  if (past + T > n_ctx())
    return Error::format("context full: %lld tokens at position %lld exceed the context of %lld (use -c)",
                         static_cast<long long>(T), static_cast<long long>(past), static_cast<long long>(n_ctx()));
  std::vector<int32_t> seqs(static_cast<size_t>(T), seq);
  std::vector<int64_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[static_cast<size_t>(t)] = past + t;
  std::span<const dsk::sample::SamplerParams> sp;
  if (sampler) sp = std::span<const dsk::sample::SamplerParams>(sampler, 1);
  DSK_TRY(forward_->step(tokens, seqs, pos, all_logits ? T : 1, logits, sp, next));
  past += T;
  return {};
}

Result<void> Session::decode(std::span<const int32_t> seqs, std::span<const int32_t> tokens, std::vector<float>* logits,
                             std::span<const dsk::sample::SamplerParams> samplers, int32_t* next) {
  if (seqs.empty() || seqs.size() != tokens.size()) return Error("decode: one token per sequence, at least one");
  if (!samplers.empty() && samplers.size() != seqs.size()) return Error("decode: one sampler per sequence (or none)");
  std::vector<int64_t> pos;
  for (size_t i = 0; i < seqs.size(); ++i) {
    DSK_TRY(check_seq(seqs[i]));
    for (size_t j = 0; j < i; ++j)
      if (seqs[j] == seqs[i]) return Error::format("decode: sequence %d given twice", seqs[i]);
    const int64_t past = n_past_[static_cast<size_t>(seqs[i])];
    if (past + 1 > n_ctx())
      return Error::format("context full: sequence %d is at position %lld of %lld (use -c)", seqs[i],
                           static_cast<long long>(past), static_cast<long long>(n_ctx()));
    pos.push_back(past);
  }
  DSK_TRY(forward_->step(tokens, seqs, pos, static_cast<int64_t>(seqs.size()), logits, samplers, next));
  for (int32_t s : seqs) ++n_past_[static_cast<size_t>(s)];
  return {};
}

}  // namespace dsk::session
