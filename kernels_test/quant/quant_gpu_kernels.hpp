// Device side of test_quant_gpu: plain host functions that run the per-block functions of
// include/dsk/quant/ on the GPU, one thread per block (or row), over host arrays (copied in and
// out; outputs poisoned on the device before each launch). Implemented in quant_gpu_kernels.cu so
// the Catch2 test is ordinary C++. Throw std::runtime_error on CUDA errors or an unsupported
// type / NR.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsk/quant/quantize.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::test::gpu_quant {

// Types: Q8_0, Q8_K, Q4_K, Q6_K, Q2_K, IQ2_XXS, and F32/F16/BF16 as 32-element dot blocks.
// out: nblocks * elements floats.
void dequantize(GgmlType t, const void* blocks, size_t nblocks, float* out);
void dequantize_q8_2(const void* blocks, size_t nblocks, float* out);

// x: nblocks * elements floats -> nblocks blocks of t. Types: Q8_0, Q8_K (with the flavour),
// Q4_K, Q6_K, Q2_K, F32/F16/BF16 dot blocks.
void quantize(GgmlType t, const float* x, size_t nblocks, quant::Q8Flavor flavor, void* out);
void quantize_q8_2(const float* x, size_t nblocks, void* out);

// out[b] = dot_block(w[b], a[b]); weight type wt, activations of act_block_t.
void dot_blocks(GgmlType wt, const void* w, const void* a, size_t nblocks, float* out);
// out[b * nr + k] = row k of dot_block_multi<nr>(w[b], a + b, a_stride): activation row k of
// block b is a[b + k * a_stride] (a holds nr * a_stride blocks, a_stride >= nblocks).
void dot_blocks_multi(GgmlType wt, int nr, const void* w, const void* a, size_t nblocks, int64_t a_stride,
                      float* out);
// One thread per row: out[r] = dot_row(w + r*nb, a + r*nb, nb) for r < rows.
void dot_rows(GgmlType wt, const void* w, const void* a, int rows, int nb, float* out);
// One thread per weight row: out[r * nr + k] = dot_row_multi<nr>(w + r*nb, a, a_stride, nb)[k]:
// every weight row against the same nr activation rows a + k * a_stride.
void dot_rows_multi(GgmlType wt, int nr, const void* w, const void* a, int rows, int nb, int64_t a_stride,
                    float* out);

// Whether the multi-row kernels for nr were compiled (DSK_INSTANCES=ci: 1, 4, 8 only).
bool nr_compiled(int nr);

}  // namespace dsk::test::gpu_quant
