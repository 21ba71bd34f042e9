// The CUDA backend (see cuda_ops.hpp): the Ops of the forward mapped onto the launchers of
// include/dsk/, each the bit-exact twin of the reference the CPU backend runs.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cuda_fp16.h>
#include <cstring>
#include <string>
#include <map>
#include <unordered_map>
#include <vector>

#include "backend/cuda_ops.hpp"
#include "dsk/attention/attention_cuda.cuh"
#include "dsk/attention/mla_prep_cuda.cuh"
#include "dsk/gemm/grouped_gemm.cuh"
#include "dsk/gemv/gemv.hpp"
#include "dsk/gemv/quantize_act.hpp"
#include "dsk/moe/moe_cuda.cuh"
#include "dsk/norm/norm_cuda.cuh"
#include "dsk/ops/ops_cuda.cuh"
#include "dsk/rope/rope_cuda.cuh"
#include "dsk/router/router_cuda.cuh"
#include "dsk/sample/sample_cuda.cuh"

namespace dsk::backend {

bool cuda_backend_built() { return true; }

namespace {

Result<void> check(const Status& s, const std::string& op) {
  if (s.ok()) return {};
  return Error(op + ": " + to_string(s));
}
Result<void> check_cuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return {};
  return Error::format("%s: CUDA error %s (%s)", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

// --- synthetic weights (dsk-bench --synthetic) ------------------------------------------------

__device__ __forceinline__ uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
// Uniform in [-1, 1) from a hash.
__device__ __forceinline__ float unit(uint64_t h) { return static_cast<float>(static_cast<int32_t>(h >> 32)) * 4.656612873e-10f; }

// Random valid contents of `bytes` bytes of `type`: floats uniform in [-scale, scale) (+ mean),
// quantized blocks of random bytes with every block scale set to `d` (and dmin to d / 4).
// Phase 0 writes every byte; phase 1 (quantized types, a second launch) the block scales.
__global__ void synth_fill_kernel(uint8_t* p, size_t bytes, int type, int block_bytes, float scale, float mean,
                                  uint16_t d16, uint16_t dmin16, uint64_t seed, int phase) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t tid = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (type == static_cast<int>(GgmlType::F32)) {
    float* f = reinterpret_cast<float*>(p);
    for (size_t i = tid; i < bytes / 4; i += stride) f[i] = mean + scale * unit(mix64(seed ^ i));
    return;
  }
  if (type == static_cast<int>(GgmlType::F16) || type == static_cast<int>(GgmlType::BF16)) {
    uint16_t* h = reinterpret_cast<uint16_t*>(p);
    for (size_t i = tid; i < bytes / 2; i += stride) {
      const float v = mean + scale * unit(mix64(seed ^ i));
      h[i] = type == static_cast<int>(GgmlType::F16) ? __half_as_ushort(__float2half_rn(v))
                                                     : static_cast<uint16_t>(__float_as_uint(v) >> 16);
    }
    return;
  }
  if (phase == 0) {  // quantized: random words
    uint32_t* w = reinterpret_cast<uint32_t*>(p);
    for (size_t i = tid; i < bytes / 4; i += stride) w[i] = static_cast<uint32_t>(mix64(seed ^ i));
    for (size_t i = bytes / 4 * 4 + tid; i < bytes; i += stride) p[i] = static_cast<uint8_t>(mix64(seed ^ i));
    return;
  }
  int d_off = 0, dmin_off = -1;
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::Q4_K: dmin_off = 2; break;
    case GgmlType::Q6_K: d_off = 208; break;
    case GgmlType::Q2_K: d_off = 80; dmin_off = 82; break;
    default: break;  // Q8_0, IQ2_XXS: d first
  }
  for (size_t b = tid; b < bytes / block_bytes; b += stride) {
    uint8_t* blk = p + b * block_bytes;
    blk[d_off] = static_cast<uint8_t>(d16);
    blk[d_off + 1] = static_cast<uint8_t>(d16 >> 8);
    if (dmin_off >= 0) {
      blk[dmin_off] = static_cast<uint8_t>(dmin16);
      blk[dmin_off + 1] = static_cast<uint8_t>(dmin16 >> 8);
    }
  }
}

__global__ void read_kernel(const uint4* p, size_t n, uint32_t* sink) {
  uint32_t acc = 0;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const uint4 v = __ldcs(p + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) *sink = acc;  // keeps the loads
}

class CudaOps final : public Ops {
 public:
  CudaOps(cudaStream_t s, const CudaOptions& o) : stream_(s), opt_(o) {
    // The MoE's shared experts run on a second stream beside the routed ones (moe::SharedStream);
    // without it (creation failed) they run in line, with the same bits.
    if (cudaStreamCreateWithFlags(&side_.stream, cudaStreamNonBlocking) != cudaSuccess ||
        cudaEventCreateWithFlags(&side_.fork, cudaEventDisableTiming) != cudaSuccess ||
        cudaEventCreateWithFlags(&side_.join, cudaEventDisableTiming) != cudaSuccess) {
      cudaGetLastError();
      side_.stream = nullptr;
    }
  }
  ~CudaOps() override {
    cudaStreamSynchronize(stream_);
    for (auto& kv : weights_) cudaFree(kv.second);
    for (Buf& b : pool_) cudaFree(b.ptr);
    for (float* k : kv_) cudaFree(k);
    cudaFree(ws_);
    cudaFree(ids_);
    cudaFree(rope_cs_);
    if (graph_) cudaGraphExecDestroy(graph_);
    cudaFree(step_pos_);
    cudaFreeHost(pinned_pos_);
    cudaFreeHost(pinned_ids_);
    cudaFreeHost(pinned_out_);
    cudaFree(d_tok_);
    cudaFreeHost(pinned_tok_);
    for (const StageEvents& e : pending_events_) free_events_.insert(free_events_.end(), {e.a, e.b});
    for (cudaEvent_t e : free_events_) cudaEventDestroy(e);
    if (side_.stream) cudaStreamSynchronize(side_.stream);
    if (side_.fork) cudaEventDestroy(side_.fork);
    if (side_.join) cudaEventDestroy(side_.join);
    if (side_.stream) cudaStreamDestroy(side_.stream);
    cudaStreamDestroy(stream_);
  }

