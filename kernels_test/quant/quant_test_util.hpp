// Shared helpers of the quant tests (host and the GPU test's host side): random blocks of every
// format, random inputs with edge cases, and float64 oracles.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "dsk/quant/blocks.hpp"
#include "dsk/quant/dequant.hpp"
#include "dsk/quant/dot.hpp"
#include "dsk/quant/quantize.hpp"

namespace dsk::quant::test {

struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t next() { return splitmix64(state); }
  uint32_t u32() { return static_cast<uint32_t>(next() >> 32); }
  int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }
  float uniform(float lo, float hi) {  // [lo, hi)
    return lo + (hi - lo) * static_cast<float>(static_cast<double>(next() >> 40) / 16777216.0);
  }
  float normal() {  // Box-Muller, good enough for test data
    const double u1 = (static_cast<double>(next() >> 11) + 1.0) / 9007199254740993.0;
    const double u2 = static_cast<double>(next() >> 11) / 9007199254740992.0;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  void bytes(void* p, size_t n) {
    auto* b = static_cast<uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(next() >> 56);
  }
  // A finite fp16 of random sign with magnitude in [2^(e0-15), 2^(e1-15+1)), e0..e1 biased
  // exponents of normal halves.
  f16 half(int e0 = 1, int e1 = 16) {
    const uint32_t r = u32();
    const uint32_t e = static_cast<uint32_t>(e0 + below(e1 - e0 + 1));
    return f16{static_cast<uint16_t>((r & 0x8000u) | (e << 10) | ((r >> 16) & 0x3FFu))};
  }
};

// Random valid blocks: every quant byte random, scales random finite fp16 (Q8_K: a random float
// d and bsums consistent with qs, as a quantizer makes them).
template <class B>
B random_block(Rng& rng) {
  B b;
  rng.bytes(&b, sizeof b);
  if constexpr (std::is_same_v<B, block_q8_0>) b.d = rng.half();
  if constexpr (std::is_same_v<B, block_q4_K> || std::is_same_v<B, block_q2_K>) {
    b.d = rng.half();
    b.dmin = rng.half();
  }
  if constexpr (std::is_same_v<B, block_q6_K>) b.d = rng.half();
  if constexpr (std::is_same_v<B, block_iq2_xxs>) b = iq2_xxs_random_block(rng.state);
  if constexpr (std::is_same_v<B, block_q8_K>) {
    b.d = rng.uniform(-0.05f, 0.05f);
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += b.qs[16 * j + i];
      b.bsums[j] = static_cast<int16_t>(s);
    }
  }
  if constexpr (std::is_same_v<B, block_f32>)
    for (float& v : b.v) v = rng.normal();
  if constexpr (std::is_same_v<B, block_f16>)
    for (f16& v : b.v) v = f16::from_float(rng.normal());
  if constexpr (std::is_same_v<B, block_bf16>)
    for (bf16& v : b.v) v = bf16::from_float(rng.normal());
  return b;
}

template <class B>
constexpr int elems_of() {
  if constexpr (std::is_same_v<B, block_q8_2>) return kQK8_0;  // not a ggml type: no traits
  else return block_traits<B>::elems;
}

template <class B>
std::vector<float> dequant(const B& b) {
  std::vector<float> y(elems_of<B>());
  dequantize_block(b, y.data());
  return y;
}

// float64 oracle of a block dot over the dequantized values, and a magnitude for tolerances:
// sum |w_i a_i| plus, for formats with mins, sum |dmin*m_i * a_i| (the subtracted term can cancel).
template <class W>
std::pair<double, double> dot_oracle(const W& w, const act_block_t<W>& a) {
  const std::vector<float> wf = dequant(w), af = dequant(a);
  double s = 0.0, mag = 0.0;
  for (size_t i = 0; i < wf.size(); ++i) {
    s += static_cast<double>(wf[i]) * af[i];
    mag += std::fabs(static_cast<double>(wf[i]) * af[i]);
  }
  if constexpr (std::is_same_v<W, block_q4_K> || std::is_same_v<W, block_q2_K>) {
    decoded<W> d;
    decode(w, d);
    const int n = std::is_same_v<W, block_q4_K> ? 32 : 16;
    for (size_t i = 0; i < wf.size(); ++i)
      mag += 2.0 * std::fabs(static_cast<double>(d.dmin) * d.m[i / n] * af[i]);
  }
  return {s, mag};
}

inline uint32_t bits(float f) { return fp::bits(f); }

// Byte equality of two objects (for quantized outputs).
template <class T>
bool same_bytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

}  // namespace dsk::quant::test
