// GPU == reference by bits for the router (dsk/router/router_cuda.cuh vs reference/router.*): all
// scorings, bias, groups (max / sum_top2), normalize with eps / floor, scale, hash layers,
// n_expert 32..512, k 1..16; random logits and named edge tokens (NaN, +-inf, fully masked, exact
// ties, all equal); the fast paths and the runtime-sized kernel agree; T = 1 vs T = many.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "reference/router.hpp"
#include "router_gpu_kernels.hpp"

using namespace dsk;
using dsk::quant::test::Rng;
namespace gr = dsk::test::gpu_router;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

void fill_token(Rng& rng, float* l, int n, int kind) {
  for (int e = 0; e < n; ++e) l[e] = rng.normal() * 2.0f;
  switch (kind) {
    case 1: l[rng.below(n)] = kNaN; l[rng.below(n)] = kNaN; break;
    case 2: l[rng.below(n)] = kInf; break;
    case 3: for (int e = 0; e < n; e += 2) l[e] = -kInf; break;
    case 4: for (int e = 0; e < n; ++e) l[e] = -kInf; break;  // fully masked
    case 5: for (int e = 0; e < n; ++e) l[e] = static_cast<float>(rng.below(4)) * 0.5f; break;  // ties
    case 6: for (int e = 0; e < n; ++e) l[e] = 1.0f; break;  // all equal
    case 7: for (int e = 0; e < n; ++e) l[e] = kNaN; break;
    case 8: for (int e = 0; e < n; ++e) l[e] = rng.below(2) ? 0.0f : -0.0f; break;
    case 9: for (int e = 0; e < n; ++e) l[e] = 60.0f * rng.normal(); break;  // saturated sigmoid: ties at 1
    default: break;
  }
}
constexpr int kKinds = 10;

struct Config {
  int n_expert, k;
  router::Scoring scoring;
  bool bias;
  int n_group, topk_group;
  router::GroupScore gs;
  bool normalize;
  float eps, floor, scale;
  bool hash;
};

void run(Rng& rng, const Config& c, int64_t T) {
  const int n = c.n_expert;
  const int64_t ls = (T % 2) ? n + 3 : 0, os = (T % 3 == 0) ? c.k + 2 : 0;
  std::vector<float> logits(static_cast<size_t>(T * (ls ? ls : n)), 333.0f);
  for (int64_t t = 0; t < T; ++t) fill_token(rng, logits.data() + t * (ls ? ls : n), n, static_cast<int>(t % kKinds));
  std::vector<float> bias(n);
  for (int e = 0; e < n; ++e) bias[e] = (e % 7 == 3) ? 0.0f : rng.uniform(-0.1f, 0.1f);
  if (n > 10) bias[9] = -0.0f;
  const int64_t n_vocab = 50, hs = c.k + 1;
  std::vector<int32_t> table(static_cast<size_t>(n_vocab * hs)), tok(T);
  for (int64_t v = 0; v < n_vocab; ++v)
    for (int j = 0; j < c.k; ++j) table[v * hs + j] = rng.below(n);
  for (int64_t t = 0; t < T; ++t) tok[t] = rng.below(static_cast<int>(n_vocab));

  router::Params p;
  p.logits = logits.data(); p.logits_stride = ls; p.T = T; p.n_expert = n; p.k = c.k; p.scoring = c.scoring;
  p.bias = c.bias ? bias.data() : nullptr; p.n_group = c.n_group; p.topk_group = c.topk_group;
  p.group_score = c.gs; p.normalize = c.normalize; p.norm_eps = c.eps; p.norm_floor = c.floor; p.scale = c.scale;
  if (c.hash) {
    p.tid2eid = table.data(); p.tid2eid_stride = hs; p.n_vocab = n_vocab; p.token_ids = tok.data();
  }
  p.out_stride = os;
  const size_t out = static_cast<size_t>(T * (os ? os : c.k));
  std::vector<int32_t> wi(out, -7);
  std::vector<float> ww(out, dsk::test::poison());
  p.ids = wi.data(); p.weights = ww.data();
  REQUIRE(ref::router::select(p).ok());
  INFO("n=" << n << " k=" << c.k << " scoring=" << int(c.scoring) << " bias=" << c.bias << " groups=" << c.n_group
            << "/" << c.topk_group << " gs=" << int(c.gs) << " norm=" << c.normalize << " hash=" << c.hash
            << " T=" << T);
  for (gr::Kernel kernel : {gr::Kernel::dispatch, gr::Kernel::generic, gr::Kernel::block, gr::Kernel::warp}) {
    INFO("kernel " << static_cast<int>(kernel) << " (dispatch, generic, block, warp)");
    std::vector<int32_t> gi(out, -7);
    std::vector<float> gw(out, dsk::test::poison());
    p.ids = gi.data(); p.weights = gw.data();
    REQUIRE(gr::select(p, kernel).ok());
    const int64_t st = os ? os : c.k;
    for (int64_t t = 0; t < T; ++t) {
      INFO("token " << t);
      for (int j = 0; j < c.k; ++j) REQUIRE(gi[t * st + j] == wi[t * st + j]);
      REQUIRE(dsk::test::compare_bits(gw.data() + t * st, ww.data() + t * st, c.k).count == 0);
    }
  }
}
}  // namespace