  float* alloc(size_t n) override { return static_cast<float*>(pool_alloc(n * sizeof(float))); }
  int32_t* alloc_i32(size_t n) override { return static_cast<int32_t*>(pool_alloc(n * sizeof(int32_t))); }
  void reset_scratch() override {
    next_ = 0;
    alloc_error_.clear();
  }

  Result<void> embed(const TensorRef& emb, std::span<const int32_t> tokens, float* y) override {
    Stage stage(this, "embed");
    DSK_TRY(pending());
    DSK_TRY_ASSIGN(const uint8_t* table, weight(emb));
    const size_t T = tokens.size();
    if (T > ids_cap_) {
      if (mode_ != Mode::eager) return Error("embed: token buffer grown during a graph step (internal error)");
      cudaFree(ids_);
      cudaFreeHost(pinned_ids_);
      ids_ = nullptr;
      pinned_ids_ = nullptr;
      ids_cap_ = 0;
      ++gen_;
      DSK_TRY_ASSIGN(void* p, dmalloc(T * sizeof(int32_t), "token ids"));
      ids_ = static_cast<int32_t*>(p);
      DSK_TRY(check_cuda(cudaHostAlloc(reinterpret_cast<void**>(&pinned_ids_), T * sizeof(int32_t), cudaHostAllocDefault),
                         "token ids"));
      ids_cap_ = T;
    }
    // Through pinned memory: a captured step's copy node reads it when the graph runs.
    std::memcpy(pinned_ids_, tokens.data(), T * sizeof(int32_t));
    if (replay_skip("embed", y, emb.data, static_cast<int64_t>(T))) return {};
    DSK_TRY(check_cuda(cudaMemcpyAsync(ids_, pinned_ids_, T * sizeof(int32_t), cudaMemcpyHostToDevice, stream_), "embed"));
    ops::EmbedParams p;
    p.type = emb.type;
    p.table = table;
    p.row_bytes = emb.nb1;
    p.n_embd = emb.ne[0];
    p.n_vocab = emb.ne[1];
    p.ids = ids_;
    p.T = static_cast<int64_t>(T);
    p.y = y;
    return check(ops::launch(p, stream_), emb.name);
  }

  Result<void> rms_norm(const float* x, int64_t x_stride, const TensorRef* w, int64_t T, int64_t n, float eps, float* y,
                        int64_t y_stride) override {
    if (replay_skip("rms_norm", x, y, T)) return {};
    Stage stage(this, "rms_norm");
    DSK_TRY(pending());
    norm::RmsNormParams p;
    if (w) {
      DSK_TRY_ASSIGN(const uint8_t* wd, weight(*w));
      p.w = reinterpret_cast<const float*>(wd);
    }
    p.x = x;
    p.y = y;
    p.T = T;
    p.n = n;
    p.x_stride = x_stride;
    p.y_stride = y_stride;
    p.eps = eps;
    return check(norm::launch(p, stream_), w ? w->name : std::string("rms_norm"));
  }

  Result<void> add(const float* a, const float* b, int64_t n, float* y) override {
    if (replay_skip("add", a, y, n)) return {};
    Stage stage(this, "add");
    DSK_TRY(pending());
    norm::AddParams p;
    p.a = a;
    p.b = b;
    p.y = y;
    p.T = 1;
    p.n = n;
    return check(norm::launch(p, stream_), "add");
  }

  Result<void> matmul_pair(const TensorRef& w1, float* y1, int64_t y1_stride, const TensorRef& w2, float* y2,
                           int64_t y2_stride, const float* x, int64_t x_stride, int64_t T) override {
    if (!side_.stream || w1.ne[0] != w2.ne[0] || w1.ne[2] != 1 || w2.ne[2] != 1 || T == 0)
      return Ops::matmul_pair(w1, y1, y1_stride, w2, y2, y2_stride, x, x_stride, T);
    const bool skip1 = replay_skip("matmul_pair", x, y1, T), skip2 = replay_skip("matmul_pair", y2, nullptr, 0);
    if (skip1 || skip2) return {};
    Stage stage(this, "matmul");
    DSK_TRY(pending());
    const int64_t K = w1.ne[0];
    DSK_TRY_ASSIGN(const uint8_t* wd1, weight(w1));
    DSK_TRY_ASSIGN(const uint8_t* wd2, weight(w2));
    // x quantized once per activation type (both before the fork), then W2 on the side stream.
    const GgmlType a1 = gemv::activation_type(w1.type), a2 = gemv::activation_type(w2.type);
    const size_t b1 = a1 == GgmlType::F32 ? 0 : (static_cast<size_t>(T) * gemv::activation_row_bytes(a1, K) + 255) / 256 * 256;
    const size_t b2 = a2 == GgmlType::F32 || a2 == a1 ? 0 : static_cast<size_t>(T) * gemv::activation_row_bytes(a2, K);
    DSK_TRY_ASSIGN(void* q, workspace(b1 + b2));
    const void *r1 = nullptr, *r2 = nullptr;
    size_t s1 = 0, s2 = 0;
    DSK_TRY(check(gemv::activation_rows(a1, x, x_stride, q, K, static_cast<int>(T), quant::Q8Flavor::ggml_ref, stream_, r1, s1),
                  w1.name));
    if (a2 == a1) {
      r2 = r1;
      s2 = s1;
    } else {
      DSK_TRY(check(gemv::activation_rows(a2, x, x_stride, static_cast<uint8_t*>(q) + b1, K, static_cast<int>(T),
                                          quant::Q8Flavor::ggml_ref, stream_, r2, s2),
                    w2.name));
    }
    DSK_TRY(check_cuda(cudaEventRecord(side_.fork, stream_), "matmul_pair fork"));
    DSK_TRY(check_cuda(cudaStreamWaitEvent(side_.stream, side_.fork, 0), "matmul_pair fork"));
    DSK_TRY(check(gemm::launch_dense(w2.type, wd2, w2.nb1, r2, s2, T, w2.ne[1], K, y2, y2_stride, side_.stream), w2.name));
    DSK_TRY(check_cuda(cudaEventRecord(side_.join, side_.stream), "matmul_pair join"));
    DSK_TRY(check(gemm::launch_dense(w1.type, wd1, w1.nb1, r1, s1, T, w1.ne[1], K, y1, y1_stride, stream_), w1.name));
    return check_cuda(cudaStreamWaitEvent(stream_, side_.join, 0), "matmul_pair join");
  }

