// GPU activation quantizer (dsk/gemv/quantize_act.hpp) == dsk::ref::quantize_row bytes, Q8_0 and
// Q8_K, every flavour: named edge blocks (max-|x| ties between +a and -a in every lane placement,
// NaN / +-inf / -0, all-zero, subnormal, tiny and huge blocks, rounding ties) alone with K = one
// block and together in rows; random ties; N = 1..4 with padded and 4-byte-aligned row strides and
// padded output rows (padding must stay untouched); a launch captured in a CUDA graph; launcher
// errors. Every output is checked under two poison bytes, so a byte the kernel never writes fails.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "dsk/quant/blocks.hpp"
#include "dsk/quant/quantize.hpp"
#include "quantize_act_gpu_kernels.hpp"
#include "dsk/ops/ops.hpp"
#include "reference/quant.hpp"

using namespace dsk;
using namespace dsk::quant;
using dsk::quant::test::Rng;
namespace gq = dsk::test::gpu_quantize_act;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kMax = std::numeric_limits<float>::max();
constexpr Q8Flavor kFlavors[] = {Q8Flavor::ggml_ref, Q8Flavor::ggml_x86, Q8Flavor::ik_x86};
constexpr GgmlType kTypes[] = {GgmlType::Q8_0, GgmlType::Q8_K};

int block_elems(GgmlType t) { return t == GgmlType::Q8_0 ? kQK8_0 : kQK_K; }

// Runs r twice (two poison bytes) and checks every row against ref::quantize_row and every padding
// byte against the poison. Returns the number of bad bytes (0 when all is well).
size_t check_run(gq::QuantizeRun r) {
  const size_t row = ref::row_bytes(r.type, r.K);
  const size_t ys = r.y_stride ? r.y_stride : row;
  const int64_t xs = r.x_stride ? r.x_stride : r.K;
  std::vector<uint8_t> want(row * static_cast<size_t>(r.N));
  for (int n = 0; n < r.N; ++n)
    ref::quantize_row(r.type, r.x + static_cast<size_t>(n) * static_cast<size_t>(xs), want.data() + n * row, r.K,
                      r.flavor);
  size_t bad = 0;
  for (const uint8_t poison : {uint8_t{0xAB}, uint8_t{0x54}}) {
    r.poison = poison;
    const std::vector<uint8_t> got = gq::run_quantize(r);
    for (int n = 0; n < r.N; ++n) {
      const uint8_t* g = got.data() + static_cast<size_t>(n) * ys;
      for (size_t i = 0; i < row; ++i) bad += g[i] != want[n * row + i];
      for (size_t i = row; i < ys; ++i) bad += g[i] != poison;
    }
  }
  return bad;
}

// Background of an edge block: values in [-s, s) (|x| < s, so a planted +-s is the maximum).
void background(Rng& rng, float* x, int n, float s) {
  for (int i = 0; i < n; ++i) x[i] = s * rng.uniform(-0.99f, 0.99f);
}

struct EdgeCase {
  const char* name;
  std::function<void(Rng&, float*)> fill;  // fills one Q8_K block (256 floats = 8 Q8_0 blocks)
};

