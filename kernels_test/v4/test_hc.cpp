// include/dsk/v4/hc.hpp + reference/v4_hc.*: DeepSeek-V4 hyper-connections (pre / post / head)
// against a float64 oracle written from spec §4.1, §4.2, §4.5.
#include <cmath>
#include <limits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "dsk/core/half.hpp"
#include "reference/quant.hpp"
#include "reference/v4_hc.hpp"

using namespace dsk;
using dsk::quant::test::Rng;

namespace {
const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// A random HC layer: fn as F16 (its float values kept for the oracle), scale, base.
struct HcLayer {
  int n_hc;
  int64_t n_embd;
  int rows;
  std::vector<uint16_t> fn16;
  std::vector<float> fn;  // widened
  std::vector<float> scale, base;
};

HcLayer make_layer(Rng& rng, int n_hc, int64_t n_embd, int rows, int n_scale) {
  HcLayer L{n_hc, n_embd, rows, {}, {}, {}, {}};
  const int64_t N = n_embd * n_hc;
  const double s = 3.0 / std::sqrt(double(N));  // mix values of order 1..3
  for (int64_t i = 0; i < rows * N; ++i) {
    const uint16_t h = f32_to_f16_bits(static_cast<float>(rng.normal() * s));
    L.fn16.push_back(h);
    L.fn.push_back(f16_bits_to_f32(h));
  }
  for (int i = 0; i < n_scale; ++i) L.scale.push_back(rng.uniform(0.5f, 2.0f));
  for (int i = 0; i < rows; ++i) L.base.push_back(rng.normal() * 0.5f);
  return L;
}

double sigmoid64(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// float64 oracle of steps 1-2: mix[k] and the magnitude sum |fn_k| . |flat| (for the tolerance).
void oracle_mix(const float* x, const HcLayer& L, float norm_eps, std::vector<double>& mix, std::vector<double>& mag) {
  const int64_t N = L.n_embd * L.n_hc;
  double ss = 0;
  for (int64_t i = 0; i < N; ++i) ss += double(x[i]) * x[i];
  const double r = 1.0 / std::sqrt(ss / double(N) + double(norm_eps));
  mix.assign(L.rows, 0.0);
  mag.assign(L.rows, 0.0);
  for (int k = 0; k < L.rows; ++k)
    for (int64_t i = 0; i < N; ++i) {
      mix[k] += double(L.fn[k * N + i]) * (x[i] * r);
      mag[k] += std::fabs(double(L.fn[k * N + i]) * (x[i] * r));
    }
}

// float64 oracle of step 3 (spec §4.1 pseudo-code) from a given mix.
void oracle_split(const double* mix, const float* scale, const float* base, int n, int iters, double eps,
                  std::vector<double>& pre, std::vector<double>& post, std::vector<double>& C) {
  pre.resize(n);
  post.resize(n);
  C.assign(n * n, 0.0);
  for (int h = 0; h < n; ++h) pre[h] = sigmoid64(mix[h] * scale[0] + base[h]) + eps;
  for (int h = 0; h < n; ++h) post[h] = 2 * sigmoid64(mix[n + h] * scale[1] + base[n + h]);
  for (int r = 0; r < n; ++r) {
    double m = -INFINITY, s = 0;
    for (int c = 0; c < n; ++c) m = std::max(m, mix[2 * n + r * n + c] * scale[2] + base[2 * n + r * n + c]);
    for (int c = 0; c < n; ++c) s += std::exp(mix[2 * n + r * n + c] * scale[2] + base[2 * n + r * n + c] - m);
    for (int c = 0; c < n; ++c)
      C[r * n + c] = std::exp(mix[2 * n + r * n + c] * scale[2] + base[2 * n + r * n + c] - m) / s + eps;
  }
  auto cols = [&] {
    for (int c = 0; c < n; ++c) {
      double s = 0;
      for (int r = 0; r < n; ++r) s += C[r * n + c];
      for (int r = 0; r < n; ++r) C[r * n + c] /= s + eps;
    }
  };
  cols();
  for (int it = 1; it < iters; ++it) {
    for (int r = 0; r < n; ++r) {
      double s = 0;
      for (int c = 0; c < n; ++c) s += C[r * n + c];
      for (int c = 0; c < n; ++c) C[r * n + c] /= s + eps;
    }
    cols();
  }
}

struct PreOut {
  std::vector<float> y, post, comb, pre, mix;
};

PreOut run_pre(const HcLayer& L, const std::vector<float>& x, int64_t T, int iters = 20, float hc_eps = 1e-6f,
               float norm_eps = 1e-6f) {
  const int n = L.n_hc, nc = v4::hc_ctrl(n);
  PreOut o;
  o.y.assign(T * L.n_embd, test::poison());
  o.post.assign(T * n, test::poison());
  o.comb.assign(T * n * n, test::poison());
  o.pre.assign(T * n, test::poison());
  o.mix.assign(T * nc, test::poison());
  v4::HcPreParams p;
  p.x = x.data();
  p.fn = {GgmlType::F16, L.fn16.data(), 0};
  p.scale = L.scale.data();
  p.base = L.base.data();
  p.T = T;
  p.n_embd = L.n_embd;
  p.n_hc = n;
  p.sinkhorn_iters = iters;
  p.hc_eps = hc_eps;
  p.norm_eps = norm_eps;
  p.y = o.y.data();
  p.post = o.post.data();
  p.comb = o.comb.data();
  p.pre = o.pre.data();
  p.mix = o.mix.data();
  REQUIRE(ref::v4::hc_pre(p).ok());
  return o;
}
}  // namespace

// Tolerances (float vs float64), from the operation counts of the header's order:
//  mix: 2e-6 * sum |fn_i flat_i| (a 32-deep fma block, a chunk of <= 16 blocks, a 5-level tree: < 60
//       roundings of 2^-24 in the worst case, plus a few ulp in the RMS factor); measured 1.1e-7;
//  pre, post: 2e-6 absolute (sigmoid 2.3 ulp, the fma and eps add; values <= 2); measured 1.7e-7;
//  comb: 4e-6 absolute (20 row/column passes, each a sum of n and a division; values <= 1);
//        measured 4.3e-7;
//  y = sum pre_h X_h: 3e-6 * sum_h |X_h[d]| (the pre error dominates: pre moves by <= 0.25*scale*dmix);
//        measured 3.0e-7.
TEST_CASE("v4 hc: pre step vs float64 (mix, Sinkhorn split, collapse), sizes incl. odd", "[v4][hc]") {
  Rng rng(71);
  double worst_mix = 0, worst_y = 0;
  struct Shape {
    int n_hc;
    int64_t n_embd;
    int iters;
  };
  for (Shape sh : {Shape{4, 4096, 20}, Shape{4, 64, 20}, Shape{3, 33, 7}, Shape{1, 5, 20}, Shape{4, 100, 1},
                   Shape{5, 31, 3}}) {
    const int n = sh.n_hc, nc = v4::hc_ctrl(n);
    const int64_t N = sh.n_embd * n, T = 3;
    HcLayer L = make_layer(rng, n, sh.n_embd, nc, 3);
    std::vector<float> x(T * N);
    for (float& v : x) v = rng.normal() * 2.0f;
    PreOut o = run_pre(L, x, T, sh.iters);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> mix, mag, pre, post, C;
      oracle_mix(x.data() + t * N, L, 1e-6f, mix, mag);
      for (int k = 0; k < nc; ++k) {
        REQUIRE(std::fabs(o.mix[t * nc + k] - mix[k]) <= 2e-6 * mag[k] + 1e-30);
        worst_mix = std::max(worst_mix, std::fabs(o.mix[t * nc + k] - mix[k]) / mag[k]);
      }
      oracle_split(mix.data(), L.scale.data(), L.base.data(), n, sh.iters, 1e-6, pre, post, C);
      for (int h = 0; h < n; ++h) {
        REQUIRE(std::fabs(o.pre[t * n + h] - pre[h]) <= 2e-6);
        REQUIRE(std::fabs(o.post[t * n + h] - post[h]) <= 2e-6);
      }
      for (int i = 0; i < n * n; ++i) REQUIRE(std::fabs(o.comb[t * n * n + i] - C[i]) <= 4e-6);
      for (int64_t d = 0; d < sh.n_embd; ++d) {
        double want = 0, mg = 0;
        for (int h = 0; h < n; ++h) {
          want += pre[h] * x[t * N + h * sh.n_embd + d];
          mg += std::fabs(x[t * N + h * sh.n_embd + d]);
        }
        REQUIRE(std::fabs(o.y[t * sh.n_embd + d] - want) <= 3e-6 * mg + 1e-30);
        worst_y = std::max(worst_y, std::fabs(o.y[t * sh.n_embd + d] - want) / mg);
      }
      // after a few passes the matrix is balanced: each column sums to s/(s+eps) with s ~ 1
      for (int c = 0; c < n && sh.iters >= 3; ++c) {
        double s = 0;
        for (int r = 0; r < n; ++r) s += o.comb[t * n * n + r * n + c];
        REQUIRE(std::fabs(s - 1.0) <= 1e-5);
      }
    }
    // tokens are independent: T = 1 gives the same bits
    std::vector<float> x1(x.begin() + N, x.begin() + 2 * N);
    PreOut o1 = run_pre(L, x1, 1, sh.iters);
    REQUIRE(test::compare_bits(o1.y.data(), o.y.data() + sh.n_embd, sh.n_embd).count == 0);
    REQUIRE(test::compare_bits(o1.comb.data(), o.comb.data() + n * n, n * n).count == 0);
    REQUIRE(test::compare_bits(o1.post.data(), o.post.data() + n, n).count == 0);
  }
  INFO("worst mix error / magnitude " << worst_mix << ", y error / magnitude " << worst_y);
  CHECK(worst_mix <= 2e-6);  // measured 1.1e-7
  CHECK(worst_y <= 3e-6);    // measured 3.0e-7
}

