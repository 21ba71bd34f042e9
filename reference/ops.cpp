// reference/ops.cpp — see reference/ops.hpp.
#include "reference/ops.hpp"

#include "reference/quant.hpp"

namespace dsk::ref::ops {

using namespace dsk::ops;

namespace {
int64_t stride_or(int64_t s, int64_t n) { return s ? s : n; }
}  // namespace

Status embed(const EmbedParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const size_t rb = p.row_bytes ? p.row_bytes : ref::row_bytes(p.type, p.n_embd);
  const int64_t ys = stride_or(p.y_stride, p.n_embd);
  for (int64_t t = 0; t < p.T; ++t) {
    float* y = p.y + t * ys;
    const int32_t id = p.ids[t];
    if (id < 0 || id >= p.n_vocab) {
      for (int64_t i = 0; i < p.n_embd; ++i) y[i] = fp::canonical_nan();
      continue;
    }
    ref::dequantize_row(p.type, static_cast<const char*>(p.table) + static_cast<size_t>(id) * rb, y, p.n_embd);
  }
  return Status::Ok();
}

Status swiglu(const SwigluParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int64_t gs = stride_or(p.g_stride, p.n), us = stride_or(p.u_stride, p.n), ys = stride_or(p.y_stride, p.n);
  for (int64_t t = 0; t < p.T; ++t)
    for (int64_t i = 0; i < p.n; ++i) {
      const float g = p.g[t * gs + i], u = p.u[t * us + i];
      p.y[t * ys + i] = p.clamp ? swiglu_clamped(g, u, p.limit) : dsk::ops::swiglu(g, u);
    }
  return Status::Ok();
}

Status softmax(const SoftmaxParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int64_t xs = stride_or(p.x_stride, p.n), ys = stride_or(p.y_stride, p.n);
  for (int64_t t = 0; t < p.T; ++t) softmax_row<kSoftmaxNT>(p.x + t * xs, p.y + t * ys, p.n);
  return Status::Ok();
}

Status argmax(const ArgmaxParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int64_t xs = stride_or(p.x_stride, p.n);
  for (int64_t t = 0; t < p.T; ++t) p.idx[t] = argmax_row(p.x + t * xs, static_cast<int32_t>(p.n));
  return Status::Ok();
}

}  // namespace dsk::ref::ops
