// reference/moe.hpp — host references of dsk/moe (include/dsk/moe/moe.hpp): the SwiGLU FFN and the
// routed MoE. They validate the Params, that every K is a multiple of its type's dot block and
// every expert id is in range (kInvalidArgument / kUnsupported before anything is written).
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/moe/moe.hpp"

namespace dsk::ref::moe {

Status ffn(const dsk::moe::FfnParams& p);
Status moe(const dsk::moe::Params& p);

}  // namespace dsk::ref::moe
