// dsk/moe/moe.hpp — the SwiGLU FFN (dense layers, shared experts) and the routed-expert MoE for the
// router's ids / weights, over quantized GGUF weights.
//
// NUMERICS (per token; tokens independent; every matrix-vector product is a GEMV row in the
// canonical order of dsk/quant/dot.hpp with the activation quantized to activation_type(weight type)
// by quantize_block with the given Q8Flavor — x once per distinct gate/up activation type):
//  FFN        g = W_gate·q(x); u = W_up·q(x); h_i = ops::swiglu(g_i, u_i) (ops::swiglu_clamped when
//             clamp); y = W_down·q(h).
//  MoE        acc = +0.0f; for slot k = 0..K-1 in order (e = ids[k], w = weights[k]):
//               g, u = W_gate[e]·q(x), W_up[e]·q(x);  h_i = swiglu(g_i, u_i) (clamped when clamp)
//               weight_before_down (V4):   h_i = fp::mul(h_i, w);  d = W_down[e]·q(h);  acc_j = fp::add(acc_j, d_j)
//               otherwise (deepseek2):                             d = W_down[e]·q(h);  acc_j = fp::fma(w, d_j, acc_j)
//             shared experts (n_ff_shared > 0): s = FFN(x) with the shared tensors (shared_clamp);
//             y_j = fp::add(acc_j, s_j); without them y_j = acc_j.
// Expert e of a 3-D tensor [K, M, n_expert] is the matrix at data + e * expert_bytes, M rows of K.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "dsk/core/fp.hpp"
#include "dsk/core/status.hpp"
#include "dsk/quant/quantize.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::moe {

// One weight matrix (or a stack of expert matrices). Sizes come from the Params.
struct Tensor {
  GgmlType type = GgmlType::F32;
  const void* data = nullptr;
  size_t row_bytes = 0;     // 0: packed rows
  size_t expert_bytes = 0;  // 3-D stacks only; 0: M * row stride
};

inline bool weight_type_supported(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0:
    case GgmlType::Q4_K: case GgmlType::Q6_K: case GgmlType::Q2_K: case GgmlType::IQ2_XXS: return true;
    default: return false;
  }
}

// Dense SwiGLU FFN: gate/up [n_embd -> n_ff], down [n_ff -> n_embd].
struct FfnParams {
  const float* x = nullptr;  // [T, n_embd]
  float* y = nullptr;        // [T, n_embd]; must not alias x
  int64_t T = 0, n_embd = 0, n_ff = 0;
  int64_t x_stride = 0, y_stride = 0;  // elements, 0: n_embd
  Tensor gate, up, down;
  bool clamp = false;
  float limit = 10.0f;
  quant::Q8Flavor flavor = quant::Q8Flavor::ggml_ref;
};

// Routed experts (+ optional shared experts) for the router's output.
struct Params {
  const float* x = nullptr;  // [T, n_embd]
  float* y = nullptr;        // [T, n_embd]; must not alias x
  int64_t T = 0, n_embd = 0;
  int64_t x_stride = 0, y_stride = 0;
  int64_t n_ff = 0;          // per expert
  int32_t n_expert = 0;
  int32_t k = 0;             // slots per token
  const int32_t* ids = nullptr;     // [T, ids_stride], each in [0, n_expert)
  const float* weights = nullptr;   // [T, ids_stride]
  int64_t ids_stride = 0;           // 0: k
  Tensor gate, up, down;            // [n_embd, n_ff, n_expert], [n_embd, n_ff, n_expert], [n_ff, n_embd, n_expert]
  bool clamp = false;               // V4: routed and shared experts
  float limit = 10.0f;
  bool weight_before_down = false;  // V4: h * w before the down projection
  int64_t n_ff_shared = 0;          // 0: no shared experts (n_ff_exp * n_expert_shared)
  Tensor gate_shared, up_shared, down_shared;
  bool shared_clamp = false;
  quant::Q8Flavor flavor = quant::Q8Flavor::ggml_ref;
};

namespace detail {
inline Status check_tensor(const Tensor& t, bool need) {
  if (!need) return Status::Ok();
  if (!weight_type_supported(t.type)) return Status::Unsupported("moe: weight type");
  if (!t.data) return Status::Invalid("moe: null weight");
  return Status::Ok();
}
}  // namespace detail

inline Status validate(const FfnParams& p) {
  if (p.T < 0 || p.n_embd <= 0 || p.n_ff <= 0) return Status::Invalid("ffn: bad T / n_embd / n_ff");
  if (p.T > 0 && (!p.x || !p.y)) return Status::Invalid("ffn: null x / y");
  if ((p.x_stride && p.x_stride < p.n_embd) || (p.y_stride && p.y_stride < p.n_embd)) return Status::Invalid("ffn: stride");
  if (p.clamp && !(p.limit > 0.0f && fp::is_finite(p.limit))) return Status::Invalid("ffn: limit");
  for (const Tensor* t : {&p.gate, &p.up, &p.down})
    if (Status s = detail::check_tensor(*t, true); !s.ok()) return s;
  return Status::Ok();
}

inline Status validate(const Params& p) {
  if (p.T < 0 || p.n_embd <= 0 || p.n_ff <= 0 || p.n_expert <= 0 || p.k <= 0) return Status::Invalid("moe: bad sizes");
  if (p.T > 0 && (!p.x || !p.y || !p.ids || !p.weights)) return Status::Invalid("moe: null x / y / ids / weights");
  if ((p.x_stride && p.x_stride < p.n_embd) || (p.y_stride && p.y_stride < p.n_embd) || (p.ids_stride && p.ids_stride < p.k))
    return Status::Invalid("moe: stride");
  if ((p.clamp || p.shared_clamp) && !(p.limit > 0.0f && fp::is_finite(p.limit))) return Status::Invalid("moe: limit");
  for (const Tensor* t : {&p.gate, &p.up, &p.down})
    if (Status s = detail::check_tensor(*t, true); !s.ok()) return s;
  if (p.n_ff_shared < 0) return Status::Invalid("moe: n_ff_shared < 0");
  for (const Tensor* t : {&p.gate_shared, &p.up_shared, &p.down_shared})
    if (Status s = detail::check_tensor(*t, p.n_ff_shared > 0); !s.ok()) return s;
  return Status::Ok();
}

}  // namespace dsk::moe
