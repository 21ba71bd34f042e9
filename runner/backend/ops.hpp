// backend/ops.hpp — the operations a model's forward is written against ("one forward pass, two
// backends", docs/runner.md). The CPU backend runs the references of reference/; the CUDA backend
// (a later issue) runs the kernels of include/dsk/ that match them bit for bit. The forward never
// touches activation memory itself: buffers come from alloc() and live in the backend's memory.
//
// Every operation processes T tokens whose results are independent of each other and of T, so a
// token gives the same bits alone, in a batch, in prefill or in decode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "dsk/attention/mla_prep.hpp"
#include "dsk/moe/moe.hpp"
#include "dsk/rope/rope.hpp"
#include "dsk/router/router.hpp"
#include "dsk/sample/sample.hpp"
#include "model/deepseek2.hpp"

namespace dsk::backend {

using model::TensorRef;

// A router's choice for T tokens: ids and weights [T, k], in backend memory.
struct Routing {
  int32_t* ids = nullptr;
  float* weights = nullptr;
  int32_t k = 0;
};

struct RouterOptions {
  int32_t n_expert = 0, k = 0;
  int scoring = 2;           // dsk::router::Scoring value (1 softmax, 2 sigmoid, 4 sqrt-softplus)
  const TensorRef* bias = nullptr;  // exp_probs_b or nullptr
  int32_t n_group = 0, topk_group = 0;
  bool normalize = false;
  float scale = 1.0f;
};

// A weight (or 3-D expert stack) as the MoE launchers take it; data: the backend's copy of t's
// bytes (nullptr: t.data itself).
inline moe::Tensor moe_tensor(const TensorRef& t, const uint8_t* data = nullptr) {
  moe::Tensor m;
  m.type = t.type;
  m.data = data ? data : t.data;
  m.row_bytes = t.nb1;
  m.expert_bytes = static_cast<size_t>(t.ne[1]) * t.nb1;
  return m;
}

// The router's Params for a backend (bias: the backend's copy of o.bias, or nullptr).
inline router::Params router_params(const float* logits, int64_t T, const RouterOptions& o, const float* bias,
                                    Routing& out) {
  router::Params p;
  p.logits = logits;
  p.T = T;
  p.n_expert = o.n_expert;
  p.k = o.k;
  p.scoring = static_cast<router::Scoring>(o.scoring);
  p.bias = bias;
  p.n_group = o.n_group;
  p.topk_group = o.topk_group;
  p.group_score = p.scoring == router::Scoring::softmax ? router::GroupScore::max : router::GroupScore::sum_top2;
  p.normalize = o.normalize;
  p.scale = o.scale;
  p.ids = out.ids;
  p.weights = out.weights;
  return p;
}

// RoPE of the rotated span [offset, offset + n_rot) of each head, at the step's positions.
struct RopeOptions {
  int64_t n_heads = 1;
  int64_t head_stride = 0;   // elements between heads
  int64_t offset = 0;        // first rotated element within the head
  int64_t row_stride = 0;    // elements between tokens
};

// The in-place interleaved RoPE Params of a backend: positions pos[t] (the backend's array), the
// rotated span [o.offset, o.offset + table.n_dims) of each head.
inline rope::Params rope_params(float* x, const int32_t* pos, int64_t T, const RopeOptions& o, const rope::RopeTable& table) {
  rope::Params p;
  p.x = x;
  p.y = x;
  p.pos = pos;
  p.table = table;
  p.T = T;
  p.n_head = o.n_heads;
  p.head_dim = o.offset + table.n_dims;
  p.x_token_stride = p.y_token_stride = o.row_stride;
  p.x_head_stride = p.y_head_stride = o.head_stride;
  p.rope_offset = o.offset;
  p.rope_dims = table.n_dims;
  p.mode = rope::Mode::interleaved;
  return p;
}

// The rows of a step (Ops::begin) checked once for both backends: runs of consecutive rows of one
// sequence at consecutive positions, each sequence in one run; every seq < n_seq, pos < n_ctx.
struct StepRows {
  std::vector<int32_t> seq;
  std::vector<int64_t> pos;
  struct Run {
    int32_t seq;
    int64_t first_row, n_rows, pos0;
  };
  std::vector<Run> runs;
};

inline Result<StepRows> step_rows(std::span<const int32_t> seq, std::span<const int64_t> pos, int n_seq, int64_t n_ctx) {
  if (seq.empty() || seq.size() != pos.size()) return Error("begin: no rows, or sequence ids and positions of different counts");
  StepRows r;
  r.seq.assign(seq.begin(), seq.end());
  r.pos.assign(pos.begin(), pos.end());
  for (size_t t = 0; t < seq.size(); ++t) {
    if (seq[t] < 0 || seq[t] >= n_seq)
      return Error::format("sequence %d outside the %d sequences of the cache", seq[t], n_seq);
    if (pos[t] < 0 || pos[t] >= n_ctx)
      return Error::format("position %lld outside the context of %lld", static_cast<long long>(pos[t]),
                           static_cast<long long>(n_ctx));
    if (t > 0 && seq[t] == seq[t - 1]) {
      if (pos[t] != pos[t - 1] + 1) return Error("begin: the rows of a sequence must have consecutive positions");
      ++r.runs.back().n_rows;
      continue;
    }
    for (const StepRows::Run& u : r.runs)
      if (u.seq == seq[t]) return Error::format("begin: sequence %d appears in two places of one step", seq[t]);
    r.runs.push_back({seq[t], static_cast<int64_t>(t), 1, pos[t]});
  }
  return r;
}

struct MlaShape {
  int64_t n_head = 0, d_nope = 0, d_rope = 0, d_v = 0, kv_lora = 0;
  float kq_scale = 1.0f;
};

// The mla_prep Params of a backend (q [T, H, d_nope + d_rope], kva [T, kv_lora + d_rope]): the
// backend's norm weight, RoPE table, positions, cache of one layer and the rows' cache rows.
inline attention::MlaPrepParams mla_prep_params(const MlaShape& s, float* q, const float* kva, const float* kv_norm_w,
                                                float eps, int64_t T, const rope::RopeTable& table, const int32_t* pos,
                                                float* cache, int64_t cache_row_stride, const int32_t* cache_row) {
  attention::MlaPrepParams p;
  p.T = T;
  p.q = q;
  p.n_head = s.n_head;
  p.q_head_stride = s.d_nope + s.d_rope;
  p.q_token_stride = s.n_head * p.q_head_stride;
  p.d_nope = s.d_nope;
  p.kva = kva;
  p.kv_lora = s.kv_lora;
  p.kva_stride = s.kv_lora + s.d_rope;
  p.kv_norm_w = kv_norm_w;
  p.eps = eps;
  p.table = table;
  p.pos = pos;
  p.cache = cache;
  p.cache_row_stride = cache_row_stride;
  p.cache_row = cache_row;
  return p;
}


class Ops {
 public:
  virtual ~Ops() = default;

