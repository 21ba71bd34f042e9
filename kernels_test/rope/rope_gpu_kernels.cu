// Host wrapper of test_rope_gpu around dsk/rope/rope_cuda.cuh.
#include "device_mirror.cuh"
#include "dsk/rope/rope_cuda.cuh"
#include "rope_gpu_kernels.hpp"

namespace dsk::test::gpu_rope {

namespace {
size_t extent(int64_t T, int64_t n_head, int64_t head_dim, int64_t ts, int64_t hs) {
  const int64_t h = hs ? hs : head_dim, t = ts ? ts : h * n_head;
  return T > 0 ? static_cast<size_t>((T - 1) * t + (n_head - 1) * h + head_dim) : 0;
}
}  // namespace

Status apply(const rope::Params& h) {
  // Invalid Params: the launcher must reject them before touching any pointer (host ones here).
  if (!rope::validate(h).ok()) return rope::launch(h, nullptr);
  DeviceMirror m;
  rope::Params d = h;
  d.x = m.in(h.x, extent(h.T, h.n_head, h.head_dim, h.x_token_stride, h.x_head_stride));
  d.pos = m.in(h.pos, h.T > 0 ? static_cast<size_t>(h.T) : 0);
  d.table.cs = m.in(h.table.cs, h.table.cs ? static_cast<size_t>(h.table.n_pos) * h.table.n_dims : 0);
  d.norm_w = m.in(h.norm_w, h.norm_w ? static_cast<size_t>(h.head_dim) : 0);
  d.y = m.out(h.y, extent(h.T, h.n_head, h.head_dim, h.y_token_stride, h.y_head_stride));
  const Status s = rope::launch(d, nullptr);
  m.download();
  return s;
}

}  // namespace dsk::test::gpu_rope
