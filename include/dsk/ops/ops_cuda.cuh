// dsk/ops/ops_cuda.cuh — CUDA kernels and launchers of the ops family (dsk/ops/ops.hpp):
// embedding gather, SwiGLU (plain / clamped), row softmax, row argmax. Convention as
// dsk/norm/norm_cuda.cuh: `dsk::ops::launch(const XParams&, cudaStream_t) -> Status`, validating,
// never allocating or synchronizing, graph-capturable.
//
// Kernels:
//   embed    one thread per quant block of the row (float types: per element), the block's
//            dequantize_block (dsk/quant/dequant.hpp); ids outside [0, n_vocab) give NaN rows.
//            The table and row_bytes must be aligned to the block struct (2 bytes; F32: 4):
//            otherwise Unsupported.
//   swiglu   element-wise, ops::swiglu / ops::swiglu_clamped.
//   softmax  one block of kSoftmaxNT = 256 threads per row (loops unrolled, loads first): max by fp::max_num (the order does not
//            matter: it can only change the sign of a zero max, and x - (+0) == x - (-0) up to the
//            sign of a zero, whose exp is 1 either way), any-NaN by __syncthreads_or, thread t sums
//            exp(x_i - m) for i = t, t+256, ... then order::block_tree_sum<256> (= vector_sum<256>),
//            y_i = exp(x_i - m) / S. Every thread touches only its own elements: y may alias x.
//   argmax   one block of 1024 threads per row, 16-byte loads, 16 running bests per thread; key_before
//            is a strict total order, so the block's reduction tree gives the reference's answer.
#pragma once

#include "dsk/ops/ops.hpp"
#include "dsk/quant/blocks.hpp"
#include "dsk/quant/dequant.hpp"

#if defined(__CUDACC__)
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

