// GPU == host, by bits, for dsk/core: conversions, math functions, rounding, and the canonical
// reduction orders (warp tree, block tree, row sum). Exits 77 (skipped) without a CUDA device.
#include <cstdio>
#include <random>
#include <vector>

#include "catch.hpp"
#include "compare.hpp"
#include "core_gpu_kernels.hpp"
#include "dsk/core/half.hpp"
#include "dsk/core/reduce.hpp"
#include "math_oracle.hpp"
#include "parallel.hpp"

using namespace dsk;

TEST_CASE("gpu: f32 -> f16 / bf16 for all 2^32 inputs", "[gpu][core][half]") {
  const size_t chunk = size_t{1} << 28;
  std::vector<uint16_t> g(chunk), gb(chunk);
  long bad16 = 0, badbf = 0;
  for (uint64_t start = 0; start < (1ull << 32); start += chunk) {
    test::gpu::f32_to_f16(start, chunk, g.data());
    test::gpu::f32_to_bf16(start, chunk, gb.data());
    std::vector<long> b16(chunk / (1 << 20)), bbf(chunk / (1 << 20));
    test::parallel_for(b16.size(), [&](size_t c) {
      for (size_t i = c << 20; i < (c + 1) << 20; ++i) {
        const float x = fp::from_bits(static_cast<uint32_t>(start + i));
        b16[c] += f32_to_f16_bits(x) != g[i];
        bbf[c] += f32_to_bf16_bits(x) != gb[i];
      }
    });
    for (long v : b16) bad16 += v;
    for (long v : bbf) badbf += v;
  }
  CHECK(bad16 == 0);
  CHECK(badbf == 0);
}

TEST_CASE("gpu: f16 / bf16 -> f32 for all 65536 patterns", "[gpu][core][half]") {
  std::vector<float> g(65536), want(65536);
  test::gpu::f16_to_f32_all(g.data());
  for (uint32_t h = 0; h < 65536; ++h) want[h] = f16_bits_to_f32(static_cast<uint16_t>(h));
  CHECK(test::compare_bits(g, want).count == 0);
  test::gpu::bf16_to_f32_all(g.data());
  for (uint32_t h = 0; h < 65536; ++h) want[h] = bf16_bits_to_f32(static_cast<uint16_t>(h));
  CHECK(test::compare_bits(g, want).count == 0);
}

TEST_CASE("gpu: math functions give the host's bits (stride-7 sweep of all floats)", "[gpu][core][math]") {
  const uint64_t stride = 7;
  const size_t total = ((1ull << 32) + stride - 1) / stride;
  const size_t chunk = size_t{1} << 24;
  std::vector<float> g(8 * chunk);
  size_t mismatches[8] = {};
  for (size_t off = 0; off < total; off += chunk) {
    const size_t n = std::min(chunk, total - off);
    const uint64_t start = off * stride;
    test::gpu::math_eval(start, stride, n, g.data());
    for (int f = 0; f < 8; ++f) {
      std::vector<size_t> bad((n + 65535) / 65536);
      test::parallel_for(bad.size(), [&](size_t c) {
        for (size_t i = c * 65536; i < std::min(n, (c + 1) * 65536); ++i) {
          const float x = fp::from_bits(static_cast<uint32_t>(start + i * stride));
          const float h = test::math_eval(test::kMathFns[f], x);
          bad[c] += fp::canonical_bits(h) != fp::canonical_bits(g[f * n + i]);
        }
      });
      for (size_t b : bad) mismatches[f] += b;
    }
  }
  for (int f = 0; f < 8; ++f) {
    INFO(test::math_fn_name(test::kMathFns[f]));
    std::printf("  %-14s %zu inputs, %zu mismatches\n", test::math_fn_name(test::kMathFns[f]), total,
                mismatches[f]);
    CHECK(mismatches[f] == 0);
  }
}

TEST_CASE("gpu: round_half_away", "[gpu][core][fp]") {
  const size_t n = size_t{1} << 24;
  std::vector<float> g(n), want(n);
  test::gpu::round_half_away(0, 257, n, g.data());
  for (size_t i = 0; i < n; ++i) want[i] = fp::round_half_away(fp::from_bits(static_cast<uint32_t>(i * 257)));
  CHECK(test::compare_bits(g, want).count == 0);
}

