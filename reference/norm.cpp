// reference/norm.cpp — see reference/norm.hpp and include/dsk/norm/norm.hpp.
#include "reference/norm.hpp"

namespace dsk::ref::norm {

using namespace dsk::norm;

namespace {
int64_t stride_or(int64_t s, int64_t n) { return s ? s : n; }

void norm_row(const float* x, const float* w, float* y, int64_t n, float eps) {
  const float r = rms_inv_row<kNT>(x, n, eps);
  if (w) {
    for (int64_t i = 0; i < n; ++i) y[i] = rms_apply(x[i], r, w[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = rms_apply(x[i], r);
  }
}
}  // namespace

Status rms_norm(const RmsNormParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int64_t xs = stride_or(p.x_stride, p.n), ys = stride_or(p.y_stride, p.n);
  for (int64_t t = 0; t < p.T; ++t) norm_row(p.x + t * xs, p.w, p.y + t * ys, p.n, p.eps);
  return Status::Ok();
}

Status add(const AddParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int64_t as = stride_or(p.a_stride, p.n), bs = stride_or(p.b_stride, p.n), ys = stride_or(p.y_stride, p.n);
  for (int64_t t = 0; t < p.T; ++t)
    for (int64_t i = 0; i < p.n; ++i) p.y[t * ys + i] = fp::add(p.a[t * as + i], p.b[t * bs + i]);
  return Status::Ok();
}

Status add_rms_norm(const AddRmsNormParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int64_t as = stride_or(p.a_stride, p.n), bs = stride_or(p.b_stride, p.n);
  const int64_t ss = stride_or(p.s_stride, p.n), ys = stride_or(p.y_stride, p.n);
  for (int64_t t = 0; t < p.T; ++t) {
    float* s = p.s + t * ss;
    for (int64_t i = 0; i < p.n; ++i) s[i] = fp::add(p.a[t * as + i], p.b[t * bs + i]);
    norm_row(s, p.w, p.y + t * ys, p.n, p.eps);
  }
  return Status::Ok();
}

}  // namespace dsk::ref::norm
