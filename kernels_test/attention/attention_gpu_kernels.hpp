// Device side of test_attention_gpu: run dsk::attention::launch (dsk/attention/attention_cuda.cuh)
// on MlaParams that hold HOST pointers (q, cache, k_b, v_b mirrored; out poisoned), with a fresh
// workspace, on the default stream or inside a CUDA graph, through the path asked for. Returns the
// launcher's Status; *prefill (if given) says which path ran.
#pragma once

#include <cstddef>

#include "dsk/attention/attention.hpp"
#include "dsk/core/status.hpp"

namespace dsk::test::gpu_attention {

struct Sizes {
  size_t q = 0, cache = 0, k_b = 0, v_b = 0, out = 0;  // elements of q / out, bytes of the others
};

enum class Path { automatic, decode, prefill };

Status mla(const attention::MlaParams& host, const Sizes& sizes, bool graph = false, Path path = Path::automatic,
           bool* prefill = nullptr);

// Whether launch(p) would take the prefill path under the automatic rule.
bool uses_prefill(const attention::MlaParams& p);

}  // namespace dsk::test::gpu_attention
