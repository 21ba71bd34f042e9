// reference/v4_attention.hpp — host reference of dsk/v4/attention.hpp: DeepSeek-V4 shared-KV
// attention with per-head sinks over per-token lists of raw and compressed rows. Validates the
// Params and every list entry (kInvalidArgument for an index outside its store or a negative
// count) before writing anything.
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/v4/attention.hpp"

namespace dsk::ref::v4 {

Status sink_attention(const dsk::v4::SinkAttentionParams& p);

}  // namespace dsk::ref::v4
