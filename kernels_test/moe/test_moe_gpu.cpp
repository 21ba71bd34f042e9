// GPU MoE (include/dsk/moe/moe_cuda.cuh) == reference/moe.* by bits: routed experts in the weight
// type mixes of real files, shared experts, V4's clamp and weight-before-down, T = 1..4 (one chunk)
// and T = 7 (chunks), repeated experts, graph capture, the dense FFN, an invalid id; the grouped
// (prefill) path for every mix, forced from T = 1 and by default from T = 5, and over two passes.
#include <cmath>
#include <vector>

#include "catch.hpp"
#include "compare.hpp"
#include "moe_gpu_kernels.hpp"
#include "moe_test_util.hpp"
#include "reference/moe.hpp"

using namespace dsk;
using dsk::quant::test::Rng;
using dsk::test::moe_util::Mat;
using dsk::test::moe_util::make;
namespace gm = dsk::test::gpu_moe;

namespace {

struct Mix {
  GgmlType gate, up, down;
  const char* name;
};

moe::Tensor tensor(const Mat& m) {
  moe::Tensor t;
  t.type = m.type;
  t.data = m.bytes.data();
  return t;
}

void check_moe(Rng& rng, const Mix& mix, int64_t n_embd, int64_t n_ff, int n_expert, int k, int64_t T, bool shared,
               bool v4, bool graph, bool side = false) {
  INFO(mix.name << " n_embd " << n_embd << " n_ff " << n_ff << " experts " << n_expert << " k " << k << " T " << T
                << " shared " << shared << " v4 " << v4 << " graph " << graph << " side stream " << side);
  const Mat g = make(rng, mix.gate, n_embd, n_ff, n_expert, 0.05f), u = make(rng, mix.up, n_embd, n_ff, n_expert, 0.05f);
  const Mat d = make(rng, mix.down, n_ff, n_embd, n_expert, 0.05f);
  const int64_t n_ffs = shared ? n_ff : 0;
  const Mat gs = make(rng, mix.gate, n_embd, shared ? n_ffs : 1, 1, 0.05f);
  const Mat us = make(rng, mix.up, n_embd, shared ? n_ffs : 1, 1, 0.05f);
  const Mat ds = make(rng, mix.down, shared ? n_ffs : 256, n_embd, 1, 0.05f);
  std::vector<float> x(T * n_embd);
  for (float& v : x) v = rng.normal();
  std::vector<int32_t> ids(T * k);
  std::vector<float> w(T * k);
  for (int64_t t = 0; t < T; ++t)
    for (int j = 0; j < k; ++j) {
      ids[t * k + j] = rng.below(n_expert);  // repeats allowed: the kernels must not care
      w[t * k + j] = rng.uniform(0.01f, 0.5f);
    }
  moe::Params p;
  p.x = x.data(); p.T = T; p.n_embd = n_embd; p.n_ff = n_ff; p.n_expert = n_expert; p.k = k;
  p.ids = ids.data(); p.weights = w.data();
  p.gate = tensor(g); p.up = tensor(u); p.down = tensor(d);
  p.clamp = v4; p.weight_before_down = v4; p.limit = 10.0f;
  if (shared) {
    p.n_ff_shared = n_ffs;
    p.gate_shared = tensor(gs); p.up_shared = tensor(us); p.down_shared = tensor(ds);
    p.shared_clamp = v4;
  }
  std::vector<float> want(T * n_embd), got(T * n_embd);
  p.y = want.data();
  REQUIRE(ref::moe::moe(p).ok());
  p.y = got.data();
  gm::Sizes sz{g.bytes.size(), u.bytes.size(), d.bytes.size(), gs.bytes.size(), us.bytes.size(), ds.bytes.size()};
  REQUIRE(gm::moe(p, sz, graph, side).ok());
  CHECK(dsk::test::compare_bits(got.data(), want.data(), got.size()).count == 0);
}

const Mix kMixes[] = {
    {GgmlType::IQ2_XXS, GgmlType::IQ2_XXS, GgmlType::Q2_K, "IQ2_XXS gate/up, Q2_K down (2-bit files)"},
    {GgmlType::Q8_0, GgmlType::Q8_0, GgmlType::Q8_0, "Q8_0"},
    {GgmlType::Q4_K, GgmlType::Q4_K, GgmlType::Q6_K, "Q4_K gate/up, Q6_K down"},
    {GgmlType::Q2_K, GgmlType::Q2_K, GgmlType::Q8_0, "Q2_K gate/up, Q8_0 down (two activation types)"},
    {GgmlType::F16, GgmlType::BF16, GgmlType::F32, "float types"},
};

}  // namespace

TEST_CASE("GPU MoE == reference: type mixes, shared experts, V4 options, T = 1..4 and 7", "[moe][gpu]") {
  Rng rng(501);
  for (const Mix& mix : kMixes)
    for (int64_t T : {1, 2, 4, 7})
      for (bool shared : {false, true})
        for (bool v4 : {false, true}) check_moe(rng, mix, 512, 256, 8, 3, T, shared, v4, false);
}

TEST_CASE("GPU MoE == reference: DeepSeek-like k and expert counts, graph capture", "[moe][gpu]") {
  Rng rng(502);
  check_moe(rng, kMixes[0], 1024, 512, 32, 8, 1, true, false, true);   // V3-like top-8 + shared
  check_moe(rng, kMixes[0], 1024, 512, 32, 6, 3, true, true, true);    // V4-like top-6, clamp, w before down
  check_moe(rng, kMixes[1], 512, 512, 16, 16, 4, false, false, false); // k = 16
}

