// reference/sample.hpp — the host sampler (dsk/sample/sample.hpp states the steps).
#pragma once

#include <cstdint>

#include "dsk/sample/sample.hpp"

namespace dsk::ref::sample {

// The token drawn from `logits` (n_vocab values) at sequence position `pos`; -1 when no logit is
// finite.
int32_t sample(const float* logits, int32_t n_vocab, const dsk::sample::SamplerParams& p, uint64_t pos);

// argmax with the lowest id on ties; NaN never wins (-1 when every logit is NaN).
int32_t argmax(const float* logits, int32_t n_vocab);

}  // namespace dsk::ref::sample
