// reference/attention.hpp — host reference of dsk/attention (include/dsk/attention/attention.hpp):
// causal absorbed MLA. Validates the Params and the k_b / v_b types and block multiples
// (kInvalidArgument / kUnsupported before anything is written).
#pragma once

#include "dsk/attention/attention.hpp"
#include "dsk/core/status.hpp"

namespace dsk::ref::attention {

Status mla(const dsk::attention::MlaParams& p);

}  // namespace dsk::ref::attention
