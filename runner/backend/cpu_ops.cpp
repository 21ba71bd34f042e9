// The CPU backend (see the header): references, threaded over independent rows or tokens.
#include "backend/cpu_ops.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "dsk/moe/moe.hpp"
#include "dsk/norm/norm.hpp"
#include "dsk/ops/ops.hpp"
#include "dsk/router/router.hpp"
#include "dsk/attention/attention.hpp"
#include "reference/attention.hpp"
#include "reference/moe.hpp"
#include "reference/norm.hpp"
#include "reference/ops.hpp"
#include "reference/quant.hpp"
#include "reference/rope.hpp"
#include "reference/sample.hpp"
#include "reference/router.hpp"

namespace dsk::backend {

namespace {

Result<void> check(const Status& s, const char* op) {
  if (s.ok()) return {};
  return Error(std::string(op) + ": " + to_string(s));
}

}  // namespace

CpuOps::CpuOps(int n_threads) : pool_(n_threads) {}

float* CpuOps::alloc(size_t n) {
  scratch_.emplace_back(new float[n > 0 ? n : 1]);
  return scratch_.back().get();
}

int32_t* CpuOps::alloc_i32(size_t n) {
  scratch_i32_.emplace_back(new int32_t[n > 0 ? n : 1]);
  return scratch_i32_.back().get();
}

void CpuOps::reset_scratch() {
  scratch_.clear();
  scratch_i32_.clear();
}

Result<void> CpuOps::embed(const TensorRef& emb, std::span<const int32_t> tokens, float* y) {
  ops::EmbedParams p;
  p.type = emb.type;
  p.table = emb.data;
  p.row_bytes = emb.nb1;
  p.n_embd = emb.ne[0];
  p.n_vocab = emb.ne[1];
  p.ids = tokens.data();
  p.T = static_cast<int64_t>(tokens.size());
  p.y = y;
  return check(ref::ops::embed(p), emb.name.c_str());
}

Result<void> CpuOps::rms_norm(const float* x, int64_t x_stride, const TensorRef* w, int64_t T, int64_t n, float eps,
                              float* y, int64_t y_stride) {
  norm::RmsNormParams p;
  p.x = x;
  p.w = w ? reinterpret_cast<const float*>(w->data) : nullptr;
  p.y = y;
  p.T = T;
  p.n = n;
  p.x_stride = x_stride;
  p.y_stride = y_stride;
  p.eps = eps;
  return check(ref::norm::rms_norm(p), w ? w->name.c_str() : "rms_norm");
}

Result<void> CpuOps::add(const float* a, const float* b, int64_t n, float* y) {
  norm::AddParams p;
  p.a = a;
  p.b = b;
  p.y = y;
  p.T = 1;
  p.n = n;
  return check(ref::norm::add(p), "add");
}

Result<void> CpuOps::add_rms_norm(const float* a, const float* b, int64_t T, int64_t n, const TensorRef* w, float eps,
                                  float* s, float* h) {
  norm::AddRmsNormParams p;
  p.a = a;
  p.b = b;
  p.w = w ? reinterpret_cast<const float*>(w->data) : nullptr;
  p.s = s;
  p.y = h;
  p.T = T;
  p.n = n;
  p.eps = eps;
  return check(ref::norm::add_rms_norm(p), w ? w->name.c_str() : "add_rms_norm");
}

Result<void> CpuOps::matmul(const TensorRef& w, int64_t mat, const float* x, int64_t x_stride, int64_t T, float* y,
                            int64_t y_stride) {
  const int64_t K = w.ne[0], M = w.ne[1];
  if (mat < 0 || mat >= w.ne[2]) return Error::format("%s: matrix %lld out of range", w.name.c_str(), static_cast<long long>(mat));
  const GgmlType at = ref::activation_type(w.type);
  const size_t ab = ref::row_bytes(at, K);
  // Activations quantized once per token, then output rows spread over the threads.
  std::vector<uint8_t> act(ab * static_cast<size_t>(T));
  try {
    for (int64_t t = 0; t < T; ++t) ref::quantize_row(at, x + t * x_stride, act.data() + ab * t, K);
    const uint8_t* base = w.matrix(mat);
    const int64_t tiles = (M + 15) / 16;
    pool_.parallel_for(tiles, [&](int64_t b, int64_t e) {
      for (int64_t tile = b; tile < e; ++tile)
        for (int64_t m = tile * 16; m < std::min(M, tile * 16 + 16); ++m)
          for (int64_t t = 0; t < T; ++t)
            y[t * y_stride + m] = ref::dot_row(w.type, base + static_cast<size_t>(m) * w.nb1, act.data() + ab * t, K);
    });
  } catch (const std::exception& e) {
    return Error(w.name + ": " + e.what());
  }
  return {};
}

Result<void> CpuOps::init_rope(const rope::YarnConfig& c, int64_t n_pos) {
  rope_table_ = rope::make_table(c, n_pos);
  table_ = rope::RopeTable{rope_table_.data(), n_pos, c.n_dims};
  d_rope_ = c.n_dims;
  return {};
}

Result<void> CpuOps::begin(std::span<const int32_t> seq, std::span<const int64_t> pos) {
  DSK_TRY_ASSIGN(step_, step_rows(seq, pos, kv_seq_, kv_ctx_));
  pos32_.assign(pos.begin(), pos.end());
  rows32_.resize(pos.size());
  for (size_t t = 0; t < pos.size(); ++t) rows32_[t] = static_cast<int32_t>(seq[t] * kv_ctx_ + pos[t]);
  return {};
}

void CpuOps::set_outputs(const StepOutputs& o) {
  logits_out_ = o.logits;
  sampler_.assign(o.sampler.begin(), o.sampler.end());
}

Result<void> CpuOps::check_rows(int64_t T, const char* op) const {
  if (T == static_cast<int64_t>(step_.seq.size())) return {};
  return Error::format("%s: %lld rows, the step has %zu (begin)", op, static_cast<long long>(T), step_.seq.size());
}

Result<void> CpuOps::rope(float* x, int64_t T, const RopeOptions& o) {
  DSK_TRY(check_rows(T, "rope"));
  return check(ref::rope::apply(rope_params(x, pos32_.data(), T, o, table_)), "rope");
}

Result<void> CpuOps::route(const float* logits, int64_t T, const RouterOptions& o, Routing& out) {
  const router::Params p =
      router_params(logits, T, o, o.bias ? reinterpret_cast<const float*>(o.bias->data) : nullptr, out);
  return check(ref::router::select(p), "router");
}

Result<void> CpuOps::moe(const TensorRef& gate_exps, const TensorRef& up_exps, const TensorRef& down_exps,
                         const SharedExperts& shared, const float* x, int64_t T, const Routing& r, float* y) {
  moe::Params p;
  p.n_embd = gate_exps.ne[0];
  p.n_ff = gate_exps.ne[1];
  p.n_expert = static_cast<int32_t>(gate_exps.ne[2]);
  p.k = r.k;
  p.gate = moe_tensor(gate_exps);
  p.up = moe_tensor(up_exps);
  p.down = moe_tensor(down_exps);
  if (shared.gate) {
    p.n_ff_shared = shared.gate->ne[1];
    p.gate_shared = moe_tensor(*shared.gate);
    p.up_shared = moe_tensor(*shared.up);
    p.down_shared = moe_tensor(*shared.down);
  }
  // Tokens are independent: split them over the threads.
  std::vector<Status> st(static_cast<size_t>(T));
  pool_.parallel_for(T, [&](int64_t b, int64_t e) {
    moe::Params q = p;
    q.x = x + b * p.n_embd;
    q.y = y + b * p.n_embd;
    q.T = e - b;
    q.ids = r.ids + b * r.k;
    q.weights = r.weights + b * r.k;
    st[static_cast<size_t>(b)] = ref::moe::moe(q);
  });
  for (const Status& s : st) DSK_TRY(check(s, gate_exps.name.c_str()));
  return {};
}

Result<void> CpuOps::ffn(const TensorRef& gate, const TensorRef& up, const TensorRef& down, const float* x, int64_t T,
                         float* y) {
  moe::FfnParams p;
  p.n_embd = gate.ne[0];
  p.n_ff = gate.ne[1];
  p.gate = moe_tensor(gate);
  p.up = moe_tensor(up);
  p.down = moe_tensor(down);
  std::vector<Status> st(static_cast<size_t>(T));
  pool_.parallel_for(T, [&](int64_t b, int64_t e) {
    moe::FfnParams q = p;
    q.x = x + b * p.n_embd;
    q.y = y + b * p.n_embd;
    q.T = e - b;
    st[static_cast<size_t>(b)] = ref::moe::ffn(q);
  });
  for (const Status& s : st) DSK_TRY(check(s, gate.name.c_str()));
  return {};
}

Result<void> CpuOps::init_kv(int n_layer, int n_seq, int64_t n_ctx, int64_t width) {
  if (n_seq < 1) return Error("init_kv: at least one sequence");
  kv_.assign(static_cast<size_t>(n_layer), std::vector<float>(static_cast<size_t>(n_seq * n_ctx * width), 0.0f));
  kv_width_ = width;
  kv_ctx_ = n_ctx;
  kv_seq_ = n_seq;
  return {};
}

Result<void> CpuOps::mla_prep(int layer, const MlaShape& s, float* q, const float* kva, const TensorRef& kv_norm,
                              float eps, int64_t T) {
  if (layer < 0 || static_cast<size_t>(layer) >= kv_.size()) return Error::format("mla_prep: layer %d has no cache", layer);
  DSK_TRY(check_rows(T, "mla_prep"));
  const attention::MlaPrepParams p =
      mla_prep_params(s, q, kva, reinterpret_cast<const float*>(kv_norm.data), eps, T, table_, pos32_.data(),
                      kv_[static_cast<size_t>(layer)].data(), kv_width_, rows32_.data());
  return check(ref::attention::mla_prep(p), kv_norm.name.c_str());
}

Result<void> CpuOps::mla_attention(int layer, const TensorRef& k_b, const TensorRef& v_b, const MlaShape& s,
                                   const float* q, int64_t T, float* out) {
  if (layer < 0 || static_cast<size_t>(layer) >= kv_.size()) return Error::format("mla: layer %d has no cache", layer);
  DSK_TRY(check_rows(T, "mla"));
  const int64_t H = s.n_head, dqk = s.d_nope + s.d_rope;
  const size_t kb_head = static_cast<size_t>(k_b.ne[1]) * k_b.nb1, vb_head = static_cast<size_t>(v_b.ne[1]) * v_b.nb1;
  // Tokens and heads are independent: one reference call per (token, head), spread over threads.
  std::vector<Status> st(static_cast<size_t>(T * H));
  pool_.parallel_for(T * H, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t t = i / H, h = i % H;
      attention::MlaParams p;
      p.q = q + t * H * dqk + h * dqk;
      p.q_token_stride = H * dqk;
      p.q_head_stride = dqk;
      p.cache = kv_[static_cast<size_t>(layer)].data() + step_.seq[static_cast<size_t>(t)] * kv_ctx_ * kv_width_;
      p.cache_type = GgmlType::F32;
      p.k_b_type = k_b.type;
      p.k_b = k_b.data + static_cast<size_t>(h) * kb_head;
      p.v_b_type = v_b.type;
      p.v_b = v_b.data + static_cast<size_t>(h) * vb_head;
      p.T = 1;
      p.p0 = step_.pos[static_cast<size_t>(t)];
      p.n_head = 1;
      p.d_nope = s.d_nope;
      p.rope_dims = s.d_rope;
      p.kv_lora = s.kv_lora;
      p.d_v = s.d_v;
      p.kq_scale = s.kq_scale;
      p.out = out + t * H * s.d_v + h * s.d_v;
      p.out_stride = H * s.d_v;
      st[static_cast<size_t>(i)] = ref::attention::mla(p);
    }
  });
  for (const Status& x : st) DSK_TRY(check(x, k_b.name.c_str()));
  return {};
}

Result<void> CpuOps::finish(const float* logits, int64_t rows, int32_t n_vocab, float* dst, int32_t* tokens) {
  const int64_t T = static_cast<int64_t>(step_.seq.size());
  const int64_t k = static_cast<int64_t>(sampler_.size());
  if (rows < 1 || rows > T || k > rows) return Error("finish: bad row counts (internal error)");
  if (logits_out_ != (dst != nullptr)) return Error("finish: logits output differs from set_outputs (internal error)");
  if (dst) std::memcpy(dst, logits, static_cast<size_t>(rows) * static_cast<size_t>(n_vocab) * sizeof(float));
  if (k > 0 && !tokens) return Error("finish: a sampler is set but no token output (internal error)");
  for (int64_t i = 0; i < k; ++i) {
    const int64_t row = rows - k + i;  // output row; step row T - rows + row
    const uint64_t at = static_cast<uint64_t>(step_.pos[static_cast<size_t>(T - rows + row)] + 1);
    tokens[i] = ref::sample::sample(logits + row * n_vocab, n_vocab, sampler_[static_cast<size_t>(i)], at);
  }
  return {};
}

}  // namespace dsk::backend
