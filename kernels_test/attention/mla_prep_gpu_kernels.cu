// Host wrapper of test_mla_prep_gpu (mla_prep_gpu_kernels.hpp).
#include "device_mirror.cuh"
#include "dsk/attention/mla_prep_cuda.cuh"
#include "mla_prep_gpu_kernels.hpp"

namespace dsk::test::gpu_attention {

Status mla_prep(const attention::MlaPrepParams& h, const PrepSizes& sz) {
  DeviceMirror m;
  attention::MlaPrepParams d = h;
  const int64_t np = h.table.n_dims / 2;
  d.q = h.q ? m.in(h.q, sz.q) : nullptr;
  if (d.q) m.out(h.q, sz.q);  // in place: comes back
  d.kva = m.in(h.kva, sz.kva);
  d.kv_norm_w = m.in(h.kv_norm_w, static_cast<size_t>(h.kv_lora));
  d.pos = m.in(h.pos, static_cast<size_t>(h.T));
  d.cache_row = m.in(h.cache_row, static_cast<size_t>(h.T));
  d.table.cs = m.in(h.table.cs, static_cast<size_t>(h.table.n_pos * np * 2));
  d.cache = m.in(h.cache, sz.cache);
  m.out(h.cache, sz.cache);
  const Status s = attention::launch(d, nullptr);
  m.download();
  return s;
}

}  // namespace dsk::test::gpu_attention
