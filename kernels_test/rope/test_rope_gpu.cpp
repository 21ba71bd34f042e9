// GPU == reference by bits for the RoPE family (dsk/rope/rope_cuda.cuh vs reference/rope.*):
// interleaved and NeoX, forward and inverse, with and without the per-head norm (weightless,
// weighted), spans at an offset (MLA: the last 64 of 192 / 576), rotation off, strided heads and
// tokens, YaRN tables, edge heads (NaN, +-inf, +-0, all zero), in place, T = 1 vs T = many.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "reference/rope.hpp"
#include "rope_gpu_kernels.hpp"

using namespace dsk;
using dsk::quant::test::Rng;
namespace gr = dsk::test::gpu_rope;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Shape {
  int64_t head_dim, rope_offset, rope_dims, n_head;
};

void fill(Rng& rng, std::vector<float>& x, int64_t head_dim) {
  for (float& v : x) v = rng.normal() * 2.0f;
  const int64_t heads = static_cast<int64_t>(x.size()) / head_dim;
  for (int64_t h = 0; h < heads; ++h) {
    float* v = x.data() + h * head_dim;
    switch (h % 9) {
      case 1: v[rng.below(static_cast<int>(head_dim))] = kNaN; break;
      case 2: v[rng.below(static_cast<int>(head_dim))] = kInf; break;
      case 3: v[rng.below(static_cast<int>(head_dim))] = -kInf; break;
      case 4: for (int64_t i = 0; i < head_dim; ++i) v[i] = (i % 2) ? 0.0f : -0.0f; break;
      case 5: for (int64_t i = 0; i < head_dim; ++i) v[i] *= 1e-41f; break;
      case 6: for (int64_t i = 0; i < head_dim; ++i) v[i] *= 1e35f; break;
      default: break;
    }
  }
}

void run_case(Rng& rng, const Shape& s, int64_t T, rope::Mode mode, bool inverse, rope::HeadNorm norm,
              bool strided, bool yarn, bool in_place) {
  rope::YarnConfig yc;
  yc.n_dims = static_cast<int>(s.rope_dims > 0 ? s.rope_dims : 2);
  if (yarn) {
    yc.freq_scale = 1.0 / 40.0; yc.ext_factor = 1.0; yc.attn_factor = rope::deepseek2_rope_attn_factor(40.0f);
    yc.n_ctx_orig = 4096;
  }
  const int64_t n_pos = 3000;
  const std::vector<float> cs = rope::make_table(yc, n_pos);
  const int64_t xh = strided ? s.head_dim + 3 : s.head_dim, xt = strided ? xh * s.n_head + 5 : xh * s.n_head;
  const int64_t yh = strided ? s.head_dim + 1 : s.head_dim, yt = strided ? yh * s.n_head + 2 : yh * s.n_head;
  std::vector<float> x(static_cast<size_t>(T * xt));
  fill(rng, x, 1);  // random everywhere (padding too), edge heads below
  std::vector<float> heads(static_cast<size_t>(T * s.n_head * s.head_dim));
  fill(rng, heads, s.head_dim);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < s.n_head; ++h)
      std::memcpy(&x[t * xt + h * xh], &heads[(t * s.n_head + h) * s.head_dim], s.head_dim * sizeof(float));
  std::vector<int32_t> pos(T);
  for (int64_t t = 0; t < T; ++t) pos[t] = (t % 4 == 0) ? static_cast<int32_t>(t % n_pos) : rng.below(static_cast<int>(n_pos));
  if (T > 2) { pos[1] = 0; pos[2] = static_cast<int32_t>(n_pos - 1); }
  std::vector<float> w(s.head_dim);
  for (float& v : w) v = rng.uniform(0.5f, 1.5f);
  w[0] = -0.0f;

  rope::Params p;
  p.pos = pos.data(); p.T = T; p.n_head = s.n_head; p.head_dim = s.head_dim;
  p.table.cs = s.rope_dims > 0 ? cs.data() : nullptr; p.table.n_pos = n_pos; p.table.n_dims = yc.n_dims;
  p.rope_offset = s.rope_offset; p.rope_dims = s.rope_dims; p.mode = mode; p.inverse = inverse;
  p.norm = norm; p.norm_w = norm == rope::HeadNorm::weighted ? w.data() : nullptr; p.eps = 1e-6f;
  INFO("head_dim=" << s.head_dim << " off=" << s.rope_offset << " dims=" << s.rope_dims << " heads=" << s.n_head
                   << " T=" << T << " mode=" << int(mode) << " inv=" << inverse << " norm=" << int(norm)
                   << " strided=" << strided << " yarn=" << yarn << " in_place=" << in_place);
  if (in_place) {
    auto wx = x, gx = x;
    p.x_token_stride = p.y_token_stride = xt; p.x_head_stride = p.y_head_stride = xh;
    p.x = p.y = wx.data();
    REQUIRE(ref::rope::apply(p).ok());
    p.x = p.y = gx.data();
    REQUIRE(gr::apply(p).ok());
    REQUIRE(dsk::test::compare_bits(gx, wx).count == 0);
    return;
  }
  p.x = x.data();
  p.x_token_stride = strided ? xt : 0; p.x_head_stride = strided ? xh : 0;
  p.y_token_stride = strided ? yt : 0; p.y_head_stride = strided ? yh : 0;
  std::vector<float> want(static_cast<size_t>(T * yt), dsk::test::poison()), got = want;
  p.y = want.data();
  REQUIRE(ref::rope::apply(p).ok());
  p.y = got.data();
  REQUIRE(gr::apply(p).ok());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < s.n_head; ++h)
      REQUIRE(dsk::test::compare_bits(&got[t * yt + h * yh], &want[t * yt + h * yh], s.head_dim).count == 0);
}