namespace {
// Values that make summation order visible: wide exponent range, both signs, cancellations, and
// some specials.
std::vector<float> order_sensitive_values(size_t n, uint32_t seed, bool specials) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = std::ldexp(d(rng), static_cast<int>(rng() % 48) - 24);
  if (specials && n > 64) {
    v[3] = -0.0f;
    v[17] = 1e30f;
    v[18] = -1e30f;
    v[n / 2] = std::ldexp(1.0f, -140);  // subnormal
  }
  return v;
}
}  // namespace

TEST_CASE("gpu: warp_tree32 == tree32 on every lane", "[gpu][core][reduce]") {
  const size_t sets = 4096;
  auto in = order_sensitive_values(32 * sets, 11, false);
  in[5] = NAN;              // set 0: NaN propagates
  in[32 + 3] = INFINITY;    // set 1: inf
  in[64 + 7] = -INFINITY;   // set 2: inf - inf = NaN
  in[64 + 9] = INFINITY;
  for (int i = 0; i < 32; ++i) in[96 + i] = -0.0f;  // set 3: all -0 -> -0
  std::vector<float> out(32 * sets, test::poison()), want(32 * sets);
  test::gpu::warp_tree32(in.data(), sets, out.data());
  for (size_t s = 0; s < sets; ++s) {
    float v[32];
    for (int i = 0; i < 32; ++i) v[i] = in[32 * s + i];
    const float t = order::tree32(v);
    for (int l = 0; l < 32; ++l) want[32 * s + l] = t;
  }
  CHECK(test::compare_bits(out, want).count == 0);
  CHECK(fp::bits(want[96]) == 0x80000000u);
}

TEST_CASE("gpu: block_tree_sum<NT> == vector_sum<NT>", "[gpu][core][reduce]") {
  for (int nt : {32, 128, 256, 1024}) {
    for (int64_t n : {int64_t{1}, int64_t{33}, int64_t{1000}, int64_t{7168}, int64_t{20001}}) {
      const size_t sets = 64;
      auto x = order_sensitive_values(static_cast<size_t>(n) * sets, static_cast<uint32_t>(nt + n), n > 64);
      std::vector<float> out(static_cast<size_t>(nt) * sets, test::poison()), want(out.size());
      test::gpu::block_sum(nt, x.data(), n, sets, out.data());
      for (size_t s = 0; s < sets; ++s) {
        const float* v = x.data() + s * n;
        float r = 0;
        auto at = [&](int64_t i) { return v[i]; };
        switch (nt) {
          case 32: r = order::vector_sum<32>(n, at); break;
          case 128: r = order::vector_sum<128>(n, at); break;
          case 256: r = order::vector_sum<256>(n, at); break;
          default: r = order::vector_sum<1024>(n, at); break;
        }
        for (int t = 0; t < nt; ++t) want[s * nt + t] = r;
      }
      INFO("nt = " << nt << ", n = " << n);
      CHECK(test::compare_bits(out, want).count == 0);
    }
  }
}

TEST_CASE("gpu: row_sum (canonical row order) on the device", "[gpu][core][reduce]") {
  const size_t stride = 1100;
  std::vector<int> nbs = {1, 2, 7, 16, 28, 31, 32, 33, 48, 64, 65, 112, 224, 225, 1000, 1100};
  const size_t rows = nbs.size() * 64;
  std::vector<int> nb(rows);
  for (size_t i = 0; i < rows; ++i) nb[i] = nbs[i % nbs.size()];
  auto r = order_sensitive_values(stride * rows, 5, true);
  std::vector<float> out(rows, test::poison()), want(rows);
  test::gpu::row_sum(r.data(), stride, nb.data(), rows, out.data());
  for (size_t s = 0; s < rows; ++s)
    want[s] = order::row_sum(nb[s], [&](int b) { return r[s * stride + b]; });
  CHECK(test::compare_bits(out, want).count == 0);
}
