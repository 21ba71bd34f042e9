// include/dsk/ops/ops.hpp + reference/ops.*: embedding, SwiGLU, softmax, argmax, key order.
#include <cmath>
#include <limits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "reference/ops.hpp"
#include "reference/quant.hpp"

using namespace dsk;
using namespace dsk::quant;
using dsk::quant::test::Rng;

namespace {
const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

template <class B>
std::vector<uint8_t> random_table(Rng& rng, int64_t rows, int64_t n) {
  const int64_t nb = n / block_traits<B>::elems;
  std::vector<uint8_t> out(static_cast<size_t>(rows * nb) * sizeof(B));
  B* b = reinterpret_cast<B*>(out.data());
  for (int64_t i = 0; i < rows * nb; ++i) b[i] = dsk::quant::test::random_block<B>(rng);
  return out;
}
}  // namespace

TEST_CASE("ops: embedding gathers dequantized rows for every type; bad ids give NaN rows", "[ops]") {
  Rng rng(7);
  const int64_t V = 11, n = 512;
  std::vector<int32_t> ids = {3, 0, 10, 3, -1, 11};
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K,
                     GgmlType::Q2_K, GgmlType::IQ2_XXS}) {
    std::vector<uint8_t> tab;
    if (t == GgmlType::Q8_0) tab = random_table<block_q8_0>(rng, V, n);
    else if (t == GgmlType::Q4_K) tab = random_table<block_q4_K>(rng, V, n);
    else if (t == GgmlType::Q6_K) tab = random_table<block_q6_K>(rng, V, n);
    else if (t == GgmlType::Q2_K) tab = random_table<block_q2_K>(rng, V, n);
    else if (t == GgmlType::IQ2_XXS) tab = random_table<block_iq2_xxs>(rng, V, n);
    else {
      std::vector<float> f(V * n);
      for (float& v : f) v = rng.normal();
      tab.resize(ref::row_bytes(t, n) * V);
      ref::quantize_row(t, f.data(), tab.data(), V * n);
    }
    std::vector<float> y(ids.size() * n, dsk::test::poison());
    ops::EmbedParams p;
    p.type = t; p.table = tab.data(); p.n_embd = n; p.n_vocab = V; p.ids = ids.data();
    p.T = static_cast<int64_t>(ids.size()); p.y = y.data();
    REQUIRE(ref::ops::embed(p).ok());
    const size_t rb = ref::row_bytes(t, n);
    for (size_t k = 0; k < ids.size(); ++k) {
      if (ids[k] < 0 || ids[k] >= V) {
        for (int64_t i = 0; i < n; ++i) REQUIRE(fp::bits(y[k * n + i]) == fp::kCanonicalNaNBits);
        continue;
      }
      std::vector<float> want(n);
      ref::dequantize_row(t, tab.data() + ids[k] * rb, want.data(), n);
      REQUIRE(dsk::test::compare_bits(y.data() + k * n, want.data(), n).count == 0);
    }
  }
  ops::EmbedParams p;
  p.type = GgmlType::Q4_0; p.n_embd = 32; p.n_vocab = 1;
  CHECK(ref::ops::embed(p).code == Status::kUnsupported);
  p.type = GgmlType::Q4_K; p.n_embd = 100;
  CHECK(ref::ops::embed(p).code == Status::kInvalidArgument);
}

TEST_CASE("ops: swiglu vs float64, clamped variant (V4 rule), NaN and inf", "[ops]") {
  Rng rng(8);
  const int64_t n = 1000;
  std::vector<float> g(n), u(n), y(n), yc(n);
  for (int64_t i = 0; i < n; ++i) { g[i] = rng.normal() * 8; u[i] = rng.normal() * 8; }
  ops::SwigluParams p;
  p.g = g.data(); p.u = u.data(); p.y = y.data(); p.T = 1; p.n = n;
  REQUIRE(ref::ops::swiglu(p).ok());
  p.y = yc.data(); p.clamp = true; p.limit = 10.0f;
  REQUIRE(ref::ops::swiglu(p).ok());
  for (int64_t i = 0; i < n; ++i) {
    const double gd = g[i], ud = u[i];
    const double want = gd / (1 + std::exp(-gd)) * ud;
    REQUIRE(std::fabs(y[i] - want) <= 1e-6 * (1 + std::fabs(want)));
    const double gc = std::min(gd, 10.0), uc = std::max(-10.0, std::min(ud, 10.0));
    const double wc = gc / (1 + std::exp(-gc)) * uc;
    REQUIRE(std::fabs(yc[i] - wc) <= 1e-6 * (1 + std::fabs(wc)));
  }
  // gate has no lower bound; up is clamped on both sides
  CHECK(ops::swiglu_clamped(-50.0f, 1.0f, 10.0f) == ops::swiglu(-50.0f, 1.0f));
  CHECK(ops::swiglu_clamped(50.0f, -50.0f, 10.0f) == ops::swiglu(10.0f, -10.0f));
  CHECK(std::isnan(ops::swiglu_clamped(kNaN, 1.0f, 10.0f)));
  CHECK(std::isnan(ops::swiglu_clamped(1.0f, kNaN, 10.0f)));
  CHECK(ops::swiglu_clamped(kInf, kInf, 10.0f) == ops::swiglu(10.0f, 10.0f));
  CHECK(fp::bits(ops::swiglu(-kInf, 1.0f)) == 0x80000000u);  // silu(-inf) = -0
  p.limit = 0.0f;
  CHECK(ref::ops::swiglu(p).code == Status::kInvalidArgument);
}

