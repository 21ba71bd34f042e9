// Host wrapper of test_router_gpu around dsk/router/router_cuda.cuh.
#include "device_mirror.cuh"
#include "dsk/router/router_cuda.cuh"
#include "router_gpu_kernels.hpp"

namespace dsk::test::gpu_router {

Status select(const router::Params& h, bool generic) {
  // Invalid Params: the launcher must reject them before touching any pointer (host ones here).
  if (!router::validate(h).ok()) return generic ? router::launch_generic(h, nullptr) : router::launch(h, nullptr);
  DeviceMirror m;
  router::Params d = h;
  const int64_t hs = h.tid2eid_stride ? h.tid2eid_stride : h.k;
  d.logits = m.in(h.logits, rows_extent(h.T, h.n_expert, h.logits_stride));
  d.bias = m.in(h.bias, h.bias ? static_cast<size_t>(h.n_expert) : 0);
  d.tid2eid = m.in(h.tid2eid, h.tid2eid ? rows_extent(h.n_vocab, h.k, hs) : 0);
  d.token_ids = m.in(h.token_ids, h.token_ids ? static_cast<size_t>(h.T) : 0);
  d.ids = m.out(h.ids, rows_extent(h.T, h.k, h.out_stride));
  d.weights = m.out(h.weights, rows_extent(h.T, h.k, h.out_stride));
  const Status s = generic ? router::launch_generic(d, nullptr) : router::launch(d, nullptr);
  m.download();
  return s;
}

}  // namespace dsk::test::gpu_router
