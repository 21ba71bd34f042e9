// dsk/core/reduce.hpp — the canonical summation orders of dsk, and host functions that reproduce
// the device ones bit for bit.
//
// 1. tree32: 32 values (slots) are combined by a balanced binary tree, neighbours first:
//      level 1: s0+s1, s2+s3, ...   level 2: (s0+s1)+(s2+s3), ...   five levels.
//    On the device it is the xor-butterfly over a warp with lane offsets 1, 2, 4, 8, 16; lane i
//    adds its partner (IEEE addition is commutative, so every lane ends with the same bits).
//    A missing slot holds +0.0f.
//
// 2. Row accumulation (every dot product along K: GEMV for 1..N tokens, prefill GEMM, attention
//    dot products): the nb block results r_0..r_{nb-1} of a row (each from a block dot product of
//    dsk/quant/dot.hpp) are split into 32 contiguous chunks of L = ceil(nb / 32) blocks; chunk c
//    holds blocks [c*L, min(nb, (c+1)*L)) and is summed sequentially from +0.0f in increasing block
//    order; the 32 chunk sums are combined by tree32. The order depends on nb only: never on the
//    number of tokens, the launch shape, the GPU or the number of GPUs. A GEMV lane (or warp) owns a
//    chunk; a GEMM that streams K in order keeps one running chunk sum plus a five-entry stack of
//    completed subtrees (binary-counter merge), which yields the same tree; a K split over 2, 4, ...
//    devices computes whole subtrees and merges them in tree order.
//
// 3. Vector (block) reductions over n values with a kernel of NT threads (NT a compile-time
//    constant of that kernel, a multiple of 32 up to 1024): thread t sums elements t, t+NT, t+2NT, ...
//    sequentially from +0.0f; each warp combines its 32 lanes by tree32; the NT/32 warp sums fill
//    slots 0..NT/32-1 of a second tree32 (the rest +0.0f). NT is part of the kernel's contract and
//    does not depend on the batch.
#pragma once

#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"

namespace dsk::order {

inline constexpr int kSlots = 32;

// Host or device, one thread: combine 32 slot values by the canonical tree.
DSK_HD float tree32(const float (&v)[kSlots]) {
  float t[kSlots];
  for (int i = 0; i < kSlots; ++i) t[i] = v[i];
  for (int w = 1; w < kSlots; w <<= 1)
    for (int i = 0; i < kSlots; i += 2 * w) t[i] = fp::add(t[i], t[i + w]);
  return t[0];
}

// Chunk length of the row accumulation for nb blocks.
DSK_HD constexpr int row_chunk_len(int nb) { return (nb + kSlots - 1) / kSlots; }

// Host or device, one thread: the canonical row sum of nb block results, block(b) -> float.
template <class BlockResult>
DSK_HD float row_sum(int nb, BlockResult&& block) {
  const int L = row_chunk_len(nb);
  float slot[kSlots];
  for (int c = 0; c < kSlots; ++c) {
    float acc = 0.0f;
    const int b0 = c * L;
    const int b1 = (c + 1) * L < nb ? (c + 1) * L : nb;
    for (int b = b0; b < b1; ++b) acc = fp::add(acc, block(b));
    slot[c] = acc;
  }
  return tree32(slot);
}

// Host or device, one thread: the canonical vector sum of n values for a kernel of NT threads.
template <int NT, class Value>
DSK_HD float vector_sum(int64_t n, Value&& value) {
  static_assert(NT % kSlots == 0 && NT >= kSlots && NT <= 1024, "NT: a multiple of 32 up to 1024");
  constexpr int kWarps = NT / kSlots;
  float warp_sum[kSlots];
  for (int w = 0; w < kSlots; ++w) warp_sum[w] = 0.0f;
  for (int w = 0; w < kWarps; ++w) {
    float lane[kSlots];
    for (int l = 0; l < kSlots; ++l) {
      float acc = 0.0f;
      for (int64_t i = w * kSlots + l; i < n; i += NT) acc = fp::add(acc, value(i));
      lane[l] = acc;
    }
    warp_sum[w] = tree32(lane);
  }
  return tree32(warp_sum);
}

#if defined(__CUDACC__)
// Device, whole warp (all 32 lanes active): tree32 over the lanes; every lane gets the result.
__device__ __forceinline__ float warp_tree32(float v) {
#pragma unroll
  for (int w = 1; w < kSlots; w <<= 1) v = fp::add(v, __shfl_xor_sync(0xffffffffu, v, w));
  return v;
}

// Device, whole block of NT threads: the vector-sum order given each thread's sequential partial.
// `scratch` is shared memory of at least 32 floats. Every thread gets the result. Contains
// __syncthreads(); call from all threads.
template <int NT>
__device__ __forceinline__ float block_tree_sum(float partial, float* scratch) {
  static_assert(NT % kSlots == 0 && NT >= kSlots && NT <= 1024, "NT: a multiple of 32 up to 1024");
  const float ws = warp_tree32(partial);
  const int lane = threadIdx.x % kSlots, warp = threadIdx.x / kSlots;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = ws;
  __syncthreads();
  const float v = lane < NT / kSlots ? scratch[lane] : 0.0f;
  return warp_tree32(v);
}
#endif

}  // namespace dsk::order
