// Device side of test_sample_gpu: dsk::sample::launch_sample over a host row of logits, one draw per
// position. Throws on CUDA errors.
#pragma once

#include <cstdint>
#include <vector>

#include "dsk/core/status.hpp"
#include "dsk/sample/sample.hpp"

namespace dsk::test::gpu_sample {

// The token of `logits` at each of `positions`. via_graph: one launch captured in a CUDA graph with
// the position read from device memory (*pos_dev + 1, pos_dev = position - 1 before each replay).
std::vector<int32_t> run_sample(const std::vector<float>& logits, const sample::SamplerParams& p,
                                const std::vector<int64_t>& positions, bool via_graph = false);

// The launcher's status for a call with the given sizes (errors are values, not exceptions).
Status sample_status(int32_t n_vocab, const sample::SamplerParams& p, bool null_logits, size_t workspace_bytes);

}  // namespace dsk::test::gpu_sample