const Shape kShapes[] = {
    {64, 0, 64, 4},      // plain RoPE over the whole head
    {192, 128, 64, 16},  // MLA q: nope 128 + rope 64
    {576, 512, 64, 1},   // MLA kv cache row: kv_lora 512 + k_rope 64
    {128, 0, 64, 3},     // partial rotation at the start
    {100, 30, 40, 2},    // odd split, span in the middle
    {33, 0, 0, 5},       // rotation off (norm / copy only)
    {2, 0, 2, 7},        // one pair
    {512, 448, 64, 2},   // V4-like head
};
}  // namespace

TEST_CASE("rope gpu: apply == reference over modes, norms, spans, strides", "[rope][gpu]") {
  Rng rng(31);
  for (const Shape& s : kShapes)
    for (rope::Mode mode : {rope::Mode::interleaved, rope::Mode::neox})
      for (rope::HeadNorm norm : {rope::HeadNorm::none, rope::HeadNorm::weightless, rope::HeadNorm::weighted})
        for (int v = 0; v < 4; ++v) {
          const bool inverse = v & 1, strided = v & 2;
          run_case(rng, s, 9, mode, inverse, norm, strided, v == 1, false);
        }
}

TEST_CASE("rope gpu: in place, YaRN tables, many tokens", "[rope][gpu]") {
  Rng rng(32);
  for (const Shape& s : kShapes)
    for (rope::HeadNorm norm : {rope::HeadNorm::none, rope::HeadNorm::weighted}) {
      run_case(rng, s, 7, rope::Mode::interleaved, false, norm, false, true, true);
      run_case(rng, s, 5, rope::Mode::neox, true, norm, true, false, true);
    }
  run_case(rng, {192, 128, 64, 16}, 300, rope::Mode::interleaved, false, rope::HeadNorm::none, false, true, false);
  run_case(rng, {576, 512, 64, 1}, 1000, rope::Mode::interleaved, false, rope::HeadNorm::weighted, true, true, false);
}

TEST_CASE("rope gpu: T = 1 per token equals T = many", "[rope][gpu]") {
  Rng rng(33);
  const int64_t T = 40, H = 8, D = 192;
  const std::vector<float> cs = rope::make_table(rope::YarnConfig{}, 100);
  std::vector<float> x(T * H * D), all(x.size()), one(H * D);
  fill(rng, x, D);
  std::vector<int32_t> pos(T);
  for (int64_t t = 0; t < T; ++t) pos[t] = rng.below(100);
  rope::Params p;
  p.x = x.data(); p.y = all.data(); p.pos = pos.data(); p.T = T; p.n_head = H; p.head_dim = D;
  p.table.cs = cs.data(); p.table.n_pos = 100; p.table.n_dims = 64; p.rope_offset = 128; p.rope_dims = 64;
  p.norm = rope::HeadNorm::weightless;
  REQUIRE(gr::apply(p).ok());
  for (int64_t t = 0; t < T; ++t) {
    rope::Params q = p;
    q.x = x.data() + t * H * D; q.y = one.data(); q.pos = pos.data() + t; q.T = 1;
    REQUIRE(gr::apply(q).ok());
    REQUIRE(dsk::test::compare_bits(one.data(), all.data() + t * H * D, H * D).count == 0);
  }
}

TEST_CASE("rope gpu: a position outside the table gives a NaN span, never a read outside", "[rope][gpu]") {
  const std::vector<float> cs = rope::make_table(rope::YarnConfig{}, 10);
  std::vector<float> x(2 * 64, 1.0f), y(x.size());
  std::vector<int32_t> pos = {3, 10};
  rope::Params p;
  p.x = x.data(); p.y = y.data(); p.pos = pos.data(); p.T = 2; p.head_dim = 64;
  p.table.cs = cs.data(); p.table.n_pos = 10; p.table.n_dims = 64; p.rope_dims = 64;
  REQUIRE(gr::apply(p).ok());
  CHECK(!std::isnan(y[0]));
  for (int i = 64; i < 128; ++i) CHECK(std::isnan(y[i]));
  p.rope_dims = 62;  // table / span mismatch
  CHECK(gr::apply(p).code == Status::kInvalidArgument);
}
