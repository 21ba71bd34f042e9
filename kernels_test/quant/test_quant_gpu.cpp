// GPU == host, by bits, for every per-block function of include/dsk/quant/: dequantization of every
// type, the activation quantizers in every flavour, the weight quantizers, block dots (1 and
// 1..8 rows) and row dots in the canonical order, over random data and edge cases (NaN/+-inf/+-0
// inputs, all-zero blocks, extreme and special scales, exact and near ties). Outputs are poisoned
// before each launch (quant_gpu_kernels.cu).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "catch.hpp"
#include "compare.hpp"
#include "dsk/quant/dequant.hpp"
#include "dsk/quant/dot.hpp"
#include "dsk/quant/quantize.hpp"
#include "quant_gpu_kernels.hpp"
#include "quant_test_util.hpp"

using namespace dsk;
using namespace dsk::quant;
using dsk::quant::test::random_block;
using dsk::quant::test::Rng;
namespace gq = dsk::test::gpu_quant;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr Q8Flavor kFlavors[] = {Q8Flavor::ggml_ref, Q8Flavor::ggml_x86, Q8Flavor::ik_x86};

// Float inputs, n blocks of 256, one kind of data per block (edge cases included).
std::vector<float> edge_floats(Rng& rng, int nblocks) {
  std::vector<float> x(static_cast<size_t>(nblocks) * 256);
  for (int b = 0; b < nblocks; ++b) {
    float* v = x.data() + static_cast<size_t>(b) * 256;
    const float s = std::ldexp(1.0f, rng.below(60) - 30);
    const float u = std::ldexp(1.0f, rng.below(40) - 30);
    switch (b % 12) {
      case 0: for (int i = 0; i < 256; ++i) v[i] = s * rng.normal(); break;
      case 1:  // exact ties: max 127 * u, values (n + 1/2) * u
        for (int i = 0; i < 256; ++i) v[i] = (static_cast<float>(rng.below(254) - 127) + 0.5f) * u;
        for (int j = 0; j < 8; ++j) v[32 * j + rng.below(32)] = (rng.below(2) ? -127.0f : 127.0f) * u;
        break;
      case 2:  // near ties at an inexact scale
        for (int i = 0; i < 256; ++i) {
          const float q = static_cast<float>(rng.below(254) - 127) + 0.5f;
          v[i] = std::nextafter(q * s / 127.0f, rng.below(2) ? kInf : -kInf);
        }
        for (int j = 0; j < 8; ++j) v[32 * j] = s;
        break;
      case 3: for (int i = 0; i < 256; ++i) v[i] = rng.below(2) ? 0.0f : -0.0f; break;
      case 4: for (int i = 0; i < 256; ++i) v[i] = std::ldexp(rng.uniform(-1, 1), -120 - rng.below(30)); break;
      case 5: for (int i = 0; i < 256; ++i) v[i] = rng.normal() * 1e37f; break;
      case 6:  // a NaN or infinity in some 32-sub-blocks
        for (int i = 0; i < 256; ++i) v[i] = s * rng.normal();
        for (int j = 0; j < 8; j += 2) v[32 * j + rng.below(32)] = (j % 4 == 0) ? kNaN : (rng.below(2) ? kInf : -kInf);
        break;
      case 7:  // duplicated +-max (first occurrence sets the sign)
        for (int i = 0; i < 256; ++i) v[i] = s * rng.uniform(-1, 1);
        for (int j = 0; j < 8; ++j) {
          v[32 * j + 3] = -2.0f * s;
          v[32 * j + 9] = 2.0f * s;
        }
        break;
      case 8: for (int i = 0; i < 256; ++i) v[i] = s * (rng.normal() + 3.0f); break;
      case 9: for (int i = 0; i < 256; ++i) v[i] = s * rng.normal() * (rng.below(32) ? 1.0f : 40.0f); break;
      case 10: for (int i = 0; i < 256; ++i) v[i] = std::numeric_limits<float>::max() * rng.uniform(-1, 1); break;
      default: for (int i = 0; i < 256; ++i) v[i] = static_cast<float>(rng.below(9) - 4) * 0.5f; break;
    }
  }
  return x;
}

// Special fp16 scales for weight blocks.
constexpr uint16_t kSpecialHalves[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x7bff, 0xfbff,
                                       0x7c00, 0xfc00, 0x7e00, 0x3c00, 0x1400};

