// dsk/quant/blocks.hpp — the block layouts of the ggml quant formats dsk computes with, byte for
// byte as ggml stores them (ggml-common.h), so GGUF tensor data is used in place.
//
// All structs are plain, trivially copyable and have no padding: the same bytes on host and
// device. Their alignment is that of their widest member (2 or 4), which GGUF row strides keep.
// Float types (F32, F16, BF16) have a block of one element in ggml's table; dsk's dot products
// take them in "dot blocks" of 32 elements (block_f32/block_f16/block_bf16 below), a view only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/half.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::quant {

// (Named kQK*, not ggml's QK8_0 / QK_K, which ggml-common.h defines as macros.)
inline constexpr int kQK8_0 = 32;  // elements per Q8_0 block
inline constexpr int kQK_K = 256;  // elements per k-quant / i-quant super-block
inline constexpr int kQKF = 32;    // elements per dsk dot block of a float type

// Q8_0: y = d * q.  Weights and activations.
struct block_q8_0 {
  f16 d;
  int8_t qs[kQK8_0];
};

// Q8_K: y = d * q; bsums[j] = sum of qs[16j .. 16j+15].  Activations for k/i-quants (never stored
// in files). d is a float32.
struct block_q8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

// Q4_K: 8 sub-blocks of 32; 6-bit scale sc_j and min m_j packed in `scales` (see
// q4k_scale_min); y = d*sc_j * q - dmin*m_j with q in 0..15. qs[32c + l]: low nibble is element
// 64c + l, high nibble element 64c + 32 + l.
struct block_q4_K {
  f16 d;
  f16 dmin;
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};

// Q6_K: 16 sub-blocks of 16 with int8 scales; q = (4 bits of ql | 2 bits of qh << 4) - 32;
// y = d*sc_j * q (layout in q6k_quant).
struct block_q6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  f16 d;
};

// Q2_K: 16 sub-blocks of 16; scales[j] = sc_j | m_j << 4 (4 bits each); q in 0..3;
// y = d*sc_j * q - dmin*m_j (layout in q2k_quant).
struct block_q2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  f16 d;
  f16 dmin;
};

// IQ2_XXS: 8 groups of 32; group g is qs[4g .. 4g+3] read as two little-endian 32-bit words
// w0 = qs[4g] | qs[4g+1] << 16 (four 8-bit grid indices, one per 8 elements) and
// w1 = qs[4g+2] | qs[4g+3] << 16 (four 7-bit sign indices in bits 0..27, 4-bit scale in 28..31).
struct block_iq2_xxs {
  f16 d;
  uint16_t qs[kQK_K / 8];
};

// Q8_2 of ik_llama.cpp (not a ggml type; for the ik x86 activation flavour, docs/quant.md):
// d is a bfloat16, s = sum of the 32 quants as int16 (wrapping), y = d * q.
struct block_q8_2 {
  bf16 d;
  int16_t s;
  int8_t qs[kQK8_0];
};

// Dot blocks of the float types (32 elements).
struct block_f32 {
  float v[kQKF];
};
struct block_f16 {
  f16 v[kQKF];
};
struct block_bf16 {
  bf16 v[kQKF];
};

static_assert(sizeof(block_q8_0) == 34, "block_q8_0: 34 bytes");
static_assert(sizeof(block_q8_K) == 292, "block_q8_K: 292 bytes");
static_assert(sizeof(block_q4_K) == 144, "block_q4_K: 144 bytes");
static_assert(sizeof(block_q6_K) == 210, "block_q6_K: 210 bytes");
static_assert(sizeof(block_q2_K) == 84, "block_q2_K: 84 bytes");
static_assert(sizeof(block_iq2_xxs) == 66, "block_iq2_xxs: 66 bytes");
static_assert(sizeof(block_q8_2) == 36, "block_q8_2: 36 bytes");
static_assert(sizeof(block_f32) == 128 && sizeof(block_f16) == 64 && sizeof(block_bf16) == 64,
              "float dot blocks");

