// Host wrapper of test_router_gpu around dsk/router/router_cuda.cuh.
#include "device_mirror.cuh"
#include "dsk/router/router_cuda.cuh"
#include "router_gpu_kernels.hpp"

namespace dsk::test::gpu_router {

namespace {
Status run(const router::Params& p, Kernel kernel) {
  switch (kernel) {
    case Kernel::generic: return router::launch_generic(p, nullptr);
    case Kernel::block: return router::launch_block_per_token(p, nullptr);
    case Kernel::warp: return router::launch_warp_per_token(p, nullptr);
    default: return router::launch(p, nullptr);
  }
}
}  // namespace

Status select(const router::Params& h, Kernel kernel) {
  // Invalid Params: the launcher must reject them before touching any pointer (host ones here).
  if (!router::validate(h).ok()) return run(h, kernel);
  DeviceMirror m;
  router::Params d = h;
  const int64_t hs = h.tid2eid_stride ? h.tid2eid_stride : h.k;
  d.logits = m.in(h.logits, rows_extent(h.T, h.n_expert, h.logits_stride));
  d.bias = m.in(h.bias, h.bias ? static_cast<size_t>(h.n_expert) : 0);
  d.tid2eid = m.in(h.tid2eid, h.tid2eid ? rows_extent(h.n_vocab, h.k, hs) : 0);
  d.token_ids = m.in(h.token_ids, h.token_ids ? static_cast<size_t>(h.T) : 0);
  d.ids = m.out(h.ids, rows_extent(h.T, h.k, h.out_stride));
  d.weights = m.out(h.weights, rows_extent(h.T, h.k, h.out_stride));
  const Status s = run(d, kernel);
  m.download();
  return s;
}

}  // namespace dsk::test::gpu_router