template <class W>
std::vector<W> weight_blocks(Rng& rng, int n) {
  std::vector<W> w(n);
  for (int i = 0; i < n; ++i) {
    w[i] = random_block<W>(rng);
    if (i % 4 != 0) continue;  // a quarter get special scales
    const f16 h{kSpecialHalves[rng.below(12)]};
    if constexpr (std::is_same_v<W, block_q4_K> || std::is_same_v<W, block_q2_K>) {
      w[i].d = h;
      w[i].dmin = f16{kSpecialHalves[rng.below(12)]};
    } else if constexpr (std::is_same_v<W, block_f32> || std::is_same_v<W, block_f16> || std::is_same_v<W, block_bf16>) {
      const float sp[] = {kNaN, kInf, -kInf, -0.0f, 1e-40f, 3e38f};
      std::vector<float> f(kQKF);
      dequantize_block(w[i], f.data());
      f[rng.below(kQKF)] = sp[rng.below(6)];
      quantize_block(f.data(), w[i]);
    } else {
      w[i].d = h;
    }
  }
  return w;
}

// Activation blocks for weight type W: quantized edge floats (every flavour) and random blocks.
template <class W>
std::vector<act_block_t<W>> act_blocks(Rng& rng, int n) {
  using A = act_block_t<W>;
  constexpr int e = block_traits<A>::elems;
  const std::vector<float> x = edge_floats(rng, (n * e + 255) / 256);
  std::vector<A> a(n);
  for (int i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<A, block_f32>) {
      quantize_block(x.data() + static_cast<size_t>(i) * e, a[i]);
      if (i % 3 == 0) a[i] = random_block<A>(rng);
    } else {
      if (i % 4 == 3) a[i] = random_block<A>(rng);
      else quantize_block(x.data() + static_cast<size_t>(i) * e, a[i], kFlavors[i % 3]);
    }
  }
  return a;
}

template <class T>
bool same_bytes_report(const std::vector<T>& got, const std::vector<T>& want, const char* what) {
  for (size_t i = 0; i < want.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      std::fprintf(stderr, "  %s: block %zu of %zu differs\n", what, i, want.size());
      return false;
    }
  return true;
}

template <class B>
void check_dequant(Rng& rng, int n) {
  const auto b = weight_blocks<B>(rng, n);
  std::vector<float> want(static_cast<size_t>(n) * block_traits<B>::elems), got(want.size());
  for (int i = 0; i < n; ++i) dequantize_block(b[i], want.data() + static_cast<size_t>(i) * block_traits<B>::elems);
  gq::dequantize(block_traits<B>::type, b.data(), n, got.data());
  CHECK(dsk::test::compare_bits(got, want).count == 0);
}

template <class W>
void check_dots(Rng& rng) {
  INFO("weight type " << ggml_type_name(block_traits<W>::type));
  const int n = 3000;
  const auto w = weight_blocks<W>(rng, n);
  const auto a = act_blocks<W>(rng, 8 * n);
  std::vector<float> want(n), got(n);
  for (int i = 0; i < n; ++i) want[i] = dot_block(w[i], a[i]);
  gq::dot_blocks(block_traits<W>::type, w.data(), a.data(), n, got.data());
  CHECK(dsk::test::compare_bits(got, want).count == 0);

  for (int nr = 1; nr <= 8; ++nr) {  // multi-row on the GPU == single-row on the host
    if (!gq::nr_compiled(nr)) continue;
    INFO("NR " << nr);
    std::vector<float> wm(static_cast<size_t>(n) * nr), gm(wm.size());
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < nr; ++k) wm[static_cast<size_t>(i) * nr + k] = dot_block(w[i], a[i + static_cast<size_t>(k) * n]);
    gq::dot_blocks_multi(block_traits<W>::type, nr, w.data(), a.data(), n, n, gm.data());
    CHECK(dsk::test::compare_bits(gm, wm).count == 0);
  }

  for (int nb : {1, 7, 33, 100}) {  // rows, one thread per row
    INFO("nb " << nb);
    const int rows = n / nb;
    std::vector<float> wr(rows), gr(rows);
    for (int r = 0; r < rows; ++r) wr[r] = dot_row(w.data() + static_cast<size_t>(r) * nb, a.data() + static_cast<size_t>(r) * nb, nb);
    gq::dot_rows(block_traits<W>::type, w.data(), a.data(), rows, nb, gr.data());
    CHECK(dsk::test::compare_bits(gr, wr).count == 0);
    for (int nr : {1, 2, 3, 4, 5, 6, 7, 8}) {
      if (!gq::nr_compiled(nr)) continue;
      INFO("NR " << nr);
      const int64_t stride = nb + 1;
      std::vector<float> wm(static_cast<size_t>(rows) * nr), gm(wm.size());
      for (int r = 0; r < rows; ++r)
        for (int k = 0; k < nr; ++k)
          wm[static_cast<size_t>(r) * nr + k] = dot_row(w.data() + static_cast<size_t>(r) * nb, a.data() + k * stride, nb);
      gq::dot_rows_multi(block_traits<W>::type, nr, w.data(), a.data(), rows, nb, stride, gm.data());
      CHECK(dsk::test::compare_bits(gm, wm).count == 0);
    }
  }
}

}  // namespace