TEST_CASE("v4 hc: the split alone vs float64 over many control vectors; extreme logits", "[v4][hc]") {
  Rng rng(72);
  const int n = 4;
  float scale[3] = {1.3f, 0.7f, 1.9f};
  std::vector<float> base(24);
  for (float& b : base) b = rng.normal();
  double worst_c = 0, worst_p = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    float mix[24], pre[4], post[4], comb[16];
    const float amp = trial % 4 == 3 ? 20.0f : 2.0f;
    for (float& m : mix) m = rng.normal() * amp;
    v4::hc_split(mix, scale, base.data(), n, 20, 1e-6f, pre, post, comb);
    double md[24];
    for (int i = 0; i < 24; ++i) md[i] = mix[i];
    std::vector<double> p64, q64, c64;
    oracle_split(md, scale, base.data(), n, 20, 1e-6, p64, q64, c64);
    for (int h = 0; h < n; ++h) {
      worst_p = std::max({worst_p, std::fabs(pre[h] - p64[h]), std::fabs(post[h] - q64[h])});
    }
    for (int i = 0; i < 16; ++i) worst_c = std::max(worst_c, std::fabs(comb[i] - c64[i]));
  }
  INFO("worst pre/post " << worst_p << " comb " << worst_c);
  CHECK(worst_p <= 2e-6);
  CHECK(worst_c <= 4e-6);
  // saturated logits: each softmax row is one-hot + eps; the result stays finite and balanced
  float mix[24] = {}, pre[4], post[4], comb[16];
  for (int r = 0; r < 4; ++r) mix[8 + r * 4 + (r + 1) % 4] = 1e4f;
  std::vector<float> zero(24, 0.0f);
  v4::hc_split(mix, scale, zero.data(), n, 20, 1e-6f, pre, post, comb);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) {
      REQUIRE(std::isfinite(comb[r * 4 + c]));
      if (c == (r + 1) % 4) REQUIRE(std::fabs(comb[r * 4 + c] - 1.0) <= 1e-5);
      else REQUIRE(comb[r * 4 + c] <= 1e-5f);
    }
  CHECK(pre[0] == fp::add(0.5f, 1e-6f));  // sigmoid(0) + eps
  CHECK(post[0] == 1.0f);                 // 2 sigmoid(0), no eps
  // +inf logit: inf - inf = NaN in the softmax of that row (propagates, no crash)
  mix[8] = kInf;
  v4::hc_split(mix, scale, zero.data(), n, 20, 1e-6f, pre, post, comb);
  CHECK(std::isnan(comb[0]));
}

