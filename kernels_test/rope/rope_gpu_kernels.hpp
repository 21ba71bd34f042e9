// Device side of test_rope_gpu: run dsk::rope::launch (dsk/rope/rope_cuda.cuh) on Params that hold
// HOST pointers (the table included); the arrays are mirrored to the device (aliasing kept, outputs
// poisoned), the launcher runs on the default stream, the output comes back. Returns the
// launcher's Status; throws on CUDA errors.
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/rope/rope.hpp"

namespace dsk::test::gpu_rope {

Status apply(const rope::Params& host);

}  // namespace dsk::test::gpu_rope