  // Activation memory of n floats (or ints), valid until the backend is destroyed or reset.
  virtual float* alloc(size_t n) = 0;
  virtual int32_t* alloc_i32(size_t n) = 0;
  // Forget every allocation (the start of each forward).
  virtual void reset_scratch() = 0;
  // The rows of the forward that follows: row t is a token of sequence seq[t] at position pos[t]
  // (called after reset_scratch). The rows of one sequence are consecutive with consecutive
  // positions (a prefill chunk, or one decode token); several sequences (a decode batch) each
  // appear once. rope, mla_prep and mla_attention work at these positions; the CUDA backend keeps
  // them on the device, which lets it replay one captured graph for every decode step.
  virtual Result<void> begin(std::span<const int32_t> seq, std::span<const int64_t> pos) = 0;
  // What the next forward's finish() delivers (set before begin()): the logits on the host or not,
  // and one sampler per sampled row (the last rows of the output; empty: no sampling).
  struct StepOutputs {
    bool logits = true;
    std::span<const dsk::sample::SamplerParams> sampler;
  };
  virtual void set_outputs(const StepOutputs& o) = 0;

  // y[t] = row tokens[t] of emb (dequantized), tokens in host memory.
  virtual Result<void> embed(const TensorRef& emb, std::span<const int32_t> tokens, float* y) = 0;
  // y[t] = RMSNorm(x[t]) * w (w F32 [n], or none). Strides in elements (0: n).
  virtual Result<void> rms_norm(const float* x, int64_t x_stride, const TensorRef* w, int64_t T, int64_t n,
                                float eps, float* y, int64_t y_stride) = 0;
  // y = a + b, n elements.
  virtual Result<void> add(const float* a, const float* b, int64_t n, float* y) = 0;
  // The residual add and the next norm in one: s[t] = a[t] + b[t], h[t] = RMSNorm(s[t]) * w, T rows
  // of n (packed); s may alias a. Same bits as add then rms_norm.
  virtual Result<void> add_rms_norm(const float* a, const float* b, int64_t T, int64_t n, const TensorRef* w,
                                    float eps, float* s, float* h) = 0;
  // y[t] = W x[t] for a 2-D weight (or matrix `mat` of a 3-D one): x rows of ne[0], y rows of ne[1];
  // activations quantized per token to the weight's activation type.
  virtual Result<void> matmul(const TensorRef& w, int64_t mat, const float* x, int64_t x_stride, int64_t T,
                              float* y, int64_t y_stride) = 0;
  // Two products of the same rows: y1 = W1 x, y2 = W2 x (2-D weights, the same K). The CUDA backend
  // quantizes x once when the activation types match and runs the two side by side; the bits are
  // those of two matmul calls.
  virtual Result<void> matmul_pair(const TensorRef& w1, float* y1, int64_t y1_stride, const TensorRef& w2, float* y2,
                                   int64_t y2_stride, const float* x, int64_t x_stride, int64_t T) {
    DSK_TRY(matmul(w1, 0, x, x_stride, T, y1, y1_stride));
    return matmul(w2, 0, x, x_stride, T, y2, y2_stride);
  }
  // Builds the cos/sin table of positions 0 .. n_pos - 1 (dsk::rope::make_table, once).
  virtual Result<void> init_rope(const rope::YarnConfig& c, int64_t n_pos) = 0;
  // In-place RoPE (interleaved pairs) of T rows at the step's positions.
  virtual Result<void> rope(float* x, int64_t T, const RopeOptions& o) = 0;
  // Router top-k from logits [T, n_expert].
  virtual Result<void> route(const float* logits, int64_t T, const RouterOptions& o, Routing& out) = 0;
  // y[t] = sum_j w_j * down_j(SwiGLU(gate_j x, up_j x)) over the routed experts (weight after the
  // down projection, deepseek2), plus the shared experts' FFN when `shared` is given.
  struct SharedExperts {
    const TensorRef *gate = nullptr, *up = nullptr, *down = nullptr;
  };
  virtual Result<void> moe(const TensorRef& gate_exps, const TensorRef& up_exps, const TensorRef& down_exps,
                           const SharedExperts& shared, const float* x, int64_t T, const Routing& r, float* y) = 0;
  // y[t] = down(SwiGLU(gate x, up x)) (dense layers).
  virtual Result<void> ffn(const TensorRef& gate, const TensorRef& up, const TensorRef& down, const float* x,
                           int64_t T, float* y) = 0;
  // The attention inputs of the step's T rows in one op (dsk/attention/mla_prep.hpp): the latent
  // row [RoPE(k_rope) | RMSNorm(c_kv) * kv_norm] of kva [T, kv_lora + d_rope] stored to each row's
  // sequence cache at its position, and the rope tails of q [T, H, d_nope + d_rope] rotated in place.
  virtual Result<void> mla_prep(int layer, const MlaShape& s, float* q, const float* kva, const TensorRef& kv_norm,
                                float eps, int64_t T) = 0;
  // Absorbed MLA of the step's row t over its sequence's cache rows [0, pos[t]]:
  // q [T, H * (d_nope + d_rope)] (per head [nope | rope], rope already applied) -> out [T, H * d_v].
  virtual Result<void> mla_attention(int layer, const TensorRef& k_b, const TensorRef& v_b, const MlaShape& s,
                                     const float* q, int64_t T, float* out) = 0;
  // The end of a forward: `rows` rows of logits (the step's last rows) of n_vocab floats; copied
  // to dst when set_outputs asked for them (dst then non-null); with samplers set, tokens[i] = the draw of sampled row i (the last
  // rows; the draw's position is the row's position + 1, dsk/sample/sample.hpp).
  virtual Result<void> finish(const float* logits, int64_t rows, int32_t n_vocab, float* dst, int32_t* tokens) = 0;
  // (Re)creates the latent cache: n_seq sequences of n_layer layers of n_ctx rows of `width` floats.
  virtual Result<void> init_kv(int n_layer, int n_seq, int64_t n_ctx, int64_t width) = 0;
  // Makes weight t resident in the backend's memory now (the CUDA backend copies it to the GPU);
  // otherwise that happens on first use. The CPU backend reads the mapping directly.
  virtual Result<void> prepare_weight(const TensorRef& t) {
    (void)t;
    return {};
  }
  // Bytes of backend memory free for weights, cache and activations (0: no limit known).
  virtual size_t free_memory() const { return 0; }
  // Where the forwards' time went, per op (a markdown table), when the backend was asked to
  // profile; empty otherwise. reset: start a new tally.
  virtual std::string profile_report(bool reset) {
    (void)reset;
    return {};
  }
};

}  // namespace dsk::backend