// Lane placement in the Q8_K kernel: lane l holds elements 4l..4l+3 and 128+4l..128+4l+3; a Q8_0
// block is 8 lanes of 4. The ties below put the first maximum in every kind of place.
std::vector<EdgeCase> edge_cases() {
  auto tie = [](int first, float first_sign, int second) {
    return [=](Rng& rng, float* x) {
      background(rng, x, kQK_K, 3.0f);
      x[first] = first_sign * 3.0f;
      x[second] = -first_sign * 3.0f;
    };
  };
  return {
      {"gaussian", [](Rng& rng, float* x) { for (int i = 0; i < kQK_K; ++i) x[i] = 0.37f * rng.normal(); }},
      {"all zero", [](Rng&, float* x) { for (int i = 0; i < kQK_K; ++i) x[i] = 0.0f; }},
      {"all -0", [](Rng&, float* x) { for (int i = 0; i < kQK_K; ++i) x[i] = -0.0f; }},
      {"zeros and -0", [](Rng&, float* x) { for (int i = 0; i < kQK_K; ++i) x[i] = i % 3 ? 0.0f : -0.0f; }},
      {"-0 among values",
       [](Rng& rng, float* x) {
         background(rng, x, kQK_K, 1.0f);
         for (int i = 0; i < kQK_K; i += 5) x[i] = -0.0f;
       }},
      {"one nonzero", [](Rng&, float* x) { for (int i = 0; i < kQK_K; ++i) x[i] = i == 77 ? -0.125f : 0.0f; }},
      {"tie +a first, -a in another lane", tie(3, 1.0f, 200)},
      {"tie -a first, +a in another lane", tie(3, -1.0f, 200)},
      {"tie -a first, +a in the same 16-byte load", tie(9, -1.0f, 10)},
      {"tie +a first, -a in the same 16-byte load", tie(9, 1.0f, 10)},
      {"tie -a first, +a in the same lane's second half", tie(29, -1.0f, 128 + 29)},
      {"tie +a first, -a in the same lane's second half", tie(29, 1.0f, 128 + 29)},
      {"tie -a in lane 31 before +a in lane 0's second half", tie(124, -1.0f, 129)},
      {"tie +a in lane 31 before -a in lane 0's second half", tie(127, 1.0f, 128)},
      {"tie -a at 0, +a at 255", tie(0, -1.0f, 255)},
      {"tie +a at 0, -a at 255", tie(0, 1.0f, 255)},
      {"tie -a at 254, +a at 255", tie(254, -1.0f, 255)},
      {"every element +-a, first -a",
       [](Rng& rng, float* x) {
         for (int i = 0; i < kQK_K; ++i) x[i] = (rng.next() & 1) ? 0.75f : -0.75f;
         x[0] = -0.75f;
       }},
      {"every element +-a, first +a",
       [](Rng& rng, float* x) {
         for (int i = 0; i < kQK_K; ++i) x[i] = (rng.next() & 1) ? 0.75f : -0.75f;
         x[0] = 0.75f;
       }},
      {"ties of the max and of a smaller value",
       [](Rng& rng, float* x) {
         background(rng, x, kQK_K, 2.0f);
         x[17] = 1.9f;
         x[18] = -1.9f;
         x[140] = -2.0f;
         x[141] = 2.0f;
         x[250] = -2.0f;
       }},
      {"NaN", [](Rng& rng, float* x) { background(rng, x, kQK_K, 1.0f); x[77] = kNaN; }},
      {"negative NaN with payload",
       [](Rng& rng, float* x) {
         background(rng, x, kQK_K, 1.0f);
         x[200] = fp::from_bits(0xffc12345u);
       }},
      {"signalling-pattern NaN",
       [](Rng& rng, float* x) {
         background(rng, x, kQK_K, 1.0f);
         x[31] = fp::from_bits(0x7f800001u);
       }},
      {"+inf", [](Rng& rng, float* x) { background(rng, x, kQK_K, 1.0f); x[128] = kInf; }},
      {"-inf", [](Rng& rng, float* x) { background(rng, x, kQK_K, 1.0f); x[255] = -kInf; }},
      {"inf and NaN in one Q8_0 block",
       [](Rng& rng, float* x) {
         background(rng, x, kQK_K, 1.0f);
         x[40] = -kInf;
         x[41] = kNaN;
         x[42] = kInf;
       }},
      {"NaN in every Q8_0 block", [](Rng& rng, float* x) {
         background(rng, x, kQK_K, 1.0f);
         for (int j = 0; j < 8; ++j) x[32 * j + (j * 5) % 32] = kNaN;
       }},
      {"subnormals only",
       [](Rng& rng, float* x) {
         for (int i = 0; i < kQK_K; ++i) x[i] = std::ldexp(rng.uniform(-1, 1), -130);
       }},
      {"smallest subnormals",
       [](Rng&, float* x) {
         for (int i = 0; i < kQK_K; ++i)
           x[i] = i % 7 == 0 ? fp::from_bits(1u) : (i % 11 == 0 ? fp::from_bits(0x80000001u) : 0.0f);
       }},
      {"subnormals and one normal",
       [](Rng& rng, float* x) {
         for (int i = 0; i < kQK_K; ++i) x[i] = std::ldexp(rng.uniform(-1, 1), -128);
         x[100] = -1.0f;
       }},
      {"largest subnormal tie",
       [](Rng&, float* x) {
         for (int i = 0; i < kQK_K; ++i) x[i] = 0.0f;
         x[66] = fp::from_bits(0x807fffffu);
         x[67] = fp::from_bits(0x007fffffu);
       }},
      {"tiny max (127/amax overflows)",
       [](Rng& rng, float* x) {
         for (int i = 0; i < kQK_K; ++i) x[i] = std::ldexp(rng.uniform(-1, 1), -128);
         x[2] = 1e-38f;
         x[3] = -5e-39f;
       }},
      {"huge", [](Rng& rng, float* x) { for (int i = 0; i < kQK_K; ++i) x[i] = kMax * rng.uniform(-1, 1); }},
      {"FLT_MAX tie -first",
       [](Rng& rng, float* x) {
         for (int i = 0; i < kQK_K; ++i) x[i] = kMax * rng.uniform(-0.5f, 0.5f);
         x[50] = -kMax;
         x[51] = kMax;
       }},
      {"rounding ties (d = 1/4)",
       [](Rng& rng, float* x) {
         for (int i = 0; i < kQK_K; ++i) x[i] = (static_cast<float>(rng.below(254) - 127) + 0.5f) * 0.25f;
         for (int j = 0; j < 8; ++j) x[32 * j + 5] = (j & 1 ? -127.0f : 127.0f) * 0.25f;
       }},
      {"integers at d = 1",
       [](Rng& rng, float* x) {
         for (int i = 0; i < kQK_K; ++i) x[i] = static_cast<float>(rng.below(255) - 127);
         for (int j = 0; j < 8; ++j) x[32 * j + 31] = j & 1 ? 127.0f : -127.0f;
       }},
  };
}

}  // namespace

