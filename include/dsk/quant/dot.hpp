// dsk/quant/dot.hpp — block and row dot products of weights with activations, host and device
// from one source. THE NUMERICS CONTRACT of every GEMV/GEMM over these formats.
//
// A block dot product is an exact integer sum (any order: integers are exact; every bound below
// fits int32) followed by a fixed float formula; dw, dminw are the weight block's scales, da the
// activation block's, all widened exactly to float:
//   Q8_0 . Q8_0    isum = sum_i qw_i*qa_i
//                  r = (dw*da) * float(isum)
//                  |isum| <= 32*128*128 = 2^19
//   Q4_K . Q8_K    8 sub-blocks j of 32, 6-bit sc_j and m_j (q4k_scale_min), q in 0..15:
//                  isum = sum_j sc_j * (sum_{i in j} q_i*a_i)
//                  msum = sum_j m_j * (bsums[2j] + bsums[2j+1])
//                  r = (dw*da) * float(isum) - (dminw*da) * float(msum)
//                  |isum| <= 8*63*32*15*128 < 2^25;  |msum| <= 8*63*2*32768 < 2^25
//   Q2_K . Q8_K    16 sub-blocks of 16, sc_j = scales[j] & 15, m_j = scales[j] >> 4, q in 0..3:
//                  isum = sum_j sc_j * (sum_{i in j} q_i*a_i);  msum = sum_j m_j * bsums[j]
//                  r as for Q4_K
//                  |isum| <= 16*15*16*3*128 < 2^21;  |msum| <= 16*15*32768 < 2^23
//   Q6_K . Q8_K    16 sub-blocks of 16, int8 sc_j, q in -32..31:
//                  isum = sum_j sc_j * (sum_{i in j} q_i*a_i)
//                  r = (dw*da) * float(isum)
//                  |isum| <= 16*128*16*32*128 = 2^27
//   IQ2_XXS . Q8_K 8 groups g of 32, ls_g = top 4 bits of the group's second word:
//                  gsum_g = sum_{i in g} grid_i*sign_i*a_i;  isum = sum_g (2*ls_g + 1) * gsum_g
//                  r = ((dw*da) * float(isum)) * 0.125f
//                  |isum| <= 8*31*32*43*128 < 2^26
//   F32/F16/BF16 . F32   a dot block is 32 elements; acc = +0.0f;
//                  for i = 0..31: acc = fma(w_i, x_i, acc);  r = acc
// Products are fp::mul, the difference fp::sub, float(n) is fp::from_int (round to nearest even
// above 2^24). The bsums used are the ones stored in the Q8_K block (as ggml does); |a| <= 128
// covers every activation flavour (the SIMD ones can produce -128).
//
// Row level: a row of nb blocks is summed in the canonical row order dsk::order::row_sum
// (core/reduce.hpp) over the block results, for 1 row or NR rows. The NR-row forms decode each
// weight block once and give every row exactly the bits of the 1-row form.
// Activation block per weight block: act_block_t<W> (blocks.hpp): Q8_0 for Q8_0; Q8_K for
// Q4_K/Q6_K/Q2_K/IQ2_XXS; block_f32 for F32/F16/BF16.
#pragma once

#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/reduce.hpp"
#include "dsk/quant/blocks.hpp"
#include "dsk/quant/tables.hpp"

