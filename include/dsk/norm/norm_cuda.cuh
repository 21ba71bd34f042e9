// dsk/norm/norm_cuda.cuh — CUDA kernels and launchers of the norm family (dsk/norm/norm.hpp).
//
// Convention of the kernel families: `<family>/<family>.hpp` holds the Params, the per-row /
// per-element DSK_HD math and validate(); `<family>/<family>_cuda.cuh` holds the kernels and the
// launchers `dsk::<family>::launch(const Params&, cudaStream_t) -> Status`, compiled only by nvcc.
// Launchers validate, never allocate, never synchronize and are graph-capturable.
//
// Kernels (the order of norm.hpp):
//   rms_norm / add_rms_norm: one block of kNT = 256 threads per row (blocks loop over rows);
//     thread t accumulates fp::mul(x_i, x_i) for i = t, t+kNT, ... from +0.0f, then
//     order::block_tree_sum<kNT>: the bits of order::vector_sum<kNT>, as the reference.
//     add_rms_norm writes s_i = a_i + b_i and squares the same s_i (each thread owns its elements,
//     so s may alias a / b and y may alias s).
//   add: element-wise, grid-stride.
#pragma once

#include "dsk/norm/norm.hpp"

#if defined(__CUDACC__)
#include <cuda_runtime.h>

namespace dsk::norm {

namespace cuda_detail {

inline unsigned row_grid(int64_t T) { return static_cast<unsigned>(T < 65536 ? T : 65536); }

// Rows are streamed by one block each: kUnroll loads in flight per thread before their use, so
// memory latency does not serialize the (ordered) sums. Each thread touches only elements i with
// i = threadIdx.x (mod kNT), its own, so loading several before storing is safe when y aliases x.
constexpr int kUnroll = 4;

__device__ __forceinline__ void load_strided(const float* r, int64_t i0, int64_t n, float (&v)[kUnroll]) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) v[u] = i0 + u * kNT < n ? r[i0 + u * kNT] : 0.0f;
}

// y_i = rms_apply(x_i, r[, w_i]) over this thread's elements.
__device__ __forceinline__ void apply_row(const float* xr, const float* __restrict__ w, float* yr, int64_t n, float r) {
  for (int64_t i0 = threadIdx.x; i0 < n; i0 += int64_t{kUnroll} * kNT) {
    float v[kUnroll], wv[kUnroll];
    load_strided(xr, i0, n, v);
    if (w) load_strided(w, i0, n, wv);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (i0 + u * kNT < n) yr[i0 + u * kNT] = w ? rms_apply(v[u], r, wv[u]) : rms_apply(v[u], r);
  }
}

// r = rms_inv of row xr's canonical sum of squares (block-wide: every thread of the kNT-thread
// block calls it; scratch: 32 floats of shared memory). Also used by fused kernels elsewhere
// (dsk/attention/mla_prep_cuda.cuh) so their norms have these bits.
__device__ __forceinline__ float row_rms_inv(const float* xr, int64_t n, float eps, float* scratch) {
  float acc = 0.0f;
  for (int64_t i0 = threadIdx.x; i0 < n; i0 += int64_t{kUnroll} * kNT) {
    float v[kUnroll];
    load_strided(xr, i0, n, v);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (i0 + u * kNT < n) acc = fp::add(acc, fp::mul(v[u], v[u]));
  }
  return rms_inv(order::block_tree_sum<kNT>(acc, scratch), n, eps);
}
__global__ void __launch_bounds__(kNT) rms_norm_kernel(const float* x, const float* __restrict__ w,
                                                       float* y, int64_t T, int64_t n, int64_t xs, int64_t ys,
                                                       float eps) {
  __shared__ float scratch[32];
  for (int64_t t = blockIdx.x; t < T; t += gridDim.x) {
    const float* xr = x + t * xs;
    float* yr = y + t * ys;
    const float r = row_rms_inv(xr, n, eps, scratch);
    apply_row(xr, w, yr, n, r);
  }
}