  Result<void> add_rms_norm(const float* a, const float* b, int64_t T, int64_t n, const TensorRef* w, float eps,
                            float* s, float* h) override {
    if (replay_skip("add_rms_norm", b, h, T)) return {};
    Stage stage(this, "add_rms_norm");
    DSK_TRY(pending());
    norm::AddRmsNormParams p;
    if (w) {
      DSK_TRY_ASSIGN(const uint8_t* wd, weight(*w));
      p.w = reinterpret_cast<const float*>(wd);
    }
    p.a = a;
    p.b = b;
    p.s = s;
    p.y = h;
    p.T = T;
    p.n = n;
    p.eps = eps;
    return check(norm::launch(p, stream_), w ? w->name : std::string("add_rms_norm"));
  }

  Result<void> matmul(const TensorRef& w, int64_t mat, const float* x, int64_t x_stride, int64_t T, float* y,
                      int64_t y_stride) override {
    if (replay_skip("matmul", x, y, T)) return {};
    Stage stage(this, "matmul");
    DSK_TRY(pending());
    const int64_t K = w.ne[0], M = w.ne[1];
    if (mat < 0 || mat >= w.ne[2]) return Error::format("%s: matrix %lld out of range", w.name.c_str(), static_cast<long long>(mat));
    if (T == 0) return {};
    DSK_TRY_ASSIGN(const uint8_t* wd, weight(w));
    const uint8_t* base = wd + static_cast<size_t>(mat * w.ne[1]) * w.nb1;
    // Activations quantized once for all T rows (the reference's quantize_row per token), then the
    // GEMV for up to 4 tokens or the grouped GEMM (one group) beyond: the same bits either way.
    const GgmlType at = gemv::activation_type(w.type);
    DSK_TRY_ASSIGN(void* q, workspace(at == GgmlType::F32 ? 0 : static_cast<size_t>(T) * gemv::activation_row_bytes(at, K)));
    const void* rows = nullptr;
    size_t rstride = 0;
    DSK_TRY(check(gemv::activation_rows(at, x, x_stride, q, K, static_cast<int>(T), quant::Q8Flavor::ggml_ref, stream_, rows,
                                        rstride),
                  w.name));
    return check(gemm::launch_dense(w.type, base, w.nb1, rows, rstride, T, M, K, y, y_stride, stream_), w.name);
  }

  Result<void> init_rope(const rope::YarnConfig& c, int64_t n_pos) override {
    ++gen_;
    const std::vector<float> cs = rope::make_table(c, n_pos);
    cudaFree(rope_cs_);
    rope_cs_ = nullptr;
    DSK_TRY_ASSIGN(void* t, dmalloc(cs.size() * sizeof(float), "RoPE table"));
    rope_cs_ = static_cast<float*>(t);
    DSK_TRY(upload(rope_cs_, cs.data(), cs.size() * sizeof(float), "RoPE table"));
    table_ = rope::RopeTable{rope_cs_, n_pos, c.n_dims};
    d_rope_ = c.n_dims;
    return {};
  }

  Result<void> rope(float* x, int64_t T, const RopeOptions& o) override {
    if (replay_skip("rope", x, nullptr, T)) return {};
    Stage stage(this, "rope");
    DSK_TRY(pending());
    DSK_TRY(check_rows(T, "rope"));
    for (int64_t p : step_.pos)
      if (p >= table_.n_pos) return Error("rope: positions beyond the table");
    return check(rope::launch(rope_params(x, step_pos_, T, o, table_), stream_), "rope");
  }

  Result<void> route(const float* logits, int64_t T, const RouterOptions& o, Routing& out) override {
    if (replay_skip("route", logits, out.ids, T)) return {};
    Stage stage(this, "route");
    DSK_TRY(pending());
    const float* bias = nullptr;
    if (o.bias) {
      DSK_TRY_ASSIGN(const uint8_t* b, weight(*o.bias));
      bias = reinterpret_cast<const float*>(b);
    }
    const router::Params p = router_params(logits, T, o, bias, out);
    return check(router::launch(p, stream_), "router");
  }

  Result<void> moe(const TensorRef& gate_exps, const TensorRef& up_exps, const TensorRef& down_exps,
                   const SharedExperts& shared, const float* x, int64_t T, const Routing& r, float* y) override {
    if (replay_skip("moe", x, y, T)) return {};
    Stage stage(this, "moe");
    DSK_TRY(pending());
    moe::Params p;
    p.n_embd = gate_exps.ne[0];
    p.n_ff = gate_exps.ne[1];
    p.n_expert = static_cast<int32_t>(gate_exps.ne[2]);
    p.k = r.k;
    DSK_TRY_ASSIGN(const uint8_t* g, weight(gate_exps));
    DSK_TRY_ASSIGN(const uint8_t* u, weight(up_exps));
    DSK_TRY_ASSIGN(const uint8_t* d, weight(down_exps));
    p.gate = moe_tensor(gate_exps, g);
    p.up = moe_tensor(up_exps, u);
    p.down = moe_tensor(down_exps, d);
    if (shared.gate) {
      p.n_ff_shared = shared.gate->ne[1];
      DSK_TRY_ASSIGN(const uint8_t* sg, weight(*shared.gate));
      DSK_TRY_ASSIGN(const uint8_t* su, weight(*shared.up));
      DSK_TRY_ASSIGN(const uint8_t* sd, weight(*shared.down));
      p.gate_shared = moe_tensor(*shared.gate, sg);
      p.up_shared = moe_tensor(*shared.up, su);
      p.down_shared = moe_tensor(*shared.down, sd);
    }
    p.x = x;
    p.y = y;
    p.T = T;
    p.ids = r.ids;
    p.weights = r.weights;
    const size_t wb = moe::workspace_size(p);
    DSK_TRY_ASSIGN(void* ws, workspace(wb));
    return check(moe::launch(p, ws, wb, stream_, side_.stream ? &side_ : nullptr), gate_exps.name);
  }