namespace dsk::ops {

namespace cuda_detail {

inline int64_t stride_or(int64_t s, int64_t n) { return s ? s : n; }
inline unsigned capped_grid(int64_t blocks) { return static_cast<unsigned>(blocks < 262144 ? blocks : 262144); }

constexpr int kElemThreads = 256;
constexpr int kArgmaxNT = 1024;  // any count gives the same answer (strict total order)

// --- embed ----------------------------------------------------------------------------------------

// Quant types: thread per block of the row. B: the block struct.
template <class B>
__global__ void __launch_bounds__(kElemThreads) embed_blocks_kernel(const char* __restrict__ table, size_t rb,
                                                                    int64_t n_vocab, const int32_t* __restrict__ ids,
                                                                    int64_t T, int64_t nb, float* __restrict__ y,
                                                                    int64_t ys) {
  constexpr int E = quant::block_traits<B>::elems;
  const int64_t total = T * nb;
  for (int64_t idx = blockIdx.x * int64_t{kElemThreads} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * kElemThreads) {
    const int64_t t = idx / nb, b = idx - t * nb;
    float* out = y + t * ys + b * E;
    const int32_t id = ids[t];
    if (id < 0 || id >= n_vocab) {
      for (int i = 0; i < E; ++i) out[i] = fp::canonical_nan();
      continue;
    }
    const B* blk = reinterpret_cast<const B*>(table + static_cast<size_t>(id) * rb) + b;
    quant::dequantize_block(*blk, out);
  }
}

// Float types: thread per element. S: float, f16 or bf16.
template <class S>
__global__ void __launch_bounds__(kElemThreads) embed_float_kernel(const char* __restrict__ table, size_t rb,
                                                                   int64_t n_vocab, const int32_t* __restrict__ ids,
                                                                   int64_t T, int64_t n, float* __restrict__ y,
                                                                   int64_t ys) {
  const int64_t total = T * n;
  for (int64_t idx = blockIdx.x * int64_t{kElemThreads} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * kElemThreads) {
    const int64_t t = idx / n, i = idx - t * n;
    const int32_t id = ids[t];
    float v;
    if (id < 0 || id >= n_vocab) {
      v = fp::canonical_nan();
    } else {
      const S* row = reinterpret_cast<const S*>(table + static_cast<size_t>(id) * rb);
      if constexpr (std::is_same_v<S, float>) v = row[i];
      else v = row[i].to_float();
    }
    y[t * ys + i] = v;
  }
}

template <class B>
Status launch_embed_blocks(const EmbedParams& p, size_t rb, int64_t ys, cudaStream_t stream) {
  constexpr int E = quant::block_traits<B>::elems;
  if (reinterpret_cast<uintptr_t>(p.table) % alignof(B) != 0 || rb % alignof(B) != 0)
    return Status::Unsupported("embed: table / row_bytes not aligned to the block");
  const int64_t nb = p.n_embd / E;
  embed_blocks_kernel<B><<<capped_grid((p.T * nb + kElemThreads - 1) / kElemThreads), kElemThreads, 0, stream>>>(
      static_cast<const char*>(p.table), rb, p.n_vocab, p.ids, p.T, nb, p.y, ys);
  DSK_RETURN_IF_LAUNCH_FAILED("ops::embed_blocks_kernel");
  return Status::Ok();
}

template <class S>
Status launch_embed_float(const EmbedParams& p, size_t rb, int64_t ys, cudaStream_t stream) {
  if (reinterpret_cast<uintptr_t>(p.table) % alignof(S) != 0 || rb % alignof(S) != 0)
    return Status::Unsupported("embed: table / row_bytes not aligned to the element");
  embed_float_kernel<S><<<capped_grid((p.T * p.n_embd + kElemThreads - 1) / kElemThreads), kElemThreads, 0,
                          stream>>>(static_cast<const char*>(p.table), rb, p.n_vocab, p.ids, p.T, p.n_embd, p.y, ys);
  DSK_RETURN_IF_LAUNCH_FAILED("ops::embed_float_kernel");
  return Status::Ok();
}

// --- swiglu ---------------------------------------------------------------------------------------

template <bool kClamp>
__global__ void __launch_bounds__(kElemThreads) swiglu_kernel(const float* g, const float* u, float* y, int64_t T,
                                                              int64_t n, int64_t gs, int64_t us, int64_t ys,
                                                              float limit) {
  const int64_t total = T * n;
  for (int64_t idx = blockIdx.x * int64_t{kElemThreads} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * kElemThreads) {
    const int64_t t = idx / n, i = idx - t * n;
    const float gv = g[t * gs + i], uv = u[t * us + i];
    y[t * ys + i] = kClamp ? swiglu_clamped(gv, uv, limit) : swiglu(gv, uv);
  }
}

// --- softmax --------------------------------------------------------------------------------------

__global__ void __launch_bounds__(kSoftmaxNT) softmax_kernel(const float* x, float* y, int64_t T, int64_t n,
                                                             int64_t xs, int64_t ys) {
  __shared__ float scratch[32];
  const float kNegInf = fp::from_bits(0xff800000u);
  for (int64_t t = blockIdx.x; t < T; t += gridDim.x) {
    const float* xr = x + t * xs;
    float* yr = y + t * ys;
    // Loops unrolled by kUnroll with the loads (and exps) first: a row is streamed by one block, so
    // memory latency, not arithmetic, bounds it unless many loads are in flight per thread.
    constexpr int kUnroll = 8;
    float m = kNegInf;
    int nan_here = 0;
    for (int64_t i0 = threadIdx.x; i0 < n; i0 += int64_t{kUnroll} * kSoftmaxNT) {
      float v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) v[u] = i0 + u * kSoftmaxNT < n ? xr[i0 + u * kSoftmaxNT] : kNegInf;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        m = fp::max_num(m, v[u]);
        nan_here |= fp::is_nan(v[u]);
      }
    }
    // Block max (max_num; no NaN can reach it: every thread starts from -inf).
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) m = fp::max_num(m, __shfl_xor_sync(0xffffffffu, m, o));
    __syncthreads();  // scratch may still be read by the previous row's sum
    if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = m;
    const int any_nan = __syncthreads_or(nan_here);
    m = threadIdx.x % 32 < kSoftmaxNT / 32 ? scratch[threadIdx.x % 32] : kNegInf;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) m = fp::max_num(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (m == kNegInf) {  // fully masked (the branch is uniform over the block)
      const float fill = any_nan ? fp::canonical_nan() : 0.0f;
      for (int64_t i = threadIdx.x; i < n; i += kSoftmaxNT) yr[i] = fill;
      continue;
    }
    float acc = 0.0f;  // the sum order: elements t, t + 256, ... in turn
    for (int64_t i0 = threadIdx.x; i0 < n; i0 += int64_t{kUnroll} * kSoftmaxNT) {
      float e[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        e[u] = i0 + u * kSoftmaxNT < n ? math::exp(fp::sub(xr[i0 + u * kSoftmaxNT], m)) : 0.0f;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        if (i0 + u * kSoftmaxNT < n) acc = fp::add(acc, e[u]);
    }
    const float s = order::block_tree_sum<kSoftmaxNT>(acc, scratch);
    for (int64_t i0 = threadIdx.x; i0 < n; i0 += int64_t{kUnroll} * kSoftmaxNT) {
      float e[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        e[u] = i0 + u * kSoftmaxNT < n ? math::exp(fp::sub(xr[i0 + u * kSoftmaxNT], m)) : 0.0f;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        if (i0 + u * kSoftmaxNT < n) yr[i0 + u * kSoftmaxNT] = fp::div(e[u], s);
    }
  }
}

// --- argmax ---------------------------------------------------------------------------------------

__device__ __forceinline__ void argmax_merge(float& v, int32_t& i, float ov, int32_t oi) {
  if (oi >= 0 && (i < 0 || key_before(ov, oi, v, i))) {
    v = ov;
    i = oi;
  }
}

__global__ void __launch_bounds__(kArgmaxNT) argmax_kernel(const float* __restrict__ x, int32_t* __restrict__ idx,
                                                           int64_t T, int32_t n, int64_t xs) {
  __shared__ float sv[32];
  __shared__ int32_t si[32];
  for (int64_t t = blockIdx.x; t < T; t += gridDim.x) {
    const float* xr = x + t * xs;
    // kChains independent running bests per thread (the order is strict and total, so how the
    // elements are split does not matter); 16-byte loads of 4 elements when the row is aligned,
    // kChains of them in flight per thread: one block streams a row, so bytes in flight bound it.
    constexpr int kChains = 4;
    float cv[kChains * 4];
    int32_t ci[kChains * 4];
#pragma unroll
    for (int c = 0; c < kChains * 4; ++c) {
      cv[c] = 0.0f;
      ci[c] = -1;  // -1: nothing yet (ranks after everything)
    }
    const bool vec = (reinterpret_cast<uintptr_t>(xr) & 15) == 0;
    const int64_t nv = vec ? n / 4 * 4 : 0;  // elements covered by 16-byte loads
    for (int64_t q0 = threadIdx.x; 4 * q0 < nv; q0 += int64_t{kChains} * kArgmaxNT) {
      float4 xv[kChains];
#pragma unroll
      for (int c = 0; c < kChains; ++c)
        if (4 * (q0 + c * kArgmaxNT) < nv) xv[c] = reinterpret_cast<const float4*>(xr)[q0 + c * kArgmaxNT];
#pragma unroll
      for (int c = 0; c < kChains; ++c) {
        const int64_t i = 4 * (q0 + c * kArgmaxNT);
        if (i < nv) {
          argmax_merge(cv[4 * c], ci[4 * c], xv[c].x, static_cast<int32_t>(i));
          argmax_merge(cv[4 * c + 1], ci[4 * c + 1], xv[c].y, static_cast<int32_t>(i + 1));
          argmax_merge(cv[4 * c + 2], ci[4 * c + 2], xv[c].z, static_cast<int32_t>(i + 2));
          argmax_merge(cv[4 * c + 3], ci[4 * c + 3], xv[c].w, static_cast<int32_t>(i + 3));
        }
      }
    }
    for (int64_t i = nv + threadIdx.x; i < n; i += kArgmaxNT) argmax_merge(cv[0], ci[0], xr[i], static_cast<int32_t>(i));
#pragma unroll
    for (int c = 1; c < kChains * 4; ++c) argmax_merge(cv[0], ci[0], cv[c], ci[c]);
    float v = cv[0];
    int32_t bi = ci[0];
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, v, o);
      const int32_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
      argmax_merge(v, bi, ov, oi);
    }
    __syncthreads();
    if (threadIdx.x % 32 == 0) {
      sv[threadIdx.x / 32] = v;
      si[threadIdx.x / 32] = bi;
    }
    __syncthreads();
    if (threadIdx.x < 32) {
      v = threadIdx.x < kArgmaxNT / 32 ? sv[threadIdx.x] : 0.0f;
      bi = threadIdx.x < kArgmaxNT / 32 ? si[threadIdx.x] : -1;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int32_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
        argmax_merge(v, bi, ov, oi);
      }
      if (threadIdx.x == 0) idx[t] = bi;
    }
  }
}

}  // namespace cuda_detail

