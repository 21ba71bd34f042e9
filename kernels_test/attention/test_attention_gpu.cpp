// GPU MLA attention (include/dsk/attention/attention_cuda.cuh) == reference/attention.* by bits:
// cache types F32 / F16 / BF16, k_b / v_b types, contexts across chunk boundaries (1, 255, 256,
// 257, 513, 600, 700, 1300 rows), T = 1..3 new tokens, graph capture, odd head counts.
#include <vector>

#include "attention_gpu_kernels.hpp"
#include "attention_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "reference/attention.hpp"

using namespace dsk;
using dsk::quant::test::Rng;
using dsk::test::attention_util::make;
using dsk::test::attention_util::params;
namespace ga = dsk::test::gpu_attention;

namespace {

void check(Rng& rng, int64_t H, int64_t d_nope, int64_t rope, int64_t lora, int64_t d_v, int64_t n_ctx, int64_t T,
           GgmlType ct, GgmlType kt, GgmlType vt, bool graph) {
  INFO("H " << H << " d_nope " << d_nope << " rope " << rope << " lora " << lora << " d_v " << d_v << " ctx " << n_ctx
            << " T " << T << " cache " << int(ct) << " k_b " << int(kt) << " v_b " << int(vt) << " graph " << graph);
  const auto s = make(rng, H, d_nope, rope, lora, d_v, n_ctx, ct, kt, vt);
  const int64_t p0 = n_ctx - T;
  std::vector<float> want(T * H * d_v), got(T * H * d_v);
  auto p = params(s, p0, T, want.data());
  REQUIRE(ref::attention::mla(p).ok());
  p.out = got.data();
  ga::Sizes sz{static_cast<size_t>(T * H * (d_nope + rope)), s.cache.size(), s.kb.size(), s.vb.size(), got.size()};
  REQUIRE(ga::mla(p, sz, graph).ok());
  CHECK(dsk::test::compare_bits(got.data(), want.data(), got.size()).count == 0);
}

}  // namespace

TEST_CASE("GPU MLA == reference: cache types, weight types, chunk boundaries", "[attention][gpu]") {
  Rng rng(601);
  for (GgmlType ct : {GgmlType::F16, GgmlType::BF16, GgmlType::F32})
    for (int64_t n_ctx : {1, 255, 256, 257, 600})
      check(rng, 4, 128, 64, 512, 128, n_ctx, n_ctx >= 3 ? 3 : 1, ct, GgmlType::Q8_0, GgmlType::Q8_0, false);
  check(rng, 3, 128, 64, 512, 128, 1300, 1, GgmlType::F16, GgmlType::F16, GgmlType::Q4_K, false);
  check(rng, 5, 64, 32, 256, 64, 700, 2, GgmlType::BF16, GgmlType::BF16, GgmlType::Q2_K, true);
  check(rng, 2, 128, 64, 512, 128, 513, 1, GgmlType::F16, GgmlType::F32, GgmlType::Q6_K, true);
}

TEST_CASE("GPU MLA launcher rejects what it cannot do", "[attention][gpu]") {
  attention::MlaParams p;
  static float f[64];
  p.q = f; p.cache = f; p.k_b = f; p.v_b = f; p.out = f;
  p.T = 1; p.n_head = 1; p.d_nope = 128; p.rope_dims = 64; p.kv_lora = 512; p.d_v = 128;
  p.cache_type = GgmlType::Q8_0;
  CHECK(ga::mla(p, {}).code == Status::kUnsupported);
  p.cache_type = GgmlType::F16;
  p.k_b_type = GgmlType::Q4_K;  // d_nope 128 is not a multiple of 256
  CHECK(ga::mla(p, {}).code == Status::kInvalidArgument);
}