  Result<void> ffn(const TensorRef& gate, const TensorRef& up, const TensorRef& down, const float* x, int64_t T,
                   float* y) override {
    if (replay_skip("ffn", x, y, T)) return {};
    Stage stage(this, "ffn");
    DSK_TRY(pending());
    moe::FfnParams p;
    p.n_embd = gate.ne[0];
    p.n_ff = gate.ne[1];
    DSK_TRY_ASSIGN(const uint8_t* g, weight(gate));
    DSK_TRY_ASSIGN(const uint8_t* u, weight(up));
    DSK_TRY_ASSIGN(const uint8_t* d, weight(down));
    p.gate = moe_tensor(gate, g);
    p.up = moe_tensor(up, u);
    p.down = moe_tensor(down, d);
    p.x = x;
    p.y = y;
    p.T = T;
    const size_t wb = moe::workspace_size(p);
    DSK_TRY_ASSIGN(void* ws, workspace(wb));
    return check(moe::launch(p, ws, wb, stream_), gate.name);
  }

  Result<void> init_kv(int n_layer, int n_seq, int64_t n_ctx, int64_t width) override {
    if (n_seq < 1) return Error("init_kv: at least one sequence");
    if (static_cast<int64_t>(n_seq) * n_ctx > INT32_MAX) return Error("init_kv: sequences x context beyond 2^31 rows");
    ++gen_;
    for (float* k : kv_) cudaFree(k);
    kv_.clear();
    const size_t bytes = static_cast<size_t>(n_seq * n_ctx * width) * sizeof(float);
    for (int l = 0; l < n_layer; ++l) {
      DSK_TRY_ASSIGN(void* p, dmalloc(bytes, "KV cache"));
      kv_.push_back(static_cast<float*>(p));
      DSK_TRY(check_cuda(cudaMemsetAsync(p, 0, bytes, stream_), "KV cache"));
    }
    kv_width_ = width;
    kv_ctx_ = n_ctx;
    kv_seq_ = n_seq;
    return check_cuda(cudaStreamSynchronize(stream_), "KV cache");
  }

  Result<void> mla_prep(int layer, const MlaShape& s, float* q, const float* kva, const TensorRef& kv_norm, float eps,
                        int64_t T) override {
    if (replay_skip("mla_prep", q, kva, layer)) return {};
    Stage stage(this, "mla_prep");
    DSK_TRY(pending());
    if (layer < 0 || static_cast<size_t>(layer) >= kv_.size()) return Error::format("mla_prep: layer %d has no cache", layer);
    DSK_TRY(check_rows(T, "mla_prep"));
    DSK_TRY_ASSIGN(const uint8_t* nw, weight(kv_norm));
    const attention::MlaPrepParams p = mla_prep_params(s, q, kva, reinterpret_cast<const float*>(nw), eps, T, table_,
                                                       step_pos_, kv_[static_cast<size_t>(layer)], kv_width_, step_row_);
    return check(attention::launch(p, stream_), kv_norm.name);
  }

  Result<void> mla_attention(int layer, const TensorRef& k_b, const TensorRef& v_b, const MlaShape& s, const float* q,
                             int64_t T, float* out) override {
    if (replay_skip("mla_attention", q, out, T)) return {};
    Stage stage(this, "mla_attention");
    DSK_TRY(pending());
    if (layer < 0 || static_cast<size_t>(layer) >= kv_.size()) return Error::format("mla: layer %d has no cache", layer);
    DSK_TRY(check_rows(T, "mla"));
    DSK_TRY_ASSIGN(const uint8_t* kb, weight(k_b));
    DSK_TRY_ASSIGN(const uint8_t* vb, weight(v_b));
    // One launch per run of the step (a prefill chunk, or one decode token of each sequence).
    for (const StepRows::Run& run : step_.runs) {
      attention::MlaParams p;
      p.q_token_stride = s.n_head * (s.d_nope + s.d_rope);
      p.q_head_stride = s.d_nope + s.d_rope;
      p.q = q + run.first_row * p.q_token_stride;
      p.cache = kv_[static_cast<size_t>(layer)] + static_cast<int64_t>(run.seq) * kv_ctx_ * kv_width_;
      p.cache_type = GgmlType::F32;
      p.cache_row_bytes = static_cast<size_t>(kv_width_) * sizeof(float);
      p.k_b_type = k_b.type;
      p.k_b = kb;
      p.v_b_type = v_b.type;
      p.v_b = vb;
      p.T = run.n_rows;
      p.p0 = run.pos0;
      p.n_head = s.n_head;
      p.d_nope = s.d_nope;
      p.rope_dims = s.d_rope;
      p.kv_lora = s.kv_lora;
      p.d_v = s.d_v;
      p.kq_scale = s.kq_scale;
      p.out_stride = s.n_head * s.d_v;
      p.out = out + run.first_row * p.out_stride;
      if (run.n_rows == 1) {  // decode: the position from the device, the launch sized for the whole cache
        p.pos_dev = step_pos_ + run.first_row;
        p.max_ctx = kv_ctx_;
      }
      const size_t wb = attention::workspace_size(p);
      DSK_TRY_ASSIGN(void* ws, workspace(wb));
      DSK_TRY(check(attention::launch(p, ws, wb, stream_), k_b.name));
    }
    return {};
  }

