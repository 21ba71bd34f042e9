// reference/norm.hpp — host references of dsk/norm (RMSNorm, residual add, fused add + RMSNorm).
// Each validates its Params (dsk::Status, nothing written on error) and processes every row
// independently in the order stated in include/dsk/norm/norm.hpp.
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/norm/norm.hpp"

namespace dsk::ref::norm {

Status rms_norm(const dsk::norm::RmsNormParams& p);
Status add(const dsk::norm::AddParams& p);
Status add_rms_norm(const dsk::norm::AddRmsNormParams& p);

}  // namespace dsk::ref::norm
