// include/dsk/moe/moe.hpp + reference/moe.*: SwiGLU FFN and routed MoE (+ shared experts).
#include <cmath>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "moe_test_util.hpp"
#include "compare.hpp"
#include "dsk/ops/ops.hpp"
#include "reference/moe.hpp"
#include "reference/quant.hpp"

using namespace dsk;
using namespace dsk::quant;
using dsk::quant::test::Rng;
using dsk::test::moe_util::Mat;
using dsk::test::moe_util::make;

namespace {

// What the activation becomes after quantization to the weight's activation type.
std::vector<double> act(GgmlType wtype, const std::vector<float>& x) {
  const GgmlType at = ref::activation_type(wtype);
  const int64_t K = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(ref::row_bytes(at, K));
  ref::quantize_row(at, x.data(), q.data(), K);
  std::vector<float> d(K);
  ref::dequantize_row(at, q.data(), d.data(), K);
  return std::vector<double>(d.begin(), d.end());
}

// float64 FFN of expert e: returns the output and the sum of |terms| of the down product.
std::vector<double> oracle_ffn(const Mat& g, const Mat& u, const Mat& d, int64_t e, const std::vector<float>& x,
                               bool clamp, double w_before, std::vector<double>& mag) {
  const int64_t n_embd = g.K, n_ff = g.M;
  const auto xg = act(g.type, x), xu = act(u.type, x);
  std::vector<float> h(n_ff);
  for (int64_t i = 0; i < n_ff; ++i) {
    double gs = 0, us = 0;
    for (int64_t k = 0; k < n_embd; ++k) {
      gs += double(g.deq[(e * n_ff + i) * n_embd + k]) * xg[k];
      us += double(u.deq[(e * n_ff + i) * n_embd + k]) * xu[k];
    }
    if (clamp) { gs = std::min(gs, 10.0); us = std::max(-10.0, std::min(us, 10.0)); }
    h[i] = static_cast<float>(gs / (1 + std::exp(-gs)) * us * w_before);
  }
  const auto hq = act(d.type, h);
  std::vector<double> out(n_embd, 0.0);
  mag.assign(n_embd, 0.0);
  for (int64_t j = 0; j < n_embd; ++j)
    for (int64_t i = 0; i < n_ff; ++i) {
      const double term = double(d.deq[(e * n_embd + j) * n_ff + i]) * hq[i];
      out[j] += term;
      mag[j] += std::fabs(term);
    }
  return out;
}

moe::Tensor tensor(const Mat& m) { return {m.type, m.bytes.data(), 0, 0}; }

}  // namespace

TEST_CASE("moe: dense FFN vs float64 oracle (F32 exact activations, quantized types)", "[moe]") {
  Rng rng(21);
  const int64_t n_embd = 512, n_ff = 768, T = 3;
  struct Types { GgmlType g, u, d; double tol; };
  for (Types ty : {Types{GgmlType::F32, GgmlType::F32, GgmlType::F32, 1e-5}, Types{GgmlType::F16, GgmlType::BF16, GgmlType::F16, 1e-5},
                   Types{GgmlType::Q8_0, GgmlType::Q8_0, GgmlType::Q8_0, 2e-3}, Types{GgmlType::Q4_K, GgmlType::Q4_K, GgmlType::Q6_K, 2e-3},
                   Types{GgmlType::IQ2_XXS, GgmlType::IQ2_XXS, GgmlType::Q2_K, 2e-3}}) {
    const Mat g = make(rng, ty.g, n_embd, n_ff, 1, 0.05f), u = make(rng, ty.u, n_embd, n_ff, 1, 0.05f);
    const Mat d = make(rng, ty.d, n_ff, n_embd, 1, 0.05f);
    std::vector<float> x(T * n_embd), y(T * n_embd, dsk::test::poison());
    for (float& v : x) v = rng.normal();
    for (bool clamp : {false, true}) {
      moe::FfnParams p;
      p.x = x.data(); p.y = y.data(); p.T = T; p.n_embd = n_embd; p.n_ff = n_ff;
      p.gate = tensor(g); p.up = tensor(u); p.down = tensor(d); p.clamp = clamp;
      REQUIRE(ref::moe::ffn(p).ok());
      for (int64_t t = 0; t < T; ++t) {
        std::vector<float> xt(x.begin() + t * n_embd, x.begin() + (t + 1) * n_embd);
        std::vector<double> mag;
        const auto want = oracle_ffn(g, u, d, 0, xt, clamp, 1.0, mag);
        for (int64_t j = 0; j < n_embd; ++j) REQUIRE(std::fabs(y[t * n_embd + j] - want[j]) <= ty.tol * mag[j] + 1e-6);
      }
    }
  }
}

