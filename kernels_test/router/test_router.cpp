// include/dsk/router/router.hpp + reference/router.*: scores, (grouped) top-k, hash layers, weights.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "reference/router.hpp"

using namespace dsk;
using dsk::quant::test::Rng;

namespace {
const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Out {
  std::vector<int32_t> ids;
  std::vector<float> w;
};
Out run(router::Params p) {
  Out o;
  o.ids.assign(p.T * p.k, -7);
  o.w.assign(p.T * p.k, dsk::test::poison());
  p.ids = o.ids.data();
  p.weights = o.w.data();
  DSK_CHECK_STATUS(ref::router::select(p));
  return o;
}

double oracle_score(router::Scoring s, double l) {
  if (s == router::Scoring::sigmoid) return 1 / (1 + std::exp(-l));
  return std::sqrt(std::log1p(std::exp(l)));
}

// Float64 oracle of one token: scores, keys, (grouped) selection by a stable sort, weights.
void oracle(const router::Params& p, const float* l, std::vector<int32_t>& ids, std::vector<double>& w) {
  const int n = p.n_expert;
  std::vector<double> prob(n), key(n);
  if (p.scoring == router::Scoring::softmax) {
    double m = -1e300, s = 0;
    for (int e = 0; e < n; ++e) m = std::max(m, double(l[e]));
    for (int e = 0; e < n; ++e) s += std::exp(l[e] - m);
    for (int e = 0; e < n; ++e) prob[e] = std::exp(l[e] - m) / s;
  } else {
    for (int e = 0; e < n; ++e) prob[e] = oracle_score(p.scoring, l[e]);
  }
  for (int e = 0; e < n; ++e) key[e] = prob[e] + (p.bias ? p.bias[e] : 0.0);
  std::vector<bool> ok(n, true);
  if (p.n_group > 1) {
    const int G = n / p.n_group;
    std::vector<double> gs(p.n_group);
    for (int g = 0; g < p.n_group; ++g) {
      std::vector<double> v(key.begin() + g * G, key.begin() + (g + 1) * G);
      std::sort(v.rbegin(), v.rend());
      gs[g] = p.group_score == router::GroupScore::max ? v[0] : v[0] + v[1];
    }
    std::vector<int> go(p.n_group);
    std::iota(go.begin(), go.end(), 0);
    std::stable_sort(go.begin(), go.end(), [&](int a, int b) { return gs[a] > gs[b]; });
    std::vector<bool> keep(p.n_group, false);
    for (int r = 0; r < p.topk_group; ++r) keep[go[r]] = true;
    for (int e = 0; e < n; ++e) ok[e] = keep[e / G];
  }
  std::vector<int> order;
  for (int e = 0; e < n; ++e)
    if (ok[e]) order.push_back(e);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return key[a] > key[b]; });
  ids.assign(order.begin(), order.begin() + p.k);
  w.resize(p.k);
  double s = 0;
  for (int j = 0; j < p.k; ++j) s += prob[ids[j]];
  for (int j = 0; j < p.k; ++j)
    w[j] = (p.normalize ? prob[ids[j]] / std::max(s + p.norm_eps, double(p.norm_floor)) : prob[ids[j]]) * p.scale;
}
}  // namespace

TEST_CASE("router: every scoring / grouping / normalization vs float64 oracle; T=1 vs many", "[router]") {
  Rng rng(11);
  struct Cfg {
    router::Scoring sc;
    int n, k, ng, tg;
    router::GroupScore gsc;
    bool bias, norm;
    float eps, floor, scale;
  };
  const Cfg cfgs[] = {
      {router::Scoring::softmax, 64, 6, 0, 0, router::GroupScore::max, false, false, 0, 0, 1.0f},     // V2-Lite
      {router::Scoring::softmax, 160, 6, 8, 3, router::GroupScore::max, false, false, 0, 0, 16.0f},  // V2 (160 = 5*32)
      {router::Scoring::sigmoid, 256, 8, 0, 0, router::GroupScore::sum_top2, true, true, 0, 0, 2.5f},  // V3 as ik
      {router::Scoring::sigmoid, 256, 8, 8, 4, router::GroupScore::sum_top2, true, true, 1e-20f, 0, 2.5f},  // HF V3
      {router::Scoring::sigmoid, 384, 8, 0, 0, router::GroupScore::sum_top2, true, true, 0, 0, 2.827f},  // Kimi-K2
      {router::Scoring::sqrt_softplus, 256, 6, 0, 0, router::GroupScore::max, true, true, 0, 6.103515625e-5f, 1.5f},
      {router::Scoring::sigmoid, 32, 1, 0, 0, router::GroupScore::max, false, false, 0, 0, 1.0f},
      {router::Scoring::sigmoid, 512, 16, 16, 2, router::GroupScore::max, true, true, 0, 0, 1.0f},
  };
  for (const Cfg& c : cfgs) {
    const int64_t T = 7;
    std::vector<float> logits(T * c.n), bias(c.n);
    for (float& v : logits) v = rng.normal() * 2;
    for (float& v : bias) v = rng.uniform(-0.1f, 0.1f);
    router::Params p;
    p.logits = logits.data(); p.T = T; p.n_expert = c.n; p.k = c.k; p.scoring = c.sc;
    p.bias = c.bias ? bias.data() : nullptr; p.n_group = c.ng; p.topk_group = c.tg; p.group_score = c.gsc;
    p.normalize = c.norm; p.norm_eps = c.eps; p.norm_floor = c.floor; p.scale = c.scale;
    const Out o = run(p);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<int32_t> ids;
      std::vector<double> w;
      oracle(p, logits.data() + t * c.n, ids, w);
      for (int j = 0; j < c.k; ++j) {
        REQUIRE(o.ids[t * c.k + j] == ids[j]);  // random data: no near-ties at this scale
        REQUIRE(std::fabs(o.w[t * c.k + j] - w[j]) <= 4e-6 * std::fabs(w[j]) + 1e-30);
      }
      router::Params q = p;
      q.logits = logits.data() + t * c.n; q.T = 1;
      const Out o1 = run(q);
      REQUIRE(std::equal(o1.ids.begin(), o1.ids.end(), o.ids.begin() + t * c.k));
      REQUIRE(dsk::test::compare_bits(o1.w.data(), o.w.data() + t * c.k, c.k).count == 0);
    }
  }
}

