// GPU GEMV (dsk/gemv/gemv.hpp) == dsk::ref::gemv by bits, for every weight type, N = 1..4 (each
// token's bits equal to the reference's, hence to N = 1), the DeepSeek shapes and odd ones (one
// block, nb < 32, nb not a multiple of 32, odd M, padded strides), NaN/inf in activations and in
// weight scales, outputs poisoned; a launch captured in a CUDA graph; launcher errors. The GPU
// activation quantizers (dsk/gemv/quantize_act.hpp) == dsk::ref::quantize_row bytes, every flavour.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "dsk/quant/blocks.hpp"
#include "dsk/quant/quantize.hpp"
#include "gemv_gpu_kernels.hpp"
#include "parallel.hpp"
#include "reference/quant.hpp"

using namespace dsk;
using namespace dsk::quant;
using dsk::quant::test::Rng;
namespace gg = dsk::test::gpu_gemv;

namespace {

#ifndef DSK_GEMV_TEST_CI
#define DSK_GEMV_TEST_CI 0
#endif

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr Q8Flavor kFlavors[] = {Q8Flavor::ggml_ref, Q8Flavor::ggml_x86, Q8Flavor::ik_x86};
constexpr GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0,
                               GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q2_K, GgmlType::IQ2_XXS};
constexpr uint16_t kSpecialHalves[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x7bff, 0xfbff,
                                       0x7c00, 0xfc00, 0x7e00, 0x3c00, 0x1400};

