// Host wrappers of test_norm_gpu around the launchers of dsk/norm/norm_cuda.cuh.
#include "device_mirror.cuh"
#include "dsk/norm/norm_cuda.cuh"
#include "norm_gpu_kernels.hpp"

namespace dsk::test::gpu_norm {

Status rms_norm(const norm::RmsNormParams& h) {
  // Invalid Params: the launcher must reject them before touching any pointer (host ones here).
  if (!norm::validate(h).ok()) return norm::launch(h, nullptr);
  DeviceMirror m;
  norm::RmsNormParams d = h;
  d.x = m.in(h.x, rows_extent(h.T, h.n, h.x_stride));
  d.w = m.in(h.w, h.w ? static_cast<size_t>(h.n) : 0);
  d.y = m.out(h.y, rows_extent(h.T, h.n, h.y_stride));
  const Status s = norm::launch(d, nullptr);
  m.download();
  return s;
}

Status add(const norm::AddParams& h) {
  // Invalid Params: the launcher must reject them before touching any pointer (host ones here).
  if (!norm::validate(h).ok()) return norm::launch(h, nullptr);
  DeviceMirror m;
  norm::AddParams d = h;
  d.a = m.in(h.a, rows_extent(h.T, h.n, h.a_stride));
  d.b = m.in(h.b, rows_extent(h.T, h.n, h.b_stride));
  d.y = m.out(h.y, rows_extent(h.T, h.n, h.y_stride));
  const Status s = norm::launch(d, nullptr);
  m.download();
  return s;
}

Status add_rms_norm(const norm::AddRmsNormParams& h) {
  // Invalid Params: the launcher must reject them before touching any pointer (host ones here).
  if (!norm::validate(h).ok()) return norm::launch(h, nullptr);
  DeviceMirror m;
  norm::AddRmsNormParams d = h;
  d.a = m.in(h.a, rows_extent(h.T, h.n, h.a_stride));
  d.b = m.in(h.b, rows_extent(h.T, h.n, h.b_stride));
  d.w = m.in(h.w, h.w ? static_cast<size_t>(h.n) : 0);
  d.s = m.out(h.s, rows_extent(h.T, h.n, h.s_stride));
  d.y = m.out(h.y, rows_extent(h.T, h.n, h.y_stride));
  const Status s = norm::launch(d, nullptr);
  m.download();
  return s;
}

}  // namespace dsk::test::gpu_norm