TEST_CASE("GPU quantize_act: named edge blocks, K = one block", "[quantize_act][gpu]") {
  const std::vector<EdgeCase> cases = edge_cases();
  Rng rng(2024);
  for (const EdgeCase& c : cases) {
    std::vector<float> x(kQK_K);
    c.fill(rng, x.data());
    for (GgmlType t : kTypes)
      for (Q8Flavor f : kFlavors)
        for (int64_t K : {int64_t{block_elems(t)}, int64_t{kQK_K}}) {  // Q8_0: one block, and 8
          INFO("case '" << c.name << "' type " << ggml_type_name(t) << " flavor " << static_cast<int>(f) << " K " << K);
          gq::QuantizeRun r;
          r.type = t;
          r.flavor = f;
          r.x = x.data();
          r.K = K;
          CHECK(check_run(r) == 0);
        }
  }
}

TEST_CASE("GPU quantize_act: edge blocks in rows, N = 1..4, strides, alignment, graph", "[quantize_act][gpu]") {
  const std::vector<EdgeCase> cases = edge_cases();
  const int nc = static_cast<int>(cases.size());
  const int64_t K = int64_t{nc} * kQK_K;
  struct Layout {
    int64_t x_pad;  // floats after each input row
    int x_offset;   // floats past a 256-byte boundary (1: rows only 4-byte aligned)
    int y_pad;      // bytes after each output row (a multiple of 4)
    bool graph;
  };
  const Layout layouts[] = {{0, 0, 0, false}, {0, 1, 0, false}, {3, 0, 4, false},
                            {5, 3, 36, false}, {64, 0, 292, false}, {1, 0, 8, true}};
  Rng rng(99);
  for (const Layout& l : layouts)
    for (int N = 1; N <= 4; ++N) {
      const int64_t xs = K + l.x_pad;
      std::vector<float> x(static_cast<size_t>(xs) * N, kNaN);  // row padding holds NaN: never read
      for (int n = 0; n < N; ++n)
        for (int c = 0; c < nc; ++c)  // row n: the cases rotated by 7n
          cases[(c + 7 * n) % nc].fill(rng, x.data() + n * xs + int64_t{c} * kQK_K);
      for (GgmlType t : kTypes)
        for (Q8Flavor f : kFlavors) {
          INFO("type " << ggml_type_name(t) << " flavor " << static_cast<int>(f) << " N " << N << " x_pad " << l.x_pad
                       << " x_offset " << l.x_offset << " y_pad " << l.y_pad << " graph " << l.graph);
          gq::QuantizeRun r;
          r.type = t;
          r.flavor = f;
          r.x = x.data();
          r.K = K;
          r.N = N;
          r.x_stride = l.x_pad ? xs : 0;
          r.x_offset = l.x_offset;
          r.y_stride = l.y_pad ? ref::row_bytes(t, K) + static_cast<size_t>(l.y_pad) : 0;
          r.graph = l.graph;
          CHECK(check_run(r) == 0);
        }
    }
}

