// dsk/gemv/quantize_act.hpp — activation quantization on the GPU: N float rows of K elements into
// Q8_0 or Q8_K rows (the activation types of the GEMV), byte for byte as dsk::ref::quantize_row.
//
// NUMERICS: every block is quant::quantize_block(x, block, flavor) of dsk/quant/quantize.hpp, the
// same function the reference calls (one thread per block, on a shared-memory copy of the block), so the bytes are the reference's for
// every input and flavour, non-finite blocks included (d = NaN, quants 0).
//
// Requirements: type Q8_0 or Q8_K (kUnsupported otherwise); K a multiple of 32 / 256; N >= 1;
// x 4-byte aligned; y 2-byte (Q8_0) / 4-byte (Q8_K) aligned. Never allocates or synchronizes;
// capturable in a CUDA graph.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "dsk/core/config.hpp"
#include "dsk/core/status.hpp"
#include "dsk/quant/blocks.hpp"
#include "dsk/quant/quantize.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::gemv {

struct QuantizeParams {
  GgmlType type = GgmlType::Q8_K;  // Q8_0 or Q8_K
  const float* x = nullptr;        // N rows of K floats
  int64_t x_stride = 0;            // elements between input rows (0: K)
  void* y = nullptr;               // N rows of K / block blocks
  size_t y_stride = 0;             // bytes between output rows (0: packed)
  int64_t K = 0;
  int N = 1;
  quant::Q8Flavor flavor = quant::Q8Flavor::ggml_ref;
};

#if defined(__CUDACC__)

namespace detail {

inline constexpr int kQuantThreads = 128;
template <class B>
inline constexpr int kQuantBlocksPerCta = std::is_same_v<B, quant::block_q8_0> ? 32 : 4;

// A CTA stages kQuantBlocksPerCta blocks of floats in shared memory with coalesced loads (the serial
// per-block quantizer then reads shared memory, not global), and one thread per block runs
// quant::quantize_block.
template <class B>
__global__ void __launch_bounds__(kQuantThreads) quantize_act_kernel(const float* x, int64_t x_stride, uint8_t* y,
                                                                     size_t y_stride, int nb, int N,
                                                                     quant::Q8Flavor flavor) {
  constexpr int E = quant::block_traits<B>::elems, BPC = kQuantBlocksPerCta<B>;
  __shared__ float xs[BPC * E];
  const int64_t first = static_cast<int64_t>(blockIdx.x) * BPC, total = static_cast<int64_t>(nb) * N;
  for (int i = threadIdx.x; i < BPC * E; i += kQuantThreads) {
    const int64_t g = first + i / E;
    if (g >= total) break;
    const int t = static_cast<int>(g / nb), b = static_cast<int>(g - static_cast<int64_t>(t) * nb);
    xs[i] = x[t * x_stride + static_cast<int64_t>(b) * E + i % E];
  }
  __shared__ __align__(16) B outs[BPC];
  __syncthreads();
  const int64_t g = first + threadIdx.x;
  if (threadIdx.x < BPC && g < total) quant::quantize_block(xs + threadIdx.x * E, outs[threadIdx.x], flavor);
  __syncthreads();
  // Copy out in 2-byte units (blocks are 2-byte aligned: Q8_0 34 bytes, Q8_K 292).
  constexpr int H = sizeof(B) / 2;
  const uint16_t* src = reinterpret_cast<const uint16_t*>(outs);
  for (int i = threadIdx.x; i < BPC * H; i += kQuantThreads) {
    const int64_t gb = first + i / H;
    if (gb >= total) break;
    const int t = static_cast<int>(gb / nb), b = static_cast<int>(gb - static_cast<int64_t>(t) * nb);
    reinterpret_cast<uint16_t*>(y + t * y_stride + static_cast<size_t>(b) * sizeof(B))[i % H] = src[i];
  }
}

}  // namespace detail

inline Status quantize_act(const QuantizeParams& p, cudaStream_t stream) {
  const bool q80 = p.type == GgmlType::Q8_0;
  if (!q80 && p.type != GgmlType::Q8_K) return Status::Unsupported("quantize_act: type must be Q8_0 or Q8_K");
  const int elems = q80 ? quant::kQK8_0 : quant::kQK_K;
  const size_t bbytes = q80 ? sizeof(quant::block_q8_0) : sizeof(quant::block_q8_K);
  if (p.K < 0 || p.N < 0) return Status::Invalid("quantize_act: negative K or N");
  if (p.K % elems != 0) return Status::Unsupported("quantize_act: K is not a multiple of the block");
  const int64_t nb = p.K / elems;
  if (nb == 0 || p.N == 0) return Status::Ok();
  if (nb * p.N > (int64_t{1} << 30)) return Status::Unsupported("quantize_act: too large");
  if (!p.x || !p.y) return Status::Invalid("quantize_act: null pointer");
  const int64_t xs = p.x_stride ? p.x_stride : p.K;
  const size_t ys = p.y_stride ? p.y_stride : static_cast<size_t>(nb) * bbytes;
  const size_t yalign = q80 ? 2 : 4;
  if (xs < p.K || reinterpret_cast<uintptr_t>(p.x) % 4 || reinterpret_cast<uintptr_t>(p.y) % yalign || ys % yalign ||
      ys < static_cast<size_t>(nb) * bbytes)
    return Status::Invalid("quantize_act: bad stride or alignment");
  const int threads = detail::kQuantThreads;
  const int64_t total = nb * p.N;
  uint8_t* y = static_cast<uint8_t*>(p.y);
  if (q80) {
    constexpr int bpc = detail::kQuantBlocksPerCta<quant::block_q8_0>;
    detail::quantize_act_kernel<quant::block_q8_0><<<static_cast<unsigned>((total + bpc - 1) / bpc), threads, 0, stream>>>(
        p.x, xs, y, ys, static_cast<int>(nb), p.N, p.flavor);
  } else {
    constexpr int bpc = detail::kQuantBlocksPerCta<quant::block_q8_K>;
    detail::quantize_act_kernel<quant::block_q8_K><<<static_cast<unsigned>((total + bpc - 1) / bpc), threads, 0, stream>>>(
        p.x, xs, y, ys, static_cast<int>(nb), p.N, p.flavor);
  }
  DSK_RETURN_IF_LAUNCH_FAILED("quantize_act_kernel");
  return Status::Ok();
}

#endif  // __CUDACC__

}  // namespace dsk::gemv