TEST_CASE("v4 hc: F16 control rows equal the library's F32-activation row dot; zero, NaN and inf states",
          "[v4][hc]") {
  Rng rng(73);
  const int n = 4;
  const int64_t E = 64, N = E * n, T = 4;
  HcLayer L = make_layer(rng, n, E, 24, 3);
  std::vector<float> x(T * N);
  for (float& v : x) v = rng.normal();
  for (int64_t i = 0; i < N; ++i) x[1 * N + i] = 0.0f;  // token 1: all zero
  x[2 * N + 77] = kNaN;                                  // token 2: one NaN
  x[3 * N + 5] = -kInf;                                  // token 3: one -inf
  PreOut o = run_pre(L, x, T);
  // mix of token 0 = ref::dot_row(F16 row, flat) bit for bit (N % 32 == 0)
  const float r = norm::rms_inv_row<v4::kHcNormNT>(x.data(), N, 1e-6f);
  std::vector<float> flat(N);
  for (int64_t i = 0; i < N; ++i) flat[i] = fp::mul(x[i], r);
  for (int k = 0; k < 24; ++k) {
    const float want = ref::dot_row(GgmlType::F16, L.fn16.data() + k * N, flat.data(), N);
    REQUIRE(fp::bits(o.mix[k]) == fp::bits(want));
  }
  // zero state: flat = 0, mix = +0, outputs from base alone; y = +0
  for (int k = 0; k < 24; ++k) REQUIRE(fp::bits(o.mix[24 + k]) == 0u);
  for (int64_t d = 0; d < E; ++d) REQUIRE(fp::bits(o.y[E + d]) == 0u);
  for (int h = 0; h < n; ++h) REQUIRE(o.post[n + h] == fp::mul(2.0f, math::sigmoid(L.base[n + h])));
  // NaN or inf anywhere in the state: everything of that token is NaN, other tokens untouched
  for (int64_t t : {2, 3}) {
    for (int64_t d = 0; d < E; ++d) REQUIRE(std::isnan(o.y[t * E + d]));
    for (int i = 0; i < n * n; ++i) REQUIRE(std::isnan(o.comb[t * n * n + i]));
    for (int h = 0; h < n; ++h) REQUIRE(std::isnan(o.post[t * n + h]));
  }
  for (int64_t d = 0; d < E; ++d) REQUIRE(std::isfinite(o.y[d]));
}

