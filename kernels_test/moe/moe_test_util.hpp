// Weight stacks for the MoE tests (test_moe, test_moe_gpu): n matrices of M rows x K in a GGUF
// type, random (IQ2_XXS: random valid blocks with small scales), with their dequantized values.
#pragma once

#include <cstdint>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "dsk/quant/quantize.hpp"
#include "reference/quant.hpp"

namespace dsk::test::moe_util {

using dsk::quant::test::Rng;

// A stack of n matrices of M rows x K, as stored bytes, and its dequantized values.
struct Mat {
  GgmlType type;
  int64_t K, M, n;
  std::vector<uint8_t> bytes;
  std::vector<float> deq;  // [n, M, K]
};

inline Mat make(Rng& rng, GgmlType t, int64_t K, int64_t M, int64_t n, float sigma) {
  Mat m{t, K, M, n, {}, std::vector<float>(n * M * K)};
  const size_t rb = ref::row_bytes(t, K);
  m.bytes.resize(rb * M * n);
  if (t == GgmlType::IQ2_XXS) {
    auto* b = reinterpret_cast<quant::block_iq2_xxs*>(m.bytes.data());
    for (size_t i = 0; i < m.bytes.size() / sizeof(quant::block_iq2_xxs); ++i) {
      b[i] = quant::iq2_xxs_random_block(rng.state);
      b[i].d = f16::from_float(rng.uniform(-0.01f, 0.01f));
    }
  } else {
    std::vector<float> f(n * M * K);
    for (float& v : f) v = rng.normal() * sigma;
    for (int64_t r = 0; r < n * M; ++r) ref::quantize_row(t, f.data() + r * K, m.bytes.data() + r * rb, K);
  }
  for (int64_t r = 0; r < n * M; ++r) ref::dequantize_row(t, m.bytes.data() + r * rb, m.deq.data() + r * K, K);
  return m;
}

}  // namespace dsk::test::moe_util
