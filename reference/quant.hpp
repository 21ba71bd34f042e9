// reference/quant.hpp — host row-level quantization, dequantization and dot products dispatched
// on the ggml type id, over the per-block functions of include/dsk/quant/ (the same code the
// kernels compile).
//
// Errors: every function throws std::invalid_argument for an unsupported type or a K that is not a
// multiple of the type's block size (see block_elems), and checks nothing else (pointers must hold
// a full row). Rows are K elements; their byte size is row_bytes(type, K).
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsk/quant/quantize.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::ref {

using quant::Q8Flavor;

// Elements a row's length must be a multiple of: the ggml block for quantize_row/dequantize_row
// (1 for F32/F16/BF16), and for dot_row/gemv the dot block (32 for F32/F16/BF16).
int64_t block_elems(GgmlType t);
int64_t dot_block_elems(GgmlType weight_type);
size_t row_bytes(GgmlType t, int64_t K);

// Types quantize_row/dequantize_row handle: F32, F16, BF16, Q8_0, Q8_K, Q4_K, Q6_K, Q2_K (and
// IQ2_XXS for dequantize_row only). `flavor` selects the activation quantizer for Q8_0 / Q8_K
// (quantize.hpp) and is ignored for the other types.
void quantize_row(GgmlType t, const float* x, void* y, int64_t K, Q8Flavor flavor = Q8Flavor::ggml_ref);
void dequantize_row(GgmlType t, const void* x, float* y, int64_t K);

// The activation type a weight type is dotted with: Q8_0 for Q8_0; Q8_K for Q4_K, Q6_K, Q2_K,
// IQ2_XXS; F32 for F32, F16, BF16.
GgmlType activation_type(GgmlType weight_type);

// Dot of one weight row with one activation row (already in activation_type(weight_type)), in
// the canonical row order.
float dot_row(GgmlType weight_type, const void* w_row, const void* act_row, int64_t K);

// y[m] = dot_row(w row m, act_row) for m < M; weight rows are w_row_stride bytes apart (0: packed,
// row_bytes(weight_type, K)).
void gemv(GgmlType weight_type, const void* w, int64_t M, const void* act_row, int64_t K, float* y,
          size_t w_row_stride = 0);

}  // namespace dsk::ref
