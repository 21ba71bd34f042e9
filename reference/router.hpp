// reference/router.hpp — host reference of dsk/router (include/dsk/router/router.hpp). Validates
// the Params, and for hash layers every token id and table entry used (kInvalidArgument before
// anything is written).
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/router/router.hpp"

namespace dsk::ref::router {

Status select(const dsk::router::Params& p);

}  // namespace dsk::ref::router