TEST_CASE("router: the weights use the unbiased score; renormalization order", "[router]") {
  std::vector<float> logits(32, -3.0f), bias(32, 0.0f);
  logits[5] = 2.0f;
  bias[9] = 10.0f;  // expert 9 wins the selection through the bias only
  router::Params p;
  p.logits = logits.data(); p.T = 1; p.n_expert = 32; p.k = 2; p.scoring = router::Scoring::sigmoid; p.bias = bias.data();
  Out o = run(p);
  CHECK(o.ids[0] == 9);
  CHECK(o.ids[1] == 5);
  CHECK(o.w[0] == math::sigmoid(-3.0f));
  CHECK(o.w[1] == math::sigmoid(2.0f));
  p.normalize = true; p.scale = 2.5f;
  o = run(p);
  const float s = math::sigmoid(-3.0f) + math::sigmoid(2.0f);
  CHECK(o.w[0] == (math::sigmoid(-3.0f) / s) * 2.5f);
  CHECK(o.w[1] == (math::sigmoid(2.0f) / s) * 2.5f);
  // ds4's floor: tiny scores divide by the floor, not by their sum
  std::fill(logits.begin(), logits.end(), -40.0f);
  p.bias = nullptr; p.scoring = router::Scoring::sqrt_softplus; p.norm_floor = 6.103515625e-5f; p.scale = 1.5f;
  o = run(p);
  CHECK(o.ids[0] == 0);
  CHECK(o.ids[1] == 1);
  CHECK(o.w[0] == (math::sqrt_softplus(-40.0f) / 6.103515625e-5f) * 1.5f);
}

TEST_CASE("router: ties, NaN, inf: lower index wins, never twice, never out of range", "[router]") {
  router::Params p;
  p.T = 1; p.n_expert = 32; p.k = 4; p.scoring = router::Scoring::sigmoid;
  std::vector<float> l(32, 0.5f);
  p.logits = l.data();
  Out o = run(p);
  CHECK(o.ids == std::vector<int32_t>{0, 1, 2, 3});
  std::fill(l.begin(), l.end(), kNaN);
  o = run(p);
  CHECK(o.ids == std::vector<int32_t>{0, 1, 2, 3});
  for (float w : o.w) CHECK(std::isnan(w));
  std::fill(l.begin(), l.end(), kNaN);
  l[7] = -kInf;
  l[20] = kInf;
  l[3] = -kInf;
  o = run(p);
  CHECK(o.ids == std::vector<int32_t>{20, 3, 7, 0});  // inf, then -inf (score 0) by index, then NaN
  // sigmoid saturates: distinct logits can tie in score; the lower index wins
  std::fill(l.begin(), l.end(), -1.0f);
  l[30] = 100.0f;
  l[2] = 50.0f;
  o = run(p);
  CHECK(o.ids[0] == 2);
  CHECK(o.ids[1] == 30);
  // softmax with -inf logits: zero probability, ranked by index; an all -inf row gives weights 0
  p.scoring = router::Scoring::softmax;
  std::fill(l.begin(), l.end(), -kInf);
  l[31] = 0.0f;
  o = run(p);
  CHECK(o.ids == std::vector<int32_t>{31, 0, 1, 2});
  CHECK(o.w[0] == 1.0f);
  // random garbage: always k distinct in-range ids
  Rng rng(12);
  const float pool[] = {kNaN, -kInf, kInf, 0.0f, -0.0f, 1.0f, -1.0f, 88.0f};
  for (auto sc : {router::Scoring::softmax, router::Scoring::sigmoid, router::Scoring::sqrt_softplus})
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<float> x(64), b(64);
      for (float& v : x) v = pool[rng.below(8)];
      for (float& v : b) v = pool[rng.below(8)];
      router::Params q;
      q.logits = x.data(); q.T = 1; q.n_expert = 64; q.k = 8; q.scoring = sc; q.bias = b.data();
      q.n_group = trial % 2 ? 8 : 0; q.topk_group = 2; q.group_score = router::GroupScore::sum_top2; q.normalize = true;
      Out r = run(q);
      std::vector<int32_t> s = r.ids;
      std::sort(s.begin(), s.end());
      REQUIRE(std::adjacent_find(s.begin(), s.end()) == s.end());
      REQUIRE(s.front() >= 0);
      REQUIRE(s.back() < 64);
    }
}

