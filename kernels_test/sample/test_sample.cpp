// dsk/sample: Philox known-answer vectors, the uniform draw, and the sampling chain.
#include <cmath>
#include <vector>

#include "catch.hpp"
#include "dsk/sample/philox.hpp"
#include "reference/sample.hpp"

using namespace dsk;
using dsk::sample::SamplerParams;

TEST_CASE("philox4x32_10 known-answer vectors (Random123)", "[sample][philox]") {
  auto eq = [](sample::Philox4x32 r, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    return r.v[0] == a && r.v[1] == b && r.v[2] == c && r.v[3] == d;
  };
  CHECK(eq(sample::philox4x32_10({{0, 0, 0, 0}}, 0, 0), 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u));
  CHECK(eq(sample::philox4x32_10({{~0u, ~0u, ~0u, ~0u}}, ~0u, ~0u), 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u,
           0x6d5451fdu));
  CHECK(eq(sample::philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u),
           0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u));
}

TEST_CASE("uniform: in [0, 1), 24-bit grid, a pure function of (seed, pos, draw)", "[sample][philox]") {
  double sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const float u = sample::uniform(42, static_cast<uint64_t>(i), 0);
    REQUIRE(u >= 0.0f);
    REQUIRE(u < 1.0f);
    REQUIRE(std::ldexp(u, 24) == std::floor(std::ldexp(u, 24)));
    sum += u;
  }
  CHECK(std::fabs(sum / n - 0.5) < 0.005);
  CHECK(sample::uniform(42, 7, 0) == sample::uniform(42, 7, 0));
  CHECK(sample::uniform(42, 7, 0) != sample::uniform(43, 7, 0));
  CHECK(sample::uniform(42, 7, 0) != sample::uniform(42, 8, 0));
  CHECK(sample::uniform(42, 7, 0) != sample::uniform(42, 7, 1));
  CHECK(sample::uniform(1, 1ull << 40, 0) != sample::uniform(1, 0, 0));  // high position bits count
}

TEST_CASE("greedy and argmax: lowest id on ties, NaN never wins", "[sample]") {
  const float l[] = {1.0f, 3.0f, NAN, 3.0f, -INFINITY};
  CHECK(ref::sample::argmax(l, 5) == 1);
  CHECK(ref::sample::sample(l, 5, SamplerParams{}, 0) == 1);
  const float nan3[] = {NAN, NAN, NAN};
  CHECK(ref::sample::argmax(nan3, 3) == -1);
  CHECK(ref::sample::sample(nan3, 3, SamplerParams{0.8f, 0, 1.0f, 0.0f, 1}, 0) == -1);
  const float inf[] = {0.0f, INFINITY, 5.0f};
  CHECK(ref::sample::sample(inf, 3, SamplerParams{1.0f, 0, 1.0f, 0.0f, 1}, 0) == 1);
}

TEST_CASE("top-k, top-p and min-p restrict the draws", "[sample]") {
  // Logits with probabilities ~ 0.5, 0.25, 0.125, ... at temperature 1.
  std::vector<float> l(16);
  for (int i = 0; i < 16; ++i) l[static_cast<size_t>(i)] = -static_cast<float>(i) * std::log(2.0f);
  auto draws = [&](SamplerParams p) {
    std::vector<int> count(16);
    for (uint64_t pos = 0; pos < 20000; ++pos) ++count[static_cast<size_t>(ref::sample::sample(l.data(), 16, p, pos))];
    return count;
  };
  auto c = draws({1.0f, 2, 1.0f, 0.0f, 7});
  CHECK(c[0] + c[1] == 20000);
  CHECK(std::abs(c[0] - 13333) < 400);  // 2:1
  c = draws({1.0f, 0, 0.7f, 0.0f, 7});  // mass 0.5, 0.75 >= 0.7: two tokens
  CHECK(c[0] + c[1] == 20000);
  c = draws({1.0f, 0, 1.0f, 0.2f, 7});  // exp(l - lmax) >= 0.2: 1, 0.5, 0.25
  CHECK(c[0] + c[1] + c[2] == 20000);
  CHECK(c[2] > 1500);
  c = draws({1.0f, 0, 1.0f, 0.0f, 7});  // untruncated: geometric
  CHECK(std::abs(c[0] - 10000) < 400);
  CHECK(std::abs(c[1] - 5000) < 300);
  c = draws({0.25f, 0, 1.0f, 0.0f, 7});  // low temperature sharpens: p0 = 1/(1 + 1/16 + ...)
  CHECK(c[0] > 18500);
}

TEST_CASE("sampling is a pure function of (logits, params, position)", "[sample]") {
  std::vector<float> l(1000);
  for (size_t i = 0; i < l.size(); ++i) l[i] = std::sin(static_cast<float>(i) * 0.37f) * 4.0f;
  const SamplerParams p{0.9f, 50, 0.95f, 0.01f, 1234};
  for (uint64_t pos = 0; pos < 100; ++pos)
    REQUIRE(ref::sample::sample(l.data(), 1000, p, pos) == ref::sample::sample(l.data(), 1000, p, pos));
}

TEST_CASE("chunked sums over many chunks: draws follow the weights", "[sample]") {
  // 1000 candidates (8 chunks of 128): logits in 4 levels, probabilities against the float64 oracle.
  std::vector<float> l(1000);
  for (size_t i = 0; i < l.size(); ++i) l[i] = static_cast<float>(i % 4) * 0.5f;
  double z = 0;
  for (float x : l) z += std::exp(static_cast<double>(x) - 1.5);
  std::vector<int> level(4);
  const int n = 40000;
  for (uint64_t pos = 0; pos < static_cast<uint64_t>(n); ++pos) {
    const int32_t id = ref::sample::sample(l.data(), 1000, SamplerParams{1.0f, 0, 1.0f, 0.0f, 99}, pos);
    REQUIRE(id >= 0);
    ++level[static_cast<size_t>(id % 4)];
  }
  for (int k = 0; k < 4; ++k) {
    const double p = 250.0 * std::exp(0.5 * k - 1.5) / z;
    CHECK(std::fabs(level[static_cast<size_t>(k)] / static_cast<double>(n) - p) < 0.01);
  }
  // top-p over chunks: the kept prefix is the highest level first (ids 3, 7, ... sort first).
  const SamplerParams tp{1.0f, 0, 0.2f, 0.0f, 5};
  for (uint64_t pos = 0; pos < 2000; ++pos) REQUIRE(ref::sample::sample(l.data(), 1000, tp, pos) % 4 == 3);
}
