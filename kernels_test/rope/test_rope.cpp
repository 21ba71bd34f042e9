// include/dsk/rope/rope.hpp + reference/rope.*: table (YaRN), rotation, inverse, head norm.
#include <cmath>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "reference/rope.hpp"

using namespace dsk;
using dsk::quant::test::Rng;

namespace {
// ggml's rope_yarn as ggml computes it (float, theta by repeated multiplication): the table must
// agree to rounding of the angle.
void ggml_float_cos_sin(const rope::YarnConfig& c, int64_t p, int i, float& co, float& si) {
  const float theta_scale = std::pow(float(c.freq_base), -2.0f / float(c.n_dims));
  float theta_ext = float(p);
  for (int k = 0; k < i; ++k) theta_ext *= theta_scale;
  auto corr = [&](float beta) {
    return float(c.n_dims) * std::log(float(c.n_ctx_orig) / (beta * 2 * 3.14159265358979f)) / (2 * std::log(float(c.freq_base)));
  };
  const float low = std::fmax(0.0f, std::floor(corr(float(c.beta_fast))));
  const float high = std::fmin(float(c.n_dims - 1), std::ceil(corr(float(c.beta_slow))));
  const float theta_int = float(c.freq_scale) * theta_ext;
  float theta = theta_int, mscale = float(c.attn_factor);
  if (c.ext_factor != 0) {
    const float y = (float(i) - low) / std::fmax(0.001f, high - low);
    const float ramp = (1 - std::fmin(1.0f, std::fmax(0.0f, y))) * float(c.ext_factor);
    theta = theta_int * (1 - ramp) + theta_ext * ramp;
    mscale *= 1.0f + 0.1f * std::log(1.0f / float(c.freq_scale));
  }
  co = std::cos(theta) * mscale;
  si = std::sin(theta) * mscale;
}

rope::YarnConfig deepseek_v3() {
  rope::YarnConfig c;
  c.n_dims = 64; c.n_ctx_orig = 4096; c.freq_base = 10000; c.freq_scale = 1.0 / 40; c.ext_factor = 1;
  c.attn_factor = rope::deepseek2_rope_attn_factor(40.0f);
  return c;
}
}  // namespace

TEST_CASE("rope: YaRN corr dims and magnitudes (deepseek2, deepseek4 anchors)", "[rope]") {
  rope::YarnConfig v4;
  v4.n_dims = 64; v4.n_ctx_orig = 65536; v4.freq_base = 160000; v4.freq_scale = 1.0 / 16; v4.ext_factor = 1;
  double lo, hi;
  rope::yarn_corr_dims(v4, lo, hi);
  CHECK(lo == 15);  // deepseek4-architecture.md §3
  CHECK(hi == 25);
  // deepseek2: attn_factor 1/(1+0.1 ln 40) cancels the YaRN magnitude: |(c, s)| = 1 to float.
  auto c = deepseek_v3();
  auto tab = rope::make_table(c, 3);
  CHECK(std::fabs(tab[0] - 1.0f) < 1e-6f);
  CHECK(tab[1] == 0.0f);
  for (int i = 0; i < 32; ++i) {
    const double m = std::hypot(double(tab[(2 * 32 + i) * 2]), double(tab[(2 * 32 + i) * 2 + 1]));
    CHECK(std::fabs(m - 1.0) < 1e-6);
  }
  // kq scale for V3: mscale = 1 + 0.1 ln 40, mscale^2 / sqrt(192) = 0.13523...
  const double ms = 1 + 0.1 * std::log(40.0);
  CHECK(std::fabs(rope::mla_kq_scale(40.0f, 0.1f, 192) - ms * ms / std::sqrt(192.0)) < 1e-7);
  CHECK(rope::mla_kq_scale(1.0f, 0.1f, 64) == 0.125f);
}

TEST_CASE("rope: table agrees with ggml's float rope_yarn to angle rounding", "[rope]") {
  for (double ext : {0.0, 1.0}) {
    auto c = deepseek_v3();
    c.ext_factor = ext;
    if (ext == 0) c.attn_factor = 1.0;
    const int64_t n_pos = 5000;
    auto tab = rope::make_table(c, n_pos);
    for (int64_t p : {0, 1, 2, 17, 100, 1023, 4095, 4999})
      for (int i = 0; i < 32; ++i) {
        float co, si;
        ggml_float_cos_sin(c, p, i, co, si);
        // float theta has relative error ~ i * 2^-24; the absolute error grows with p.
        const double tol = 1e-6 + double(p) * 4e-7 * (i + 1);
        REQUIRE(std::fabs(tab[(p * 32 + i) * 2] - co) <= tol);
        REQUIRE(std::fabs(tab[(p * 32 + i) * 2 + 1] - si) <= tol);
      }
  }
}

