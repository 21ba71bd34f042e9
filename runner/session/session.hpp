// session/session.hpp — one model opened for generation: the GGUF mapping, the model, its
// tokenizer (when the file has one), a backend and the forward with its KV cache and position.
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backend/ops.hpp"
#include "common/result.hpp"
#include "forward/deepseek2_forward.hpp"
#include "gguf/reader.hpp"
#include "model/deepseek2.hpp"
#include "tokenizer/tokenizer.hpp"

namespace dsk::session {

enum class BackendKind { cpu, cuda };

struct SessionOptions {
  int64_t n_ctx = 4096;     // 0: the model's training context, capped at 4096
  int n_seq = 1;            // sequences, each with its own KV cache of n_ctx (decode() runs them together)
  int threads = 0;          // CPU backend threads; 0: all hardware threads
  BackendKind backend = BackendKind::cpu;
  bool synthetic_weights = false;  // CUDA: make the weights on the GPU (dsk-bench --synthetic)
  bool profile = false;            // CUDA: time every op (profile_report)
  bool cuda_graphs = true;         // CUDA: decode steps replay a captured graph
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> open(const std::string& path, const SessionOptions& o);

  const model::Deepseek2Model& model() const { return model_; }
  // The file's tokenizer; nullptr (and tokenizer_error()) when it has none or it is unsupported.
  const tok::Tokenizer* tokenizer() const { return tokenizer_ ? &*tokenizer_ : nullptr; }
  const std::string& tokenizer_error() const { return tokenizer_error_; }

  // Runs tokens of sequence 0 at positions n_past() .. as one batch and advances. logits: every
  // row when all_logits, else the last, [rows, n_vocab].
  Result<void> eval(std::span<const int32_t> tokens, bool all_logits, std::vector<float>& logits);
  // The same for sequence `seq`; logits optional (nullptr: not copied back); with `sampler`, *next =
  // the token drawn from the last row (on the backend: the GPU samples on the GPU) at position
  // n_past(seq) after the call.
  Result<void> eval(int32_t seq, std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits,
                    const dsk::sample::SamplerParams* sampler = nullptr, int32_t* next = nullptr);
  // One decode step of several sequences together: tokens[i] goes to sequence seqs[i] (distinct) at
  // its n_past. logits (optional): [seqs.size(), n_vocab]; with samplers (one per sequence),
  // next[i] = sequence seqs[i]'s draw. Every sequence gets the bits it would get alone.
  Result<void> decode(std::span<const int32_t> seqs, std::span<const int32_t> tokens, std::vector<float>* logits,
                      std::span<const dsk::sample::SamplerParams> samplers = {}, int32_t* next = nullptr);
  int64_t n_past(int32_t seq = 0) const { return n_past_.at(static_cast<size_t>(seq)); }
  int n_seq() const { return static_cast<int>(n_past_.size()); }
  int64_t n_ctx() const { return forward_->n_ctx(); }
  int32_t n_vocab() const { return forward_->n_vocab(); }
  // Forget sequence `seq` (its cache rows are overwritten from position 0); all of them without an argument.
  void clear() { std::fill(n_past_.begin(), n_past_.end(), 0); }
  void clear(int32_t seq) { n_past_.at(static_cast<size_t>(seq)) = 0; }
  // The backend's per-op timing since the last reset (empty unless SessionOptions::profile).
  std::string profile_report(bool reset) { return ops_->profile_report(reset); }

 private:
  Session() = default;
  Result<void> upload_weights(const SessionOptions& o);
  std::optional<gguf::Reader> reader_;
  model::Deepseek2Model model_;
  std::optional<tok::Tokenizer> tokenizer_;
  std::string tokenizer_error_;
  std::unique_ptr<backend::Ops> ops_;
  std::unique_ptr<forward::Deepseek2Forward> forward_;
  Result<void> check_seq(int32_t seq) const;
  std::vector<int64_t> n_past_;
};

}  // namespace dsk::session
