// include/dsk/v4/indexer.hpp + reference/v4_indexer.*: DeepSeek-V4 lightning indexer scores against
// a float64 oracle (spec §6) and the top-k choice against a naive full sort under ops::key_before.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "dsk/core/half.hpp"
#include "reference/v4_indexer.hpp"

using namespace dsk;
using dsk::quant::test::Rng;

namespace {
const float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Problem {
  int64_t T = 0, H = 0, D = 0, n_rows = 0, top_k = 0;
  std::vector<float> q, w, keys;  // keys F32 [n_rows, D]
  std::vector<int32_t> n_vis;
};

struct Result {
  std::vector<int32_t> idx, count;
  std::vector<float> scores;
};

Result run(const Problem& pb, bool want_scores = true, Status* st = nullptr) {
  Result r;
  r.idx.assign(pb.T * pb.top_k, -99);
  r.count.assign(pb.T, -99);
  r.scores.assign(pb.T * std::max<int64_t>(pb.n_rows, 1), test::poison());
  v4::IndexerParams p;
  p.q = pb.q.data(); p.w = pb.w.data();
  p.keys = {GgmlType::F32, pb.keys.data(), 0, pb.n_rows};
  p.n_vis = pb.n_vis.data(); p.T = pb.T; p.n_head = pb.H; p.head_dim = pb.D; p.top_k = pb.top_k;
  p.idx = r.idx.data(); p.count = r.count.data();
  p.scores = want_scores ? r.scores.data() : nullptr;
  const Status s = ref::v4::indexer(p);
  if (st) *st = s;
  else REQUIRE(s.ok());
  return r;
}

Problem make(Rng& rng, int64_t H, int64_t D, int64_t n_rows, int64_t top_k, std::vector<int32_t> n_vis) {
  Problem pb;
  pb.T = static_cast<int64_t>(n_vis.size());
  pb.H = H; pb.D = D; pb.n_rows = n_rows; pb.top_k = top_k; pb.n_vis = n_vis;
  pb.q.resize(pb.T * H * D);
  pb.w.resize(pb.T * H);
  pb.keys.resize(n_rows * D);
  for (float& v : pb.q) v = rng.normal();
  for (float& v : pb.w) v = rng.normal() * 4.0f;
  for (float& v : pb.keys) v = rng.normal();
  return pb;
}

// The top-k by a full sort under key_before, then ascending.
std::vector<int32_t> naive_topk(const float* s, int32_t n, int64_t k) {
  std::vector<int32_t> o(n);
  for (int32_t i = 0; i < n; ++i) o[i] = i;
  std::sort(o.begin(), o.end(), [&](int32_t a, int32_t b) { return ops::key_before(s[a], a, s[b], b); });
  o.resize(std::min<int64_t>(k, n));
  std::sort(o.begin(), o.end());
  return o;
}

// float64 score and its magnitude sum_h |w'_h| * sum_i |q_hi k_ci|.
void oracle(const Problem& pb, int64_t t, int64_t c, double& s, double& mag) {
  const double scale = 1.0 / std::sqrt(double(pb.D * pb.H));
  s = 0;
  mag = 0;
  for (int64_t h = 0; h < pb.H; ++h) {
    double d = 0, dm = 0;
    for (int64_t i = 0; i < pb.D; ++i) {
      d += double(pb.q[(t * pb.H + h) * pb.D + i]) * pb.keys[c * pb.D + i];
      dm += std::fabs(double(pb.q[(t * pb.H + h) * pb.D + i]) * pb.keys[c * pb.D + i]);
    }
    const double wh = pb.w[t * pb.H + h] * scale;
    s += wh * std::max(0.0, d);
    mag += std::fabs(wh) * dm;
  }
}
}  // namespace