TEST_CASE("rope: rotation vs float64 oracle, interleaved and neox, span offset, inverse", "[rope]") {
  Rng rng(5);
  auto c = deepseek_v3();
  const int64_t n_pos = 64;
  auto tab = rope::make_table(c, n_pos);
  const int64_t T = 4, H = 3, D = 576;
  std::vector<float> x(T * H * D), y(T * H * D), z(T * H * D);
  for (float& v : x) v = rng.normal();
  std::vector<int32_t> pos = {0, 5, 33, 63};
  for (rope::Mode mode : {rope::Mode::interleaved, rope::Mode::neox})
    for (int64_t off : {int64_t{0}, D - 64}) {
      rope::Params p;
      p.x = x.data(); p.y = y.data(); p.pos = pos.data(); p.table = {tab.data(), n_pos, 64};
      p.T = T; p.n_head = H; p.head_dim = D; p.rope_offset = off; p.rope_dims = 64; p.mode = mode;
      REQUIRE(rope::validate(p).ok());
      REQUIRE(ref::rope::apply(p).ok());
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h) {
          const float* xi = x.data() + (t * H + h) * D;
          const float* yo = y.data() + (t * H + h) * D;
          for (int64_t i = 0; i < D; ++i)
            if (i < off || i >= off + 64) REQUIRE(fp::bits(yo[i]) == fp::bits(xi[i]));
          for (int i = 0; i < 32; ++i) {
            double th, ms;
            rope::yarn_angle(c, pos[t], i, th, ms);
            const int64_t i0 = off + (mode == rope::Mode::neox ? i : 2 * i);
            const int64_t i1 = off + (mode == rope::Mode::neox ? i + 32 : 2 * i + 1);
            const double w0 = xi[i0] * std::cos(th) * ms - xi[i1] * std::sin(th) * ms;
            const double w1 = xi[i0] * std::sin(th) * ms + xi[i1] * std::cos(th) * ms;
            REQUIRE(std::fabs(yo[i0] - w0) < 1e-5);
            REQUIRE(std::fabs(yo[i1] - w1) < 1e-5);
          }
        }
      // inverse undoes the rotation (to rounding)
      rope::Params q = p;
      q.x = y.data(); q.y = z.data(); q.inverse = true;
      REQUIRE(ref::rope::apply(q).ok());
      for (size_t i = 0; i < x.size(); ++i) REQUIRE(std::fabs(z[i] - x[i]) < 1e-5);
    }
}

TEST_CASE("rope: per-head norm (weightless / weighted), T=1 vs many, in place", "[rope]") {
  Rng rng(6);
  rope::YarnConfig c;  // plain RoPE base 10000
  auto tab = rope::make_table(c, 100);
  const int64_t T = 6, H = 4, D = 512;
  std::vector<float> x(T * H * D), w(D), y(T * H * D), y1(H * D);
  for (float& v : x) v = rng.normal() * 5;
  for (float& v : w) v = rng.uniform(0.5f, 2.0f);
  std::vector<int32_t> pos = {3, 99, 0, 50, 51, 7};
  for (auto hn : {rope::HeadNorm::weightless, rope::HeadNorm::weighted}) {
    rope::Params p;
    p.x = x.data(); p.y = y.data(); p.pos = pos.data(); p.table = {tab.data(), 100, 64};
    p.T = T; p.n_head = H; p.head_dim = D; p.rope_offset = D - 64; p.rope_dims = 64;
    p.norm = hn; p.norm_w = w.data();
    REQUIRE(ref::rope::apply(p).ok());
    for (int64_t t = 0; t < T; ++t) {
      // oracle on the norm part: untouched dims = x * r (* w)
      for (int64_t h = 0; h < H; ++h) {
        const float* xi = x.data() + (t * H + h) * D;
        double ss = 0;
        for (int64_t i = 0; i < D; ++i) ss += double(xi[i]) * xi[i];
        const double r = 1 / std::sqrt(ss / D + 1e-6);
        for (int64_t i = 0; i < D - 64; ++i) {
          const double want = xi[i] * r * (hn == rope::HeadNorm::weighted ? w[i] : 1.0);
          REQUIRE(std::fabs(y[(t * H + h) * D + i] - want) < 1e-5 * (1 + std::fabs(want)));
        }
      }
      rope::Params q = p;
      std::vector<float> in(x.begin() + t * H * D, x.begin() + (t + 1) * H * D);
      q.x = in.data(); q.y = in.data(); q.pos = pos.data() + t; q.T = 1;  // in place, one token
      REQUIRE(ref::rope::apply(q).ok());
      REQUIRE(test::compare_bits(in.data(), y.data() + t * H * D, H * D).count == 0);
    }
  }
}

TEST_CASE("rope: strides (heads inside a wider row) and invalid params", "[rope]") {
  rope::YarnConfig c;
  auto tab = rope::make_table(c, 8);
  // q rows of 2 heads of [nope 128 | rope 64] = 192, rotate the tails; a stride of 400 per token.
  std::vector<float> x(2 * 400, 1.0f), y(2 * 400, 7.0f);
  int32_t pos[2] = {1, 2};
  rope::Params p;
  p.x = x.data(); p.y = y.data(); p.pos = pos; p.table = {tab.data(), 8, 64};
  p.T = 2; p.n_head = 2; p.head_dim = 192; p.x_token_stride = 400; p.y_token_stride = 400;
  p.rope_offset = 128; p.rope_dims = 64;
  REQUIRE(ref::rope::apply(p).ok());
  CHECK(y[399] == 7.0f);  // beyond the heads: untouched
  CHECK(y[0] == 1.0f);
  CHECK(y[128] != 1.0f);
  auto q = p; q.rope_dims = 63;
  CHECK(ref::rope::apply(q).code == Status::kInvalidArgument);
  q = p; q.rope_offset = 129;
  CHECK(ref::rope::apply(q).code == Status::kInvalidArgument);
  q = p; q.table.n_dims = 32;
  CHECK(ref::rope::apply(q).code == Status::kInvalidArgument);
  int32_t bad[2] = {1, 8};
  q = p; q.pos = bad;
  CHECK(ref::rope::apply(q).code == Status::kInvalidArgument);
  q = p; q.norm = rope::HeadNorm::weighted;
  CHECK(ref::rope::apply(q).code == Status::kInvalidArgument);
  q = p; q.x_token_stride = 300;
  CHECK(ref::rope::apply(q).code == Status::kInvalidArgument);
}