TEST_CASE("router gpu: model configurations == reference", "[router][gpu]") {
  Rng rng(41);
  using S = router::Scoring;
  using G = router::GroupScore;
  const Config configs[] = {
      {64, 6, S::softmax, false, 0, 0, G::max, false, 0, 0, 1.0f, false},               // V2-Lite
      {160, 6, S::softmax, false, 8, 3, G::max, false, 0, 0, 16.0f, false},             // V2 (groups of 20)
      {256, 8, S::sigmoid, true, 8, 4, G::sum_top2, true, 1e-20f, 0, 2.5f, false},      // V3 / R1
      {384, 8, S::sigmoid, true, 1, 1, G::sum_top2, true, 0, 0, 2.827f, false},         // Kimi-K2
      {256, 6, S::sqrt_softplus, true, 0, 0, G::max, true, 0, 6.103515625e-5f, 1.5f, false},  // V4
      {256, 6, S::sqrt_softplus, false, 0, 0, G::max, true, 0, 6.103515625e-5f, 1.5f, true},  // V4 hash
      {512, 16, S::softmax, true, 16, 5, G::sum_top2, true, 1e-6f, 0.5f, 0.7f, false},
      {32, 1, S::sigmoid, false, 0, 0, G::max, true, 0, 0, 1.0f, false},
      {32, 16, S::softmax, false, 32, 16, G::max, true, 0, 0, 1.0f, false},           // groups of 1
      {96, 5, S::sigmoid, true, 3, 2, G::sum_top2, false, 0, 0, 1.0f, false},          // runtime-sized
      {288, 9, S::sqrt_softplus, true, 9, 2, G::max, true, 0, 0, 1.0f, false},
      {480, 3, S::softmax, false, 0, 0, G::max, true, 0, 0, 3.0f, true},
  };
  for (const Config& c : configs)
    for (int64_t T : {int64_t{1}, int64_t{kKinds}, int64_t{3 * kKinds}, int64_t{257}}) run(rng, c, T);
}

TEST_CASE("router gpu: every n_expert and k, random options", "[router][gpu]") {
  Rng rng(42);
  for (int n = 32; n <= 512; n += 32)
    for (int k : {1, 2, 7, 16}) {
      Config c{n, k, static_cast<router::Scoring>(1 << rng.below(3)), rng.below(2) == 1, 0, 0,
               static_cast<router::GroupScore>(rng.below(2)), rng.below(2) == 1, 0, 0, rng.uniform(0.5f, 3.0f), false};
      const int groups[] = {2, 4, 8, 16, 32};
      const int g = groups[rng.below(5)];
      if (rng.below(2) && n % g == 0) {
        const int G = n / g;
        c.n_group = g;
        c.topk_group = 1 + rng.below(g);
        if (c.gs == router::GroupScore::sum_top2 && G < 2) c.gs = router::GroupScore::max;
        while (c.topk_group * G < k) ++c.topk_group;
      }
      if (c.n_group == 0 && rng.below(4) == 0) c.hash = true;
      run(rng, c, kKinds + 3);
    }
}

TEST_CASE("router gpu: T = 1 per token equals T = many; bad hash ids give -1 / NaN", "[router][gpu]") {
  // T = 1 runs the block-per-token kernel, T = 300 (> 64) the warp-per-token one.
  Rng rng(43);
  const int n = 256, k = 8;
  const int64_t T = 300;
  std::vector<float> logits(T * n), bias(n);
  for (int64_t t = 0; t < T; ++t) fill_token(rng, logits.data() + t * n, n, static_cast<int>(t % kKinds));
  for (float& b : bias) b = rng.uniform(-0.1f, 0.1f);
  router::Params p;
  p.logits = logits.data(); p.T = T; p.n_expert = n; p.k = k; p.bias = bias.data(); p.n_group = 8; p.topk_group = 4;
  p.normalize = true; p.scale = 2.5f;
  std::vector<int32_t> ai(T * k), oi(k);
  std::vector<float> aw(T * k), ow(k);
  p.ids = ai.data(); p.weights = aw.data();
  REQUIRE(gr::select(p).ok());
  for (int64_t t = 0; t < T; ++t) {
    router::Params q = p;
    q.logits = logits.data() + t * n; q.T = 1; q.ids = oi.data(); q.weights = ow.data();
    REQUIRE(gr::select(q).ok());
    for (int j = 0; j < k; ++j) REQUIRE(oi[j] == ai[t * k + j]);
    REQUIRE(dsk::test::compare_bits(ow.data(), aw.data() + t * k, k).count == 0);
  }
  // Hash layer with a token id outside the table and a table entry outside [0, n_expert).
  std::vector<int32_t> table = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 999};
  std::vector<int32_t> tok = {0, 1, 2, -1};
  router::Params h;
  h.logits = logits.data(); h.T = 4; h.n_expert = n; h.k = k; h.tid2eid = table.data(); h.n_vocab = 2;
  h.token_ids = tok.data();
  std::vector<int32_t> hi(4 * k);
  std::vector<float> hw(4 * k);
  h.ids = hi.data(); h.weights = hw.data();
  for (gr::Kernel kernel : {gr::Kernel::block, gr::Kernel::warp}) {
    INFO("kernel " << static_cast<int>(kernel));
    std::fill(hi.begin(), hi.end(), -7);
    REQUIRE(gr::select(h, kernel).ok());
    CHECK(hi[0] == 1);
    CHECK(!std::isnan(hw[0]));
    for (int64_t t = 1; t < 4; ++t)
      for (int j = 0; j < k; ++j) {
        CHECK(hi[t * k + j] == -1);
        CHECK(std::isnan(hw[t * k + j]));
      }
  }
}

TEST_CASE("router gpu: launchers reject unsupported shapes", "[router][gpu]") {
  std::vector<float> l(100);
  std::vector<int32_t> ids(20);
  std::vector<float> w(20);
  router::Params p;
  p.logits = l.data(); p.T = 1; p.ids = ids.data(); p.weights = w.data(); p.k = 4;
  p.n_expert = 48;
  CHECK(gr::select(p).code == Status::kUnsupported);
  p.n_expert = 64; p.k = 17;
  CHECK(gr::select(p).code == Status::kUnsupported);
}
