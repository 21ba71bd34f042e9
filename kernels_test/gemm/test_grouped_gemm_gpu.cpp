// GPU grouped GEMM (dsk/gemm/grouped_gemm.cuh) == dsk::ref::gemv by bits, row by row: every weight
// type; K with one block, a partial last K step and several blocks per chunk (L > 1); M not a
// multiple of the 64-row tile; experts with no pairs and with several 32-pair tiles; activation
// row per token or per pair; NaN / inf activations; padded row strides and expert strides; ids out
// of range (NaN rows); one group per head; dense; graph capture; launcher errors.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../moe/moe_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "grouped_gemm_gpu_kernels.hpp"
#include "reference/quant.hpp"

using namespace dsk;
using dsk::quant::test::Rng;
namespace gg = dsk::test::gpu_gemm;

namespace {

constexpr GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0,
                               GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q2_K, GgmlType::IQ2_XXS};

int64_t dot_block(GgmlType t) { return ref::dot_block_elems(t); }

// A weight stack with optional padding after every row and every expert.
struct Stack {
  std::vector<uint8_t> bytes;
  size_t row_stride = 0, expert_bytes = 0;  // 0: packed
  size_t rs = 0, eb = 0;                    // effective strides
};
Stack make_stack(Rng& rng, GgmlType t, int64_t K, int64_t M, int n, bool padded) {
  const dsk::test::moe_util::Mat m = dsk::test::moe_util::make(rng, t, K, M, n, 0.05f);
  Stack s;
  const size_t rb = ref::row_bytes(t, K);
  s.rs = padded ? rb + 16 : rb;
  s.eb = padded ? s.rs * M + 48 : s.rs * M;
  if (padded) {
    s.row_stride = s.rs;
    s.expert_bytes = s.eb;
  }
  s.bytes.assign(s.eb * n, 0xA5);
  for (int e = 0; e < n; ++e)
    for (int64_t r = 0; r < M; ++r) std::memcpy(s.bytes.data() + e * s.eb + r * s.rs, m.bytes.data() + (e * M + r) * rb, rb);
  return s;
}

// `rows` activation rows of K in the activation type of t (F32 for the float types); a few rows
// with NaN / inf when specials.
std::vector<uint8_t> make_acts(Rng& rng, GgmlType t, int64_t K, int rows, bool specials) {
  const GgmlType at = ref::activation_type(t);
  const size_t rb = ref::row_bytes(at, K);
  std::vector<uint8_t> x(rb * rows);
  std::vector<float> f(K);
  for (int r = 0; r < rows; ++r) {
    const float sc = std::ldexp(1.0f, static_cast<int>(rng.below(8)) - 4);
    for (float& v : f) v = sc * rng.normal();
    if (specials && r % 5 == 3) {
      f[rng.below(static_cast<int>(K))] = std::numeric_limits<float>::quiet_NaN();
      f[rng.below(static_cast<int>(K))] = -std::numeric_limits<float>::infinity();
    }
    ref::quantize_row(at, f.data(), x.data() + r * rb, K);
  }
  return x;
}

// y row q = ref::gemv(expert of q, activation row q / act_div); NaN rows for ids out of range.
void check_by_ids(Rng& rng, GgmlType t, int64_t K, int64_t M, int n_expert, int T, int k, bool act_per_pair,
                  bool padded, bool specials, bool graph, int bad_ids = 0) {
  INFO(ggml_type_name(t) << " K " << K << " M " << M << " experts " << n_expert << " T " << T << " k " << k
                         << " act_per_pair " << act_per_pair << " padded " << padded << " graph " << graph);
  const Stack w = make_stack(rng, t, K, M, n_expert, padded);
  const int rows = act_per_pair ? T * k : T;
  const std::vector<uint8_t> x = make_acts(rng, t, K, rows, specials);
  std::vector<int32_t> ids(static_cast<size_t>(T) * k);
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = n_expert > 2 && rng.below(4) == 0 ? 0 : static_cast<int32_t>(rng.below(n_expert - (n_expert > 2 ? 1 : 0)));
  for (int b = 0; b < bad_ids; ++b) ids[rng.below(static_cast<int>(ids.size()))] = b % 2 ? -1 : n_expert + b;
  gg::GroupedRun r;
  r.wtype = t; r.M = M; r.K = K; r.n_expert = n_expert;
  r.w = w.bytes.data(); r.w_bytes = w.bytes.size(); r.w_row_stride = w.row_stride; r.expert_bytes = w.expert_bytes;
  r.x = x.data(); r.x_bytes = x.size();
  r.T = T; r.k = k; r.ids = ids.data(); r.act_per_pair = act_per_pair; r.graph = graph;
  r.y_stride = padded ? M + 3 : 0;
  const std::vector<float> y = gg::run_grouped(r);
  const int64_t ys = padded ? M + 3 : M;
  const size_t arb = ref::row_bytes(ref::activation_type(t), K);
  std::vector<float> want(M);
  size_t bad = 0;
  for (int q = 0; q < T * k; ++q) {
    const int32_t e = ids[q];
    const float* got = y.data() + static_cast<int64_t>(q) * ys;
    if (e < 0 || e >= n_expert) {
      for (int64_t m = 0; m < M; ++m) bad += !std::isnan(got[m]);
      continue;
    }
    ref::gemv(t, w.bytes.data() + e * w.eb, M, x.data() + (act_per_pair ? q : q / k) * arb, K, want.data(), w.rs);
    bad += dsk::test::compare_bits(got, want.data(), M).count;
  }
  CHECK(bad == 0);
}