TEST_CASE("router: group-limited selection keeps only the best groups", "[router]") {
  // 64 experts in 4 groups of 16; sum_top2 picks groups by their two best keys.
  std::vector<float> l(64, -5.0f);
  l[0] = 3.0f;                  // group 0: one strong expert
  l[20] = 1.0f; l[21] = 1.0f;   // group 1: two good ones (sum_top2 beats group 0)
  l[40] = 2.0f; l[41] = -4.0f;  // group 2
  router::Params p;
  p.logits = l.data(); p.T = 1; p.n_expert = 64; p.k = 3; p.scoring = router::Scoring::sigmoid;
  p.n_group = 4; p.topk_group = 1; p.group_score = router::GroupScore::sum_top2;
  Out o = run(p);
  CHECK(o.ids == std::vector<int32_t>{20, 21, 16});
  p.group_score = router::GroupScore::max;
  o = run(p);
  CHECK(o.ids == std::vector<int32_t>{0, 1, 2});
  p.topk_group = 2;
  o = run(p);
  CHECK(o.ids == std::vector<int32_t>{0, 40, 41});  // 41 (-4) beats the -5 of group 0
}

TEST_CASE("router: hash layers take ids from tid2eid, weights from the scores", "[router]") {
  const int64_t V = 5;
  std::vector<int32_t> table(V * 6);
  for (int64_t i = 0; i < V * 6; ++i) table[i] = static_cast<int32_t>((i * 37) % 256);
  std::vector<float> l(2 * 256);
  Rng rng(13);
  for (float& v : l) v = rng.normal();
  std::vector<int32_t> tok = {4, 1};
  router::Params p;
  p.logits = l.data(); p.T = 2; p.n_expert = 256; p.k = 6; p.scoring = router::Scoring::sqrt_softplus;
  p.normalize = true; p.norm_floor = 6.103515625e-5f; p.scale = 1.5f;
  p.tid2eid = table.data(); p.n_vocab = V; p.token_ids = tok.data();
  std::vector<float> bias(256, 100.0f);
  p.bias = bias.data();  // ignored by hash layers
  Out o = run(p);
  for (int t = 0; t < 2; ++t) {
    float w[6];
    for (int j = 0; j < 6; ++j) {
      CHECK(o.ids[t * 6 + j] == table[tok[t] * 6 + j]);
      w[j] = math::sqrt_softplus(l[t * 256 + table[tok[t] * 6 + j]]);
    }
    router::finish_weights(w, 6, true, 0.0f, 6.103515625e-5f, 1.5f);
    for (int j = 0; j < 6; ++j) CHECK(fp::bits(o.w[t * 6 + j]) == fp::bits(w[j]));
  }
  std::vector<int32_t> bad_tok = {5, 0};
  router::Params q = p;
  q.token_ids = bad_tok.data();
  std::vector<int32_t> ids(12, -7);
  std::vector<float> ws(12);
  q.ids = ids.data(); q.weights = ws.data();
  CHECK(ref::router::select(q).code == Status::kInvalidArgument);
  CHECK(ids[0] == -7);  // nothing written
  table[1 * 6 + 3] = 256;  // a row a token uses
  q = p; q.ids = ids.data(); q.weights = ws.data();
  CHECK(ref::router::select(q).code == Status::kInvalidArgument);
}

TEST_CASE("router: invalid and unsupported params", "[router]") {
  std::vector<float> l(64);
  std::vector<int32_t> ids(16);
  std::vector<float> w(16);
  router::Params p;
  p.logits = l.data(); p.ids = ids.data(); p.weights = w.data(); p.T = 1; p.n_expert = 64; p.k = 4;
  CHECK(ref::router::select(p).ok());
  auto q = p; q.n_expert = 48;
  CHECK(ref::router::select(q).code == Status::kUnsupported);
  q = p; q.k = 17;
  CHECK(ref::router::select(q).code == Status::kUnsupported);
  q = p; q.n_group = 3; q.topk_group = 1;
  CHECK(ref::router::select(q).code == Status::kInvalidArgument);
  q = p; q.n_group = 8; q.topk_group = 0;
  CHECK(ref::router::select(q).code == Status::kInvalidArgument);
  q = p; q.n_group = 32; q.topk_group = 1; q.group_score = router::GroupScore::sum_top2;
  CHECK(ref::router::select(q).code == Status::kInvalidArgument);  // k = 4 > 2 eligible experts
  q = p; q.scale = kInf;
  CHECK(ref::router::select(q).code == Status::kInvalidArgument);
  q = p; q.weights = nullptr;
  CHECK(ref::router::select(q).code == Status::kInvalidArgument);
}
