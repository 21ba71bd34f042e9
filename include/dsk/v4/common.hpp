// dsk/v4/common.hpp — pieces shared by the DeepSeek-V4 families (hc, attention, compressor,
// indexer): the F32 row dot product in dsk's canonical order and exact widening of F32 / F16 / BF16
// rows.
//
// NUMERICS
//  dot_f32(a, b, n): the F32 . F32 row dot of dsk/quant/dot.hpp for any n: blocks of 32 elements
//    (the last one may be partial), each acc = +0.0f; acc = fp::fma(a_i, b_i, acc) for i ascending;
//    the ceil(n/32) block results summed by order::row_sum. A partial last block equals zero padding
//    to a multiple of 32 (fma(0, 0, acc) = acc: acc is never -0, it starts at +0 and an exact zero
//    sum rounds to +0), so for n % 32 == 0 this is bit for bit ref::dot_row(F32, ...).
//  load(type, row, i): element i of an F32, F16 or BF16 row, widened exactly to float.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/half.hpp"
#include "dsk/core/reduce.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::v4 {

inline constexpr int kDotBlock = 32;  // elements per fma block of a row dot

// Row dot of n elements given by accessors a(i), b(i) (each returning float), canonical order.
template <class A, class B>
DSK_HD float dot_f32_at(int64_t n, A&& a, B&& b) {
  const int nb = static_cast<int>((n + kDotBlock - 1) / kDotBlock);
  return order::row_sum(nb, [&](int blk) {
    const int64_t i0 = static_cast<int64_t>(blk) * kDotBlock;
    const int64_t i1 = i0 + kDotBlock < n ? i0 + kDotBlock : n;
    float acc = 0.0f;
    for (int64_t i = i0; i < i1; ++i) acc = fp::fma(a(i), b(i), acc);
    return acc;
  });
}

DSK_HD float dot_f32(const float* a, const float* b, int64_t n) {
  return dot_f32_at(n, [&](int64_t i) { return a[i]; }, [&](int64_t i) { return b[i]; });
}

// The row types V4's small projections and caches use (exact widening to float).
DSK_HD bool row_type_ok(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }
DSK_HD int row_type_size(GgmlType t) { return t == GgmlType::F32 ? 4 : 2; }

DSK_HD float load(GgmlType t, const void* row, int64_t i) {
  if (t == GgmlType::F16) return f16_bits_to_f32(static_cast<const uint16_t*>(row)[i]);
  if (t == GgmlType::BF16) return bf16_bits_to_f32(static_cast<const uint16_t*>(row)[i]);
  return static_cast<const float*>(row)[i];
}

// A store of KV rows, each of a family's row length, widened exactly.
struct KvRows {
  GgmlType type = GgmlType::F32;  // F32, F16, BF16
  const void* data = nullptr;
  size_t row_bytes = 0;           // 0: packed
  int64_t n_rows = 0;             // valid indices are 0 .. n_rows-1
};

DSK_HD float neg_inf() { return fp::from_bits(0xff800000u); }

}  // namespace dsk::v4
