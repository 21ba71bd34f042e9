// dsk/attention/mla_prep_cuda.cuh — dsk::attention::launch(MlaPrepParams): the op of
// dsk/attention/mla_prep.hpp in one kernel (one 256-thread block per token): the c_kv norm with
// norm::cuda_detail::row_rms_inv (the rms_norm kernel's own sum), the k_rope and q pairs by
// rope::rotate at the token's position (element-wise: any thread mapping gives the same bits), the
// cache row written directly. Position outside the table: NaN pairs, as rope::launch.
// Never allocates or synchronizes; graph-capturable (positions and rows read on the device).
#pragma once

#include "dsk/attention/mla_prep.hpp"

#if defined(__CUDACC__)
#include <cuda_runtime.h>

#include "dsk/norm/norm_cuda.cuh"

namespace dsk::attention {

namespace prep_detail {

__global__ void __launch_bounds__(norm::kNT) mla_prep_kernel(MlaPrepParams p, int64_t cache_stride) {
  __shared__ float scratch[32];
  const int64_t np = p.table.n_dims / 2;
  for (int64_t t = blockIdx.x; t < p.T; t += gridDim.x) {
    const float* kr = p.kva + t * p.kva_stride;
    float* row = p.cache + static_cast<int64_t>(p.cache_row[t]) * cache_stride;
    const float r = norm::cuda_detail::row_rms_inv(kr, p.kv_lora, p.eps, scratch);
    norm::cuda_detail::apply_row(kr, p.kv_norm_w, row + p.table.n_dims, p.kv_lora, r);
    const int32_t pos = p.pos[t];
    const bool ok = pos >= 0 && pos < p.table.n_pos;
    const float* cs = p.table.cs + (ok ? static_cast<int64_t>(pos) : 0) * np * 2;
    // Pairs: np of k_rope, then np of each q head.
    const int64_t pairs = np * (1 + p.n_head);
    for (int64_t j = threadIdx.x; j < pairs; j += blockDim.x) {
      const int64_t head = j / np - 1, i = j % np;
      const float* src = head < 0 ? kr + p.kv_lora : p.q + t * p.q_token_stride + head * p.q_head_stride + p.d_nope;
      float* dst = head < 0 ? row : p.q + t * p.q_token_stride + head * p.q_head_stride + p.d_nope;
      int64_t i0, i1;
      rope::pair_index(rope::Mode::interleaved, p.table.n_dims, i, i0, i1);
      const float x0 = src[i0], x1 = src[i1];
      float y0, y1;
      if (ok) {
        rope::rotate(x0, x1, cs[2 * i], cs[2 * i + 1], y0, y1);
      } else {
        y0 = y1 = fp::canonical_nan();
      }
      dst[i0] = y0;
      dst[i1] = y1;
    }
  }
}

}  // namespace prep_detail

inline Status launch(const MlaPrepParams& p, cudaStream_t stream) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  const int64_t cs = p.cache_row_stride ? p.cache_row_stride : p.kv_lora + p.table.n_dims;
  const unsigned grid = static_cast<unsigned>(p.T < 65536 ? p.T : 65536);
  prep_detail::mla_prep_kernel<<<grid, norm::kNT, 0, stream>>>(p, cs);
  DSK_RETURN_IF_LAUNCH_FAILED("attention::mla_prep_kernel");
  return Status::Ok();
}

}  // namespace dsk::attention

#endif  // __CUDACC__
