// dsk/sample/philox.hpp — the counter-based random numbers of sampling, host and device.
//
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a keyed
// bijection of a 128-bit counter, so draw number i of position p under seed s is a pure function
// of (s, p, i). The CPU and the GPU backends therefore draw the same numbers without sharing state.
#pragma once

#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"

namespace dsk::sample {

struct Philox4x32 {
  uint32_t v[4];
};

namespace detail {
DSK_HD void mulhilo32(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}
}  // namespace detail

// Ten rounds of Philox4x32 on counter c with key k.
DSK_HD Philox4x32 philox4x32_10(Philox4x32 c, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // multipliers
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    detail::mulhilo32(kM0, c.v[0], hi0, lo0);
    detail::mulhilo32(kM1, c.v[2], hi1, lo1);
    c = Philox4x32{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return c;
}

// A uniform float in [0, 1) with 24 random bits: draw `draw` (0..3 share one Philox call) of
// position `pos` under `seed`. Exact: an integer times 2^-24.
DSK_HD float uniform(uint64_t seed, uint64_t pos, uint32_t draw) {
  const Philox4x32 c{{static_cast<uint32_t>(pos), static_cast<uint32_t>(pos >> 32), draw >> 2, 0x64736b00u}};
  const Philox4x32 r = philox4x32_10(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return fp::mul(fp::from_int(static_cast<int32_t>(r.v[draw & 3u] >> 8)), 5.9604644775390625e-8f);
}

}  // namespace dsk::sample
