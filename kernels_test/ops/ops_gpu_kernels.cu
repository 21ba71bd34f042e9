// Host wrappers of test_ops_gpu around the launchers of dsk/ops/ops_cuda.cuh.
#include "device_mirror.cuh"
#include "dsk/ops/ops_cuda.cuh"
#include "ops_gpu_kernels.hpp"

namespace dsk::test::gpu_ops {

Status embed(const ops::EmbedParams& h) {
  // Invalid Params: the launcher must reject them before touching any pointer (host ones here).
  if (!ops::validate(h).ok()) return ops::launch(h, nullptr);
  DeviceMirror m;
  ops::EmbedParams d = h;
  const GgmlTypeInfo& ti = ggml_type_info(h.type);
  const size_t rb = h.row_bytes ? h.row_bytes : static_cast<size_t>(h.n_embd / ti.block_elems) * ti.block_bytes;
  d.table = m.in(static_cast<const char*>(h.table), rb * static_cast<size_t>(h.n_vocab));
  d.ids = m.in(h.ids, static_cast<size_t>(h.T));
  d.y = m.out(h.y, rows_extent(h.T, h.n_embd, h.y_stride));
  const Status s = ops::launch(d, nullptr);
  m.download();
  return s;
}

Status swiglu(const ops::SwigluParams& h) {
  // Invalid Params: the launcher must reject them before touching any pointer (host ones here).
  if (!ops::validate(h).ok()) return ops::launch(h, nullptr);
  DeviceMirror m;
  ops::SwigluParams d = h;
  d.g = m.in(h.g, rows_extent(h.T, h.n, h.g_stride));
  d.u = m.in(h.u, rows_extent(h.T, h.n, h.u_stride));
  d.y = m.out(h.y, rows_extent(h.T, h.n, h.y_stride));
  const Status s = ops::launch(d, nullptr);
  m.download();
  return s;
}

Status softmax(const ops::SoftmaxParams& h) {
  // Invalid Params: the launcher must reject them before touching any pointer (host ones here).
  if (!ops::validate(h).ok()) return ops::launch(h, nullptr);
  DeviceMirror m;
  ops::SoftmaxParams d = h;
  d.x = m.in(h.x, rows_extent(h.T, h.n, h.x_stride));
  d.y = m.out(h.y, rows_extent(h.T, h.n, h.y_stride));
  const Status s = ops::launch(d, nullptr);
  m.download();
  return s;
}

Status argmax(const ops::ArgmaxParams& h) {
  // Invalid Params: the launcher must reject them before touching any pointer (host ones here).
  if (!ops::validate(h).ok()) return ops::launch(h, nullptr);
  DeviceMirror m;
  ops::ArgmaxParams d = h;
  d.x = m.in(h.x, rows_extent(h.T, h.n, h.x_stride));
  d.idx = m.out(h.idx, h.T > 0 ? static_cast<size_t>(h.T) : 0);
  const Status s = ops::launch(d, nullptr);
  m.download();
  return s;
}

}  // namespace dsk::test::gpu_ops