  void set_outputs(const StepOutputs& o) override {
    out_logits_ = o.logits;
    sampler_.assign(o.sampler.begin(), o.sampler.end());
  }

  Result<void> finish(const float* logits, int64_t rows, int32_t n_vocab, float* dst, int32_t* tokens) override {
    DSK_TRY(pending());
    const int64_t T = static_cast<int64_t>(step_.seq.size());
    const int64_t k = static_cast<int64_t>(sampler_.size());
    if (rows < 1 || rows > T || k > rows || n_vocab < 1) return Error("finish: bad row counts (internal error)");
    if (out_logits_ != (dst != nullptr)) return Error("finish: logits output differs from set_outputs (internal error)");
    if (k > 0 && !tokens) return Error("finish: a sampler is set but no token output (internal error)");
    const size_t n = dst ? static_cast<size_t>(rows) * static_cast<size_t>(n_vocab) : 0;
    auto deliver = [&]() {
      if (dst) std::memcpy(dst, pinned_out_, n * sizeof(float));
      if (k > 0) std::memcpy(tokens, pinned_tok_, static_cast<size_t>(k) * sizeof(int32_t));
    };
    if (mode_ == Mode::replay) {
      mode_ = Mode::eager;
      if (sig_ != graph_sig_ || n != graph_n_ || rows != graph_rows_)
        return Error("decode graph: the forward's operations differ from the captured step (internal error)");
      DSK_TRY(check_cuda(cudaGraphLaunch(graph_, stream_), "decode graph"));
      DSK_TRY(check_cuda(cudaStreamSynchronize(stream_), "forward"));
      deliver();
      return {};
    }
    // Buffers sized in eager steps only (a captured step repeats an eager one's sizes).
    if (n > out_cap_ || k > tok_cap_) {
      if (mode_ == Mode::capture) {
        abort_capture();
        return Error("decode graph: output buffer grown during capture (internal error)");
      }
      ++gen_;
      if (n > out_cap_) {
        cudaFreeHost(pinned_out_);
        pinned_out_ = nullptr;
        out_cap_ = 0;
        DSK_TRY(check_cuda(cudaHostAlloc(reinterpret_cast<void**>(&pinned_out_), n * sizeof(float), cudaHostAllocDefault), "to_host"));
        out_cap_ = n;
      }
      if (k > tok_cap_) {
        cudaFree(d_tok_);
        cudaFreeHost(pinned_tok_);
        d_tok_ = nullptr;
        pinned_tok_ = nullptr;
        tok_cap_ = 0;
        DSK_TRY_ASSIGN(void* d, dmalloc(static_cast<size_t>(k) * sizeof(int32_t), "sampled tokens"));
        d_tok_ = static_cast<int32_t*>(d);
        DSK_TRY(check_cuda(cudaHostAlloc(reinterpret_cast<void**>(&pinned_tok_), static_cast<size_t>(k) * sizeof(int32_t),
                                         cudaHostAllocDefault),
                           "sampled tokens"));
        tok_cap_ = k;
      }
    }
    if (k > 0) {
      Stage stage(this, "sample");
      const size_t wb = sample::sample_workspace_size(n_vocab);
      DSK_TRY_ASSIGN(void* ws, workspace(wb));
      for (int64_t i = 0; i < k; ++i) {
        const int64_t row = rows - k + i;  // output row; its step row is T - rows + row
        sample::SampleParams sp;
        sp.logits = logits + row * n_vocab;
        sp.n_vocab = n_vocab;
        sp.sampler = sampler_[static_cast<size_t>(i)];
        sp.pos_dev = step_pos_ + (T - rows + row);
        sp.pos = 1;  // the draw belongs to the position after the row's token
        sp.token = d_tok_ + i;
        DSK_TRY(check(sample::launch_sample(sp, ws, wb, stream_), "sample"));
      }
      DSK_TRY(check_cuda(cudaMemcpyAsync(pinned_tok_, d_tok_, static_cast<size_t>(k) * sizeof(int32_t),
                                         cudaMemcpyDeviceToHost, stream_),
                         "sampled tokens"));
    }
    if (n > 0) {
      Stage stage(this, "to_host");
      DSK_TRY(check_cuda(cudaMemcpyAsync(pinned_out_, logits, n * sizeof(float), cudaMemcpyDeviceToHost, stream_), "to_host"));
    }
    if (mode_ == Mode::capture) {
      mode_ = Mode::eager;
      cudaGraph_t g = nullptr;
      cudaError_t e = cudaStreamEndCapture(stream_, &g);
      if (e == cudaSuccess) e = cudaGraphInstantiate(&graph_, g, 0);
      if (g) cudaGraphDestroy(g);
      if (e != cudaSuccess) {
        graphs_off_ = true;  // eager from now on
        cudaGetLastError();
        return check_cuda(e, "decode graph capture (graphs are now off; run the step again)");
      }
      graph_gen_ = gen_;
      graph_sig_ = sig_;
      graph_n_ = n;
      graph_rows_ = rows;
      graph_key_ = step_key();
      DSK_TRY(check_cuda(cudaGraphLaunch(graph_, stream_), "decode graph"));
    }
    DSK_TRY(check_cuda(cudaStreamSynchronize(stream_), "forward"));
    DSK_TRY(check_cuda(cudaGetLastError(), "forward"));
    deliver();
    if (graphable_step_) {  // a capture may follow at this generation, for the same kind of step
      eager_decode_gen_ = gen_;
      eager_key_ = step_key();
    }
    collect_stages();
    return {};
  }

