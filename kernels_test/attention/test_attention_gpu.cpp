// GPU MLA attention (include/dsk/attention/attention_cuda.cuh) == reference/attention.* by bits,
// through both paths, forced by the path knob (decode: flash decoding token by token; prefill: one
// launch, a block per token and group of 16 heads): cache types F32 / F16 / BF16, k_b / v_b types,
// contexts across chunk boundaries, T = 1..3 and prefill batches up to 1100 tokens, odd head
// counts, padded blocks and rows, unaligned rows, graph capture, the automatic path rule; and two
// 32K-token prefills (from p0 = 0 and p0 = 232) checked at sampled tokens against the reference run
// for that token alone.
#include <cstring>
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

enum class Paths { both, prefill };

void check(Rng& rng, int64_t H, int64_t d_nope, int64_t rope, int64_t lora, int64_t d_v, int64_t n_ctx, int64_t T,
           GgmlType ct, GgmlType kt, GgmlType vt, bool graph, Paths paths = Paths::both, size_t row_pad = 0) {
  INFO("H " << H << " d_nope " << d_nope << " rope " << rope << " lora " << lora << " d_v " << d_v << " ctx " << n_ctx
            << " T " << T << " cache " << int(ct) << " k_b " << int(kt) << " v_b " << int(vt) << " graph " << graph
            << " row_pad " << row_pad);
  const auto s = make(rng, H, d_nope, rope, lora, d_v, n_ctx, ct, kt, vt);
  const int64_t p0 = n_ctx - T;
  std::vector<float> want(T * H * d_v);
  auto p = params(s, p0, T, want.data());
  std::vector<uint8_t> padded;  // cache rows row_pad bytes apart beyond the packed row
  if (row_pad) {
    const size_t rb = s.cache.size() / static_cast<size_t>(n_ctx), crb = rb + row_pad;
    padded.assign(crb * static_cast<size_t>(n_ctx), 0xff);  // NaN / inf patterns in the gaps
    for (int64_t j = 0; j < n_ctx; ++j) std::memcpy(padded.data() + j * crb, s.cache.data() + j * rb, rb);
    p.cache = padded.data();
    p.cache_row_bytes = crb;
  }
  REQUIRE(ref::attention::mla(p).ok());
  ga::Sizes sz{static_cast<size_t>(T * H * (d_nope + rope)), row_pad ? padded.size() : s.cache.size(), s.kb.size(),
               s.vb.size(), want.size()};
  for (ga::Path path : {ga::Path::decode, ga::Path::prefill}) {
    if (paths == Paths::prefill && path == ga::Path::decode) continue;
    INFO("path " << (path == ga::Path::prefill ? "prefill" : "decode"));
    std::vector<float> got(T * H * d_v);
    p.out = got.data();
    bool prefill = false;
    REQUIRE(ga::mla(p, sz, graph, path, &prefill).ok());
    REQUIRE(prefill == (path == ga::Path::prefill));
    CHECK(dsk::test::compare_bits(got.data(), want.data(), got.size()).count == 0);
  }
}

// A prefill of T tokens from p0 (small heads; v_b F16: o reaches the output unquantized), checked at
// sampled positions against the reference for that token alone (p0 = pos, T = 1: tokens are
// independent, so the bits must be the same).
void check_long(Rng& rng, int64_t p0, int64_t T) {
  const int64_t H = 2, d_nope = 32, rope = 16, lora = 64, d_v = 32, n_ctx = p0 + T, w = H * d_v;
  INFO("long prefill p0 " << p0 << " T " << T);
  const auto s = make(rng, H, d_nope, rope, lora, d_v, n_ctx, GgmlType::F16, GgmlType::Q8_0, GgmlType::F16);
  std::vector<float> got(T * w);
  auto p = params(s, p0, T, got.data());
  ga::Sizes sz{static_cast<size_t>(T * H * (d_nope + rope)), s.cache.size(), s.kb.size(), s.vb.size(), got.size()};
  bool prefill = false;
  REQUIRE(ga::mla(p, sz, false, ga::Path::prefill, &prefill).ok());
  REQUIRE(prefill);
  std::vector<int64_t> pos = {p0, p0 + 1, 255, 256, 257, (p0 + n_ctx) / 2, n_ctx - 2, n_ctx - 1};
  std::vector<float> want(w);
  for (int64_t x : pos) {
    if (x < p0 || x >= n_ctx) continue;
    INFO("position " << x);
    REQUIRE(ref::attention::mla(params(s, x, 1, want.data())).ok());
    CHECK(dsk::test::compare_bits(got.data() + (x - p0) * w, want.data(), w).count == 0);
  }
}

}  // namespace

