// dsk/core/fp.hpp: explicit-rounding helpers, canonical NaN, round_half_away.
#include <cmath>

#include "catch.hpp"
#include "dsk/core/fp.hpp"

using namespace dsk;

TEST_CASE("round_half_away matches C roundf", "[core][fp]") {
  const float cases[] = {0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 0.49999997f, -0.49999997f, 8388607.5f, 8388608.0f,
                         -8388607.5f, 1e10f, -0.3f, -0.0f, 0.0f, 126.5f, -126.5f, 127.49999f, INFINITY, -INFINITY};
  for (float x : cases) {
    INFO("x = " << x);
    CHECK(fp::bits(fp::round_half_away(x)) == fp::bits(std::round(x)));
  }
  for (uint64_t u = 0; u < (1ull << 32); u += 65521) {
    const float x = fp::from_bits(static_cast<uint32_t>(u));
    if (std::isnan(x)) continue;
    REQUIRE(fp::bits(fp::round_half_away(x)) == fp::bits(std::round(x)));
  }
  CHECK(std::isnan(fp::round_half_away(NAN)));
}

TEST_CASE("canonical NaN and maxNum", "[core][fp]") {
  CHECK(fp::canonical_bits(fp::from_bits(0xffc12345u)) == fp::kCanonicalNaNBits);
  CHECK(fp::canonical_bits(-0.0f) == 0x80000000u);
  CHECK(fp::max_num(NAN, 1.0f) == 1.0f);
  CHECK(fp::max_num(1.0f, NAN) == 1.0f);
  CHECK(fp::min_num(NAN, -1.0f) == -1.0f);
  CHECK(fp::max_num(-INFINITY, 3.0f) == 3.0f);
  CHECK(fp::is_finite(1.0f));
  CHECK_FALSE(fp::is_finite(INFINITY));
  CHECK_FALSE(fp::is_finite(NAN));
  CHECK(fp::is_inf(-INFINITY));
  CHECK(fp::abs(-0.0f) == 0.0f);
  CHECK_FALSE(std::signbit(fp::abs(-0.0f)));
}

TEST_CASE("fma is fused, mul+add is not", "[core][fp]") {
  // (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24: the 2^-24 term survives only in the fused form.
  const float a = 1.0f + 1.0f / 4096, c = -(1.0f + 1.0f / 2048);
  CHECK(fp::fma(a, a, c) == std::ldexp(1.0f, -24));
  CHECK(fp::add(fp::mul(a, a), c) == 0.0f);
}
