// forward/deepseek2_forward.hpp — the deepseek2 forward pass (V2, V2-Lite, V3, R1, Kimi-K2),
// written once against backend::Ops (docs/runner.md).
//
// Per layer: RMSNorm -> MLA attention (q-LoRA or plain attn_q; the latent KV row [k_rope | c_kv] is
// cached; absorbed attention through attn_k_b / attn_v_b for prefill and decode alike) -> residual
// -> RMSNorm -> dense SwiGLU FFN or MoE (router top-k, routed experts weighted after the down
// projection, shared experts added after the routed sum) -> residual. Then the final norm and the
// output head for the rows asked for.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/ops.hpp"
#include "common/result.hpp"
#include "model/deepseek2.hpp"

namespace dsk::forward {

struct Deepseek2Options {
  int64_t n_ctx = 4096;
  int n_seq = 1;  // sequences with their own KV cache (decoded together by step())
  bool group_limited_routing = true;  // use expert_group_count / _used_count when the file has them
};

class Deepseek2Forward {
 public:
  Deepseek2Forward(const model::Deepseek2Model& m, backend::Ops& ops, Deepseek2Options o);

  // Allocates the KV cache and the RoPE table.
  Result<void> init();

  // Runs `tokens` at positions pos0 .. pos0 + T - 1 (the cache must hold positions < pos0).
  // logits: all T rows when all_logits, else the last row only, [rows, n_vocab] on the host.
  Result<void> eval(std::span<const int32_t> tokens, int64_t pos0, bool all_logits, std::vector<float>& logits);

  // The general step: row t is token tokens[t] of sequence seq[t] at position pos[t] (a prefill
  // chunk of one sequence, or one token of each of several sequences: backend::Ops::begin's rules;
  // every sequence's cache must hold its positions below pos[t]). Output: the last out_rows rows;
  // their logits to *logits ([out_rows, n_vocab]) when logits is given; with sampler non-empty,
  // next[i] = the draw of the last sampler.size() rows (sampler[i] at the row's position + 1).
  // Each row's bits are independent of the others: alone or together, the same logits.
  Result<void> step(std::span<const int32_t> tokens, std::span<const int32_t> seq, std::span<const int64_t> pos,
                    int64_t out_rows, std::vector<float>* logits, std::span<const dsk::sample::SamplerParams> sampler,
                    int32_t* next);

  int64_t n_ctx() const { return opt_.n_ctx; }
  int n_seq() const { return opt_.n_seq; }
  int32_t n_vocab() const { return static_cast<int32_t>(m_.config.n_vocab); }

 private:
  Result<void> layer(const model::Deepseek2Layer& L, float* x, float* h, const model::TensorRef& next_norm,
                     std::span<const int32_t> tokens);

  const model::Deepseek2Model& m_;
  backend::Ops& ops_;
  Deepseek2Options opt_;
  float kq_scale_ = 1.0f;
};

}  // namespace dsk::forward
