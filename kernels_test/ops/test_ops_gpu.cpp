// GPU == reference by bits for the ops family (dsk/ops/ops_cuda.cuh vs reference/ops.*): embedding
// of all 8 table types (random blocks and random bytes: NaN / inf scales and halves; ids out of
// range; padded rows), SwiGLU plain and clamped, row softmax and argmax on random rows and named
// edge rows (NaN, +-inf, fully masked, +-0, ties), odd sizes, strides, in place, T = 1 vs T = many.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "ops_gpu_kernels.hpp"
#include "reference/ops.hpp"

using namespace dsk;
using namespace dsk::quant;
using dsk::quant::test::Rng;
using dsk::quant::test::random_block;
namespace go = dsk::test::gpu_ops;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

void require_rows(const std::vector<float>& got, const std::vector<float>& want, int64_t T, int64_t n, int64_t ys) {
  const int64_t st = ys ? ys : n;
  for (int64_t t = 0; t < T; ++t) {
    INFO("row " << t);
    REQUIRE(dsk::test::compare_bits(got.data() + t * st, want.data() + t * st, n).count == 0);
  }
}

// Row of kind `kind`: 0 random, then edge rows.
void fill_row(Rng& rng, float* x, int64_t n, int kind) {
  const float s = std::ldexp(1.0f, rng.below(12) - 4);
  for (int64_t i = 0; i < n; ++i) x[i] = s * rng.normal();
  const int r = rng.below(static_cast<int>(n));
  switch (kind) {
    case 1: x[r] = kNaN; break;
    case 2: x[r] = kInf; break;
    case 3: x[r] = -kInf; break;
    case 4: for (int64_t i = 0; i < n; ++i) x[i] = -kInf; break;  // fully masked
    case 5: for (int64_t i = 0; i < n; ++i) x[i] = (i % 2) ? -kInf : kNaN; break;  // masked + NaN
    case 6: for (int64_t i = 0; i < n; ++i) x[i] = rng.below(2) ? 0.0f : -0.0f; break;
    case 7: for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(rng.below(3)); break;  // many ties
    case 8: for (int64_t i = 0; i < n; ++i) x[i] = kNaN; break;
    case 9: for (int64_t i = 0; i < n; ++i) x[i] = (i % 3) ? -kInf : 100.0f * rng.normal(); break;  // masking
    case 10: for (int64_t i = 0; i < n; ++i) x[i] = 3e38f * rng.uniform(-1, 1); break;
    case 11: x[r] = -0.0f; for (int64_t i = 0; i < n; ++i) if (i != r) x[i] = (i % 2) ? 0.0f : -kInf; break;
    default: break;
  }
}
constexpr int kKinds = 12;

std::vector<float> rows(Rng& rng, int64_t T, int64_t n, int64_t stride, bool edges) {
  const int64_t st = stride ? stride : n;
  std::vector<float> x(static_cast<size_t>(T * st), 555.0f);
  for (int64_t t = 0; t < T; ++t) fill_row(rng, x.data() + t * st, n, edges ? static_cast<int>(t % kKinds) : 0);
  return x;
}

template <class B>
std::vector<uint8_t> quant_table(Rng& rng, int64_t n_vocab, size_t rb, int64_t nb) {
  std::vector<uint8_t> t(rb * n_vocab, 0xcd);
  for (int64_t r = 0; r < n_vocab; ++r)
    for (int64_t b = 0; b < nb; ++b) {
      B blk = random_block<B>(rng);
      if (r % 5 == 4 && !std::is_same_v<B, block_iq2_xxs>) rng.bytes(&blk, sizeof blk);  // any scale bits
      std::memcpy(t.data() + r * rb + b * sizeof(B), &blk, sizeof(B));
    }
  return t;
}

