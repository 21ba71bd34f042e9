// reference/rope.cpp — see reference/rope.hpp.
#include "reference/rope.hpp"

#include <vector>

namespace dsk::ref::rope {

using namespace dsk::rope;

Status apply(const Params& p) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.rope_dims > 0)
    for (int64_t t = 0; t < p.T; ++t)
      if (p.pos[t] < 0 || p.pos[t] >= p.table.n_pos) return Status::Invalid("rope: position outside the table");
  const int64_t xh = p.x_head_stride ? p.x_head_stride : p.head_dim;
  const int64_t yh = p.y_head_stride ? p.y_head_stride : p.head_dim;
  const int64_t xt = p.x_token_stride ? p.x_token_stride : xh * p.n_head;
  const int64_t yt = p.y_token_stride ? p.y_token_stride : yh * p.n_head;
  const int64_t np = p.rope_dims / 2;
  std::vector<float> h(p.head_dim);
  for (int64_t t = 0; t < p.T; ++t) {
    for (int64_t hd = 0; hd < p.n_head; ++hd) {
      const float* x = p.x + t * xt + hd * xh;
      float* y = p.y + t * yt + hd * yh;
      for (int64_t i = 0; i < p.head_dim; ++i) h[i] = x[i];
      if (p.norm != HeadNorm::none) {
        const float r = norm::rms_inv_row<kHeadNT>(h.data(), p.head_dim, p.eps);
        for (int64_t i = 0; i < p.head_dim; ++i)
          h[i] = p.norm == HeadNorm::weighted ? norm::rms_apply(h[i], r, p.norm_w[i]) : norm::rms_apply(h[i], r);
      }
      if (np > 0) {
        const float* cs = p.table.cs + static_cast<int64_t>(p.pos[t]) * np * 2;
        float* span = h.data() + p.rope_offset;
        for (int64_t i = 0; i < np; ++i) {
          const float c = cs[2 * i], s = p.inverse ? -cs[2 * i + 1] : cs[2 * i + 1];
          int64_t i0, i1;
          pair_index(p.mode, p.rope_dims, i, i0, i1);
          rotate(span[i0], span[i1], c, s, span[i0], span[i1]);
        }
      }
      for (int64_t i = 0; i < p.head_dim; ++i) y[i] = h[i];
    }
  }
  return Status::Ok();
}

}  // namespace dsk::ref::rope
