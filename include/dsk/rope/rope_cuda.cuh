// dsk/rope/rope_cuda.cuh — CUDA kernel and launcher of the RoPE family (dsk/rope/rope.hpp).
// Convention as dsk/norm/norm_cuda.cuh: `dsk::rope::launch(const Params&, cudaStream_t) -> Status`,
// validating, never allocating or synchronizing, graph-capturable. The cos/sin table
// (p.table.cs) must be in device memory (built by make_table on the host and uploaded once).
//
// Kernel: one warp (kHeadNT = 32 lanes) per (token, head), 4 warps per block, grid-stride over the
// T * n_head items.
//   per-head norm: lane l sums fp::mul(x_i, x_i) for i = l, l+32, ... from +0.0f; warp_tree32; the
//     warp sum in slot 0 of a second tree32 (+0.0f elsewhere) = order::vector_sum<32>, as
//     norm::rms_inv_row<kHeadNT> in the reference; h_i = rms_apply(x_i, r (, w_i)) is evaluated
//     where each element is used (same bits everywhere).
//   rotation: lane l rotates pairs i = l, l+32, ... (rope::pair_index, rope::rotate); the other
//     elements are copied by their lanes. Each element is read and written by one lane, after the
//     warp's reduction: y may equal x.
// Positions are data: the launcher cannot check them without synchronizing. A token whose position
// is outside [0, table.n_pos) gets NaN in its whole rotated span (the reference returns an error);
// nothing outside the table is read.
#pragma once

#include "dsk/rope/rope.hpp"

#if defined(__CUDACC__)
#include <cuda_runtime.h>

#include <cstdint>

namespace dsk::rope {

namespace cuda_detail {

constexpr int kWarpsPerBlock = 4;

__device__ __forceinline__ float head_value(const float* x, int64_t i, HeadNorm norm, float r, const float* w) {
  const float v = x[i];
  if (norm == HeadNorm::none) return v;
  return norm == HeadNorm::weighted ? norm::rms_apply(v, r, w[i]) : norm::rms_apply(v, r);
}

__global__ void __launch_bounds__(kHeadNT * kWarpsPerBlock) rope_kernel(Params p, int64_t xh, int64_t yh, int64_t xt,
                                                                        int64_t yt) {
  const int lane = threadIdx.x % kHeadNT;
  const int64_t items = p.T * p.n_head;
  const int64_t np = p.rope_dims / 2;
  const int64_t span_end = p.rope_offset + p.rope_dims;
  for (int64_t item = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / kHeadNT; item < items;
       item += int64_t{gridDim.x} * kWarpsPerBlock) {
    const int64_t t = item / p.n_head, hd = item - t * p.n_head;
    const float* x = p.x + t * xt + hd * xh;
    float* y = p.y + t * yt + hd * yh;
    float r = 0.0f;
    if (p.norm != HeadNorm::none) {
      float acc = 0.0f;
      for (int64_t i = lane; i < p.head_dim; i += kHeadNT) acc = fp::add(acc, fp::mul(x[i], x[i]));
      const float ws = order::warp_tree32(acc);
      const float ss = order::warp_tree32(lane == 0 ? ws : 0.0f);
      r = norm::rms_inv(ss, p.head_dim, p.eps);
    } else {
      __syncwarp();
    }
    if (np > 0) {
      const int32_t pos = p.pos[t];
      const bool ok = pos >= 0 && pos < p.table.n_pos;
      const float* cs = p.table.cs + (ok ? static_cast<int64_t>(pos) : 0) * np * 2;
      const float* xs = x + p.rope_offset;
      float* ysp = y + p.rope_offset;
      const float* ws = p.norm_w ? p.norm_w + p.rope_offset : nullptr;
      for (int64_t i = lane; i < np; i += kHeadNT) {
        int64_t i0, i1;
        pair_index(p.mode, p.rope_dims, i, i0, i1);
        const float x0 = head_value(xs, i0, p.norm, r, ws), x1 = head_value(xs, i1, p.norm, r, ws);
        float y0, y1;
        if (ok) {
          const float c = cs[2 * i];
          const float sn = cs[2 * i + 1];
          const float s = p.inverse ? fp::from_bits(fp::bits(sn) ^ 0x80000000u) : sn;
          rotate(x0, x1, c, s, y0, y1);
        } else {
          y0 = y1 = fp::canonical_nan();
        }
        ysp[i0] = y0;
        ysp[i1] = y1;
      }
    }
    for (int64_t i = lane; i < p.rope_offset; i += kHeadNT) y[i] = head_value(x, i, p.norm, r, p.norm_w);
    for (int64_t i = span_end + lane; i < p.head_dim; i += kHeadNT) y[i] = head_value(x, i, p.norm, r, p.norm_w);
  }
}

}  // namespace cuda_detail

// y = rope(norm(x)) for every token and head (dsk/rope/rope.hpp).
inline Status launch(const Params& p, cudaStream_t stream) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  const int64_t xh = p.x_head_stride ? p.x_head_stride : p.head_dim;
  const int64_t yh = p.y_head_stride ? p.y_head_stride : p.head_dim;
  const int64_t xt = p.x_token_stride ? p.x_token_stride : xh * p.n_head;
  const int64_t yt = p.y_token_stride ? p.y_token_stride : yh * p.n_head;
  const int64_t blocks = (p.T * p.n_head + cuda_detail::kWarpsPerBlock - 1) / cuda_detail::kWarpsPerBlock;
  const unsigned grid = static_cast<unsigned>(blocks < 262144 ? blocks : 262144);
  cuda_detail::rope_kernel<<<grid, kHeadNT * cuda_detail::kWarpsPerBlock, 0, stream>>>(p, xh, yh, xt, yt);
  DSK_RETURN_IF_LAUNCH_FAILED("rope::rope_kernel");
  return Status::Ok();
}

}  // namespace dsk::rope

#endif  // __CUDACC__