TEST_CASE("moe: routed experts + shared, weight after / before down, vs oracle and the stated order", "[moe]") {
  Rng rng(22);
  const int64_t n_embd = 256, n_ff = 512, n_sh = 1024, T = 4;
  const int32_t n_exp = 8, K = 3;
  const Mat g = make(rng, GgmlType::IQ2_XXS, n_embd, n_ff, n_exp, 0), u = make(rng, GgmlType::IQ2_XXS, n_embd, n_ff, n_exp, 0);
  const Mat d = make(rng, GgmlType::Q2_K, n_ff, n_embd, n_exp, 0.05f);
  const Mat gs = make(rng, GgmlType::Q8_0, n_embd, n_sh, 1, 0.05f), us = make(rng, GgmlType::Q8_0, n_embd, n_sh, 1, 0.05f);
  const Mat ds = make(rng, GgmlType::Q8_0, n_sh, n_embd, 1, 0.05f);
  std::vector<float> x(T * n_embd);
  for (float& v : x) v = rng.normal();
  std::vector<int32_t> ids = {0, 5, 7, 3, 3 /*dup allowed*/, 1, 6, 2, 4, 7, 0, 1};
  std::vector<float> w = {0.5f, 0.3f, 0.2f, 1.5f, -0.25f, 0.7f, 1.0f, 2.0f, 0.1f, 0.33f, 0.33f, 0.34f};
  for (bool before : {false, true})
    for (bool shared : {false, true}) {
      std::vector<float> y(T * n_embd, dsk::test::poison());
      moe::Params p;
      p.x = x.data(); p.y = y.data(); p.T = T; p.n_embd = n_embd; p.n_ff = n_ff; p.n_expert = n_exp; p.k = K;
      p.ids = ids.data(); p.weights = w.data(); p.gate = tensor(g); p.up = tensor(u); p.down = tensor(d);
      p.weight_before_down = before; p.clamp = before;  // V4 style: clamp + weight before
      if (shared) {
        p.n_ff_shared = n_sh; p.gate_shared = tensor(gs); p.up_shared = tensor(us); p.down_shared = tensor(ds);
        p.shared_clamp = before;
      }
      REQUIRE(ref::moe::moe(p).ok());
      for (int64_t t = 0; t < T; ++t) {
        std::vector<float> xt(x.begin() + t * n_embd, x.begin() + (t + 1) * n_embd);
        std::vector<double> want(n_embd, 0.0), mag_all(n_embd, 0.0), mag;
        for (int j = 0; j < K; ++j) {
          const double wk = w[t * K + j];
          auto o = oracle_ffn(g, u, d, ids[t * K + j], xt, before, before ? wk : 1.0, mag);
          for (int64_t i = 0; i < n_embd; ++i) {
            want[i] += before ? o[i] : wk * o[i];
            mag_all[i] += before ? mag[i] : std::fabs(wk) * mag[i];
          }
        }
        if (shared) {
          auto o = oracle_ffn(gs, us, ds, 0, xt, before, 1.0, mag);
          for (int64_t i = 0; i < n_embd; ++i) { want[i] += o[i]; mag_all[i] += mag[i]; }
        }
        for (int64_t i = 0; i < n_embd; ++i) REQUIRE(std::fabs(y[t * n_embd + i] - want[i]) <= 3e-3 * mag_all[i] + 1e-6);

        // T = 1 gives the same bits
        std::vector<float> y1(n_embd);
        moe::Params q = p;
        q.x = xt.data(); q.y = y1.data(); q.T = 1; q.ids = ids.data() + t * K; q.weights = w.data() + t * K;
        REQUIRE(ref::moe::moe(q).ok());
        REQUIRE(dsk::test::compare_bits(y1.data(), y.data() + t * n_embd, n_embd).count == 0);

        // the stated order, rebuilt from the row functions: identical bits
        std::vector<float> acc(n_embd, 0.0f), dv(n_embd);
        auto run_ffn = [&](const Mat& G, const Mat& U, const Mat& D, int64_t e, int64_t nff, bool cl, const float* wb) {
          std::vector<uint8_t> xg(ref::row_bytes(ref::activation_type(G.type), n_embd)), xu(xg.size());
          ref::quantize_row(ref::activation_type(G.type), xt.data(), xg.data(), n_embd);
          ref::quantize_row(ref::activation_type(U.type), xt.data(), xu.data(), n_embd);
          std::vector<float> gg(nff), uu(nff);
          ref::gemv(G.type, G.bytes.data() + e * nff * ref::row_bytes(G.type, n_embd), nff, xg.data(), n_embd, gg.data());
          ref::gemv(U.type, U.bytes.data() + e * nff * ref::row_bytes(U.type, n_embd), nff, xu.data(), n_embd, uu.data());
          for (int64_t i = 0; i < nff; ++i) {
            gg[i] = cl ? ops::swiglu_clamped(gg[i], uu[i], 10.0f) : ops::swiglu(gg[i], uu[i]);
            if (wb) gg[i] = gg[i] * *wb;
          }
          std::vector<uint8_t> hq(ref::row_bytes(ref::activation_type(D.type), nff));
          ref::quantize_row(ref::activation_type(D.type), gg.data(), hq.data(), nff);
          ref::gemv(D.type, D.bytes.data() + e * n_embd * ref::row_bytes(D.type, nff), n_embd, hq.data(), nff, dv.data());
        };
        for (int j = 0; j < K; ++j) {
          const float wk = w[t * K + j];
          run_ffn(g, u, d, ids[t * K + j], n_ff, before, before ? &wk : nullptr);
          for (int64_t i = 0; i < n_embd; ++i) acc[i] = before ? acc[i] + dv[i] : std::fma(wk, dv[i], acc[i]);
        }
        if (shared) {
          run_ffn(gs, us, ds, 0, n_sh, before, nullptr);
          for (int64_t i = 0; i < n_embd; ++i) acc[i] = acc[i] + dv[i];
        }
        REQUIRE(dsk::test::compare_bits(acc.data(), y.data() + t * n_embd, n_embd).count == 0);
      }
    }
}

