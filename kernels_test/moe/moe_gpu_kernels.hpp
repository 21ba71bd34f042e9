// Device side of test_moe_gpu: run dsk::moe::launch (dsk/moe/moe_cuda.cuh) on Params that hold
// HOST pointers; weights, activations, ids and routing weights are mirrored to the device, the
// output is poisoned, the launcher runs on the default stream with a fresh workspace, the output
// comes back. Returns the launcher's Status; throws on CUDA errors.
#pragma once

#include <cstddef>

#include "dsk/core/status.hpp"
#include "dsk/moe/moe.hpp"

namespace dsk::test::gpu_moe {

// Bytes of each weight stack (the mirror needs sizes; Params carries only pointers).
struct Sizes {
  size_t gate = 0, up = 0, down = 0, gate_shared = 0, up_shared = 0, down_shared = 0;
};

// side: the shared experts on a second stream (moe::SharedStream), joined before the combine.
Status moe(const moe::Params& host, const Sizes& sizes, bool graph = false, bool side = false);
Status ffn(const moe::FfnParams& host, const Sizes& sizes);

// T from which the launchers take the grouped (prefill) path (moe::cuda_detail::
// grouped_min_tokens_knob; 0 restores the default). Results must not depend on it.
void set_grouped_min_tokens(int T);

}  // namespace dsk::test::gpu_moe