// y[t, :] = row ids[t] of the table, dequantized.
inline Status launch(const EmbedParams& p, cudaStream_t stream) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  const GgmlTypeInfo& ti = ggml_type_info(p.type);
  const size_t rb = p.row_bytes ? p.row_bytes : static_cast<size_t>(p.n_embd / ti.block_elems) * ti.block_bytes;
  const int64_t ys = cuda_detail::stride_or(p.y_stride, p.n_embd);
  using namespace quant;
  switch (p.type) {
    case GgmlType::F32: return cuda_detail::launch_embed_float<float>(p, rb, ys, stream);
    case GgmlType::F16: return cuda_detail::launch_embed_float<f16>(p, rb, ys, stream);
    case GgmlType::BF16: return cuda_detail::launch_embed_float<bf16>(p, rb, ys, stream);
    case GgmlType::Q8_0: return cuda_detail::launch_embed_blocks<block_q8_0>(p, rb, ys, stream);
    case GgmlType::Q4_K: return cuda_detail::launch_embed_blocks<block_q4_K>(p, rb, ys, stream);
    case GgmlType::Q6_K: return cuda_detail::launch_embed_blocks<block_q6_K>(p, rb, ys, stream);
    case GgmlType::Q2_K: return cuda_detail::launch_embed_blocks<block_q2_K>(p, rb, ys, stream);
    case GgmlType::IQ2_XXS: return cuda_detail::launch_embed_blocks<block_iq2_xxs>(p, rb, ys, stream);
    default: return Status::Unsupported("embed: type");
  }
}

