// dsk/core/half.hpp — IEEE binary16 and bfloat16 <-> float32, one bit-level source for host and
// device.
//
// float -> half and float -> bfloat16 round to nearest, ties to even, with subnormals kept (never
// flushed) and overflow to infinity. NaN: float -> half gives sign | 0x7e00 (ggml's choice);
// float -> bfloat16 keeps the top payload bits and sets the quiet bit (ggml and gguf-py's choice).
// half/bfloat16 -> float is exact. The conversions use integer operations only, so no compiler
// flag (FTZ, fast-math) can change them.
#pragma once

#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"

namespace dsk {

DSK_HD uint16_t f32_to_f16_bits(float f) {
  const uint32_t x = fp::bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: rounds to inf
  if (ax >= 0x38800000u) {                                              // normal half (>= 2^-14)
    const uint32_t r = ax + 0x0fffu + ((ax >> 13) & 1u);               // round away 13 bits, RNE
    return static_cast<uint16_t>(sign | ((r - 0x38000000u) >> 13));     // rebias 127 -> 15
  }
  if (ax <= 0x33000000u) return sign;  // <= 2^-25: ties to even give zero
  // Subnormal half: units of 2^-24.
  const uint32_t e = ax >> 23;                   // 102..112
  const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e;               // 14..24
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t halfway = 1u << (shift - 1u);
  if (rem > halfway || (rem == halfway && (q & 1u))) ++q;
  return static_cast<uint16_t>(sign | q);
}

DSK_HD float f16_bits_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  if (e == 0x1fu) return fp::from_bits(sign | 0x7f800000u | (m << 13));  // inf / NaN, payload kept
  if (e != 0) return fp::from_bits(sign | ((e + 112u) << 23) | (m << 13));
  if (m == 0) return fp::from_bits(sign);
  int32_t ee = 1;  // subnormal: normalise
  while (!(m & 0x400u)) {
    m <<= 1;
    --ee;
  }
  return fp::from_bits(sign | (static_cast<uint32_t>(ee + 112) << 23) | ((m & 0x3ffu) << 13));
}

DSK_HD uint16_t f32_to_bf16_bits(float f) {
  const uint32_t x = fp::bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

DSK_HD float bf16_bits_to_f32(uint16_t b) { return fp::from_bits(static_cast<uint32_t>(b) << 16); }

// Storage types: plain 16-bit patterns, trivially copyable, same size and layout on host and device.
struct f16 {
  uint16_t bits;
  DSK_HD static f16 from_float(float f) { return f16{f32_to_f16_bits(f)}; }
  DSK_HD float to_float() const { return f16_bits_to_f32(bits); }
};
struct bf16 {
  uint16_t bits;
  DSK_HD static bf16 from_float(float f) { return bf16{f32_to_bf16_bits(f)}; }
  DSK_HD float to_float() const { return bf16_bits_to_f32(bits); }
};
static_assert(sizeof(f16) == 2 && sizeof(bf16) == 2, "16-bit storage types");

}  // namespace dsk