TEST_CASE("GPU quantize_act: +a / -a ties at random positions", "[quantize_act][gpu]") {
  // 4 rows of 64 Q8_K blocks (512 Q8_0 blocks each); every block holds its maximum magnitude 2-5
  // times with random signs at random positions; some blocks put every copy in one 32-element block.
  Rng rng(4242);
  const int64_t K = 64 * kQK_K;
  const int N = 4;
  std::vector<float> x(static_cast<size_t>(K) * N);
  for (size_t b = 0; b < x.size() / kQK_K; ++b) {
    float* v = x.data() + b * kQK_K;
    const float a = std::ldexp(1.0f + static_cast<float>(rng.below(1000)) / 1000.0f, rng.below(40) - 20);
    background(rng, v, kQK_K, a);
    const int copies = 2 + rng.below(4);
    const int base = b % 3 == 0 ? 32 * rng.below(8) : 0, span = b % 3 == 0 ? 32 : kQK_K;
    for (int k = 0; k < copies; ++k) v[base + rng.below(span)] = (rng.next() & 1) ? a : -a;
  }
  for (GgmlType t : kTypes)
    for (Q8Flavor f : kFlavors) {
      INFO("type " << ggml_type_name(t) << " flavor " << static_cast<int>(f));
      gq::QuantizeRun r;
      r.type = t;
      r.flavor = f;
      r.x = x.data();
      r.K = K;
      r.N = N;
      CHECK(check_run(r) == 0);
    }
}

TEST_CASE("GPU quantize_act: DeepSeek and small K, N = 1..4, padded and unaligned rows", "[quantize_act][gpu]") {
  Rng rng(7);
  for (int64_t K : {32, 64, 256, 512, 1536, 2048, 4096, 7168, 18432})
    for (int N = 1; N <= 4; ++N) {
      const int64_t xs = K + 4;
      std::vector<float> x(static_cast<size_t>(xs) * N);
      const float s = std::ldexp(1.0f, rng.below(30) - 15);
      for (float& v : x) v = s * rng.normal();
      for (GgmlType t : kTypes) {
        if (K % block_elems(t)) continue;
        for (Q8Flavor f : kFlavors)
          for (int layout = 0; layout < 3; ++layout) {
            INFO("type " << ggml_type_name(t) << " flavor " << static_cast<int>(f) << " K " << K << " N " << N
                         << " layout " << layout);
            gq::QuantizeRun r;
            r.type = t;
            r.flavor = f;
            r.x = x.data();
            r.K = K;
            r.N = N;
            if (layout == 0) r.x_stride = K;  // packed rows (given explicitly)
            if (layout >= 1) r.x_stride = xs;
            if (layout == 2) {
              r.x_offset = 2;  // 8-byte aligned only
              r.y_stride = ref::row_bytes(t, K) + (t == GgmlType::Q8_0 ? 2 : 4);
            }
            CHECK(check_run(r) == 0);
          }
      }
    }
}

