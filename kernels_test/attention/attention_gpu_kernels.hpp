// Device side of test_attention_gpu: run dsk::attention::launch (dsk/attention/attention_cuda.cuh)
// on MlaParams that hold HOST pointers (q, cache, k_b, v_b mirrored; out poisoned), with a fresh
// workspace, on the default stream or inside a CUDA graph. Returns the launcher's Status.
#pragma once

#include <cstddef>

#include "dsk/attention/attention.hpp"
#include "dsk/core/status.hpp"

namespace dsk::test::gpu_attention {

struct Sizes {
  size_t q = 0, cache = 0, k_b = 0, v_b = 0, out = 0;  // elements of q / out, bytes of the others
};

Status mla(const attention::MlaParams& host, const Sizes& sizes, bool graph = false);

}  // namespace dsk::test::gpu_attention