TEST_CASE("GPU MLA == reference: cache types, weight types, chunk boundaries (both paths)", "[attention][gpu]") {
  Rng rng(601);
  for (GgmlType ct : {GgmlType::F16, GgmlType::BF16, GgmlType::F32})
    for (int64_t n_ctx : {1, 255, 256, 257, 600})
      check(rng, 4, 128, 64, 512, 128, n_ctx, n_ctx >= 3 ? 3 : 1, ct, GgmlType::Q8_0, GgmlType::Q8_0, false);
  check(rng, 3, 128, 64, 512, 128, 1300, 1, GgmlType::F16, GgmlType::F16, GgmlType::Q4_K, false);
  check(rng, 5, 64, 32, 256, 64, 700, 2, GgmlType::BF16, GgmlType::BF16, GgmlType::Q2_K, true);
  check(rng, 2, 128, 64, 512, 128, 513, 1, GgmlType::F16, GgmlType::F32, GgmlType::Q6_K, true);
}

// v_b in a float type (F32 activations, o not quantized) in most cases: a one-ulp difference in o then
// reaches the output, where a Q8_0 / k-quant activation often rounds it away.
TEST_CASE("GPU MLA prefill path == reference: T, p0, head groups, cache types, padding", "[attention][gpu]") {
  Rng rng(602);
  // V3 head dims (Dp = 576, kv_lora 512): from p0 = 0, across the 256-row chunk edge, three chunks.
  check(rng, 4, 128, 64, 512, 128, 40, 40, GgmlType::F16, GgmlType::Q8_0, GgmlType::F16, false);
  check(rng, 4, 128, 64, 512, 128, 600, 300, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_K, false, Paths::prefill);
  check(rng, 4, 128, 64, 512, 128, 260, 9, GgmlType::F32, GgmlType::F32, GgmlType::BF16, false);
  // 17 heads: a full group of 16 and a group of 1 (half-warps on missing heads).
  check(rng, 17, 64, 32, 256, 64, 300, 33, GgmlType::F16, GgmlType::F16, GgmlType::F16, false);
  // D = 80 -> Dp = 96 (a partly padded block), 5 heads, kv_lora 64 (most P·V threads idle).
  check(rng, 5, 32, 16, 64, 32, 530, 70, GgmlType::F16, GgmlType::Q8_0, GgmlType::F32, false);
  // rope 18: rows of 164 bytes (no 16-byte loads) and V at an odd column (scalar V loads).
  check(rng, 3, 32, 18, 64, 32, 300, 20, GgmlType::F16, GgmlType::Q8_0, GgmlType::F16, false);
  check(rng, 3, 32, 18, 64, 32, 270, 16, GgmlType::BF16, GgmlType::F32, GgmlType::BF16, false);
  // rope 16 in F32: 16-byte rows, V loads of 4 floats; rope 0.
  check(rng, 2, 32, 16, 96, 32, 520, 12, GgmlType::F32, GgmlType::Q8_0, GgmlType::F16, false);
  check(rng, 9, 32, 0, 64, 32, 300, 10, GgmlType::F16, GgmlType::Q8_0, GgmlType::F16, false);
  // Dp = 1024: all 32 leaves of the row sum are blocks (the prefill kernel's widest row).
  check(rng, 1, 32, 512, 512, 32, 258, 2, GgmlType::F16, GgmlType::Q8_0, GgmlType::F16, false);
  // Padded cache rows: 16 bytes (aligned loads kept), 4 bytes (scalar loads).
  check(rng, 2, 32, 16, 64, 32, 300, 40, GgmlType::BF16, GgmlType::Q8_0, GgmlType::F16, false, Paths::both, 16);
  check(rng, 2, 32, 16, 64, 32, 600, 8, GgmlType::F32, GgmlType::Q8_0, GgmlType::F16, false, Paths::both, 4);
  // graph capture; a whole 1100-token prompt (every token compared).
  check(rng, 3, 64, 32, 256, 64, 400, 24, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q6_K, true);
  check(rng, 2, 32, 16, 64, 32, 1100, 1100, GgmlType::F16, GgmlType::Q8_0, GgmlType::F16, false, Paths::prefill);
}

