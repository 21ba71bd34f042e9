// Inputs of the MLA attention tests (test_attention, test_attention_gpu): random q, a latent cache
// and k_b / v_b in given GGUF types, stored as bytes (with the float values the oracle sees).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "dsk/attention/attention.hpp"
#include "reference/quant.hpp"

namespace dsk::test::attention_util {

using dsk::quant::test::Rng;

struct Setup {
  int64_t H, d_nope, rope, lora, d_v, n_ctx;
  GgmlType cache_t, kb_t, vb_t;
  std::vector<float> q, cache_f, kb_f, vb_f;  // float values (the cache / weights as stored, dequantized)
  std::vector<uint8_t> cache, kb, vb;          // stored bytes
  float scale;
};

inline std::vector<uint8_t> store(GgmlType t, std::vector<float>& f, int64_t K) {
  const int64_t rows = static_cast<int64_t>(f.size()) / K;
  const size_t rb = ref::row_bytes(t, K);
  std::vector<uint8_t> b(rb * rows);
  for (int64_t r = 0; r < rows; ++r) {
    ref::quantize_row(t, f.data() + r * K, b.data() + r * rb, K);
    ref::dequantize_row(t, b.data() + r * rb, f.data() + r * K, K);  // the oracle sees the stored values
  }
  return b;
}

inline Setup make(Rng& rng, int64_t H, int64_t d_nope, int64_t rope, int64_t lora, int64_t d_v, int64_t n_ctx, GgmlType ct,
           GgmlType kt, GgmlType vt) {
  Setup s{H, d_nope, rope, lora, d_v, n_ctx, ct, kt, vt, {}, {}, {}, {}, {}, {}, {}, 0};
  s.q.resize(n_ctx * H * (d_nope + rope));
  s.cache_f.resize(n_ctx * (rope + lora));
  s.kb_f.resize(H * lora * d_nope);
  s.vb_f.resize(H * d_v * lora);
  for (float& v : s.q) v = rng.normal();
  for (float& v : s.cache_f) v = rng.normal();
  for (float& v : s.kb_f) v = rng.normal() * 0.2f;
  for (float& v : s.vb_f) v = rng.normal() * 0.2f;
  s.cache = store(ct, s.cache_f, rope + lora);
  s.kb = store(kt, s.kb_f, d_nope);
  s.vb = store(vt, s.vb_f, lora);
  s.scale = 1.0f / std::sqrt(float(d_nope + rope));
  return s;
}

inline attention::MlaParams params(const Setup& s, int64_t p0, int64_t T, float* out) {
  attention::MlaParams p;
  p.q = s.q.data() + p0 * s.H * (s.d_nope + s.rope);
  p.cache = s.cache.data(); p.cache_type = s.cache_t;
  p.k_b_type = s.kb_t; p.k_b = s.kb.data(); p.v_b_type = s.vb_t; p.v_b = s.vb.data();
  p.T = T; p.p0 = p0; p.n_head = s.H; p.d_nope = s.d_nope; p.rope_dims = s.rope; p.kv_lora = s.lora; p.d_v = s.d_v;
  p.kq_scale = s.scale; p.out = out;
  return p;
}

}  // namespace dsk::test::attention_util
