// dsk/core/reduce.hpp: the canonical summation orders, against explicit hand-written orders and a
// float64 sum.
#include <cmath>
#include <random>
#include <vector>

#include "catch.hpp"
#include "dsk/core/reduce.hpp"

using namespace dsk;

TEST_CASE("tree32 is the neighbours-first balanced tree", "[core][reduce]") {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1e4f, 1e4f);
  for (int trial = 0; trial < 1000; ++trial) {
    float v[32];
    for (float& x : v) x = d(rng);
    // Level by level, written out.
    float l1[16], l2[8], l3[4], l4[2];
    for (int i = 0; i < 16; ++i) l1[i] = v[2 * i] + v[2 * i + 1];
    for (int i = 0; i < 8; ++i) l2[i] = l1[2 * i] + l1[2 * i + 1];
    for (int i = 0; i < 4; ++i) l3[i] = l2[2 * i] + l2[2 * i + 1];
    for (int i = 0; i < 2; ++i) l4[i] = l3[2 * i] + l3[2 * i + 1];
    REQUIRE(fp::bits(order::tree32(v)) == fp::bits(l4[0] + l4[1]));
  }
}

TEST_CASE("tree32 differs from a sequential sum (the order is real)", "[core][reduce]") {
  float v[32] = {};
  v[0] = 1e8f;
  v[1] = -1e8f;
  for (int i = 2; i < 32; ++i) v[i] = 1.0f;
  // Tree: (1e8 + -1e8) = 0, then 30 ones summed exactly = 30.
  CHECK(order::tree32(v) == 30.0f);
  float seq = 0.0f;
  float w[32];
  for (int i = 0; i < 32; ++i) w[i] = v[(i + 2) % 32];  // ones first, then 1e8, -1e8
  for (float x : w) seq += x;
  CHECK(seq != order::tree32(w));  // sequential: 30 + 1e8 - 1e8 loses the 30
}

TEST_CASE("row_sum: contiguous chunks of ceil(nb/32), sequential, then tree32", "[core][reduce]") {
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (int nb : {1, 2, 7, 31, 32, 33, 48, 63, 64, 65, 224, 225, 1000}) {
    std::vector<float> r(nb);
    for (float& x : r) x = d(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
    const int L = (nb + 31) / 32;
    float slot[32];
    for (int c = 0; c < 32; ++c) {
      float acc = 0.0f;
      for (int b = c * L; b < std::min(nb, (c + 1) * L); ++b) acc += r[b];
      slot[c] = acc;
    }
    INFO("nb = " << nb);
    REQUIRE(fp::bits(order::row_sum(nb, [&](int b) { return r[b]; })) == fp::bits(order::tree32(slot)));
    double exact = 0.0, mag = 0.0;
    for (float x : r) {
      exact += x;
      mag += std::fabs(x);
    }
    CHECK(std::fabs(order::row_sum(nb, [&](int b) { return r[b]; }) - exact) <= mag * 1e-6);
  }
}

TEST_CASE("row_sum: empty slots are +0 (a row of -0 sums to +0)", "[core][reduce]") {
  CHECK(fp::bits(order::row_sum(3, [](int) { return -0.0f; })) == 0u);
  CHECK(std::isnan(order::row_sum(40, [](int b) { return b == 17 ? NAN : 1.0f; })));
  CHECK(order::row_sum(40, [](int b) { return b == 5 ? INFINITY : 1.0f; }) == INFINITY);
}

template <int NT>
float vector_sum_explicit(const std::vector<float>& x) {
  // Thread partials, warp trees, then the tree over warp sums, spelled out independently.
  float warp[32] = {};
  for (int w = 0; w < NT / 32; ++w) {
    float lane[32];
    for (int l = 0; l < 32; ++l) {
      float acc = 0.0f;
      for (size_t i = static_cast<size_t>(w * 32 + l); i < x.size(); i += NT) acc += x[i];
      lane[l] = acc;
    }
    warp[w] = order::tree32(lane);
  }
  return order::tree32(warp);
}

TEST_CASE("vector_sum<NT> reproduces the block order", "[core][reduce]") {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (int n : {1, 31, 32, 255, 256, 257, 1000, 7168, 20000}) {
    std::vector<float> x(n);
    for (float& v : x) v = d(rng);
    auto at = [&](int64_t i) { return x[static_cast<size_t>(i)]; };
    INFO("n = " << n);
    REQUIRE(fp::bits(order::vector_sum<32>(n, at)) == fp::bits(vector_sum_explicit<32>(x)));
    REQUIRE(fp::bits(order::vector_sum<256>(n, at)) == fp::bits(vector_sum_explicit<256>(x)));
    REQUIRE(fp::bits(order::vector_sum<1024>(n, at)) == fp::bits(vector_sum_explicit<1024>(x)));
  }
}
