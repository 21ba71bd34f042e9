// dsk/core/half.hpp: fp16 / bf16 conversions against an independent float64 oracle.
#include <cmath>
#include <cstdint>

#include "catch.hpp"
#include "dsk/core/half.hpp"

using namespace dsk;

namespace {

// Value of a binary16 pattern, computed in double from the definition.
double f16_value(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  if (e == 31) v = m ? NAN : INFINITY;
  return s ? -v : v;
}

// Nearest binary16 to x (ties to even) by search over the monotone positive patterns.
uint16_t f16_oracle(float x) {
  if (std::isnan(x)) return std::signbit(x) ? 0xfe00 : 0x7e00;
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(x));
  if (a >= 65520.0) return sign | 0x7c00;
  uint32_t lo = 0, hi = 0x7bff;  // largest pattern with value <= a
  while (lo < hi) {
    const uint32_t mid = (lo + hi + 1) / 2;
    if (f16_value(static_cast<uint16_t>(mid)) <= a) lo = mid; else hi = mid - 1;
  }
  const double below = f16_value(static_cast<uint16_t>(lo));
  if (below == a || lo == 0x7bff) return static_cast<uint16_t>(sign | lo);
  const double above = f16_value(static_cast<uint16_t>(lo + 1));
  const double dlo = a - below, dhi = above - a;
  uint32_t pick = dlo < dhi ? lo : (dhi < dlo ? lo + 1 : ((lo & 1) ? lo + 1 : lo));
  return static_cast<uint16_t>(sign | pick);
}

uint16_t bf16_oracle(float x) {
  const uint32_t u = fp::bits(x);
  if (std::isnan(x)) return static_cast<uint16_t>((u >> 16) | 0x40);
  // Truncate, then decide by the exact remainder in double.
  const uint16_t t = static_cast<uint16_t>(u >> 16);
  const double lo = bf16_bits_to_f32(t), ax = x;
  const uint16_t up = static_cast<uint16_t>(t + 1);
  const double hi = (t & 0x7fff) == 0x7f7f ? std::copysign(std::ldexp(1.0, 128), ax) : bf16_bits_to_f32(up);
  const double dlo = std::fabs(ax - lo), dhi = std::fabs(hi - ax);
  if (dlo < dhi) return t;
  if (dhi < dlo) return up;
  return (t & 1) ? up : t;
}

}  // namespace

TEST_CASE("f16 -> f32 is exact for all 65536 patterns", "[core][half]") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_bits_to_f32(static_cast<uint16_t>(h));
    const double want = f16_value(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      REQUIRE(std::isnan(f));
    } else {
      REQUIRE(static_cast<double>(f) == want);
      REQUIRE(std::signbit(f) == std::signbit(want));
    }
  }
}

TEST_CASE("f32 -> f16 rounds to nearest even (sweep + boundaries)", "[core][half]") {
  long bad = 0;
  for (uint64_t u = 0; u < (1ull << 32); u += 4099) {
    const float x = fp::from_bits(static_cast<uint32_t>(u));
    if (f32_to_f16_bits(x) != f16_oracle(x)) ++bad;
  }
  CHECK(bad == 0);
  // Named boundaries: max half, overflow tie, smallest subnormal, its half (tie to 0), 2^-14.
  const float cases[] = {65504.0f, 65519.99f, 65520.0f, 1e9f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f,
                         6.1035156e-5f, 6.1035153e-5f, -0.0f, 0.0f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048,
                         -3.0f, INFINITY, -INFINITY, 1e-45f, 0.333333343f};
  for (float x : cases) {
    INFO("x = " << x);
    CHECK(f32_to_f16_bits(x) == f16_oracle(x));
  }
  CHECK(f32_to_f16_bits(65520.0f) == 0x7c00);
  CHECK(f32_to_f16_bits(1.0f + 1.0f / 2048) == 0x3c00);  // tie -> even
  CHECK(f32_to_f16_bits(1.0f + 3.0f / 2048) == 0x3c02);  // tie -> even (up)
  CHECK(f32_to_f16_bits(-0.0f) == 0x8000);
  CHECK(f32_to_f16_bits(NAN) == 0x7e00);
  CHECK(f32_to_f16_bits(-NAN) == 0xfe00);
}

TEST_CASE("f16 round trip keeps every finite half", "[core][half]") {
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaN
    REQUIRE(f32_to_f16_bits(f16_bits_to_f32(static_cast<uint16_t>(h))) == h);
  }
}

TEST_CASE("bf16 conversions: RNE, NaN stays quiet NaN, exact widening", "[core][half]") {
  long bad = 0;
  for (uint64_t u = 0; u < (1ull << 32); u += 4099) {
    const float x = fp::from_bits(static_cast<uint32_t>(u));
    if (f32_to_bf16_bits(x) != bf16_oracle(x)) ++bad;
  }
  CHECK(bad == 0);
  CHECK(f32_to_bf16_bits(1.0f) == 0x3f80);
  CHECK(f32_to_bf16_bits(fp::from_bits(0x3f808000u)) == 0x3f80);  // tie -> even (down)
  CHECK(f32_to_bf16_bits(fp::from_bits(0x3f818000u)) == 0x3f82);  // tie -> even (up)
  CHECK(f32_to_bf16_bits(fp::from_bits(0x7f7fffffu)) == 0x7f80);  // FLT_MAX rounds to inf
  CHECK(f32_to_bf16_bits(fp::from_bits(0x00000001u)) == 0x0000);  // subnormal rounds, not flushed...
  CHECK(f32_to_bf16_bits(fp::from_bits(0x00008000u)) == 0x0000);  // ...tie to even
  CHECK(f32_to_bf16_bits(fp::from_bits(0x00018000u)) == 0x0002);
  CHECK(f32_to_bf16_bits(fp::from_bits(0x7f800001u)) == 0x7fc0);  // signalling NaN -> quiet
  for (uint32_t b = 0; b < 65536; ++b)
    REQUIRE(fp::bits(bf16_bits_to_f32(static_cast<uint16_t>(b))) == b << 16);
}
