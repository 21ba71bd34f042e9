// reference/attention.hpp — host reference of dsk/attention (include/dsk/attention/attention.hpp):
// causal absorbed MLA. Validates the Params and the k_b / v_b types and block multiples
// (kInvalidArgument / kUnsupported before anything is written).
#pragma once

#include "dsk/attention/attention.hpp"
#include "dsk/attention/mla_prep.hpp"
#include "dsk/core/status.hpp"

namespace dsk::ref::attention {

Status mla(const dsk::attention::MlaParams& p);

// dsk/attention/mla_prep.hpp: ref::norm::rms_norm of c_kv into the cache row, ref::rope::apply of
// k_rope into it and of the q heads' rope tails in place (host pointers throughout).
Status mla_prep(const dsk::attention::MlaPrepParams& p);

}  // namespace dsk::ref::attention