void embed_case(Rng& rng, GgmlType type, int64_t n_embd, bool pad) {
  const int64_t n_vocab = 37;
  const GgmlTypeInfo& ti = ggml_type_info(type);
  const size_t packed = static_cast<size_t>(n_embd / ti.block_elems) * ti.block_bytes;
  const size_t rb = pad ? packed + 8 : packed;
  std::vector<uint8_t> table;
  switch (type) {
    case GgmlType::Q8_0: table = quant_table<block_q8_0>(rng, n_vocab, rb, n_embd / 32); break;
    case GgmlType::Q4_K: table = quant_table<block_q4_K>(rng, n_vocab, rb, n_embd / 256); break;
    case GgmlType::Q6_K: table = quant_table<block_q6_K>(rng, n_vocab, rb, n_embd / 256); break;
    case GgmlType::Q2_K: table = quant_table<block_q2_K>(rng, n_vocab, rb, n_embd / 256); break;
    case GgmlType::IQ2_XXS: table = quant_table<block_iq2_xxs>(rng, n_vocab, rb, n_embd / 256); break;
    default:  // float types: random bits (NaN, inf, subnormals included) in some rows, normal values else
      table.resize(rb * n_vocab);
      rng.bytes(table.data(), table.size());
      for (int64_t r = 0; r < n_vocab; r += 2)
        for (int64_t i = 0; i < n_embd; ++i) {
          const float v = rng.normal();
          uint8_t* p = table.data() + r * rb;
          if (type == GgmlType::F32) std::memcpy(p + 4 * i, &v, 4);
          else if (type == GgmlType::F16) { const f16 h = f16::from_float(v); std::memcpy(p + 2 * i, &h, 2); }
          else { const bf16 h = bf16::from_float(v); std::memcpy(p + 2 * i, &h, 2); }
        }
  }
  std::vector<int32_t> ids = {0, 36, 5, -1, 37, 12, 12, INT32_MIN, INT32_MAX, 1, 2, 3, 4, 9, 19, 24, 35, 29};
  const int64_t T = static_cast<int64_t>(ids.size());
  const int64_t ys = pad ? n_embd + 3 : 0;
  std::vector<float> want(static_cast<size_t>(T * (ys ? ys : n_embd)), dsk::test::poison()), got = want;
  ops::EmbedParams p;
  p.type = type; p.table = table.data(); p.row_bytes = pad ? rb : 0; p.n_embd = n_embd; p.n_vocab = n_vocab;
  p.ids = ids.data(); p.T = T; p.y_stride = ys;
  p.y = want.data();
  REQUIRE(ref::ops::embed(p).ok());
  p.y = got.data();
  REQUIRE(go::embed(p).ok());
  require_rows(got, want, T, n_embd, ys);
}
}  // namespace

TEST_CASE("ops gpu: embed == reference for all 8 types", "[ops][gpu]") {
  Rng rng(21);
  for (bool pad : {false, true}) {
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16})
      for (int64_t n : {1, 7, 64, 1031}) {
        INFO(ggml_type_name(t) << " n=" << n << " pad=" << pad);
        embed_case(rng, t, n, pad);
      }
    for (int64_t n : {32, 96, 2048}) {
      INFO("Q8_0 n=" << n << " pad=" << pad);
      embed_case(rng, GgmlType::Q8_0, n, pad);
    }
    for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q2_K, GgmlType::IQ2_XXS})
      for (int64_t n : {256, 768, 2048}) {
        INFO(ggml_type_name(t) << " n=" << n << " pad=" << pad);
        embed_case(rng, t, n, pad);
      }
  }
}

TEST_CASE("ops gpu: embed rejects unsupported types and misaligned rows", "[ops][gpu]") {
  std::vector<uint8_t> table(64 * 36);
  std::vector<int32_t> ids = {0};
  std::vector<float> y(64);
  ops::EmbedParams p;
  p.table = table.data(); p.n_embd = 32; p.n_vocab = 2; p.ids = ids.data(); p.T = 1; p.y = y.data();
  p.type = GgmlType::Q4_0;
  CHECK(go::embed(p).code == Status::kUnsupported);
  p.type = GgmlType::Q8_0; p.row_bytes = 35;  // rows at odd byte offsets
  CHECK(go::embed(p).code == Status::kUnsupported);
}

TEST_CASE("ops gpu: swiglu plain and clamped == reference", "[ops][gpu]") {
  Rng rng(22);
  for (int64_t n : {1, 5, 256, 1000, 18432})
    for (int64_t T : {1, 3, 12})
      for (bool clamp : {false, true}) {
        const int64_t gs = (n % 2) ? n + 1 : 0;
        auto g = rows(rng, T, n, gs, true), u = rows(rng, T, n, 0, true);
        for (size_t i = 0; i < g.size(); i += 3) g[i] *= 8.0f;  // beyond the limit
        for (size_t i = 0; i < u.size(); i += 5) u[i] *= -16.0f;
        if (n > 8) { g[0] = 100.0f; g[1] = -200.0f; g[2] = -kInf; g[3] = kInf; u[4] = -kInf; g[5] = 7.0f; u[5] = -7.0f; }
        std::vector<float> want(static_cast<size_t>(T * n)), got(want.size());
        ops::SwigluParams p;
        p.g = g.data(); p.u = u.data(); p.T = T; p.n = n; p.g_stride = gs; p.clamp = clamp; p.limit = 7.0f;
        p.y = want.data();
        REQUIRE(ref::ops::swiglu(p).ok());
        p.y = got.data();
        REQUIRE(go::swiglu(p).ok());
        INFO("n=" << n << " T=" << T << " clamp=" << clamp);
        require_rows(got, want, T, n, 0);
      }
  // In place: y = u.
  auto g = rows(rng, 4, 333, 0, true), u = rows(rng, 4, 333, 0, true);
  auto wu = u, gu = u;
  ops::SwigluParams p;
  p.g = g.data(); p.T = 4; p.n = 333; p.clamp = true;
  p.u = p.y = wu.data();
  REQUIRE(ref::ops::swiglu(p).ok());
  p.u = p.y = gu.data();
  REQUIRE(go::swiglu(p).ok());
  require_rows(gu, wu, 4, 333, 0);
}