namespace dsk::quant {

// A weight block decoded to integers and float scales, once per block for any number of rows.
template <class W>
struct decoded;

template <>
struct decoded<block_q8_0> {
  float d;
  int8_t q[kQK8_0];
};
template <>
struct decoded<block_q4_K> {
  float d, dmin;
  int32_t sc[8], m[8];
  int8_t q[kQK_K];
};
template <>
struct decoded<block_q2_K> {
  float d, dmin;
  int32_t sc[16], m[16];
  int8_t q[kQK_K];
};
template <>
struct decoded<block_q6_K> {
  float d;
  int32_t sc[16];
  int8_t q[kQK_K];
};
template <>
struct decoded<block_iq2_xxs> {
  float d;
  int32_t ls[8];    // 2*ls + 1
  int8_t q[kQK_K];   // grid value times sign, -43..43
};
template <>
struct decoded<block_f32> {
  float w[kQKF];
};
template <>
struct decoded<block_f16> : decoded<block_f32> {};
template <>
struct decoded<block_bf16> : decoded<block_f32> {};

DSK_HD void decode(const block_q8_0& b, decoded<block_q8_0>& o) {
  o.d = b.d.to_float();
  for (int i = 0; i < kQK8_0; ++i) o.q[i] = b.qs[i];
}
DSK_HD void decode(const block_q4_K& b, decoded<block_q4_K>& o) {
  o.d = b.d.to_float();
  o.dmin = b.dmin.to_float();
  for (int j = 0; j < 8; ++j) q4k_scale_min(b.scales, j, o.sc[j], o.m[j]);
  for (int i = 0; i < kQK_K; ++i) o.q[i] = static_cast<int8_t>(q4k_quant(b, i));
}
DSK_HD void decode(const block_q2_K& b, decoded<block_q2_K>& o) {
  o.d = b.d.to_float();
  o.dmin = b.dmin.to_float();
  for (int j = 0; j < 16; ++j) {
    o.sc[j] = b.scales[j] & 0xF;
    o.m[j] = b.scales[j] >> 4;
  }
  for (int i = 0; i < kQK_K; ++i) o.q[i] = static_cast<int8_t>(q2k_quant(b, i));
}
DSK_HD void decode(const block_q6_K& b, decoded<block_q6_K>& o) {
  o.d = b.d.to_float();
  for (int j = 0; j < 16; ++j) o.sc[j] = b.scales[j];
  for (int i = 0; i < kQK_K; ++i) o.q[i] = static_cast<int8_t>(q6k_quant(b, i));
}
DSK_HD void decode(const block_iq2_xxs& b, decoded<block_iq2_xxs>& o) {
  o.d = b.d.to_float();
  for (int g = 0; g < 8; ++g) {
    const uint32_t w0 = iq2xxs_word(b, g, 0), w1 = iq2xxs_word(b, g, 1);
    o.ls[g] = 2 * static_cast<int32_t>(w1 >> 28) + 1;
    for (int l = 0; l < 4; ++l) {
      const int gi = static_cast<int>((w0 >> (8 * l)) & 0xFF);
      const uint8_t signs = ksigns_iq2xs(static_cast<int>((w1 >> (7 * l)) & 127));
      for (int j = 0; j < 8; ++j) {
        const int v = iq2xxs_grid_value(gi, j);
        o.q[32 * g + 8 * l + j] = static_cast<int8_t>((signs & kmask_iq2xs(j)) ? -v : v);
      }
    }
  }
}
DSK_HD void decode(const block_f32& b, decoded<block_f32>& o) {
  for (int i = 0; i < kQKF; ++i) o.w[i] = b.v[i];
}
DSK_HD void decode(const block_f16& b, decoded<block_f16>& o) {
  for (int i = 0; i < kQKF; ++i) o.w[i] = b.v[i].to_float();
}
DSK_HD void decode(const block_bf16& b, decoded<block_bf16>& o) {
  for (int i = 0; i < kQKF; ++i) o.w[i] = b.v[i].to_float();
}

namespace detail {
// sum_{i in [i0, i0+n)} q_i * a_i over int8 values, exact in int32.
DSK_HD int32_t isum8(const int8_t* q, const int8_t* a, int i0, int n) {
  int32_t s = 0;
  for (int i = i0; i < i0 + n; ++i) s += static_cast<int32_t>(q[i]) * static_cast<int32_t>(a[i]);
  return s;
}
}  // namespace detail

DSK_HD float dot_decoded(const decoded<block_q8_0>& w, const block_q8_0& a) {
  const int32_t isum = detail::isum8(w.q, a.qs, 0, kQK8_0);
  return fp::mul(fp::mul(w.d, a.d.to_float()), fp::from_int(isum));
}

DSK_HD float dot_decoded(const decoded<block_q4_K>& w, const block_q8_K& a) {
  int32_t isum = 0, msum = 0;
  for (int j = 0; j < 8; ++j) {
    isum += w.sc[j] * detail::isum8(w.q, a.qs, 32 * j, 32);
    msum += w.m[j] * (static_cast<int32_t>(a.bsums[2 * j]) + a.bsums[2 * j + 1]);
  }
  const float dd = fp::mul(w.d, a.d), dm = fp::mul(w.dmin, a.d);
  return fp::sub(fp::mul(dd, fp::from_int(isum)), fp::mul(dm, fp::from_int(msum)));
}

DSK_HD float dot_decoded(const decoded<block_q2_K>& w, const block_q8_K& a) {
  int32_t isum = 0, msum = 0;
  for (int j = 0; j < 16; ++j) {
    isum += w.sc[j] * detail::isum8(w.q, a.qs, 16 * j, 16);
    msum += w.m[j] * static_cast<int32_t>(a.bsums[j]);
  }
  const float dd = fp::mul(w.d, a.d), dm = fp::mul(w.dmin, a.d);
  return fp::sub(fp::mul(dd, fp::from_int(isum)), fp::mul(dm, fp::from_int(msum)));
}

DSK_HD float dot_decoded(const decoded<block_q6_K>& w, const block_q8_K& a) {
  int32_t isum = 0;
  for (int j = 0; j < 16; ++j) isum += w.sc[j] * detail::isum8(w.q, a.qs, 16 * j, 16);
  return fp::mul(fp::mul(w.d, a.d), fp::from_int(isum));
}

DSK_HD float dot_decoded(const decoded<block_iq2_xxs>& w, const block_q8_K& a) {
  int32_t isum = 0;
  for (int g = 0; g < 8; ++g) isum += w.ls[g] * detail::isum8(w.q, a.qs, 32 * g, 32);
  return fp::mul(fp::mul(fp::mul(w.d, a.d), fp::from_int(isum)), 0.125f);
}

DSK_HD float dot_decoded(const decoded<block_f32>& w, const block_f32& a) {
  float acc = 0.0f;
  for (int i = 0; i < kQKF; ++i) acc = fp::fma(w.w[i], a.v[i], acc);
  return acc;
}

// --- Block level ---------------------------------------------------------------------------------

// One weight block with one activation block.
template <class W>
DSK_HD float dot_block(const W& w, const act_block_t<W>& a) {
  decoded<W> dw;
  decode(w, dw);
  return dot_decoded(dw, a);
}

// One weight block with NR activation rows: row r's block is a[r * a_stride] (a_stride in
// blocks). r[k] has the bits of dot_block(w, a[k * a_stride]).
template <int NR, class W>
DSK_HD void dot_block_multi(const W& w, const act_block_t<W>* a, int64_t a_stride, float (&r)[NR]) {
  static_assert(NR >= 1 && NR <= 8, "NR: 1..8 rows");
  decoded<W> dw;
  decode(w, dw);
  for (int k = 0; k < NR; ++k) r[k] = dot_decoded(dw, a[k * a_stride]);
}

// --- Row level -----------------------------------------------------------------------------------

// A row of nb weight blocks with a row of nb activation blocks, in the canonical row order.
template <class W>
DSK_HD float dot_row(const W* w, const act_block_t<W>* a, int nb) {
  return order::row_sum(nb, [&](int b) { return dot_block(w[b], a[b]); });
}

// A row of nb weight blocks with NR activation rows (row k starts at a + k * a_stride, in
// blocks), decoding each weight block once; r[k] has the bits of dot_row(w, a + k*a_stride, nb).
// The chunks and tree are those of order::row_sum.
template <int NR, class W>
DSK_HD void dot_row_multi(const W* w, const act_block_t<W>* a, int64_t a_stride, int nb, float (&r)[NR]) {
  static_assert(NR >= 1 && NR <= 8, "NR: 1..8 rows");
  const int L = order::row_chunk_len(nb);
  float slot[NR][order::kSlots];
  decoded<W> dw;
  for (int c = 0; c < order::kSlots; ++c) {
    float acc[NR];
    for (int k = 0; k < NR; ++k) acc[k] = 0.0f;
    const int b1 = (c + 1) * L < nb ? (c + 1) * L : nb;
    for (int b = c * L; b < b1; ++b) {
      decode(w[b], dw);
      for (int k = 0; k < NR; ++k) acc[k] = fp::add(acc[k], dot_decoded(dw, a[k * a_stride + b]));
    }
    for (int k = 0; k < NR; ++k) slot[k][c] = acc[k];
  }
  for (int k = 0; k < NR; ++k) r[k] = order::tree32(slot[k]);
}

}  // namespace dsk::quant