// Packed q and out rows take grouped GEMMs for W_UK / W_UV in the prefill path (every case above);
// padded output rows take the per-token GEMVs. Both must give the reference's bits.
TEST_CASE("GPU MLA prefill with padded output rows (per-token W_UK / W_UV)", "[attention][gpu]") {
  Rng rng(603);
  for (GgmlType vt : {GgmlType::F16, GgmlType::Q8_0}) {
    const int64_t H = 3, d_nope = 64, rope = 32, lora = 128, d_v = 64, n_ctx = 300, T = 20, os = H * d_v + 8;
    const auto s = make(rng, H, d_nope, rope, lora, d_v, n_ctx, GgmlType::BF16, GgmlType::Q8_0, vt);
    std::vector<float> want(T * os, 0.0f), got(T * os, 0.0f);
    auto p = params(s, n_ctx - T, T, want.data());
    p.out_stride = os;
    REQUIRE(ref::attention::mla(p).ok());
    ga::Sizes sz{static_cast<size_t>(T * H * (d_nope + rope)), s.cache.size(), s.kb.size(), s.vb.size(), got.size()};
    p.out = got.data();
    bool prefill = false;
    REQUIRE(ga::mla(p, sz, false, ga::Path::prefill, &prefill).ok());
    REQUIRE(prefill);
    for (int64_t t = 0; t < T; ++t) CHECK(dsk::test::compare_bits(got.data() + t * os, want.data() + t * os, H * d_v).count == 0);
  }
}

// Decode with the position on the device (pos_dev, the CUDA backend's graph-replayed step): the
// launch sized for the whole cache, the bits those of p0 = the position.
TEST_CASE("GPU MLA decode with the position on the device == reference at that position", "[attention][gpu]") {
  Rng rng(604);
  const int64_t H = 5, d_nope = 64, rope = 32, lora = 256, d_v = 64, n_ctx = 700;
  const auto s = make(rng, H, d_nope, rope, lora, d_v, n_ctx, GgmlType::F16, GgmlType::Q8_0, GgmlType::F16);
  for (int32_t pos : {0, 1, 255, 256, 257, 511, 699}) {
    INFO("position " << pos);
    std::vector<float> want(H * d_v), got(H * d_v);
    REQUIRE(ref::attention::mla(params(s, pos, 1, want.data())).ok());
    auto p = params(s, pos, 1, got.data());  // q row of token `pos`; p0 itself is not used below
    p.p0 = 0;
    p.pos_dev = &pos;
    p.max_ctx = n_ctx;
    ga::Sizes sz{static_cast<size_t>(H * (d_nope + rope)), s.cache.size(), s.kb.size(), s.vb.size(), got.size()};
    bool prefill = true;
    REQUIRE(ga::mla(p, sz, pos % 2 == 1, ga::Path::automatic, &prefill).ok());
    CHECK_FALSE(prefill);
    CHECK(dsk::test::compare_bits(got.data(), want.data(), got.size()).count == 0);
  }
}

TEST_CASE("GPU MLA path rule: prefill from T = 8, or T >= 2 within 1024 positions", "[attention][gpu]") {
  attention::MlaParams p;
  p.n_head = 128; p.d_nope = 128; p.rope_dims = 64; p.kv_lora = 512; p.d_v = 128;
  auto at = [&](int64_t p0, int64_t T) {
    p.p0 = p0;
    p.T = T;
    return ga::uses_prefill(p);
  };
  CHECK(!at(0, 1));
  CHECK(!at(5000, 1));
  CHECK(at(0, 2));
  CHECK(at(1022, 2));
  CHECK(!at(1023, 2));
  CHECK(!at(4000, 7));
  CHECK(at(4000, 8));
  CHECK(at(0, 32768));
  p.kv_lora = 1024;  // beyond the prefill kernel's P·V: decode
  CHECK(!at(0, 64));
}

TEST_CASE("GPU MLA prefill: 32K-token prompts, sampled tokens == the reference for that token alone",
          "[attention][gpu][long]") {
  Rng rng(603);
  check_long(rng, 0, 32768);
  check_long(rng, 232, 32768);
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