// x / y and a, b, s, y may alias: no __restrict__ on them.
__global__ void __launch_bounds__(kNT) add_rms_norm_kernel(const float* a, const float* b,
                                                           const float* __restrict__ w, float* s, float* y,
                                                           int64_t T, int64_t n, int64_t as, int64_t bs,
                                                           int64_t ss, int64_t ys, float eps) {
  __shared__ float scratch[32];
  for (int64_t t = blockIdx.x; t < T; t += gridDim.x) {
    const float* ar = a + t * as;
    const float* br = b + t * bs;
    float* sr = s + t * ss;
    float* yr = y + t * ys;
    float acc = 0.0f;
    for (int64_t i0 = threadIdx.x; i0 < n; i0 += int64_t{kUnroll} * kNT) {
      float va[kUnroll], vb[kUnroll];
      load_strided(ar, i0, n, va);
      load_strided(br, i0, n, vb);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        if (i0 + u * kNT < n) {
          const float v = fp::add(va[u], vb[u]);
          sr[i0 + u * kNT] = v;
          acc = fp::add(acc, fp::mul(v, v));
        }
    }
    const float r = rms_inv(order::block_tree_sum<kNT>(acc, scratch), n, eps);
    // Each thread reads back only the s_i it wrote itself.
    apply_row(sr, w, yr, n, r);
  }
}

constexpr int kAddThreads = 256;

__global__ void __launch_bounds__(kAddThreads) add_kernel(const float* a, const float* b, float* y, int64_t T,
                                                          int64_t n, int64_t as, int64_t bs, int64_t ys) {
  const int64_t total = T * n;
  for (int64_t idx = blockIdx.x * int64_t{kAddThreads} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * kAddThreads) {
    const int64_t t = idx / n, i = idx - t * n;
    y[t * ys + i] = fp::add(a[t * as + i], b[t * bs + i]);
  }
}

inline unsigned elementwise_grid(int64_t total) {
  const int64_t blocks = (total + kAddThreads - 1) / kAddThreads;
  return static_cast<unsigned>(blocks < 65536 * 4 ? blocks : 65536 * 4);
}

inline int64_t stride_or(int64_t s, int64_t n) { return s ? s : n; }

}  // namespace cuda_detail

// y[t, :] = RMSNorm(x[t, :]) (* w).
inline Status launch(const RmsNormParams& p, cudaStream_t stream) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  cuda_detail::rms_norm_kernel<<<cuda_detail::row_grid(p.T), kNT, 0, stream>>>(
      p.x, p.w, p.y, p.T, p.n, cuda_detail::stride_or(p.x_stride, p.n), cuda_detail::stride_or(p.y_stride, p.n),
      p.eps);
  DSK_RETURN_IF_LAUNCH_FAILED("norm::rms_norm_kernel");
  return Status::Ok();
}

// y[t, :] = a[t, :] + b[t, :].
inline Status launch(const AddParams& p, cudaStream_t stream) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  cuda_detail::add_kernel<<<cuda_detail::elementwise_grid(p.T * p.n), cuda_detail::kAddThreads, 0, stream>>>(
      p.a, p.b, p.y, p.T, p.n, cuda_detail::stride_or(p.a_stride, p.n), cuda_detail::stride_or(p.b_stride, p.n),
      cuda_detail::stride_or(p.y_stride, p.n));
  DSK_RETURN_IF_LAUNCH_FAILED("norm::add_kernel");
  return Status::Ok();
}

// s = a + b; y = RMSNorm(s) (* w).
inline Status launch(const AddRmsNormParams& p, cudaStream_t stream) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  using cuda_detail::stride_or;
  cuda_detail::add_rms_norm_kernel<<<cuda_detail::row_grid(p.T), kNT, 0, stream>>>(
      p.a, p.b, p.w, p.s, p.y, p.T, p.n, stride_or(p.a_stride, p.n), stride_or(p.b_stride, p.n),
      stride_or(p.s_stride, p.n), stride_or(p.y_stride, p.n), p.eps);
  DSK_RETURN_IF_LAUNCH_FAILED("norm::add_rms_norm_kernel");
  return Status::Ok();
}

}  // namespace dsk::norm

#endif  // __CUDACC__
