// reference/v4_hc.cpp — see reference/v4_hc.hpp.
#include "reference/v4_hc.hpp"

#include <vector>

namespace dsk::ref::v4 {

using namespace dsk::v4;

namespace {
int64_t stride_or(int64_t s, int64_t n) { return s ? s : n; }

// Steps 1-2 of the header: flat = weightless RMSNorm of x (N values), mix[k] = dot of fn row k with flat.
void control_mix(const float* x, int64_t N, float norm_eps, const HcWeight& fn, int n_rows, std::vector<float>& flat,
                 float* mix) {
  const float r = norm::rms_inv_row<kHcNormNT>(x, N, norm_eps);
  flat.resize(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) flat[i] = norm::rms_apply(x[i], r);
  const size_t rb = fn.row_bytes ? fn.row_bytes : static_cast<size_t>(N) * row_type_size(fn.type);
  for (int k = 0; k < n_rows; ++k) {
    const void* row = static_cast<const char*>(fn.data) + static_cast<size_t>(k) * rb;
    mix[k] = dot_f32_at(N, [&](int64_t i) { return load(fn.type, row, i); }, [&](int64_t i) { return flat[i]; });
  }
}
}  // namespace

Status hc_pre(const HcPreParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int n = p.n_hc, nc = hc_ctrl(n);
  const int64_t N = p.n_embd * n, xs = stride_or(p.x_stride, N), ys = stride_or(p.y_stride, p.n_embd);
  std::vector<float> flat, mix(nc), pre(n);
  for (int64_t t = 0; t < p.T; ++t) {
    const float* x = p.x + t * xs;
    control_mix(x, N, p.norm_eps, p.fn, nc, flat, mix.data());
    float* post = p.post + t * n;
    float* comb = p.comb + t * n * n;
    hc_split(mix.data(), p.scale, p.base, n, p.sinkhorn_iters, p.hc_eps, pre.data(), post, comb);
    for (int64_t d = 0; d < p.n_embd; ++d) p.y[t * ys + d] = hc_collapse(x, p.n_embd, n, pre.data(), d);
    if (p.pre)
      for (int h = 0; h < n; ++h) p.pre[t * n + h] = pre[h];
    if (p.mix)
      for (int k = 0; k < nc; ++k) p.mix[t * nc + k] = mix[k];
  }
  return Status::Ok();
}

Status hc_post(const HcPostParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int n = p.n_hc;
  const int64_t N = p.n_embd * n, fs = stride_or(p.f_stride, p.n_embd), xs = stride_or(p.x_stride, N),
                ys = stride_or(p.y_stride, N);
  float out[kMaxHc];
  for (int64_t t = 0; t < p.T; ++t) {
    const float* x = p.x + t * xs;
    const float* post = p.post + t * n;
    const float* comb = p.comb + t * n * n;
    float* y = p.y + t * ys;
    for (int64_t d = 0; d < p.n_embd; ++d) {
      // all of x[., d] is read before y[., d] is written, so y may equal x
      for (int c = 0; c < n; ++c) out[c] = hc_expand(p.f[t * fs + d], x, p.n_embd, n, post, comb, c, d);
      for (int c = 0; c < n; ++c) y[c * p.n_embd + d] = out[c];
    }
  }
  return Status::Ok();
}

Status hc_head(const HcHeadParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int n = p.n_hc;
  const int64_t N = p.n_embd * n, xs = stride_or(p.x_stride, N), ys = stride_or(p.y_stride, p.n_embd);
  std::vector<float> flat, mix(n), w(n);
  for (int64_t t = 0; t < p.T; ++t) {
    const float* x = p.x + t * xs;
    control_mix(x, N, p.norm_eps, p.fn, n, flat, mix.data());
    hc_head_weights(mix.data(), p.scale[0], p.base, n, p.hc_eps, w.data());
    for (int64_t d = 0; d < p.n_embd; ++d) p.y[t * ys + d] = hc_collapse(x, p.n_embd, n, w.data(), d);
    if (p.w)
      for (int h = 0; h < n; ++h) p.w[t * n + h] = w[h];
  }
  return Status::Ok();
}

}  // namespace dsk::ref::v4
