// reference/v4_compressor.hpp — host reference of dsk/v4/compressor.hpp: the DeepSeek-V4 KV
// compressor's bias add, state update and gated softmax pooling over windows of R tokens (ratio 4
// overlapping, ratio 128 plain). Validates first (nothing written on error).
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/v4/compressor.hpp"

namespace dsk::ref::v4 {

Status compress(const dsk::v4::CompressorParams& p);

}  // namespace dsk::ref::v4