TEST_CASE("GPU dequantization == host, every type", "[quant][gpu]") {
  Rng rng(101);
  check_dequant<block_q8_0>(rng, 4000);
  check_dequant<block_q4_K>(rng, 2000);
  check_dequant<block_q6_K>(rng, 2000);
  check_dequant<block_q2_K>(rng, 2000);
  check_dequant<block_iq2_xxs>(rng, 2000);
  check_dequant<block_f32>(rng, 2000);
  check_dequant<block_f16>(rng, 2000);
  check_dequant<block_bf16>(rng, 2000);
  const auto k = act_blocks<block_q4_K>(rng, 2000);  // Q8_K, every flavour and random
  std::vector<float> want(2000 * 256), got(want.size());
  for (int i = 0; i < 2000; ++i) dequantize_block(k[i], want.data() + i * 256);
  gq::dequantize(GgmlType::Q8_K, k.data(), 2000, got.data());
  CHECK(dsk::test::compare_bits(got, want).count == 0);
}

TEST_CASE("GPU activation quantizers == host, every flavour", "[quant][gpu]") {
  Rng rng(202);
  const int nk = 3000;
  const std::vector<float> x = edge_floats(rng, nk);
  for (Q8Flavor f : kFlavors) {
    INFO("flavour " << static_cast<int>(f));
    std::vector<block_q8_0> w0(nk * 8), g0(nk * 8);
    for (int i = 0; i < nk * 8; ++i) quantize_block(x.data() + i * 32, w0[i], f);
    gq::quantize(GgmlType::Q8_0, x.data(), nk * 8, f, g0.data());
    CHECK(same_bytes_report(g0, w0, "Q8_0"));
    std::vector<block_q8_K> wk(nk), gk(nk);
    for (int i = 0; i < nk; ++i) quantize_block(x.data() + i * 256, wk[i], f);
    gq::quantize(GgmlType::Q8_K, x.data(), nk, f, gk.data());
    CHECK(same_bytes_report(gk, wk, "Q8_K"));
  }
  std::vector<block_q8_2> w2(nk * 8), g2(nk * 8);
  for (int i = 0; i < nk * 8; ++i) quantize_block(x.data() + i * 32, w2[i]);
  gq::quantize_q8_2(x.data(), nk * 8, g2.data());
  CHECK(same_bytes_report(g2, w2, "Q8_2"));
  std::vector<float> want(nk * 256), got(want.size());
  for (int i = 0; i < nk * 8; ++i) dequantize_block(w2[i], want.data() + i * 32);
  gq::dequantize_q8_2(w2.data(), nk * 8, got.data());
  CHECK(dsk::test::compare_bits(got, want).count == 0);
}

TEST_CASE("GPU weight quantizers == host", "[quant][gpu]") {
  Rng rng(303);
  const int n = 600;
  const std::vector<float> x = edge_floats(rng, n);
  auto run = [&](auto tag, const char* name) {
    using B = decltype(tag);
    constexpr int e = block_traits<B>::elems;
    const int nb = n * 256 / e;
    std::vector<B> want(nb), got(nb);
    for (int i = 0; i < nb; ++i) quantize_block(x.data() + static_cast<size_t>(i) * e, want[i]);
    gq::quantize(block_traits<B>::type, x.data(), nb, Q8Flavor::ggml_ref, got.data());
    CHECK(same_bytes_report(got, want, name));
  };
  run(block_q4_K{}, "Q4_K");
  run(block_q6_K{}, "Q6_K");
  run(block_q2_K{}, "Q2_K");
  run(block_f32{}, "F32");
  run(block_f16{}, "F16");
  run(block_bf16{}, "BF16");
}

TEST_CASE("GPU block and row dots == host, 1..8 rows", "[quant][gpu]") {
  Rng rng(404);
  check_dots<block_q8_0>(rng);
  check_dots<block_q4_K>(rng);
  check_dots<block_q6_K>(rng);
  check_dots<block_q2_K>(rng);
  check_dots<block_iq2_xxs>(rng);
  check_dots<block_f32>(rng);
  check_dots<block_f16>(rng);
  check_dots<block_bf16>(rng);
}