TEST_CASE("ops gpu: softmax == reference, edge rows, strides, in place", "[ops][gpu]") {
  Rng rng(23);
  for (int64_t n : {1, 2, 3, 31, 32, 255, 256, 257, 1000, 4096, 32000, 129280})
    for (int64_t T : {int64_t{1}, int64_t{kKinds}, 2 * int64_t{kKinds}}) {
      const int64_t xs = (n % 3 == 0) ? n + 7 : 0, ys = (n % 2 == 0) ? n + 1 : 0;
      auto x = rows(rng, T, n, xs, T > 1);
      std::vector<float> want(static_cast<size_t>(T * (ys ? ys : n)), dsk::test::poison()), got = want;
      ops::SoftmaxParams p;
      p.x = x.data(); p.T = T; p.n = n; p.x_stride = xs; p.y_stride = ys;
      p.y = want.data();
      REQUIRE(ref::ops::softmax(p).ok());
      p.y = got.data();
      REQUIRE(go::softmax(p).ok());
      INFO("n=" << n << " T=" << T);
      require_rows(got, want, T, n, ys);
    }
  for (int64_t n : {7, 300, 5000}) {
    auto x = rows(rng, kKinds, n, 0, true);
    auto wx = x, gx = x;
    ops::SoftmaxParams p;
    p.T = kKinds; p.n = n;
    p.x = p.y = wx.data();
    REQUIRE(ref::ops::softmax(p).ok());
    p.x = p.y = gx.data();
    REQUIRE(go::softmax(p).ok());
    require_rows(gx, wx, kKinds, n, 0);
  }
}

TEST_CASE("ops gpu: argmax == reference (ties, NaN, +-0, all-NaN rows)", "[ops][gpu]") {
  Rng rng(24);
  for (int64_t n : {1, 2, 3, 31, 32, 33, 256, 257, 1000, 32000, 129280})
    for (int64_t T : {int64_t{1}, int64_t{kKinds}, 3 * int64_t{kKinds}}) {
      const int64_t xs = (n % 2) ? n + 2 : 0;
      auto x = rows(rng, T, n, xs, T > 1);
      // Ties at the top in some rows: a copy of the max at a later and an earlier index.
      for (int64_t t = 0; t < T; t += 3) {
        float* r = x.data() + t * (xs ? xs : n);
        const int64_t a = rng.below(static_cast<int>(n)), b = rng.below(static_cast<int>(n));
        r[a] = 1e30f; r[b] = 1e30f;
      }
      std::vector<int32_t> want(T, -5), got(T, -5);
      ops::ArgmaxParams p;
      p.x = x.data(); p.T = T; p.n = n; p.x_stride = xs;
      p.idx = want.data();
      REQUIRE(ref::ops::argmax(p).ok());
      p.idx = got.data();
      REQUIRE(go::argmax(p).ok());
      INFO("n=" << n << " T=" << T);
      REQUIRE(got == want);
    }
  // +0 and -0 are equal: the lower index wins.
  std::vector<float> z = {-kInf, -0.0f, 0.0f, kNaN, -0.0f};
  std::vector<int32_t> idx(1, -5);
  ops::ArgmaxParams p;
  p.x = z.data(); p.T = 1; p.n = 5; p.idx = idx.data();
  REQUIRE(go::argmax(p).ok());
  CHECK(idx[0] == 1);
}

TEST_CASE("ops gpu: softmax and argmax T = 1 per row equal T = many", "[ops][gpu]") {
  Rng rng(25);
  const int64_t n = 4099, T = 3 * kKinds;
  auto x = rows(rng, T, n, 0, true);
  std::vector<float> all(static_cast<size_t>(T * n)), one(n);
  std::vector<int32_t> iall(T), ione(1);
  ops::SoftmaxParams p;
  p.x = x.data(); p.y = all.data(); p.T = T; p.n = n;
  REQUIRE(go::softmax(p).ok());
  ops::ArgmaxParams a;
  a.x = x.data(); a.idx = iall.data(); a.T = T; a.n = n;
  REQUIRE(go::argmax(a).ok());
  for (int64_t t = 0; t < T; ++t) {
    ops::SoftmaxParams q = p;
    q.x = x.data() + t * n; q.y = one.data(); q.T = 1;
    REQUIRE(go::softmax(q).ok());
    REQUIRE(dsk::test::compare_bits(one.data(), all.data() + t * n, n).count == 0);
    ops::ArgmaxParams b = a;
    b.x = x.data() + t * n; b.idx = ione.data(); b.T = 1;
    REQUIRE(go::argmax(b).ok());
    REQUIRE(ione[0] == iall[t]);
  }
}