TEST_CASE("v4 hc: post step vs float64, comb transposed (permutation), in place", "[v4][hc]") {
  Rng rng(74);
  for (int n : {4, 3, 1}) {
    const int64_t E = 37, N = E * n, T = 2;
    std::vector<float> f(T * E), x(T * N), post(T * n), comb(T * n * n), y(T * N, test::poison());
    for (float& v : f) v = rng.normal() * 3;
    for (float& v : x) v = rng.normal() * 3;
    for (float& v : post) v = rng.uniform(0.0f, 2.0f);
    for (float& v : comb) v = rng.uniform(0.0f, 1.0f);
    v4::HcPostParams p;
    p.f = f.data(); p.x = x.data(); p.post = post.data(); p.comb = comb.data();
    p.T = T; p.n_embd = E; p.n_hc = n; p.y = y.data();
    REQUIRE(ref::v4::hc_post(p).ok());
    // tolerance: n + 1 roundings of 2^-24 relative to the magnitude sum
    for (int64_t t = 0; t < T; ++t)
      for (int c = 0; c < n; ++c)
        for (int64_t d = 0; d < E; ++d) {
          double want = double(post[t * n + c]) * f[t * E + d], mg = std::fabs(want);
          for (int r = 0; r < n; ++r) {
            const double v = double(comb[t * n * n + r * n + c]) * x[t * N + r * E + d];
            want += v;
            mg += std::fabs(v);
          }
          REQUIRE(std::fabs(y[t * N + c * E + d] - want) <= 4e-7 * (n + 1) * mg + 1e-30);
        }
    // in place (y == x) gives the same bits
    std::vector<float> xi = x;
    p.x = xi.data(); p.y = xi.data();
    REQUIRE(ref::v4::hc_post(p).ok());
    REQUIRE(test::compare_bits(xi, y).count == 0);
  }
  // a permutation comb with post = 0: destination sigma(r) receives source r exactly (transposed use)
  const int n = 4;
  const int64_t E = 8;
  const int sigma[4] = {2, 0, 3, 1};
  std::vector<float> f(E, 5.0f), x(n * E), post(n, 0.0f), comb(n * n, 0.0f), y(n * E);
  for (int64_t i = 0; i < n * E; ++i) x[i] = rng.normal();
  for (int r = 0; r < n; ++r) comb[r * n + sigma[r]] = 1.0f;
  v4::HcPostParams p;
  p.f = f.data(); p.x = x.data(); p.post = post.data(); p.comb = comb.data();
  p.T = 1; p.n_embd = E; p.n_hc = n; p.y = y.data();
  REQUIRE(ref::v4::hc_post(p).ok());
  for (int r = 0; r < n; ++r)
    for (int64_t d = 0; d < E; ++d) REQUIRE(fp::bits(y[sigma[r] * E + d]) == fp::bits(x[r * E + d]));
  // NaN in the sublayer output reaches every stream at that d only
  f[3] = kNaN;
  post.assign(n, 1.0f);
  REQUIRE(ref::v4::hc_post(p).ok());
  for (int c = 0; c < n; ++c) {
    REQUIRE(std::isnan(y[c * E + 3]));
    REQUIRE(std::isfinite(y[c * E + 2]));
  }
}

