// Device side of test_grouped_gemm_gpu: host wrappers around dsk::gemm::group_pairs / group_heads /
// launch_grouped over host arrays (mirrored to the device, outputs poisoned). Throw on CUDA errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dsk/core/status.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::test::gpu_gemm {

enum class Grouping { by_ids, dense, heads };

struct GroupedRun {
  GgmlType wtype = GgmlType::F32;
  int64_t M = 0, K = 0;
  int32_t n_expert = 1;
  const uint8_t* w = nullptr;  // host stack, w_bytes
  size_t w_bytes = 0, w_row_stride = 0, expert_bytes = 0;
  const uint8_t* x = nullptr;  // host activation rows, x_bytes, x_stride apart (0: packed)
  size_t x_bytes = 0, x_stride = 0;
  Grouping grouping = Grouping::by_ids;
  // by_ids: T tokens × k slots, ids [T * k]; act_per_pair: activation row = the pair (else the token).
  // dense: T rows (expert 0). heads: T tokens × n_expert heads, row t * H + h uses expert h.
  int T = 0, k = 1;
  const int32_t* ids = nullptr;
  bool act_per_pair = false;
  int64_t y_stride = 0;  // 0: M
  bool graph = false;
};

// y: (number of output rows) * (y_stride ? y_stride : M) floats, poisoned before the launch.
std::vector<float> run_grouped(const GroupedRun& r, Status* status = nullptr);

}  // namespace dsk::test::gpu_gemm
