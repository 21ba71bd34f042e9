// backend/cpu_ops.hpp — the CPU backend: each operation is the reference of reference/ (the bits a
// GPU kernel must reproduce), spread over threads by output rows or tokens only, so the result
// never depends on the thread count.
#pragma once

#include <memory>
#include <vector>

#include "backend/ops.hpp"
#include "backend/thread_pool.hpp"

namespace dsk::backend {

class CpuOps final : public Ops {
 public:
  explicit CpuOps(int n_threads);

  float* alloc(size_t n) override;
  int32_t* alloc_i32(size_t n) override;
  void reset_scratch() override;

  Result<void> embed(const TensorRef& emb, std::span<const int32_t> tokens, float* y) override;
  Result<void> rms_norm(const float* x, int64_t x_stride, const TensorRef* w, int64_t T, int64_t n, float eps, float* y,
                        int64_t y_stride) override;
  Result<void> add(const float* a, const float* b, int64_t n, float* y) override;
  Result<void> add_rms_norm(const float* a, const float* b, int64_t T, int64_t n, const TensorRef* w, float eps,
                            float* s, float* h) override;
  Result<void> matmul(const TensorRef& w, int64_t mat, const float* x, int64_t x_stride, int64_t T, float* y,
                      int64_t y_stride) override;
  Result<void> init_rope(const rope::YarnConfig& c, int64_t n_pos) override;
  Result<void> begin(std::span<const int32_t> seq, std::span<const int64_t> pos) override;
  void set_outputs(const StepOutputs& o) override;
  Result<void> rope(float* x, int64_t T, const RopeOptions& o) override;
  Result<void> route(const float* logits, int64_t T, const RouterOptions& o, Routing& out) override;
  Result<void> moe(const TensorRef& gate_exps, const TensorRef& up_exps, const TensorRef& down_exps,
                   const SharedExperts& shared, const float* x, int64_t T, const Routing& r, float* y) override;
  Result<void> ffn(const TensorRef& gate, const TensorRef& up, const TensorRef& down, const float* x, int64_t T,
                   float* y) override;
  Result<void> mla_prep(int layer, const MlaShape& s, float* q, const float* kva, const TensorRef& kv_norm, float eps,
                        int64_t T) override;
  Result<void> mla_attention(int layer, const TensorRef& k_b, const TensorRef& v_b, const MlaShape& s, const float* q,
                             int64_t T, float* out) override;
  Result<void> finish(const float* logits, int64_t rows, int32_t n_vocab, float* dst, int32_t* tokens) override;
  Result<void> init_kv(int n_layer, int n_seq, int64_t n_ctx, int64_t width) override;

 private:
  ThreadPool pool_;
  std::vector<std::unique_ptr<float[]>> scratch_;
  std::vector<std::unique_ptr<int32_t[]>> scratch_i32_;
  std::vector<float> rope_table_;
  rope::RopeTable table_;
  Result<void> check_rows(int64_t T, const char* op) const;
  std::vector<std::vector<float>> kv_;  // per layer [n_seq, n_ctx, width]: [k_rope | c_kv]
  int64_t kv_width_ = 0, kv_ctx_ = 0, d_rope_ = 0;
  int kv_seq_ = 1;
  StepRows step_;                                  // the rows of the current forward (begin)
  bool logits_out_ = true;                           // set_outputs
  std::vector<dsk::sample::SamplerParams> sampler_;
  std::vector<int32_t> pos32_;                     // step_.pos as the rope reference takes them
  std::vector<int32_t> rows32_;                    // the step's cache rows, seq * n_ctx + pos
};

}  // namespace dsk::backend
