// dsk/sample/sample.hpp — token sampling: parameters and the order of its steps.
//
// The chain (llama.cpp's default order, without penalties):
//   1. candidates: the tokens with a finite logit (NaN and -inf never drawn), sorted by logit
//      descending, ties by lower id;
//   2. top-k (k > 0): the first k;
//   3. top-p (p < 1): the shortest prefix whose mass reaches p, mass w_i = exp(l_i - l_max) summed
//      in sorted order by the chunked rule below (at least one token);
//   4. min-p (m > 0): the tokens with exp(l_i - l_max) >= m (a prefix; at least one);
//   5. temperature t <= 0: the first candidate (greedy, = argmax with lowest id on ties);
//      otherwise weights exp((l_i - l_max) / t), total by the chunked rule,
//      u = uniform(seed, position, 0) * total, and the first candidate whose running sum exceeds u
//      (the last candidate when none does).
// Chunked sums (so a GPU block computes them in parallel, in an order fixed by the candidate count
// only): candidates in chunks of kSumChunk; a chunk's total T_c sums its weights left to right from
// 0; the prefix P_0 = 0, P_{c+1} = P_c + T_c (left to right over the chunks); the total is P_last;
// the running sum at candidate i of chunk c starts at P_c and adds the chunk's weights up to i left
// to right. For n <= kSumChunk this is the plain sequential sum.
// exp is dsk::math::exp and every float step is explicit (docs/numerics.md), and the random number
// is Philox keyed by (seed, position) (philox.hpp): a GPU sampler following the same steps draws the
// same token.
#pragma once

#include <cstdint>

namespace dsk::sample {

inline constexpr int32_t kSumChunk = 128;

struct SamplerParams {
  float temperature = 0.0f;  // <= 0: greedy
  int32_t top_k = 0;         // <= 0: off
  float top_p = 1.0f;        // >= 1: off
  float min_p = 0.0f;        // <= 0: off
  uint64_t seed = 0;
};

}  // namespace dsk::sample
