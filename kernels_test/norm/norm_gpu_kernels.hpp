// Device side of test_norm_gpu: run the norm family's launchers (dsk/norm/norm_cuda.cuh) on Params
// that hold HOST pointers; the arrays are mirrored to the device (aliasing kept, outputs poisoned),
// the launcher runs on the default stream, the outputs come back. Returns the launcher's Status;
// throws on CUDA errors.
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/norm/norm.hpp"

namespace dsk::test::gpu_norm {

Status rms_norm(const norm::RmsNormParams& host);
Status add(const norm::AddParams& host);
Status add_rms_norm(const norm::AddRmsNormParams& host);

}  // namespace dsk::test::gpu_norm
