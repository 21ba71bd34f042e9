// reference/ops.hpp — host references of dsk/ops (include/dsk/ops/ops.hpp): embedding gather,
// SwiGLU, row softmax, row argmax. Each validates its Params first (nothing written on error).
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/ops/ops.hpp"

namespace dsk::ref::ops {

Status embed(const dsk::ops::EmbedParams& p);
Status swiglu(const dsk::ops::SwigluParams& p);
Status softmax(const dsk::ops::SoftmaxParams& p);
Status argmax(const dsk::ops::ArgmaxParams& p);

}  // namespace dsk::ref::ops