bool is_float_type(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

template <class F>
void with_weight(GgmlType t, F&& f) {
  switch (t) {
    case GgmlType::F32: return f(block_f32{});
    case GgmlType::F16: return f(block_f16{});
    case GgmlType::BF16: return f(block_bf16{});
    case GgmlType::Q8_0: return f(block_q8_0{});
    case GgmlType::Q4_K: return f(block_q4_K{});
    case GgmlType::Q6_K: return f(block_q6_K{});
    case GgmlType::Q2_K: return f(block_q2_K{});
    case GgmlType::IQ2_XXS: return f(block_iq2_xxs{});
    default: FAIL("type");
  }
}

float hashed_float(uint64_t& st) {  // uniform in [-2, 2), cheap
  const uint64_t r = splitmix64(st);
  return static_cast<float>(static_cast<int32_t>(r >> 32)) * 9.313225746154785e-10f;
}

// One weight row of nb blocks of W at dst (row_stride bytes reserved), seeded by the row: random
// quants, random finite fp16 scales, and with `specials` some blocks with special scales / values.
template <class W>
void fill_row(uint8_t* dst, int nb, uint64_t seed, bool specials) {
  uint64_t st = seed * 0x9E3779B97F4A7C15ull + 12345;
  Rng rng(seed ^ 0xABCDEF);
  for (int b = 0; b < nb; ++b) {
    W blk;
    if constexpr (std::is_same_v<W, block_iq2_xxs>) {
      blk = iq2_xxs_random_block(st);
    } else if constexpr (std::is_same_v<W, block_f32> || std::is_same_v<W, block_f16> || std::is_same_v<W, block_bf16>) {
      float v[kQKF];
      for (float& x : v) x = hashed_float(st);
      if (specials && b % 17 == 5) {
        const float sp[] = {kNaN, kInf, -kInf, -0.0f, 1e-40f, 3e38f};
        v[rng.below(kQKF)] = sp[rng.below(6)];
      }
      quantize_block(v, blk);
    } else {
      uint8_t* p = reinterpret_cast<uint8_t*>(&blk);
      for (size_t i = 0; i < sizeof blk; i += 8) {
        const uint64_t r = splitmix64(st);
        std::memcpy(p + i, &r, std::min<size_t>(8, sizeof blk - i));
      }
      const bool sp = specials && b % 13 == 7;
      auto half = [&]() { return sp ? f16{kSpecialHalves[rng.below(12)]} : rng.half(1, 16); };
      if constexpr (std::is_same_v<W, block_q4_K> || std::is_same_v<W, block_q2_K>) {
        blk.d = half();
        blk.dmin = half();
      } else {
        blk.d = half();
      }
    }
    std::memcpy(dst + static_cast<size_t>(b) * sizeof(W), &blk, sizeof(W));
  }
}

// Activation floats: kind 0 gaussian-ish at a random scale, 1 with NaN/inf in a few blocks, 2 ties
// and zeros.
std::vector<float> act_floats(Rng& rng, int64_t K, int N, bool specials) {
  std::vector<float> x(static_cast<size_t>(K) * N);
  for (int t = 0; t < N; ++t) {
    float* v = x.data() + static_cast<size_t>(t) * K;
    const float s = std::ldexp(1.0f, rng.below(20) - 10);
    for (int64_t i = 0; i < K; ++i) v[i] = s * rng.uniform(-1.0f, 1.0f);
    if (!specials) continue;
    if (t == 1 || t == 3) {
      for (int k = 0; k < 3; ++k) {
        const int64_t i = rng.below(static_cast<int>(K));
        v[i] = k == 0 ? kNaN : (k == 1 ? kInf : -kInf);
      }
    }
    if (t == 2) {
      for (int64_t i = 0; i < K; i += 7) v[i] = 0.0f;
      for (int64_t i = 3; i < K; i += 11) v[i] = (static_cast<float>(rng.below(200) - 100) + 0.5f) * std::ldexp(1.0f, -7);
    }
  }
  return x;
}

struct Shape {
  int64_t K, M;
};

// One case: weight type t, shape, all N = 1..4 against the host reference per token.
void check_case(GgmlType t, int64_t K, int64_t M, uint64_t seed, bool specials, Q8Flavor flavor, size_t w_pad = 0,
                size_t x_pad = 0, int64_t y_pad = 0, bool graph = false) {
  INFO("type " << ggml_type_name(t) << " K " << K << " M " << M << " w_pad " << w_pad << " x_pad " << x_pad
               << " y_pad " << y_pad << " graph " << graph);
  const size_t row_bytes = ref::row_bytes(t, K);
  const size_t stride = row_bytes + w_pad;
  std::vector<uint8_t> w(stride * static_cast<size_t>(M));
  with_weight(t, [&](auto b) {
    using W = decltype(b);
    const int nb = static_cast<int>(K / block_traits<W>::elems);
    dsk::test::parallel_for(static_cast<size_t>(M), [&](size_t m) {
      fill_row<W>(w.data() + m * stride, nb, seed * 1000003 + m, specials);
    });
  });
  // Activations: N = 4 rows (floats -> activation type with the reference quantizer).
  Rng rng(seed);
  const int kN = 4;
  const std::vector<float> xf = act_floats(rng, K, kN, specials);
  const GgmlType at = ref::activation_type(t);
  const size_t arow = ref::row_bytes(at, K);
  const size_t xstride = arow + x_pad;
  std::vector<uint8_t> x(xstride * kN, 0xCD);
  for (int n = 0; n < kN; ++n)
    ref::quantize_row(at, xf.data() + static_cast<size_t>(n) * K, x.data() + n * xstride, K, flavor);
  // Reference per token, rows in parallel.
  std::vector<float> want(static_cast<size_t>(M) * kN);
  const int64_t rows_per = 64;
  const size_t pieces = static_cast<size_t>((M + rows_per - 1) / rows_per) * kN;
  dsk::test::parallel_for(pieces, [&](size_t i) {
    const int n = static_cast<int>(i % kN);
    const int64_t m0 = static_cast<int64_t>(i / kN) * rows_per, m1 = std::min(M, m0 + rows_per);
    ref::gemv(t, w.data() + static_cast<size_t>(m0) * stride, m1 - m0, x.data() + n * xstride, K,
              want.data() + static_cast<size_t>(n) * M + m0, stride);
  });
  for (int N = 1; N <= kN; ++N) {
    INFO("N " << N);
    gg::GemvRun r;
    r.wtype = t;
    r.M = M;
    r.K = K;
    r.N = N;
    r.w = w.data();
    r.w_bytes = w.size();
    r.w_row_stride = w_pad ? stride : 0;
    r.x = x.data();
    r.x_bytes = xstride * N;
    r.x_stride = x_pad ? xstride : 0;
    r.y_stride = y_pad ? M + y_pad : 0;
    r.graph = graph;
    const std::vector<float> got = gg::run_gemv(r);
    const int64_t ys = y_pad ? M + y_pad : M;
    for (int n = 0; n < N; ++n) {
      INFO("token " << n);
      CHECK(dsk::test::compare_bits(got.data() + static_cast<size_t>(n) * ys, want.data() + static_cast<size_t>(n) * M,
                                    static_cast<size_t>(M))
                .count == 0);
    }
  }
}

const Shape kDeepSeek[] = {{7168, 2048}, {7168, 1536}, {7168, 576}, {7168, 24576}, {4096, 2048},
                           {4096, 1024}, {4096, 512},  {1536, 24576}, {2048, 7168}, {512, 32768}};

}  // namespace

