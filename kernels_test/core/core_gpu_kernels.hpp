// Device side of test_core_gpu: plain host functions that run the dsk/core functions on the GPU
// (implemented in core_gpu_kernels.cu, so the Catch2 test itself is ordinary C++).
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsk::test::gpu {

// out[f * n + i] = math function f (MathFn order) of the float with bits start + i * stride.
void math_eval(uint64_t start, uint64_t stride, size_t n, float* out);
// out[i] = conversion of the float with bits start + i (f16 / bf16 patterns).
void f32_to_f16(uint64_t start, size_t n, uint16_t* out);
void f32_to_bf16(uint64_t start, size_t n, uint16_t* out);
// out[i] = widening of pattern i, i < 65536.
void f16_to_f32_all(float* out);
void bf16_to_f32_all(float* out);
// out[i] = round_half_away of the float with bits start + i * stride.
void round_half_away(uint64_t start, uint64_t stride, size_t n, float* out);
// One warp per set of 32 values: out[32 * s + lane] = warp_tree32 as seen by each lane.
void warp_tree32(const float* in, size_t sets, float* out);
// One block of nt threads per vector of n values (nt in 32, 128, 256, 1024):
// out[s * nt + t] = block_tree_sum as seen by thread t.
void block_sum(int nt, const float* x, int64_t n, size_t sets, float* out);
// One thread per row: out[s] = order::row_sum over r[s * stride .. + nb[s]).
void row_sum(const float* r, size_t stride, const int* nb, size_t rows, float* out);

}  // namespace dsk::test::gpu