TEST_CASE("GPU quantize_act: launcher rejects what it cannot do", "[quantize_act][gpu]") {
  alignas(16) static float dummy[1024];
  gemv::QuantizeParams q;
  q.x = dummy;
  q.y = dummy;
  q.K = 256;
  q.type = GgmlType::Q4_K;
  CHECK(gq::quantize_status(q).code == Status::kUnsupported);
  q.type = GgmlType::F32;
  CHECK(gq::quantize_status(q).code == Status::kUnsupported);
  q.type = GgmlType::Q8_K;
  q.K = 300;
  CHECK(gq::quantize_status(q).code == Status::kUnsupported);
  q.type = GgmlType::Q8_0;
  q.K = 48;
  CHECK(gq::quantize_status(q).code == Status::kUnsupported);
  q.K = -32;
  CHECK(gq::quantize_status(q).code == Status::kInvalidArgument);
  q.K = 256;
  q.N = -1;
  CHECK(gq::quantize_status(q).code == Status::kInvalidArgument);
  q.N = 1;
  q.x = nullptr;
  CHECK(gq::quantize_status(q).code == Status::kInvalidArgument);
  q.x = dummy;
  q.y = nullptr;
  CHECK(gq::quantize_status(q).code == Status::kInvalidArgument);
  q.y = dummy;
  q.x = reinterpret_cast<const float*>(reinterpret_cast<const uint8_t*>(dummy) + 2);  // not 4-byte aligned
  CHECK(gq::quantize_status(q).code == Status::kInvalidArgument);
  q.x = dummy;
  q.y = reinterpret_cast<uint8_t*>(dummy) + 1;  // Q8_0 needs 2-byte alignment
  CHECK(gq::quantize_status(q).code == Status::kInvalidArgument);
  q.type = GgmlType::Q8_K;
  q.y = reinterpret_cast<uint8_t*>(dummy) + 2;  // Q8_K needs 4-byte alignment
  CHECK(gq::quantize_status(q).code == Status::kInvalidArgument);
  q.y = dummy;
  q.N = 2;
  q.x_stride = 255;  // < K
  CHECK(gq::quantize_status(q).code == Status::kInvalidArgument);
  q.x_stride = 0;
  q.y_stride = 290;  // < one row
  CHECK(gq::quantize_status(q).code == Status::kInvalidArgument);
  q.y_stride = 294;  // not a multiple of 4
  CHECK(gq::quantize_status(q).code == Status::kInvalidArgument);
  q.y_stride = 0;
  q.N = 0;  // nothing to do
  CHECK(gq::quantize_status(q).ok());
  q.N = 1;
  q.K = 0;
  CHECK(gq::quantize_status(q).ok());
}

TEST_CASE("GPU quantize_act: fused SwiGLU input == SwiGLU then quantize", "[quantize_act][gpu]") {
  // The MoE's h before the down projection: swiglu(g, u) (clamped or not), times the pair's routing
  // weight; rows of pairs (k per token), NaN / inf / huge gates and ups among them.
  Rng rng(77);
  for (const GgmlType t : kTypes)
    for (const Q8Flavor fl : kFlavors)
      for (const bool clamp : {false, true})
        for (const bool weighted : {false, true}) {
          const int64_t K = t == GgmlType::Q8_0 ? 1408 : 2048;
          const int k = 3, N = 2 * k;
          std::vector<float> g(static_cast<size_t>(N * K)), u(g.size()), w(static_cast<size_t>(2 * 4));
          for (float& v : g) v = rng.uniform(-12.0f, 12.0f);
          for (float& v : u) v = rng.uniform(-3.0f, 3.0f);
          for (float& v : w) v = rng.uniform(0.0f, 1.0f);
          g[5] = kNaN;
          u[K + 7] = kInf;
          g[2 * K + 9] = -kInf;
          g[3 * K + 1] = 80.0f;
          u[4 * K] = kMax;
          std::vector<float> h(g.size());
          for (int n = 0; n < N; ++n)
            for (int64_t i = 0; i < K; ++i) {
              const size_t j = static_cast<size_t>(n * K + i);
              float v = clamp ? ops::swiglu_clamped(g[j], u[j], 7.0f) : ops::swiglu(g[j], u[j]);
              if (weighted) v = fp::mul(v, w[static_cast<size_t>((n / k) * 4 + n % k)]);
              h[j] = v;
            }
          const size_t row = ref::row_bytes(t, K);
          std::vector<uint8_t> want(row * static_cast<size_t>(N));
          for (int n = 0; n < N; ++n) ref::quantize_row(t, h.data() + n * K, want.data() + n * row, K, fl);
          gq::QuantizeRun r;
          r.type = t;
          r.flavor = fl;
          r.x = g.data();
          r.K = K;
          r.N = N;
          r.u = u.data();
          r.w = weighted ? w.data() : nullptr;
          r.w_count = w.size();
          r.w_stride = 4;
          r.k = k;
          r.clamp = clamp;
          r.limit = 7.0f;
          const std::vector<uint8_t> got = gq::run_quantize(r);
          INFO("type " << static_cast<int>(t) << " flavor " << static_cast<int>(fl) << " clamp " << clamp << " weighted " << weighted);
          CHECK(got == want);
        }
}