// y = swiglu(g, u) (clamped when p.clamp).
inline Status launch(const SwigluParams& p, cudaStream_t stream) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  using cuda_detail::stride_or;
  const unsigned grid = cuda_detail::capped_grid((p.T * p.n + cuda_detail::kElemThreads - 1) / cuda_detail::kElemThreads);
  if (p.clamp)
    cuda_detail::swiglu_kernel<true><<<grid, cuda_detail::kElemThreads, 0, stream>>>(
        p.g, p.u, p.y, p.T, p.n, stride_or(p.g_stride, p.n), stride_or(p.u_stride, p.n), stride_or(p.y_stride, p.n),
        p.limit);
  else
    cuda_detail::swiglu_kernel<false><<<grid, cuda_detail::kElemThreads, 0, stream>>>(
        p.g, p.u, p.y, p.T, p.n, stride_or(p.g_stride, p.n), stride_or(p.u_stride, p.n), stride_or(p.y_stride, p.n),
        p.limit);
  DSK_RETURN_IF_LAUNCH_FAILED("ops::swiglu_kernel");
  return Status::Ok();
}

// y[t, :] = softmax(x[t, :]).
inline Status launch(const SoftmaxParams& p, cudaStream_t stream) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  cuda_detail::softmax_kernel<<<cuda_detail::capped_grid(p.T), kSoftmaxNT, 0, stream>>>(
      p.x, p.y, p.T, p.n, cuda_detail::stride_or(p.x_stride, p.n), cuda_detail::stride_or(p.y_stride, p.n));
  DSK_RETURN_IF_LAUNCH_FAILED("ops::softmax_kernel");
  return Status::Ok();
}

// idx[t] = argmax(x[t, :]).
inline Status launch(const ArgmaxParams& p, cudaStream_t stream) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  cuda_detail::argmax_kernel<<<cuda_detail::capped_grid(p.T), cuda_detail::kArgmaxNT, 0, stream>>>(
      p.x, p.idx, p.T, static_cast<int32_t>(p.n), cuda_detail::stride_or(p.x_stride, p.n));
  DSK_RETURN_IF_LAUNCH_FAILED("ops::argmax_kernel");
  return Status::Ok();
}

}  // namespace dsk::ops

#endif  // __CUDACC__