// Tolerance on scores: |s - s64| <= 4e-7 * sum_h |w'_h| sum_i |q_hi k_ci| + 1e-30 (a 128-long row dot
// in the canonical order, one product and a 64-term sum per head; the scaled weight one rounding);
// measured 0.14 of it.
// Selection is checked exactly against a full sort of the op's own scores, and for consistency with
// the float64 scores: no unchosen row beats a chosen one by more than the two tolerances.
TEST_CASE("v4 indexer: scores vs float64, top-k vs a full sort, visibility per token", "[v4][indexer]") {
  Rng rng(101);
  double worst = 0;
  struct Shape {
    int64_t H, D, n_rows, k;
    std::vector<int32_t> n_vis;
  };
  // V4 shape: 64 heads of 128, top 512; positions 3, 2047, 2051, 2799 see 1, 512, 513, 700 rows
  for (const Shape& sh : {Shape{64, 128, 700, 512, {1, 512, 513, 700}}, Shape{5, 40, 30, 7, {0, 7, 8, 29, 30}},
                          Shape{1, 1, 9, 3, {9, 4}}, Shape{33, 33, 100, 1, {100, 2}}}) {
    Problem pb = make(rng, sh.H, sh.D, sh.n_rows, sh.k, sh.n_vis);
    const Result r = run(pb);
    for (int64_t t = 0; t < pb.T; ++t) {
      const int32_t n = pb.n_vis[t];
      const float* s = r.scores.data() + t * pb.n_rows;
      std::vector<double> s64(n), tol(n);
      for (int32_t c = 0; c < n; ++c) {
        double mag;
        oracle(pb, t, c, s64[c], mag);
        tol[c] = 4e-7 * mag + 1e-30;
        worst = std::max(worst, std::fabs(s[c] - s64[c]) / tol[c]);
        REQUIRE(std::fabs(s[c] - s64[c]) <= tol[c]);
      }
      const int64_t k = std::min<int64_t>(pb.top_k, n);
      REQUIRE(r.count[t] == k);
      const std::vector<int32_t> want = naive_topk(s, n, pb.top_k);
      REQUIRE(std::equal(want.begin(), want.end(), r.idx.begin() + t * pb.top_k));
      for (int64_t i = k; i < pb.top_k; ++i) REQUIRE(r.idx[t * pb.top_k + i] == -1);
      std::vector<bool> chosen(n, false);
      for (int32_t c : want) chosen[c] = true;
      double lo = INFINITY, hi = -INFINITY;
      for (int32_t c = 0; c < n; ++c)
        if (chosen[c]) lo = std::min(lo, s64[c] + tol[c]);
        else hi = std::max(hi, s64[c] - tol[c]);
      REQUIRE(hi <= lo);
    }
    // without the scores output the selection is the same; tokens are independent (last token alone)
    const Result r2 = run(pb, false);
    REQUIRE(r2.idx == r.idx);
    Problem one = pb;
    one.T = 1;
    one.q.assign(pb.q.end() - pb.H * pb.D, pb.q.end());
    one.w.assign(pb.w.end() - pb.H, pb.w.end());
    one.n_vis = {pb.n_vis.back()};
    const Result r1 = run(one);
    REQUIRE(std::equal(r1.idx.begin(), r1.idx.end(), r.idx.end() - pb.top_k));
    REQUIRE(test::compare_bits(r1.scores.data(), r.scores.data() + (pb.T - 1) * pb.n_rows, pb.n_vis.back()).count == 0);
  }
  INFO("worst score error / tolerance " << worst);
  CHECK(worst <= 1.0);
}