// Static facts per block type: its ggml type, elements and the activation block it is dotted with.
template <class B>
struct block_traits;
#define DSK_QUANT_TRAITS(B, T, N, A)                      \
  template <>                                             \
  struct block_traits<B> {                                \
    static constexpr GgmlType type = GgmlType::T;         \
    static constexpr int elems = N;                       \
    using act = A;                                        \
  };
DSK_QUANT_TRAITS(block_q8_0, Q8_0, kQK8_0, block_q8_0)
DSK_QUANT_TRAITS(block_q4_K, Q4_K, kQK_K, block_q8_K)
DSK_QUANT_TRAITS(block_q6_K, Q6_K, kQK_K, block_q8_K)
DSK_QUANT_TRAITS(block_q2_K, Q2_K, kQK_K, block_q8_K)
DSK_QUANT_TRAITS(block_iq2_xxs, IQ2_XXS, kQK_K, block_q8_K)
DSK_QUANT_TRAITS(block_f32, F32, kQKF, block_f32)
DSK_QUANT_TRAITS(block_f16, F16, kQKF, block_f32)
DSK_QUANT_TRAITS(block_bf16, BF16, kQKF, block_f32)
DSK_QUANT_TRAITS(block_q8_K, Q8_K, kQK_K, void)  // activation only
#undef DSK_QUANT_TRAITS

template <class W>
using act_block_t = typename block_traits<W>::act;

// Every byte of a stored block: the ggml table and these structs agree.
static_assert(ggml_type_info(GgmlType::Q8_0).block_bytes == sizeof(block_q8_0));
static_assert(ggml_type_info(GgmlType::Q8_K).block_bytes == sizeof(block_q8_K));
static_assert(ggml_type_info(GgmlType::Q4_K).block_bytes == sizeof(block_q4_K));
static_assert(ggml_type_info(GgmlType::Q6_K).block_bytes == sizeof(block_q6_K));
static_assert(ggml_type_info(GgmlType::Q2_K).block_bytes == sizeof(block_q2_K));
static_assert(ggml_type_info(GgmlType::IQ2_XXS).block_bytes == sizeof(block_iq2_xxs));


// --- Layout accessors (ggml's element order), one source for host and device -------------------

// Q4_K: the 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes: bytes 0..3 hold
// sc_0..3 (low 6 bits) and the top 2 bits of sc_4..7; bytes 4..7 the same for the mins; bytes
// 8..11 the low 4 bits of sc_4..7 (low nibble) and m_4..7 (high nibble).
DSK_HD void q4k_scale_min(const uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}
// Q4_K quant of element e (0..255), 0..15.
DSK_HD int q4k_quant(const block_q4_K& b, int e) {
  const uint8_t v = b.qs[(e / 64) * 32 + e % 32];
  return (e % 64) < 32 ? (v & 0xF) : (v >> 4);
}
// Q6_K quant of element e, -32..31: in each half h of 128, quarter k = (e%128)/32 and l = e%32
// take 4 bits from ql[64h + 32(k&1) + l] (low nibble for k < 2) and 2 bits from qh[32h + l] at 2k.
DSK_HD int q6k_quant(const block_q6_K& b, int e) {
  const int h = e / 128, k = (e % 128) / 32, l = e % 32;
  const uint8_t lo = b.ql[64 * h + 32 * (k & 1) + l];
  const int q4 = k < 2 ? (lo & 0xF) : (lo >> 4);
  const int q2 = (b.qh[32 * h + l] >> (2 * k)) & 3;
  return (q4 | (q2 << 4)) - 32;
}
// Q2_K quant of element e, 0..3: in each half h of 128, quarter k = (e%128)/32, byte qs[32h + l]
// with l = e%32, bits 2k..2k+1.
DSK_HD int q2k_quant(const block_q2_K& b, int e) {
  return (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}
// IQ2_XXS: word k (0 = grid indices, 1 = signs and scale) of group g.
DSK_HD uint32_t iq2xxs_word(const block_iq2_xxs& b, int g, int k) {
  return static_cast<uint32_t>(b.qs[4 * g + 2 * k]) | (static_cast<uint32_t>(b.qs[4 * g + 2 * k + 1]) << 16);
}

}  // namespace dsk::quant
