// reference/moe.cpp — see reference/moe.hpp.
#include "reference/moe.hpp"

#include <cstdint>
#include <vector>

#include "dsk/ops/ops.hpp"
#include "reference/quant.hpp"

namespace dsk::ref::moe {

using namespace dsk::moe;

namespace {

// K must be a multiple of the weight's dot block and of its activation type's quantizer block.
bool k_ok(GgmlType w, int64_t K) {
  const int64_t b = ref::dot_block_elems(w);
  const int64_t a = ref::block_elems(ref::activation_type(w));
  return K % b == 0 && K % a == 0;
}

size_t row_stride(const Tensor& t, int64_t K) { return t.row_bytes ? t.row_bytes : ref::row_bytes(t.type, K); }
size_t expert_stride(const Tensor& t, int64_t K, int64_t M) {
  return t.expert_bytes ? t.expert_bytes : row_stride(t, K) * static_cast<size_t>(M);
}

Status check_shapes(const Tensor& gate, const Tensor& up, const Tensor& down, int64_t n_embd, int64_t n_ff) {
  if (!k_ok(gate.type, n_embd) || !k_ok(up.type, n_embd)) return Status::Invalid("moe: n_embd not a multiple of the gate/up block");
  if (!k_ok(down.type, n_ff)) return Status::Invalid("moe: n_ff not a multiple of the down block");
  if ((gate.row_bytes && gate.row_bytes < ref::row_bytes(gate.type, n_embd)) ||
      (up.row_bytes && up.row_bytes < ref::row_bytes(up.type, n_embd)) ||
      (down.row_bytes && down.row_bytes < ref::row_bytes(down.type, n_ff)))
    return Status::Invalid("moe: row_bytes smaller than a row");
  return Status::Ok();
}

std::vector<uint8_t> quantized(GgmlType wtype, const float* x, int64_t K, quant::Q8Flavor fl) {
  const GgmlType at = ref::activation_type(wtype);
  std::vector<uint8_t> q(ref::row_bytes(at, K));
  ref::quantize_row(at, x, q.data(), K, fl);
  return q;
}

// The FFN of one token: out[n_embd] = down(swiglu(gate x, up x)) * (w before down when w_before).
// gate/up/down point at one expert's matrices.
void ffn_token(const void* gate, const void* up, const void* down, const Tensor& tg, const Tensor& tu,
               const Tensor& td, int64_t n_embd, int64_t n_ff, bool clamp, float limit, const float* w_before,
               quant::Q8Flavor fl, const std::vector<uint8_t>& xg, const std::vector<uint8_t>& xu, float* out) {
  std::vector<float> g(n_ff), u(n_ff);
  ref::gemv(tg.type, gate, n_ff, xg.data(), n_embd, g.data(), row_stride(tg, n_embd));
  ref::gemv(tu.type, up, n_ff, xu.data(), n_embd, u.data(), row_stride(tu, n_embd));
  for (int64_t i = 0; i < n_ff; ++i) {
    float h = clamp ? ops::swiglu_clamped(g[i], u[i], limit) : ops::swiglu(g[i], u[i]);
    if (w_before) h = fp::mul(h, *w_before);
    g[i] = h;
  }
  const std::vector<uint8_t> hq = quantized(td.type, g.data(), n_ff, fl);
  ref::gemv(td.type, down, n_embd, hq.data(), n_ff, out, row_stride(td, n_ff));
}

}  // namespace

Status ffn(const FfnParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  if (Status s = check_shapes(p.gate, p.up, p.down, p.n_embd, p.n_ff); !s.ok()) return s;
  const int64_t xs = p.x_stride ? p.x_stride : p.n_embd, ys = p.y_stride ? p.y_stride : p.n_embd;
  for (int64_t t = 0; t < p.T; ++t) {
    const float* x = p.x + t * xs;
    const auto xg = quantized(p.gate.type, x, p.n_embd, p.flavor);
    const auto xu = quantized(p.up.type, x, p.n_embd, p.flavor);
    ffn_token(p.gate.data, p.up.data, p.down.data, p.gate, p.up, p.down, p.n_embd, p.n_ff, p.clamp, p.limit,
              nullptr, p.flavor, xg, xu, p.y + t * ys);
  }
  return Status::Ok();
}

Status moe(const Params& p) {
  if (Status s = validate(p); !s.ok()) return s;
  if (Status s = check_shapes(p.gate, p.up, p.down, p.n_embd, p.n_ff); !s.ok()) return s;
  if (p.n_ff_shared > 0)
    if (Status s = check_shapes(p.gate_shared, p.up_shared, p.down_shared, p.n_embd, p.n_ff_shared); !s.ok()) return s;
  const int64_t is = p.ids_stride ? p.ids_stride : p.k;
  for (int64_t t = 0; t < p.T; ++t)
    for (int32_t j = 0; j < p.k; ++j)
      if (p.ids[t * is + j] < 0 || p.ids[t * is + j] >= p.n_expert) return Status::Invalid("moe: expert id out of range");

  const int64_t xs = p.x_stride ? p.x_stride : p.n_embd, ys = p.y_stride ? p.y_stride : p.n_embd;
  const size_t eg = expert_stride(p.gate, p.n_embd, p.n_ff), eu = expert_stride(p.up, p.n_embd, p.n_ff);
  const size_t ed = expert_stride(p.down, p.n_ff, p.n_embd);
  std::vector<float> acc(p.n_embd), d(p.n_embd);
  for (int64_t t = 0; t < p.T; ++t) {
    const float* x = p.x + t * xs;
    const auto xg = quantized(p.gate.type, x, p.n_embd, p.flavor);
    const auto xu = quantized(p.up.type, x, p.n_embd, p.flavor);
    for (float& a : acc) a = 0.0f;
    for (int32_t j = 0; j < p.k; ++j) {
      const int64_t e = p.ids[t * is + j];
      const float w = p.weights[t * is + j];
      ffn_token(static_cast<const char*>(p.gate.data) + e * eg, static_cast<const char*>(p.up.data) + e * eu,
                static_cast<const char*>(p.down.data) + e * ed, p.gate, p.up, p.down, p.n_embd, p.n_ff, p.clamp,
                p.limit, p.weight_before_down ? &w : nullptr, p.flavor, xg, xu, d.data());
      for (int64_t i = 0; i < p.n_embd; ++i) acc[i] = p.weight_before_down ? fp::add(acc[i], d[i]) : fp::fma(w, d[i], acc[i]);
    }
    float* y = p.y + t * ys;
    if (p.n_ff_shared > 0) {
      const auto sg = quantized(p.gate_shared.type, x, p.n_embd, p.flavor);
      const auto su = quantized(p.up_shared.type, x, p.n_embd, p.flavor);
      ffn_token(p.gate_shared.data, p.up_shared.data, p.down_shared.data, p.gate_shared, p.up_shared, p.down_shared,
                p.n_embd, p.n_ff_shared, p.shared_clamp, p.limit, nullptr, p.flavor, sg, su, d.data());
      for (int64_t i = 0; i < p.n_embd; ++i) y[i] = fp::add(acc[i], d[i]);
    } else {
      for (int64_t i = 0; i < p.n_embd; ++i) y[i] = acc[i];
    }
  }
  return Status::Ok();
}

}  // namespace dsk::ref::moe
