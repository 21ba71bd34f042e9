// include/dsk/attention/attention.hpp + reference/attention.*: absorbed MLA vs the naive
// (decompressed, kv_b) formulation in float64; prefill == decode by bits; chunking.
#include <cmath>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "attention_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "reference/attention.hpp"
#include "reference/quant.hpp"

using namespace dsk;
using dsk::quant::test::Rng;
using dsk::test::attention_util::Setup;
using dsk::test::attention_util::make;
using dsk::test::attention_util::params;

namespace {


// The naive formulation: kv_b per head = [W_UK_h (d_nope x lora) ; W_UV_h (d_v x lora)], decompress
// every cached latent to K = [k_nope | k_rope] and V, then standard causal softmax attention.
std::vector<double> naive(const Setup& s, int64_t pos, int64_t h) {
  const int64_t D = s.rope + s.lora, n = pos + 1;
  const float* q = s.q.data() + (pos * s.H + h) * (s.d_nope + s.rope);
  std::vector<double> sc(n);
  std::vector<std::vector<double>> V(n, std::vector<double>(s.d_v));
  for (int64_t j = 0; j < n; ++j) {
    const float* row = s.cache_f.data() + j * D;
    double dot = 0;
    for (int64_t i = 0; i < s.d_nope; ++i) {  // k_nope_i = sum_r W_UK[i][r] c[r], W_UK[i][r] = k_b[h][r][i]
      double k = 0;
      for (int64_t r = 0; r < s.lora; ++r) k += double(s.kb_f[(h * s.lora + r) * s.d_nope + i]) * row[s.rope + r];
      dot += double(q[i]) * k;
    }
    for (int64_t i = 0; i < s.rope; ++i) dot += double(q[s.d_nope + i]) * row[i];
    sc[j] = dot * s.scale;
    for (int64_t dv = 0; dv < s.d_v; ++dv) {
      double acc = 0;
      for (int64_t r = 0; r < s.lora; ++r) acc += double(s.vb_f[(h * s.d_v + dv) * s.lora + r]) * row[s.rope + r];
      V[j][dv] = acc;
    }
  }
  double m = -1e300, z = 0;
  for (double v : sc) m = std::max(m, v);
  for (double v : sc) z += std::exp(v - m);
  std::vector<double> out(s.d_v, 0.0);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t dv = 0; dv < s.d_v; ++dv) out[dv] += std::exp(sc[j] - m) / z * V[j][dv];
  return out;
}

}  // namespace

TEST_CASE("attention: absorbed MLA equals the naive kv_b formulation (float64), chunked contexts", "[attention]") {
  Rng rng(31);
  struct Cfg { GgmlType c, k, v; int64_t n_ctx, p0; double tol; int64_t rope = 32; };
  for (Cfg cfg : {Cfg{GgmlType::F32, GgmlType::F32, GgmlType::F32, 40, 30, 2e-5},
                  Cfg{GgmlType::F32, GgmlType::F32, GgmlType::F32, 600, 590, 2e-5},   // 3 chunks
                  Cfg{GgmlType::F16, GgmlType::Q8_0, GgmlType::Q8_0, 300, 295, 3e-2},
                  Cfg{GgmlType::F32, GgmlType::F32, GgmlType::F32, 40, 30, 2e-5, 16}}) {  // D = 80: padded
    const Setup s = make(rng, 3, 32, cfg.rope, 64, 32, cfg.n_ctx, cfg.c, cfg.k, cfg.v);
    const int64_t T = cfg.n_ctx - cfg.p0;
    std::vector<float> out(T * s.H * s.d_v, dsk::test::poison());
    REQUIRE(ref::attention::mla(params(s, cfg.p0, T, out.data())).ok());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < s.H; ++h) {
        const auto want = naive(s, cfg.p0 + t, h);
        double mag = 0;
        for (double v : want) mag = std::max(mag, std::fabs(v));
        for (int64_t dv = 0; dv < s.d_v; ++dv)
          REQUIRE(std::fabs(out[(t * s.H + h) * s.d_v + dv] - want[dv]) <= cfg.tol * (mag + 1e-3));
      }
  }
}

TEST_CASE("attention: prefill and decode give the same bits for every token", "[attention]") {
  Rng rng(32);
  const Setup s = make(rng, 2, 32, 32, 96, 64, 520, GgmlType::F16, GgmlType::Q8_0, GgmlType::F16);
  const int64_t n = s.n_ctx, w = s.H * s.d_v;
  std::vector<float> prefill(n * w, dsk::test::poison()), one(w);
  REQUIRE(ref::attention::mla(params(s, 0, n, prefill.data())).ok());
  for (int64_t pos : {int64_t{0}, int64_t{1}, int64_t{255}, int64_t{256}, int64_t{257}, int64_t{511}, int64_t{519}}) {
    REQUIRE(ref::attention::mla(params(s, pos, 1, one.data())).ok());
    REQUIRE(dsk::test::compare_bits(one.data(), prefill.data() + pos * w, w).count == 0);
  }
  // a middle batch (p0 = 200, T = 100)
  std::vector<float> mid(100 * w);
  REQUIRE(ref::attention::mla(params(s, 200, 100, mid.data())).ok());
  REQUIRE(dsk::test::compare_bits(mid.data(), prefill.data() + 200 * w, 100 * w).count == 0);
}

TEST_CASE("attention: position 0 attends to itself only: out = W_UV c_kv(0)", "[attention]") {
  Rng rng(33);
  const Setup s = make(rng, 1, 32, 32, 64, 32, 1, GgmlType::F32, GgmlType::F32, GgmlType::F32);
  std::vector<float> out(s.d_v);
  REQUIRE(ref::attention::mla(params(s, 0, 1, out.data())).ok());
  std::vector<float> c(s.cache_f.begin() + s.rope, s.cache_f.begin() + s.rope + s.lora), want(s.d_v);
  ref::gemv(GgmlType::F32, s.vb.data(), s.d_v, c.data(), s.lora, want.data());
  // e = 1, l = 1, o = fma(1, v, 0) = v, L = 1, o/L = v: bit-exact
  REQUIRE(dsk::test::compare_bits(out, want).count == 0);
}

TEST_CASE("attention: invalid params", "[attention]") {
  Rng rng(34);
  const Setup s = make(rng, 1, 32, 32, 64, 32, 4, GgmlType::F32, GgmlType::F32, GgmlType::F32);
  std::vector<float> out(4 * 32);
  auto p = params(s, 0, 4, out.data());
  CHECK(ref::attention::mla(p).ok());
  auto q = p; q.cache_type = GgmlType::Q8_0;
  CHECK(ref::attention::mla(q).code == Status::kUnsupported);
  q = p; q.k_b_type = GgmlType::Q4_K;
  CHECK(ref::attention::mla(q).code == Status::kInvalidArgument);  // d_nope 32 is not a multiple of 256
  q = p; q.k_b_type = GgmlType::Q5_K;
  CHECK(ref::attention::mla(q).code == Status::kUnsupported);
  q = p; q.out = nullptr;
  CHECK(ref::attention::mla(q).code == Status::kInvalidArgument);
}