TEST_CASE("moe: invalid params", "[moe]") {
  std::vector<float> x(256), y(256);
  std::vector<uint8_t> wb(1 << 20);
  int32_t ids[2] = {0, 1};
  float w[2] = {1, 1};
  moe::Params p;
  p.x = x.data(); p.y = y.data(); p.T = 1; p.n_embd = 256; p.n_ff = 256; p.n_expert = 2; p.k = 2;
  p.ids = ids; p.weights = w;
  p.gate = {GgmlType::Q8_0, wb.data(), 0, 0}; p.up = p.gate; p.down = p.gate;
  CHECK(ref::moe::moe(p).ok());
  auto q = p; q.gate.type = GgmlType::Q4_0;
  CHECK(ref::moe::moe(q).code == Status::kUnsupported);
  q = p; q.n_ff = 100;
  CHECK(ref::moe::moe(q).code == Status::kInvalidArgument);
  q = p; q.down.type = GgmlType::Q4_K; q.n_ff = 288;  // multiple of 32, not of 256
  CHECK(ref::moe::moe(q).code == Status::kInvalidArgument);
  int32_t bad[2] = {0, 2};
  q = p; q.ids = bad;
  CHECK(ref::moe::moe(q).code == Status::kInvalidArgument);
  q = p; q.n_ff_shared = 256;
  CHECK(ref::moe::moe(q).code == Status::kInvalidArgument);  // shared tensors missing
  moe::FfnParams f;
  f.T = 1; f.n_embd = 256; f.n_ff = 256; f.x = x.data(); f.y = y.data();
  CHECK(ref::moe::ffn(f).code == Status::kInvalidArgument);  // null weights
}
