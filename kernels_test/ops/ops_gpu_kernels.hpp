// Device side of test_ops_gpu: run the ops family's launchers (dsk/ops/ops_cuda.cuh) on Params
// that hold HOST pointers; the arrays are mirrored to the device (aliasing kept, outputs poisoned),
// the launcher runs on the default stream, the outputs come back. Returns the launcher's Status;
// throws on CUDA errors.
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/ops/ops.hpp"

namespace dsk::test::gpu_ops {

Status embed(const ops::EmbedParams& host);
Status swiglu(const ops::SwigluParams& host);
Status softmax(const ops::SoftmaxParams& host);
Status argmax(const ops::ArgmaxParams& host);

}  // namespace dsk::test::gpu_ops
