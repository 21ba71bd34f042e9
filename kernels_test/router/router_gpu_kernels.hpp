// Device side of test_router_gpu: run a launcher of dsk/router/router_cuda.cuh (Kernel) on Params
// that hold HOST pointers; the arrays are
// mirrored to the device (outputs poisoned), the launcher runs on the default stream, the outputs
// come back. Returns the launcher's Status; throws on CUDA errors.
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/router/router.hpp"

namespace dsk::test::gpu_router {

enum class Kernel {
  dispatch,  // router::launch (block per token for T <= 64, warp per token beyond)
  generic,   // router::launch_generic (the runtime-sized warp kernel)
  block,     // router::launch_block_per_token
  warp,      // router::launch_warp_per_token
};

Status select(const router::Params& host, Kernel kernel = Kernel::dispatch);

}  // namespace dsk::test::gpu_router