TEST_CASE("ops: softmax vs float64, order, policies, T=1 vs many", "[ops]") {
  Rng rng(9);
  for (int64_t n : {1, 5, 32, 255, 256, 257, 1000, 129280}) {
    const int64_t T = 2;
    std::vector<float> x(T * n), y(T * n);
    for (float& v : x) v = rng.normal() * 4;
    ops::SoftmaxParams p;
    p.x = x.data(); p.y = y.data(); p.T = T; p.n = n;
    REQUIRE(ref::ops::softmax(p).ok());
    for (int64_t t = 0; t < T; ++t) {
      double m = -1e300, s = 0;
      for (int64_t i = 0; i < n; ++i) m = std::max(m, double(x[t * n + i]));
      for (int64_t i = 0; i < n; ++i) s += std::exp(double(x[t * n + i]) - m);
      for (int64_t i = 0; i < n; ++i) {
        const double want = std::exp(double(x[t * n + i]) - m) / s;
        REQUIRE(std::fabs(y[t * n + i] - want) <= 4e-6 * want + 1e-30);
      }
      std::vector<float> y1(n);
      ops::SoftmaxParams q = p;
      q.x = x.data() + t * n; q.y = y1.data(); q.T = 1;
      REQUIRE(ref::ops::softmax(q).ok());
      REQUIRE(dsk::test::compare_bits(y1.data(), y.data() + t * n, n).count == 0);
    }
  }
  auto run = [](std::vector<float> x) {
    std::vector<float> y(x.size());
    ops::SoftmaxParams p;
    p.x = x.data(); p.y = y.data(); p.T = 1; p.n = static_cast<int64_t>(x.size());
    REQUIRE(ref::ops::softmax(p).ok());
    return y;
  };
  auto y = run({-kInf, 0.0f, -kInf, 0.0f});
  CHECK(y[0] == 0.0f);
  CHECK(y[1] == 0.5f);
  for (float v : run({-kInf, -kInf})) CHECK(fp::bits(v) == 0u);  // fully masked: +0
  for (float v : run({1.0f, kNaN, 2.0f})) CHECK(std::isnan(v));
  for (float v : run({-kInf, kNaN})) CHECK(std::isnan(v));
  for (float v : run({1.0f, kInf})) CHECK(std::isnan(v));
  y = run({1e30f, -1e30f, 1e30f});
  CHECK(y[0] == 0.5f);
  CHECK(y[1] == 0.0f);
}

TEST_CASE("ops: argmax ties, NaN, -inf, +-0", "[ops]") {
  auto am = [](std::vector<float> x) {
    int32_t idx = -5;
    ops::ArgmaxParams p;
    p.x = x.data(); p.idx = &idx; p.T = 1; p.n = static_cast<int64_t>(x.size());
    REQUIRE(ref::ops::argmax(p).ok());
    return idx;
  };
  CHECK(am({1, 3, 2, 3}) == 1);
  CHECK(am({kNaN, -kInf, -5}) == 2);
  CHECK(am({kNaN, -kInf}) == 1);
  CHECK(am({kNaN, kNaN}) == 0);
  CHECK(am({-0.0f, 0.0f}) == 0);
  CHECK(am({0.0f, -0.0f}) == 0);
  CHECK(am({1, kInf, kNaN, kInf}) == 1);
  CHECK(am({7}) == 0);
  // key_before is a strict total order: any reduction tree gives the first-index answer
  Rng rng(10);
  const float pool[] = {kNaN, -kInf, kInf, 0.0f, -0.0f, 1.0f, -1.0f};
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<float> x(37);
    for (float& v : x) v = pool[rng.below(7)];
    const int32_t lin = am(x);
    // a tree reduction, pairwise
    std::vector<int32_t> idx(x.size());
    for (size_t i = 0; i < x.size(); ++i) idx[i] = static_cast<int32_t>(i);
    while (idx.size() > 1) {
      std::vector<int32_t> nx;
      for (size_t i = 0; i + 1 < idx.size(); i += 2)
        nx.push_back(ops::key_before(x[idx[i + 1]], idx[i + 1], x[idx[i]], idx[i]) ? idx[i + 1] : idx[i]);
      if (idx.size() % 2) nx.push_back(idx.back());
      idx = nx;
    }
    REQUIRE(idx[0] == lin);
  }
  ops::ArgmaxParams p;
  p.T = 1; p.n = 0;
  CHECK(ref::ops::argmax(p).code == Status::kInvalidArgument);
}
