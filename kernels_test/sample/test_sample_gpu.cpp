// GPU sampling (dsk/sample/sample_cuda.cuh) == dsk::ref::sample::sample, token for token: greedy
// (ties to the lowest id, -0 == +0, NaN and -inf never drawn, +inf wins, nothing finite -> -1);
// the full chain at a real vocabulary (129280: 1010 chunks) and above one block's chunks (200000)
// over temperatures, top-k (1, 40, > n), top-p (tiny, 0.5, 0.95), min-p, and many positions;
// vocabularies of 1, 127, 128, 129 (the chunk tail); heavy ties; sparse candidates; the position
// from device memory in a replayed CUDA graph; launcher errors.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "catch.hpp"
#include "reference/sample.hpp"
#include "sample_gpu_kernels.hpp"

using namespace dsk;
using dsk::sample::SamplerParams;
namespace gs = dsk::test::gpu_sample;

namespace {

std::vector<int64_t> positions(int n, int64_t first = 0) {
  std::vector<int64_t> p;
  for (int i = 0; i < n; ++i) p.push_back(first + i * 7919);
  return p;
}

// GPU tokens == host tokens at every position; returns how many distinct tokens were drawn.
size_t check_same(const std::vector<float>& l, const SamplerParams& sp, const std::vector<int64_t>& pos,
                  bool graph = false) {
  const std::vector<int32_t> got = gs::run_sample(l, sp, pos, graph);
  std::vector<int32_t> distinct;
  for (size_t i = 0; i < pos.size(); ++i) {
    const int32_t want = ref::sample::sample(l.data(), static_cast<int32_t>(l.size()), sp, static_cast<uint64_t>(pos[i]));
    INFO("n_vocab " << l.size() << " T " << sp.temperature << " k " << sp.top_k << " p " << sp.top_p << " min_p "
                    << sp.min_p << " seed " << sp.seed << " pos " << pos[i] << " graph " << graph);
    REQUIRE(got[i] == want);
    bool seen = false;
    for (int32_t d : distinct) seen = seen || d == want;
    if (!seen) distinct.push_back(want);
  }
  return distinct.size();
}

std::vector<float> gaussian_logits(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> l(n);
  for (float& x : l) x = d(rng);
  return l;
}

}  // namespace

TEST_CASE("greedy: lowest id on ties, -0 == +0, NaN / -inf never, +inf wins, -1 when none", "[sample][gpu]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const SamplerParams greedy{};
  CHECK(check_same({1.0f, 3.0f, nan, 3.0f, -inf}, greedy, {0}) == 1);
  CHECK(gs::run_sample({1.0f, 3.0f, nan, 3.0f, -inf}, greedy, {0})[0] == 1);
  CHECK(gs::run_sample({-0.0f, 0.0f, -1.0f}, greedy, {0})[0] == 0);
  CHECK(gs::run_sample({-1.0f, 0.0f, -0.0f}, greedy, {0})[0] == 1);
  CHECK(gs::run_sample({nan, nan, -inf}, greedy, {0})[0] == -1);
  CHECK(gs::run_sample({0.0f, inf, 5.0f, inf}, greedy, {0})[0] == 1);
  CHECK(gs::run_sample({-3.0e38f, -inf, -2.9e38f}, greedy, {0})[0] == 2);
  std::vector<float> big = gaussian_logits(129280, 1, 3.0f);
  big[77777] = 100.0f;
  big[120000] = 100.0f;
  CHECK(gs::run_sample(big, greedy, {0})[0] == 77777);
  check_same(big, greedy, {5});
  // Temperature > 0 with an infinite maximum: greedy too.
  CHECK(gs::run_sample({0.0f, inf, 5.0f, inf}, SamplerParams{1.0f, 0, 1.0f, 0.0f, 9}, {0, 1, 2})[2] == 1);
  CHECK(gs::run_sample({nan, -inf}, SamplerParams{1.0f, 0, 0.9f, 0.1f, 9}, {0})[0] == -1);
}

TEST_CASE("the chain at a real vocabulary: every parameter set, many positions", "[sample][gpu]") {
  const std::vector<float> l = gaussian_logits(129280, 7, 2.5f);
  const auto pos = positions(16);
  for (float t : {0.05f, 1.0f, 100.0f})
    for (int32_t k : {0, 1, 40, 200000})
      for (float p : {1.0f, 0.95f, 1e-6f})
        for (float mp : {0.0f, 0.05f}) {
          const SamplerParams sp{t, k, p, mp, 0x1234567890ull + static_cast<uint64_t>(k)};
          const size_t distinct = check_same(l, sp, pos);
          if (k == 1 || p == 1e-6f) CHECK(distinct == 1);
          if (k == 0 && p == 1.0f && mp == 0.0f && t >= 1.0f) CHECK(distinct > 8);  // real draws, not a constant
        }
}

