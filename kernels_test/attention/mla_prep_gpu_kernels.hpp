// Device side of test_mla_prep_gpu: dsk::attention::launch(MlaPrepParams) on Params holding HOST
// pointers (q, kva, weights, positions, rows, table and cache mirrored; q and cache come back).
#pragma once

#include <cstddef>

#include "dsk/attention/mla_prep.hpp"
#include "dsk/core/status.hpp"

namespace dsk::test::gpu_attention {

struct PrepSizes {
  size_t q = 0, kva = 0, cache = 0;  // elements
};

Status mla_prep(const attention::MlaPrepParams& host, const PrepSizes& sizes);

}  // namespace dsk::test::gpu_attention