// K values per type: one block; a partial last K step (or 9 blocks); L > 1 (more than 32 blocks).
std::vector<int64_t> k_values(GgmlType t) {
  const int64_t b = dot_block(t);
  if (b == 256) return {256, 2304, 10240};
  if (t == GgmlType::Q8_0) return {32, 288, 7168};
  return {32, 160, 1152};
}

}  // namespace

TEST_CASE("GPU grouped GEMM == reference GEMV rows: every type, K shapes, odd M, tiles", "[gemm][gpu]") {
  Rng rng(801);
  for (GgmlType t : kTypes) {
    int i = 0;
    for (int64_t K : k_values(t)) {
      const int64_t M = i == 0 ? 1 : (i == 1 ? 130 : 65);
      check_by_ids(rng, t, K, M, 5, 37, 3, false, false, false, false);  // expert 4 has no pairs
      ++i;
    }
  }
}

TEST_CASE("GPU grouped GEMM: activation per pair, padded strides, NaN / inf activations", "[gemm][gpu]") {
  Rng rng(802);
  for (GgmlType t : kTypes) check_by_ids(rng, t, dot_block(t) * 3, 70, 4, 20, 4, true, true, true, false);
}

TEST_CASE("GPU grouped GEMM: many pairs per expert, DeepSeek-like k, graph capture", "[gemm][gpu]") {
  Rng rng(803);
  check_by_ids(rng, GgmlType::Q4_K, 512, 96, 16, 300, 8, false, false, false, true);
  check_by_ids(rng, GgmlType::IQ2_XXS, 1024, 64, 8, 200, 6, false, false, false, false);
  check_by_ids(rng, GgmlType::Q8_0, 1024, 128, 3, 100, 2, true, false, false, true);
}

TEST_CASE("GPU grouped GEMM: ids out of range give NaN rows, the others are exact", "[gemm][gpu]") {
  Rng rng(804);
  check_by_ids(rng, GgmlType::Q2_K, 512, 66, 6, 40, 3, false, false, false, false, 5);
  check_by_ids(rng, GgmlType::F16, 64, 33, 3, 9, 2, true, false, false, false, 3);
}

TEST_CASE("GPU grouped GEMM: one group per head, and dense", "[gemm][gpu]") {
  Rng rng(805);
  for (GgmlType t : {GgmlType::F32, GgmlType::Q8_0, GgmlType::Q6_K}) {
    INFO(ggml_type_name(t));
    const int64_t K = dot_block(t) * 2, M = 72;
    const int H = 3, T = 45;
    const Stack w = make_stack(rng, t, K, M, H, false);
    const std::vector<uint8_t> x = make_acts(rng, t, K, T * H, false);
    const size_t arb = ref::row_bytes(ref::activation_type(t), K);
    gg::GroupedRun r;
    r.wtype = t; r.M = M; r.K = K; r.n_expert = H;
    r.w = w.bytes.data(); r.w_bytes = w.bytes.size();
    r.x = x.data(); r.x_bytes = x.size();
    r.grouping = gg::Grouping::heads;
    r.T = T;
    const std::vector<float> y = gg::run_grouped(r);
    std::vector<float> want(M);
    size_t bad = 0;
    for (int tt = 0; tt < T; ++tt)
      for (int h = 0; h < H; ++h) {
        const int q = tt * H + h;
        ref::gemv(t, w.bytes.data() + h * w.eb, M, x.data() + q * arb, K, want.data(), w.rs);
        bad += dsk::test::compare_bits(y.data() + static_cast<int64_t>(q) * M, want.data(), M).count;
      }
    CHECK(bad == 0);
    // dense: expert 0 for rows 0 .. 2T-1
    r.grouping = gg::Grouping::dense;
    r.T = 2 * T;
    r.graph = true;
    const std::vector<float> yd = gg::run_grouped(r);
    bad = 0;
    for (int q = 0; q < 2 * T; ++q) {
      ref::gemv(t, w.bytes.data(), M, x.data() + q * arb, K, want.data(), w.rs);
      bad += dsk::test::compare_bits(yd.data() + static_cast<int64_t>(q) * M, want.data(), M).count;
    }
    CHECK(bad == 0);
  }
}

TEST_CASE("GPU grouped GEMM launcher rejects what it cannot do", "[gemm][gpu]") {
  std::vector<uint8_t> w(4096), x(4096);
  std::vector<int32_t> ids(4, 0);
  gg::GroupedRun r;
  r.wtype = GgmlType::Q5_K; r.M = 4; r.K = 256; r.n_expert = 1;
  r.w = w.data(); r.w_bytes = w.size(); r.x = x.data(); r.x_bytes = x.size();
  r.T = 2; r.k = 2; r.ids = ids.data();
  Status s;
  gg::run_grouped(r, &s);
  CHECK(s.code == Status::kUnsupported);
  r.wtype = GgmlType::Q4_K;
  r.K = 300;
  gg::run_grouped(r, &s);
  CHECK(s.code == Status::kUnsupported);
  r.K = 256;
  r.w_row_stride = 150;  // not a multiple of Q4_K's 16-byte alignment
  gg::run_grouped(r, &s);
  CHECK(s.code == Status::kInvalidArgument);
}