TEST_CASE("v4 indexer: ties to the lower index, +-0 scores, NaN rows last, ReLU", "[v4][indexer]") {
  Rng rng(102);
  // keys repeat with period 4: four distinct scores, each shared by many rows
  {
    Problem pb = make(rng, 3, 16, 30, 10, {30});
    for (int64_t c = 4; c < 30; ++c)
      for (int64_t i = 0; i < 16; ++i) pb.keys[c * 16 + i] = pb.keys[(c % 4) * 16 + i];
    const Result r = run(pb);
    const float* s = r.scores.data();
    int best = 0;  // the class with the largest score; 30 rows: classes 0, 1 have 8 members, 2, 3 have 7
    for (int c = 1; c < 4; ++c)
      if (ops::key_before(s[c], c, s[best], best)) best = c;
    std::vector<int32_t> want;
    for (int32_t c = best; c < 30; c += 4) want.push_back(c);
    int second = -1;
    for (int c = 0; c < 4; ++c)
      if (c != best && (second < 0 || ops::key_before(s[c], c, s[second], second))) second = c;
    for (int32_t c = second; c < 30 && static_cast<int64_t>(want.size()) < 10; c += 4) want.push_back(c);
    std::sort(want.begin(), want.end());
    REQUIRE(std::equal(want.begin(), want.end(), r.idx.begin()));
  }
  // every dot negative: ReLU makes every term zero (negative weights give -0 terms, the sums from +0
  // are +0); all scores tie, so the lowest indices are chosen
  {
    Problem pb = make(rng, 4, 8, 20, 5, {20});
    for (float& v : pb.q) v = std::fabs(v) + 0.5f;
    for (float& v : pb.keys) v = -std::fabs(v) - 0.5f;
    pb.w = {1.0f, -2.0f, 3.0f, -4.0f};
    const Result r = run(pb);
    for (int64_t c = 0; c < 20; ++c) REQUIRE(r.scores[c] == 0.0f);
    for (int32_t i = 0; i < 5; ++i) REQUIRE(r.idx[i] == i);
  }
  // NaN rows rank after every number; among NaNs the lower index first
  {
    Problem pb = make(rng, 2, 8, 10, 9, {10});
    pb.keys[3 * 8 + 1] = kNaN;
    const Result r = run(pb);
    REQUIRE(std::isnan(r.scores[3]));
    REQUIRE(std::vector<int32_t>(r.idx.begin(), r.idx.end()) == std::vector<int32_t>{0, 1, 2, 4, 5, 6, 7, 8, 9});
    pb.keys[7 * 8 + 5] = kNaN;
    const Result r2 = run(pb);
    REQUIRE(std::vector<int32_t>(r2.idx.begin(), r2.idx.end()) == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 8, 9});
  }
  // n_vis <= top_k: every visible row in order, scores still written when asked for
  {
    Problem pb = make(rng, 2, 8, 10, 16, {10, 0});
    const Result r = run(pb);
    for (int32_t i = 0; i < 16; ++i) REQUIRE(r.idx[i] == (i < 10 ? i : -1));
    for (int32_t i = 0; i < 16; ++i) REQUIRE(r.idx[16 + i] == -1);
    REQUIRE(r.count == std::vector<int32_t>{10, 0});
    for (int32_t c = 0; c < 10; ++c) REQUIRE(std::isfinite(r.scores[c]));
  }
}

TEST_CASE("v4 indexer: scale helper and validation", "[v4][indexer]") {
  CHECK(v4::indexer_scale(128, 64) == fp::div(1.0f, fp::sqrt(8192.0f)));
  CHECK(std::fabs(v4::indexer_scale(128, 64) - 0.011048543456039804) < 1e-9);
  CHECK(v4::indexer_relu(-0.0f) == 0.0f);
  CHECK(std::isnan(v4::indexer_relu(kNaN)));
  Rng rng(103);
  Problem pb = make(rng, 2, 8, 10, 4, {10});
  Status st;
  Problem q = pb;
  q.n_vis = {11};
  const Result r = run(q, true, &st);
  CHECK(st.code == Status::kInvalidArgument);
  CHECK(r.idx[0] == -99);  // nothing written
  q = pb;
  q.top_k = 0;
  run(q, true, &st);
  CHECK(st.code == Status::kInvalidArgument);
  v4::IndexerParams p;
  std::vector<float> buf(64);
  std::vector<int32_t> n = {0}, idx(4);
  p.q = buf.data(); p.w = buf.data(); p.n_vis = n.data(); p.idx = idx.data(); p.T = 1; p.n_head = 2;
  p.head_dim = 8; p.top_k = 4; p.keys = {GgmlType::F16, buf.data(), 0, 2};
  CHECK(ref::v4::indexer(p).ok());
  p.keys.type = GgmlType::Q8_0;
  CHECK(ref::v4::indexer(p).code == Status::kUnsupported);
  p.keys.type = GgmlType::F32;
  p.scale = -1.0f;
  CHECK(ref::v4::indexer(p).code == Status::kInvalidArgument);
  p.scale = 0.0f;
  p.idx_stride = 2;
  CHECK(ref::v4::indexer(p).code == Status::kInvalidArgument);
}
