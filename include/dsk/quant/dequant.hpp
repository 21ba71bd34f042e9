// dsk/quant/dequant.hpp — block dequantization, host and device from one source.
//
// Each function writes the block's elements to y[0 .. elems) in ggml's element order, with
// ggml's float formula and operation order (ggml-quants.c dequantize_row_*), every operation an
// explicit dsk::fp op, so the bits equal ggml's scalar code and gguf-py's numpy code
// (docs/quant.md lists the formulas; the cross-check test compares with gguf-py bit for bit):
//   Q8_0    y = q * d
//   Q8_K    y = d * q
//   Q4_K    d1 = d * sc_j;  m1 = dmin * m_j;  y = d1 * q - m1
//   Q2_K    dl = d * sc_j;  ml = dmin * m_j;  y = dl * q - ml
//   Q6_K    y = (d * sc_j) * q
//   IQ2_XXS db = (d * (0.5f + ls)) * 0.25f;  y = (db * grid) * (±1.0f)
//   Q8_2    y = q * d                       (ik_llama.cpp's activation block)
//   F16, BF16: exact widening; F32: copy.
// The integer operands (q, sc_j, m_j, ls, grid) are converted exactly (fp::from_int).
#pragma once

#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/half.hpp"
#include "dsk/quant/blocks.hpp"
#include "dsk/quant/tables.hpp"

namespace dsk::quant {

DSK_HD void dequantize_block(const block_q8_0& b, float* DSK_RESTRICT y) {
  const float d = b.d.to_float();
  for (int i = 0; i < kQK8_0; ++i) y[i] = fp::mul(fp::from_int(b.qs[i]), d);
}

DSK_HD void dequantize_block(const block_q8_K& b, float* DSK_RESTRICT y) {
  for (int i = 0; i < kQK_K; ++i) y[i] = fp::mul(b.d, fp::from_int(b.qs[i]));
}

DSK_HD void dequantize_block(const block_q8_2& b, float* DSK_RESTRICT y) {
  const float d = b.d.to_float();
  for (int i = 0; i < kQK8_0; ++i) y[i] = fp::mul(fp::from_int(b.qs[i]), d);
}

DSK_HD void dequantize_block(const block_q4_K& b, float* DSK_RESTRICT y) {
  const float d = b.d.to_float(), dmin = b.dmin.to_float();
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    q4k_scale_min(b.scales, j, sc, m);
    const float d1 = fp::mul(d, fp::from_int(sc));
    const float m1 = fp::mul(dmin, fp::from_int(m));
    for (int i = 32 * j; i < 32 * j + 32; ++i) y[i] = fp::sub(fp::mul(d1, fp::from_int(q4k_quant(b, i))), m1);
  }
}

DSK_HD void dequantize_block(const block_q2_K& b, float* DSK_RESTRICT y) {
  const float d = b.d.to_float(), dmin = b.dmin.to_float();
  for (int j = 0; j < 16; ++j) {
    const float dl = fp::mul(d, fp::from_int(b.scales[j] & 0xF));
    const float ml = fp::mul(dmin, fp::from_int(b.scales[j] >> 4));
    for (int i = 16 * j; i < 16 * j + 16; ++i) y[i] = fp::sub(fp::mul(dl, fp::from_int(q2k_quant(b, i))), ml);
  }
}

DSK_HD void dequantize_block(const block_q6_K& b, float* DSK_RESTRICT y) {
  const float d = b.d.to_float();
  for (int j = 0; j < 16; ++j) {
    const float ds = fp::mul(d, fp::from_int(b.scales[j]));
    for (int i = 16 * j; i < 16 * j + 16; ++i) y[i] = fp::mul(ds, fp::from_int(q6k_quant(b, i)));
  }
}

DSK_HD void dequantize_block(const block_iq2_xxs& b, float* DSK_RESTRICT y) {
  const float d = b.d.to_float();
  for (int g = 0; g < 8; ++g) {
    const uint32_t w0 = iq2xxs_word(b, g, 0), w1 = iq2xxs_word(b, g, 1);
    const float db = fp::mul(fp::mul(d, fp::add(0.5f, fp::from_int(static_cast<int32_t>(w1 >> 28)))), 0.25f);
    for (int l = 0; l < 4; ++l) {
      const int gi = static_cast<int>((w0 >> (8 * l)) & 0xFF);
      const uint8_t signs = ksigns_iq2xs(static_cast<int>((w1 >> (7 * l)) & 127));
      for (int j = 0; j < 8; ++j) {
        const float v = fp::mul(db, fp::from_int(iq2xxs_grid_value(gi, j)));
        y[32 * g + 8 * l + j] = fp::mul(v, (signs & kmask_iq2xs(j)) ? -1.0f : 1.0f);
      }
    }
  }
}

DSK_HD void dequantize_block(const block_f32& b, float* DSK_RESTRICT y) {
  for (int i = 0; i < kQKF; ++i) y[i] = b.v[i];
}
DSK_HD void dequantize_block(const block_f16& b, float* DSK_RESTRICT y) {
  for (int i = 0; i < kQKF; ++i) y[i] = b.v[i].to_float();
}
DSK_HD void dequantize_block(const block_bf16& b, float* DSK_RESTRICT y) {
  for (int i = 0; i < kQKF; ++i) y[i] = b.v[i].to_float();
}

}  // namespace dsk::quant