TEST_CASE("GPU GEMV == reference, odd shapes, every type, N = 1..4", "[gemv][gpu]") {
  uint64_t seed = 1;
  for (GgmlType t : kTypes) {
    const int64_t be = ref::dot_block_elems(t);
    // one block; nb < 32; nb = 32; nb not a multiple of 32 (33, 40, 65, 100); odd M.
    for (int64_t nb : {1, 3, 31, 32, 33, 40, 65, 100})
      for (int64_t M : {1, 3, 37, 129})
      {
        ++seed;
        check_case(t, nb * be, M, seed, true, kFlavors[seed % 3]);
      }
  }
}

TEST_CASE("GPU GEMV bits do not depend on the launch knobs", "[gemv][gpu]") {
  // Copy stages, bytes per unit (hence units per row) and warps per CTA vary; results must not.
  struct Knobs {
    int stages, unit_bytes, warps;
  };
  for (const Knobs k : {Knobs{3, 8192, 16}, Knobs{3, 2048, 3}, Knobs{4, 1024, 16}, Knobs{2, 16384, 1}}) {
    INFO("stages " << k.stages << " unit bytes " << k.unit_bytes << " warps " << k.warps);
    gg::set_knobs(k.stages, k.unit_bytes, k.warps);
    uint64_t seed = 300;
    for (GgmlType t : kTypes) {
      const int64_t be = ref::dot_block_elems(t);
      for (int64_t nb : {1, 33, 100, 130}) {  // 130: L = 5, fits N = 4 for every type
        ++seed;
        check_case(t, nb * be, 67, seed, true, kFlavors[seed % 3]);
      }
    }
  }
  gg::set_knobs(0, 0, 0);
}

TEST_CASE("GPU GEMV == reference, padded strides and graph capture", "[gemv][gpu]") {
  uint64_t seed = 500;
  for (GgmlType t : kTypes) {
    const int64_t be = ref::dot_block_elems(t);
    // The smallest stride padding launch() accepts: the block's natural alignment.
    const bool a16 = t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16 || t == GgmlType::Q4_K;
    const size_t wpad = a16 ? 16 : t == GgmlType::Q2_K ? 4 : 2;
    check_case(t, 37 * be, 53, seed++, true, Q8Flavor::ggml_ref, wpad, 4, 3, false);
    check_case(t, 9 * be, 71, seed++, true, Q8Flavor::ik_x86, 16 + wpad, 8, 1, true);
  }
}

TEST_CASE("GPU GEMV == reference, DeepSeek shapes, every type, N = 1..4", "[gemv][gpu][deepseek]") {
  uint64_t seed = 1000;
  for (GgmlType t : kTypes) {
    for (const Shape& s : kDeepSeek) {
      int64_t M = s.M;
      if (DSK_GEMV_TEST_CI) M = std::min<int64_t>(M, 301);
      if (is_float_type(t) && M > 8191) M = 8191;  // bounds host memory / time for F32 K=7168
      ++seed;
      check_case(t, s.K, M, seed, seed % 2 == 0, kFlavors[seed % 3]);
    }
  }
}

TEST_CASE("GPU activation quantizers == ref::quantize_row bytes", "[gemv][gpu][quantize]") {
  Rng rng(77);
  for (GgmlType at : {GgmlType::Q8_0, GgmlType::Q8_K}) {
    for (Q8Flavor f : kFlavors) {
      for (int64_t K : {256, 512, 1536, 2048, 4096, 7168, 18432}) {
        INFO("type " << ggml_type_name(at) << " flavor " << static_cast<int>(f) << " K " << K);
        for (int N = 1; N <= 4; ++N) {
          std::vector<float> x = act_floats(rng, K, N, true);
          // Edge blocks: all zero, tiny, huge, exact ties at the first 256 elements of token 0.
          if (K >= 1024) {
            for (int i = 0; i < 256; ++i) x[i] = 0.0f;
            for (int i = 256; i < 512; ++i) x[i] = std::ldexp(rng.uniform(-1, 1), -130);
            for (int i = 512; i < 768; ++i) x[i] = std::numeric_limits<float>::max() * rng.uniform(-1, 1);
            for (int i = 768; i < 1024; ++i) x[i] = (static_cast<float>(rng.below(254) - 127) + 0.5f) * 0.25f;
            x[768 + 5] = 127.0f * 0.25f;
          }
          const std::vector<uint8_t> got = gg::run_quantize(at, f, x.data(), K, N);
          const size_t row = ref::row_bytes(at, K);
          std::vector<uint8_t> want(row * N);
          for (int n = 0; n < N; ++n) ref::quantize_row(at, x.data() + static_cast<size_t>(n) * K, want.data() + n * row, K, f);
          size_t bad = 0;
          for (size_t i = 0; i < want.size(); ++i) bad += got[i] != want[i];
          INFO("N " << N << " bytes differing " << bad);
          CHECK(bad == 0);
        }
      }
    }
  }
}

