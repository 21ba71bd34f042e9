// Bitwise comparison helpers for GPU-vs-reference tests: NaNs are made canonical (their positions
// must match), every other value is compared by its bits, so +0 and -0 differ.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "dsk/core/fp.hpp"
#include "dsk/core/half.hpp"

namespace dsk::test {

struct Mismatch {
  size_t count = 0;
  size_t first = 0;
  uint32_t got = 0, want = 0;
};

// Poison value for outputs before a kernel runs: a NaN with a payload no computation produces. An
// element still holding it was never written and counts as a mismatch even where the reference
// has a NaN.
constexpr uint32_t kPoisonBits = 0x7fbadbadu;
inline float poison() { return fp::from_bits(kPoisonBits); }

inline Mismatch compare_bits(const float* got, const float* want, size_t n) {
  Mismatch m;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t g = fp::canonical_bits(got[i]), w = fp::canonical_bits(want[i]);
    if (g != w || fp::bits(got[i]) == kPoisonBits) {
      if (m.count == 0) {
        m.first = i;
        m.got = g;
        m.want = w;
      }
      ++m.count;
    }
  }
  if (m.count)
    std::fprintf(stderr, "  %zu of %zu differ; first at %zu: got %08x (%.9g) want %08x (%.9g)\n", m.count, n,
                 m.first, m.got, fp::from_bits(m.got), m.want, fp::from_bits(m.want));
  return m;
}
inline Mismatch compare_bits(const std::vector<float>& got, const std::vector<float>& want) {
  return compare_bits(got.data(), want.data(), got.size() < want.size() ? got.size() : want.size());
}

}  // namespace dsk::test
