// dsk/attention/mla_prep.hpp — what the MLA attention of a step needs before it runs, as one op:
// for each token t of the step,
//   c_kv = RMSNorm(kva[t, 0 .. kv_lora)) * kv_norm_w            (dsk/norm/norm.hpp, the row order of
//                                                                 norm::RmsNorm),
//   k_rope = RoPE(kva[t, kv_lora .. kv_lora + rope_dims)) at pos[t] (dsk/rope/rope.hpp, interleaved),
//   cache row cache_row[t] = [k_rope | c_kv]   (the latent cache layout of attention.hpp),
//   q[t, h, d_nope .. d_nope + rope_dims) rotated in place at pos[t] for every head h.
// The same bits as norm::launch + rope::launch (k_rope) + rope::launch (q) + a row copy, in one
// kernel (dsk/attention/mla_prep_cuda.cuh); the reference (reference/attention.hpp
// ref::attention::mla_prep) is that composition of references.
#pragma once

#include <cstdint>

#include "dsk/core/status.hpp"
#include "dsk/rope/rope.hpp"

namespace dsk::attention {

struct MlaPrepParams {
  int64_t T = 0;
  // q [T, n_head, q_head_stride]: the rope tail of each head at d_nope, rotated in place.
  float* q = nullptr;
  int64_t q_token_stride = 0, q_head_stride = 0, n_head = 0, d_nope = 0;
  // kva [T, kva_stride]: [c_kv (kv_lora) | k_rope (rope_dims)], read only.
  const float* kva = nullptr;
  int64_t kva_stride = 0, kv_lora = 0;
  const float* kv_norm_w = nullptr;  // [kv_lora] or nullptr
  float eps = 1e-6f;
  rope::RopeTable table;             // rope_dims = table.n_dims (interleaved pairs)
  const int32_t* pos = nullptr;      // [T] (device memory for the kernel)
  float* cache = nullptr;            // rows of cache_row_stride floats: [k_rope | c_kv]
  int64_t cache_row_stride = 0;      // 0: rope_dims + kv_lora
  const int32_t* cache_row = nullptr;  // [T]: the cache row of token t
};

inline Status validate(const MlaPrepParams& p) {
  if (p.T < 0 || p.n_head < 0 || p.d_nope < 0 || p.kv_lora <= 0 || p.table.n_dims <= 0 || p.table.n_dims % 2 != 0)
    return Status::Invalid("mla_prep: bad sizes");
  if (p.T == 0) return Status::Ok();
  if (!p.kva || !p.pos || !p.cache || !p.cache_row || !p.table.cs || (p.n_head > 0 && !p.q))
    return Status::Invalid("mla_prep: null pointer");
  if (p.kva_stride < p.kv_lora + p.table.n_dims) return Status::Invalid("mla_prep: kva_stride too small");
  if (p.n_head > 0 && (p.q_head_stride < p.d_nope + p.table.n_dims || p.q_token_stride < p.n_head * p.q_head_stride))
    return Status::Invalid("mla_prep: q strides too small");
  if (p.cache_row_stride != 0 && p.cache_row_stride < p.kv_lora + p.table.n_dims)
    return Status::Invalid("mla_prep: cache_row_stride too small");
  return Status::Ok();
}

}  // namespace dsk::attention