TEST_CASE("GPU quantize then GEMV == reference", "[gemv][gpu][quantize]") {
  Rng rng(91);
  for (GgmlType t : kTypes) {
    const int64_t K = 7168, M = 300;
    INFO("type " << ggml_type_name(t));
    const size_t rb = ref::row_bytes(t, K);
    std::vector<uint8_t> w(rb * M);
    with_weight(t, [&](auto b) {
      using W = decltype(b);
      for (int64_t m = 0; m < M; ++m) fill_row<W>(w.data() + m * rb, static_cast<int>(K / block_traits<W>::elems), 7 + m, false);
    });
    const std::vector<float> xf = act_floats(rng, K, 4, true);
    const GgmlType at = ref::activation_type(t);
    const size_t arow = ref::row_bytes(at, K);
    std::vector<uint8_t> x(arow * 4);
    for (int n = 0; n < 4; ++n) ref::quantize_row(at, xf.data() + n * K, x.data() + n * arow, K, Q8Flavor::ggml_ref);
    std::vector<float> want(M * 4);
    for (int n = 0; n < 4; ++n) ref::gemv(t, w.data(), M, x.data() + n * arow, K, want.data() + n * M);
    const std::vector<float> got = gg::run_quantize_then_gemv(t, Q8Flavor::ggml_ref, w.data(), w.size(), xf.data(), M, K, 4);
    CHECK(dsk::test::compare_bits(got, want).count == 0);
  }
}

TEST_CASE("GEMV and quantizer launchers reject what they cannot do", "[gemv][gpu]") {
  alignas(16) static float dummy[64];
  gemv::Params p;
  p.wtype = GgmlType::Q4_K;
  p.w = dummy;
  p.x = dummy;
  p.y = dummy;
  p.M = 8;
  p.K = 256;
  p.N = 5;
  CHECK(gg::gemv_status(p).code == Status::kUnsupported);
  p.N = 0;
  CHECK(gg::gemv_status(p).code == Status::kUnsupported);
  p.N = 1;
  p.K = 300;
  CHECK(gg::gemv_status(p).code == Status::kUnsupported);
  p.K = 256;
  p.wtype = GgmlType::Q5_K;
  CHECK(gg::gemv_status(p).code == Status::kUnsupported);
  p.wtype = GgmlType::Q4_K;
  p.w = reinterpret_cast<const uint8_t*>(dummy) + 2;
  CHECK(gg::gemv_status(p).code == Status::kInvalidArgument);
  p.w = dummy;
  p.y = nullptr;
  CHECK(gg::gemv_status(p).code == Status::kInvalidArgument);
  p.y = dummy;
  p.w_row_stride = 100;  // < row bytes
  CHECK(gg::gemv_status(p).code == Status::kInvalidArgument);
  p.w_row_stride = 144 + 4;  // Q4_K rows must stay 16-byte aligned
  CHECK(gg::gemv_status(p).code == Status::kInvalidArgument);
  p.wtype = GgmlType::Q2_K;
  p.w_row_stride = 84 + 2;  // Q2_K rows must stay 4-byte aligned
  CHECK(gg::gemv_status(p).code == Status::kInvalidArgument);
  p.wtype = GgmlType::Q4_K;
  p.w_row_stride = 0;
  p.wtype = GgmlType::F32;
  p.K = int64_t{32} * 400000;  // activations cannot fit in shared memory
  CHECK(gg::gemv_status(p).code == Status::kUnsupported);
  p.M = 0;
  p.K = 32;
  CHECK(gg::gemv_status(p).ok());  // nothing to do
  CHECK(gemv::workspace_size(p) == 0);

  gemv::QuantizeParams q;
  q.type = GgmlType::Q4_K;
  q.x = dummy;
  q.y = dummy;
  q.K = 256;
  CHECK(gg::quantize_status(q).code == Status::kUnsupported);
  q.type = GgmlType::Q8_K;
  q.K = 300;
  CHECK(gg::quantize_status(q).code == Status::kUnsupported);
}