TEST_CASE("v4 hc: output head collapse vs float64; NaN state", "[v4][hc]") {
  Rng rng(75);
  for (int n : {4, 2}) {
    const int64_t E = 96, N = E * n, T = 3;
    HcLayer L = make_layer(rng, n, E, n, 1);
    std::vector<float> x(T * N), y(T * E, test::poison()), w(T * n, test::poison());
    for (float& v : x) v = rng.normal() * 1.5f;
    x[2 * N + 1] = kNaN;
    v4::HcHeadParams p;
    p.x = x.data(); p.fn = {GgmlType::F16, L.fn16.data(), 0}; p.scale = L.scale.data(); p.base = L.base.data();
    p.T = T; p.n_embd = E; p.n_hc = n; p.y = y.data(); p.w = w.data();
    REQUIRE(ref::v4::hc_head(p).ok());
    for (int64_t t = 0; t < 2; ++t) {
      std::vector<double> mix, mag;
      oracle_mix(x.data() + t * N, L, 1e-6f, mix, mag);
      std::vector<double> wt(n);
      for (int h = 0; h < n; ++h) {
        wt[h] = sigmoid64(mix[h] * L.scale[0] + L.base[h]) + 1e-6;
        REQUIRE(std::fabs(w[t * n + h] - wt[h]) <= 2e-6);
      }
      for (int64_t d = 0; d < E; ++d) {
        double want = 0, mg = 0;
        for (int h = 0; h < n; ++h) {
          want += wt[h] * x[t * N + h * E + d];
          mg += std::fabs(x[t * N + h * E + d]);
        }
        REQUIRE(std::fabs(y[t * E + d] - want) <= 1e-5 * mg + 1e-30);
      }
    }
    for (int64_t d = 0; d < E; ++d) REQUIRE(std::isnan(y[2 * E + d]));
  }
}

TEST_CASE("v4 hc: validation", "[v4][hc]") {
  float dummy[64] = {};
  v4::HcPreParams p;
  p.x = dummy; p.fn = {GgmlType::F32, dummy, 0}; p.scale = dummy; p.base = dummy;
  p.y = dummy; p.post = dummy; p.comb = dummy; p.T = 1; p.n_embd = 4; p.n_hc = 4;
  CHECK(v4::validate(p).ok());
  auto q = p;
  q.n_hc = 0;
  CHECK(ref::v4::hc_pre(q).code == Status::kUnsupported);
  q = p; q.n_hc = 17;
  CHECK(ref::v4::hc_pre(q).code == Status::kUnsupported);
  q = p; q.sinkhorn_iters = 0;
  CHECK(ref::v4::hc_pre(q).code == Status::kInvalidArgument);
  q = p; q.fn.type = GgmlType::Q8_0;
  CHECK(ref::v4::hc_pre(q).code == Status::kUnsupported);
  q = p; q.fn.row_bytes = 8;
  CHECK(ref::v4::hc_pre(q).code == Status::kInvalidArgument);
  q = p; q.comb = nullptr;
  CHECK(ref::v4::hc_pre(q).code == Status::kInvalidArgument);
  q = p; q.hc_eps = -1.0f;
  CHECK(ref::v4::hc_pre(q).code == Status::kInvalidArgument);
  q = p; q.x_stride = 15;
  CHECK(ref::v4::hc_pre(q).code == Status::kInvalidArgument);
  v4::HcPostParams pp;
  pp.f = dummy; pp.x = dummy; pp.post = dummy; pp.comb = dummy; pp.y = dummy; pp.T = 1; pp.n_embd = 4;
  CHECK(ref::v4::hc_post(pp).ok());
  pp.y_stride = 32;
  CHECK(ref::v4::hc_post(pp).code == Status::kInvalidArgument);  // aliases x with another stride
  v4::HcHeadParams hp;
  hp.x = dummy; hp.fn = {GgmlType::BF16, dummy, 0}; hp.scale = dummy; hp.base = dummy; hp.y = dummy;
  hp.T = 1; hp.n_embd = 4;
  CHECK(ref::v4::hc_head(hp).ok());
  hp.base = nullptr;
  CHECK(ref::v4::hc_head(hp).code == Status::kInvalidArgument);
}