  // See Ops::begin. Decode steps (one row per sequence) with CUDA graphs on: the first runs eagerly,
  // the next of the same kind (same sequences, outputs and samplers) is captured (then launched),
  // later ones replay that graph with the new tokens and positions written to pinned memory; any
  // reallocation of the buffers the graph refers to (a longer prompt, a new cache) makes the next
  // decode step eager again, then re-captured.
  Result<void> begin(std::span<const int32_t> seq, std::span<const int64_t> pos) override {
    if (mode_ == Mode::capture) abort_capture();  // a forward that stopped mid-capture
    mode_ = Mode::eager;
    sig_ = 0;
    DSK_TRY_ASSIGN(step_, step_rows(seq, pos, kv_seq_, kv_ctx_));
    const int64_t T = static_cast<int64_t>(step_.seq.size());
    if (T > pos_cap_) {
      cudaFree(step_pos_);
      cudaFreeHost(pinned_pos_);
      step_pos_ = nullptr;
      pinned_pos_ = nullptr;
      pos_cap_ = 0;
      ++gen_;
      // [positions (T) | cache rows seq * n_ctx + pos (T)], at a fixed offset for graph replay.
      DSK_TRY_ASSIGN(void* p, dmalloc(static_cast<size_t>(2 * T) * sizeof(int32_t), "positions"));
      step_pos_ = static_cast<int32_t*>(p);
      DSK_TRY(check_cuda(cudaHostAlloc(reinterpret_cast<void**>(&pinned_pos_), static_cast<size_t>(2 * T) * sizeof(int32_t),
                                       cudaHostAllocDefault),
                         "positions"));
      pos_cap_ = T;
    }
    step_row_ = step_pos_ + pos_cap_;
    for (int64_t t = 0; t < T; ++t) {
      const size_t u = static_cast<size_t>(t);
      pinned_pos_[t] = static_cast<int32_t>(step_.pos[u]);
      pinned_pos_[pos_cap_ + t] = static_cast<int32_t>(static_cast<int64_t>(step_.seq[u]) * kv_ctx_ + step_.pos[u]);
    }
    bool decode = true;
    for (const StepRows::Run& r : step_.runs) decode = decode && r.n_rows == 1;
    graphable_step_ = opt_.graphs && !opt_.profile && !graphs_off_ && decode;
    const std::vector<uint64_t> key = step_key();
    if (graphable_step_ && graph_ && graph_gen_ == gen_ && key == graph_key_) {
      mode_ = Mode::replay;
      return {};
    }
    if (graphable_step_ && eager_decode_gen_ == gen_ && key == eager_key_) {
      if (graph_) {
        cudaGraphExecDestroy(graph_);
        graph_ = nullptr;
      }
      DSK_TRY(check_cuda(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "decode graph capture"));
      mode_ = Mode::capture;
    }
    return check_cuda(cudaMemcpyAsync(step_pos_, pinned_pos_, static_cast<size_t>(2 * pos_cap_) * sizeof(int32_t),
                                      cudaMemcpyHostToDevice, stream_),
                      "positions");
  }

  Result<void> prepare_weight(const TensorRef& t) override {
    if (!t.present()) return {};
    DSK_TRY(weight(t));
    return {};
  }
  size_t free_memory() const override {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return 0;
    return free_b;
  }

  std::string profile_report(bool reset) override {
    if (!opt_.profile || steps_ == 0) return {};
    std::string r = "| op | calls/step | us/step | % of step |\n|---|---:|---:|---:|\n";
    std::vector<std::pair<std::string, StageSum>> v(sums_.begin(), sums_.end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
    double sum = 0;
    char line[256];
    for (const auto& [name, st] : v) {
      sum += st.ms;
      std::snprintf(line, sizeof line, "| %s | %.1f | %.1f | %.1f |\n", name.c_str(), static_cast<double>(st.calls) / steps_,
                    1e3 * st.ms / steps_, 100.0 * st.ms / span_ms_);
      r += line;
    }
    std::snprintf(line, sizeof line,
                  "| (gaps between ops) | | %.1f | %.1f |\n\nstep (first op start to last op end): %.1f us over %d steps; "
                  "sum of op times %.1f us\n",
                  1e3 * (span_ms_ - sum) / steps_, 100.0 * (span_ms_ - sum) / span_ms_, 1e3 * span_ms_ / steps_, steps_,
                  1e3 * sum / steps_);
    r += line;
    if (reset) {
      sums_.clear();
      span_ms_ = 0;
      steps_ = 0;
    }
    return r;
  }

 private:
  struct Buf {
    void* ptr = nullptr;
    size_t bytes = 0;
  };

  // Per-op timing (CudaOptions::profile): events around every op of a forward, summed per op name
  // when the forward's logits are copied back (to_host synchronizes anyway).
  struct StageSum {
    double ms = 0;
    long calls = 0;
  };
  struct StageEvents {
    const char* name;
    cudaEvent_t a, b;
  };
  class Stage {
   public:
    Stage(CudaOps* o, const char* name) : o_(o->opt_.profile ? o : nullptr) {
      if (!o_) return;
      ev_.name = name;
      ev_.a = o_->event();
      ev_.b = o_->event();
      cudaEventRecord(ev_.a, o_->stream_);
    }
    ~Stage() {
      if (!o_) return;
      cudaEventRecord(ev_.b, o_->stream_);
      o_->pending_events_.push_back(ev_);
    }
    Stage(const Stage&) = delete;
    Stage& operator=(const Stage&) = delete;

   private:
    CudaOps* o_;
    StageEvents ev_{};
  };
  cudaEvent_t event() {
    if (free_events_.empty()) {
      cudaEvent_t e;
      cudaEventCreate(&e);
      return e;
    }
    cudaEvent_t e = free_events_.back();
    free_events_.pop_back();
    return e;
  }
  void collect_stages() {
    if (pending_events_.empty()) return;
    for (const StageEvents& e : pending_events_) {
      float ms = 0;
      cudaEventElapsedTime(&ms, e.a, e.b);
      StageSum& st = sums_[e.name];
      st.ms += ms;
      ++st.calls;
    }
    float span = 0;
    cudaEventElapsedTime(&span, pending_events_.front().a, pending_events_.back().b);
    span_ms_ += span;
    ++steps_;
    for (const StageEvents& e : pending_events_) {
      free_events_.push_back(e.a);
      free_events_.push_back(e.b);
    }
    pending_events_.clear();
  }
  std::vector<StageEvents> pending_events_;
  std::vector<cudaEvent_t> free_events_;
  std::map<std::string, StageSum> sums_;
  double span_ms_ = 0;
  int steps_ = 0;

  Result<void*> dmalloc(size_t bytes, const char* what) {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 256);
    if (e == cudaSuccess) return p;
    cudaGetLastError();  // clear the sticky-free allocation error
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    return Error::format("%s: cannot allocate %zu bytes on the GPU (%zu of %zu bytes free)", what, bytes, free_b, total_b);
  }

