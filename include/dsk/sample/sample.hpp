// dsk/sample/sample.hpp — token sampling: parameters and the order of its steps.
//
// The chain (llama.cpp's default order, without penalties):
//   1. candidates: the tokens with a finite logit (NaN and -inf never drawn), sorted by logit
//      descending, ties by lower id;
//   2. top-k (k > 0): the first k;
//   3. top-p (p < 1): the shortest prefix whose mass reaches p, mass w_i = exp(l_i - l_max) summed
//      sequentially in sorted order (at least one token);
//   4. min-p (m > 0): the tokens with exp(l_i - l_max) >= m (a prefix; at least one);
//   5. temperature t <= 0: the first candidate (greedy, = argmax with lowest id on ties);
//      otherwise weights exp((l_i - l_max) / t), total summed sequentially in sorted order,
//      u = uniform(seed, position, 0) * total, and the first candidate whose running sum exceeds u.
// exp is dsk::math::exp and every float step is explicit (docs/numerics.md), and the random number
// is Philox keyed by (seed, position) (philox.hpp): a GPU sampler following the same steps draws the
// same token.
#pragma once

#include <cstdint>

namespace dsk::sample {

struct SamplerParams {
  float temperature = 0.0f;  // <= 0: greedy
  int32_t top_k = 0;         // <= 0: off
  float top_p = 1.0f;        // >= 1: off
  float min_p = 0.0f;        // <= 0: off
  uint64_t seed = 0;
};

}  // namespace dsk::sample