TEST_CASE("GPU MoE == reference: shared experts on a side stream (fork / join), eager and graph", "[moe][gpu]") {
  Rng rng(507);
  for (const Mix& mix : kMixes)
    for (int64_t T : {1, 3, 4})
      for (bool graph : {false, true}) check_moe(rng, mix, 512, 256, 8, 3, T, true, T == 3, graph, true);
  check_moe(rng, kMixes[0], 1024, 512, 32, 8, 1, true, false, true, true);  // V3-like
  check_moe(rng, kMixes[1], 512, 256, 8, 3, 2, false, false, true, true);   // no shared experts: nothing forked
}

TEST_CASE("GPU MoE grouped (prefill) path == reference: every mix, T = 1..40, forced and default", "[moe][gpu]") {
  Rng rng(505);
  struct Knob {  // restores the default path selection however the test ends
    explicit Knob(int t) { gm::set_grouped_min_tokens(t); }
    ~Knob() { gm::set_grouped_min_tokens(0); }
  };
  {
    Knob k(1);  // every T through the grouped GEMM
    for (const Mix& mix : kMixes)
      for (int64_t T : {1, 3, 7})
        for (bool shared : {false, true}) check_moe(rng, mix, 512, 256, 8, 3, T, shared, shared, false);
  }
  for (const Mix& mix : kMixes) check_moe(rng, mix, 512, 256, 8, 3, 40, true, false, false);  // default: grouped
  check_moe(rng, kMixes[0], 1024, 512, 32, 8, 64, true, true, true);                              // V4-like, graph
}

TEST_CASE("GPU MoE prefill longer than one grouped pass (1024 tokens)", "[moe][gpu][long]") {
  Rng rng(506);
  check_moe(rng, kMixes[1], 256, 256, 8, 2, 1100, true, false, false);
}

TEST_CASE("GPU dense FFN == reference", "[moe][gpu]") {
  Rng rng(503);
  for (const Mix& mix : kMixes)
    for (int64_t T : {1, 3, 6, 45}) {  // 6 and 45: the grouped path
      INFO(mix.name << " T " << T);
      const Mat g = make(rng, mix.gate, 512, 768, 1, 0.05f), u = make(rng, mix.up, 512, 768, 1, 0.05f);
      const Mat d = make(rng, mix.down, 768, 512, 1, 0.05f);
      std::vector<float> x(T * 600), want(T * 520, 0.0f), got(T * 520, 0.0f);
      for (float& v : x) v = rng.normal();
      moe::FfnParams p;
      p.x = x.data(); p.x_stride = 600; p.T = T; p.n_embd = 512; p.n_ff = 768; p.y_stride = 520;
      p.gate = tensor(g); p.up = tensor(u); p.down = tensor(d);
      p.y = want.data();
      REQUIRE(ref::moe::ffn(p).ok());
      p.y = got.data();
      REQUIRE(gm::ffn(p, {g.bytes.size(), u.bytes.size(), d.bytes.size(), 0, 0, 0}).ok());
      for (int64_t t = 0; t < T; ++t)
        CHECK(dsk::test::compare_bits(got.data() + t * 520, want.data() + t * 520, 512).count == 0);
    }
}

TEST_CASE("GPU MoE: an expert id out of range gives NaN for its token, the others are exact", "[moe][gpu]") {
  Rng rng(504);
  const Mat g = make(rng, GgmlType::Q8_0, 256, 256, 4, 0.05f), u = make(rng, GgmlType::Q8_0, 256, 256, 4, 0.05f);
  const Mat d = make(rng, GgmlType::Q8_0, 256, 256, 4, 0.05f);
  std::vector<float> x(2 * 256), y(2 * 256), want(256);
  for (float& v : x) v = rng.normal();
  std::vector<int32_t> ids = {1, 2, 3, 7};  // token 1's second slot is out of range
  std::vector<float> w = {0.5f, 0.25f, 0.5f, 0.25f};
  moe::Params p;
  p.x = x.data(); p.T = 2; p.n_embd = 256; p.n_ff = 256; p.n_expert = 4; p.k = 2;
  p.ids = ids.data(); p.weights = w.data();
  p.gate = tensor(g); p.up = tensor(u); p.down = tensor(d);
  p.y = y.data();
  moe::Params q = p;
  q.T = 1; q.y = want.data();
  REQUIRE(ref::moe::moe(q).ok());
  for (int min_tokens : {0, 1}) {  // the decode path, then the grouped path
    INFO("grouped from T = " << min_tokens);
    gm::set_grouped_min_tokens(min_tokens);
    const Status st = gm::moe(p, {g.bytes.size(), u.bytes.size(), d.bytes.size(), 0, 0, 0});
    gm::set_grouped_min_tokens(0);
    REQUIRE(st.ok());
    CHECK(dsk::test::compare_bits(y.data(), want.data(), 256).count == 0);
    size_t nan = 0;
    for (int i = 0; i < 256; ++i) nan += std::isnan(y[256 + i]) ? 1 : 0;
    CHECK(nan == 256);
  }
  CHECK(ref::moe::moe(p).code == Status::kInvalidArgument);  // the reference reports it instead
}

TEST_CASE("GPU MoE launcher rejects what it cannot do", "[moe][gpu]") {
  moe::Params p;
  p.T = 1; p.n_embd = 256; p.n_ff = 256; p.n_expert = 4; p.k = 2;
  static float f[16];
  static int32_t i[2];
  p.x = f; p.y = f; p.ids = i; p.weights = f;
  p.gate.type = p.up.type = p.down.type = GgmlType::Q5_K;
  p.gate.data = p.up.data = p.down.data = f;
  CHECK(gm::moe(p, {}).code == Status::kUnsupported);
  p.gate.type = p.up.type = p.down.type = GgmlType::Q4_K;
  p.n_embd = 300;  // not a multiple of the Q4_K block
  CHECK(gm::moe(p, {}).code == Status::kInvalidArgument);
}