TEST_CASE("more candidates than one block's chunks (200000 logits)", "[sample][gpu]") {
  const std::vector<float> l = gaussian_logits(200000, 11, 0.5f);
  const auto pos = positions(24, 3);
  CHECK(check_same(l, SamplerParams{1.0f, 0, 1.0f, 0.0f, 5}, pos) > 20);
  check_same(l, SamplerParams{2.0f, 0, 0.99f, 0.0f, 5}, pos);
  check_same(l, SamplerParams{0.8f, 150000, 0.9f, 0.01f, 6}, pos);
}

TEST_CASE("small vocabularies around the chunk size", "[sample][gpu]") {
  for (size_t n : {1, 2, 127, 128, 129, 255, 256, 257, 1000}) {
    const std::vector<float> l = gaussian_logits(n, static_cast<uint32_t>(n), 1.0f);
    check_same(l, SamplerParams{1.0f, 0, 1.0f, 0.0f, 3}, positions(32));
    check_same(l, SamplerParams{0.9f, 5, 0.8f, 0.02f, 4}, positions(32));
  }
}

TEST_CASE("ties, signed zeros, sparse candidates and extreme logits", "[sample][gpu]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  // Heavy ties: many equal logits, order by id decides prefix sums and top-k.
  std::vector<float> ties(5000);
  for (size_t i = 0; i < ties.size(); ++i) ties[i] = static_cast<float>(i % 4);
  ties[17] = -0.0f;
  ties[18] = 0.0f;
  for (int32_t k : {0, 3, 1250, 1251})
    check_same(ties, SamplerParams{1.0f, k, 0.7f, 0.0f, 8}, positions(40));
  // Sparse: mostly NaN / -inf, a few candidates spread across chunks.
  std::vector<float> sparse(70000, -inf);
  for (size_t i = 0; i < sparse.size(); i += 3) sparse[i] = nan;
  for (size_t i = 1; i < sparse.size(); i += 997) sparse[i] = static_cast<float>(i % 13) * 0.25f;
  sparse[2] = -0.0f;
  CHECK(check_same(sparse, SamplerParams{1.0f, 0, 1.0f, 0.0f, 2}, positions(40)) > 5);
  check_same(sparse, SamplerParams{0.5f, 10, 0.9f, 0.1f, 2}, positions(40));
  // Extreme finite logits: differences overflow to -inf, weights underflow to 0.
  std::vector<float> ext = {3.0e38f, -3.0e38f, 1.0e38f, 3.0e38f, 0.0f, -1.0e-45f, 1.0e-45f};
  check_same(ext, SamplerParams{1.0f, 0, 1.0f, 0.0f, 1}, positions(20));
  check_same(ext, SamplerParams{1.0e-30f, 0, 0.5f, 0.5f, 1}, positions(20));
}

TEST_CASE("position from device memory inside a replayed CUDA graph", "[sample][gpu]") {
  const std::vector<float> l = gaussian_logits(32000, 21, 1.5f);
  const auto pos = positions(40, 1);
  for (const SamplerParams& sp : {SamplerParams{1.0f, 0, 1.0f, 0.0f, 77}, SamplerParams{0.8f, 40, 0.9f, 0.05f, 78},
                                   SamplerParams{}})
    check_same(l, sp, pos, true);
  // The graph draws what eager launches draw.
  const SamplerParams sp{1.0f, 0, 0.95f, 0.0f, 79};
  CHECK(gs::run_sample(l, sp, pos, true) == gs::run_sample(l, sp, pos, false));
}

TEST_CASE("launcher errors are values", "[sample][gpu]") {
  const SamplerParams t1{1.0f, 0, 1.0f, 0.0f, 0};
  CHECK(gs::sample_status(0, t1, false, 1 << 20).code == Status::kInvalidArgument);
  CHECK(gs::sample_status(16, t1, true, 1 << 20).code == Status::kInvalidArgument);
  CHECK(gs::sample_status(16, t1, false, 16).code == Status::kWorkspaceTooSmall);
  CHECK(gs::sample_status(16, SamplerParams{}, false, 0).ok());  // greedy needs no workspace
  CHECK(gs::sample_status(16, t1, false, 1 << 20).ok());
}
