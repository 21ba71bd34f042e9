// reference/rope.hpp — host reference of dsk/rope: optional per-head RMSNorm, then rotation of each
// head's span from the table (include/dsk/rope/rope.hpp). Positions outside the table are an
// invalid argument (checked before anything is written).
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/rope/rope.hpp"

namespace dsk::ref::rope {

Status apply(const dsk::rope::Params& p);

}  // namespace dsk::ref::rope