  // The forward's allocations repeat from one eval to the next: the i-th allocation reuses the
  // i-th buffer when it is large enough.
  void* pool_alloc(size_t bytes) {
    bytes = (bytes + 255) / 256 * 256;
    if (next_ < pool_.size() && pool_[next_].bytes >= bytes) return pool_[next_++].ptr;
    if (mode_ != Mode::eager) {  // cannot happen: a captured step repeats an eager one's sizes
      if (alloc_error_.empty()) alloc_error_ = "activations: buffer grown during a graph step (internal error)";
      ++next_;
      return nullptr;
    }
    ++gen_;
    if (next_ < pool_.size()) {
      cudaFree(pool_[next_].ptr);  // synchronizes: nothing queued still uses it
      pool_[next_] = Buf{};
    } else {
      pool_.push_back(Buf{});
    }
    auto r = dmalloc(bytes, "activations");
    if (!r) {
      if (alloc_error_.empty()) alloc_error_ = r.error().message();
      ++next_;
      return nullptr;
    }
    pool_[next_] = Buf{r.value(), bytes};
    return pool_[next_++].ptr;
  }
  enum class Mode { eager, capture, replay };

  // In capture and replay steps: fold the op and its buffers into the step's signature (a replayed
  // step must call the same ops on the same buffers as the captured one). true: skip the op (replay).
  bool replay_skip(const char* op, const void* a, const void* b, int64_t n) {
    if (mode_ == Mode::eager) return false;
    for (uint64_t v : {reinterpret_cast<uint64_t>(op), reinterpret_cast<uint64_t>(a), reinterpret_cast<uint64_t>(b),
                       static_cast<uint64_t>(n)})
      sig_ = (sig_ ^ v) * 0x100000001B3ull + 0x9E3779B97F4A7C15ull;
    return mode_ == Mode::replay;
  }
  Result<void> check_rows(int64_t T, const char* op) const {
    if (T == static_cast<int64_t>(step_.seq.size())) return {};
    return Error::format("%s: %lld rows, the step has %zu (begin)", op, static_cast<long long>(T), step_.seq.size());
  }
  // What a decode graph is specific to besides its buffers: the sequences of its rows, whether the
  // logits come back, and the samplers (bit patterns).
  std::vector<uint64_t> step_key() const {
    std::vector<uint64_t> k(step_.seq.begin(), step_.seq.end());
    k.push_back(out_logits_ ? 1u : 0u);
    for (const sample::SamplerParams& p : sampler_) {
      uint32_t f[3];
      std::memcpy(&f[0], &p.temperature, 4);
      std::memcpy(&f[1], &p.top_p, 4);
      std::memcpy(&f[2], &p.min_p, 4);
      k.insert(k.end(), {f[0], f[1], f[2], static_cast<uint64_t>(static_cast<uint32_t>(p.top_k)), p.seed});
    }
    return k;
  }
  void abort_capture() {
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(stream_, &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    mode_ = Mode::eager;
  }

  Result<void> pending() const {
    if (alloc_error_.empty()) return {};
    return Error(alloc_error_);
  }

  // One scratch buffer for the launchers, grown on demand (ops run in order on one stream).
  Result<void*> workspace(size_t bytes) {
    if (bytes <= ws_bytes_ && ws_) return ws_;
    if (mode_ != Mode::eager) return Error("kernel workspace grown during a graph step (internal error)");
    ++gen_;
    cudaFree(ws_);
    ws_ = nullptr;
    ws_bytes_ = 0;
    DSK_TRY_ASSIGN(void* p, dmalloc(bytes, "kernel workspace"));
    ws_ = p;
    ws_bytes_ = bytes ? bytes : 256;
    return ws_;
  }

  // Host -> device copy, complete on return. On the backend's stream: a plain cudaMemcpy from
  // pageable memory may return before its DMA lands, and the (non-blocking) stream's kernels do
  // not wait for the legacy stream.
  Result<void> upload(void* dst, const void* src, size_t bytes, const char* what) {
    DSK_TRY(check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), what));
    return check_cuda(cudaStreamSynchronize(stream_), what);
  }

