// Device side of test_router_gpu: run dsk::router::launch (or launch_generic, the runtime-sized
// kernel) from dsk/router/router_cuda.cuh on Params that hold HOST pointers; the arrays are
// mirrored to the device (outputs poisoned), the launcher runs on the default stream, the outputs
// come back. Returns the launcher's Status; throws on CUDA errors.
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/router/router.hpp"

namespace dsk::test::gpu_router {

Status select(const router::Params& host, bool generic = false);

}  // namespace dsk::test::gpu_router