  // Random valid weights for t at p (synthetic mode): 1-D tensors (norms, biases) near 1 / 0,
  // matrices ~ U(-1, 1) / sqrt(K) in float, quantized blocks with scales of that order.
  Result<void> synthesize(void* p, const TensorRef& t) {
    uint64_t seed = opt_.seed * 0x9E3779B97F4A7C15ull;
    for (char ch : t.name) seed = (seed ^ static_cast<uint8_t>(ch)) * 0x100000001B3ull;
    const GgmlTypeInfo& ti = ggml_type_info(t.type);
    const bool vec = t.ne[1] == 1 && t.ne[2] == 1;
    const bool is_norm = vec && t.name.find("norm") != std::string::npos;
    const float scale = vec ? (is_norm ? 0.1f : 0.05f) : 1.0f / std::sqrt(static_cast<float>(t.ne[0]));
    const float mean = is_norm ? 1.0f : 0.0f;
    // Quantized: |q| up to ~127 (Q8_0) or ~3..43 (k-/i-quants) times d ~ the float scale.
    const float d = t.type == GgmlType::Q8_0 ? scale / 64.0f : scale / 8.0f;
    const uint16_t d16 = __half_as_ushort(__float2half_rn(d)), dm16 = __half_as_ushort(__float2half_rn(d / 4.0f));
    const bool quantized = t.type != GgmlType::F32 && t.type != GgmlType::F16 && t.type != GgmlType::BF16;
    for (int phase = 0; phase < (quantized ? 2 : 1); ++phase)
      synth_fill_kernel<<<1024, 256, 0, stream_>>>(static_cast<uint8_t*>(p), t.n_bytes, static_cast<int>(t.type),
                                                   static_cast<int>(ti.block_bytes), scale, mean, d16, dm16, seed, phase);
    DSK_TRY(check_cuda(cudaGetLastError(), t.name.c_str()));
    return check_cuda(cudaStreamSynchronize(stream_), t.name.c_str());
  }

  // The device copy of a weight (copied on first use).
  Result<const uint8_t*> weight(const TensorRef& t) {
    if (!t.data) return Error(t.name + ": missing tensor");
    auto it = weights_.find(t.data);
    if (it != weights_.end()) return static_cast<const uint8_t*>(it->second);
    if (mode_ != Mode::eager) return Error(t.name + ": first used during a graph step (internal error)");
    DSK_TRY_ASSIGN(void* p, dmalloc(t.n_bytes, t.name.c_str()));
    auto r = opt_.synthetic_weights ? synthesize(p, t) : upload(p, t.data, t.n_bytes, t.name.c_str());
    if (!r) {
      cudaFree(p);
      return std::move(r).error();
    }
    weights_.emplace(t.data, p);
    return static_cast<const uint8_t*>(p);
  }

  cudaStream_t stream_;
  CudaOptions opt_;
  moe::SharedStream side_;
  // Decode graphs (see begin()).
  Mode mode_ = Mode::eager;
  uint64_t gen_ = 1;               // bumped whenever a buffer a graph could refer to is reallocated
  uint64_t eager_decode_gen_ = 0;  // generation after the last eager decode step
  uint64_t graph_gen_ = 0;
  cudaGraphExec_t graph_ = nullptr;
  uint64_t sig_ = 0, graph_sig_ = 0;
  size_t graph_n_ = 0;
  int64_t graph_rows_ = 0;
  std::vector<uint64_t> graph_key_, eager_key_;  // step_key() of the captured / last eager decode step
  bool graphable_step_ = false, graphs_off_ = false;
  StepRows step_;                  // the rows of the current forward (begin)
  int64_t pos_cap_ = 0;
  int32_t* step_pos_ = nullptr;    // device: positions of the current forward, then (step_row_) cache rows
  int32_t* step_row_ = nullptr;
  int32_t* pinned_pos_ = nullptr;  // host (pinned) staging of both
  bool out_logits_ = true;         // set_outputs
  std::vector<sample::SamplerParams> sampler_;
  int32_t* d_tok_ = nullptr;       // sampled tokens (device, then pinned)
  int32_t* pinned_tok_ = nullptr;
  int64_t tok_cap_ = 0;
  int32_t* pinned_ids_ = nullptr;
  float* pinned_out_ = nullptr;
  size_t out_cap_ = 0;
  std::unordered_map<const uint8_t*, void*> weights_;
  std::vector<Buf> pool_;
  size_t next_ = 0;
  std::string alloc_error_;
  void* ws_ = nullptr;
  size_t ws_bytes_ = 0;
  int32_t* ids_ = nullptr;
  size_t ids_cap_ = 0;
  float* rope_cs_ = nullptr;
  rope::RopeTable table_;
  int64_t d_rope_ = 0;
  std::vector<float*> kv_;
  int64_t kv_width_ = 0, kv_ctx_ = 0;
  int kv_seq_ = 1;
};

}  // namespace

Result<std::unique_ptr<Ops>> make_cuda_ops(const CudaOptions& o) {
  const int device = o.device;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    cudaGetLastError();
    return Error("--backend cuda: no CUDA device is available");
  }
  if (device < 0 || device >= n) return Error::format("--backend cuda: device %d does not exist (%d present)", device, n);
  DSK_TRY(check_cuda(cudaSetDevice(device), "--backend cuda"));
  cudaStream_t s = nullptr;
  DSK_TRY(check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "--backend cuda"));
  return std::unique_ptr<Ops>(new CudaOps(s, o));
}

Result<double> cuda_read_bandwidth(int device) {
  DSK_TRY(check_cuda(cudaSetDevice(device), "read bandwidth"));
  const size_t bytes = size_t{2} << 30;
  void* buf = nullptr;
  uint32_t* sink = nullptr;
  DSK_TRY(check_cuda(cudaMalloc(&buf, bytes), "read bandwidth"));
  if (cudaMalloc(&sink, 4) != cudaSuccess) {
    cudaFree(buf);
    return Error("read bandwidth: cudaMalloc failed");
  }
  cudaMemset(buf, 1, bytes);
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<float> ms;
  for (int r = 0; r < 12; ++r) {
    cudaEventRecord(a);
    read_kernel<<<sms * 8, 512>>>(static_cast<const uint4*>(buf), bytes / 16, sink);
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    if (r >= 3) ms.push_back(t);
  }
  const cudaError_t e = cudaGetLastError();
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaFree(buf);
  cudaFree(sink);
  DSK_TRY(check_cuda(e, "read bandwidth"));
  std::sort(ms.begin(), ms.end());
  return static_cast<double>(bytes) / (ms[ms.size() / 2] * 1e-3) / 1e9;
}

}  // namespace dsk::backend
