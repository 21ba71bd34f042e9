// dsk/attention/attention.hpp — causal MLA attention in the absorbed form (deepseek2), over the
// latent cache rows [k_rope | c_kv].
//
// NUMERICS (per new token t at position p = p0 + t, per head h; tokens and heads independent, and
// nothing depends on T, so prefill and decode give the same bits for the same token):
//  1. q~ = W_UK_h^T q_nope_h: GEMV over k_b's head h (kv_lora rows of d_nope; ggml [d_nope, kv_lora, H])
//     with q_nope_h quantized to activation_type(k_b type) (dsk/quant/dot.hpp row order).
//  2. Q^ = [q_rope_h (rope_dims) | q~ (kv_lora)], D = rope_dims + kv_lora; Q^ and every cache row
//     (widened exactly to float) are zero-padded to Dp = D rounded up to a multiple of 32.
//  3. s_j = fp::mul(kq_scale, dot_j) for j = 0..p, dot_j the F32 row dot of padded cache row j with
//     Q^ over Dp (32-element fma blocks, order::row_sum).
//  4. Softmax and P·V in fixed chunks of kChunk = 256 rows (chunk c = rows [256c, 256c+256) ∩ [0, p]):
//       m_c = max of s_j over the chunk (fp::max_num);  e_j = math::exp(fp::sub(s_j, m_c))
//       l_c = sum of e_j, j ascending from +0.0f (fp::add)
//       o_c[d] = sum of e_j * v_j[d], j ascending from +0.0f, each step fp::fma(e_j, v_j[d], acc)
//     with v_j = the c_kv part of row j (cache elements rope_dims..D-1, widened exactly).
//     Merge, chunks ascending: M = max_num of m_c;  f_c = math::exp(fp::sub(m_c, M));
//       L = fp::fma(f_c, l_c, L);  O[d] = fp::fma(f_c, o_c[d], O[d])  (from +0.0f);  o[d] = fp::div(O[d], L).
//     (A flash-decoding kernel: one block per (token, head, chunk) writes (m_c, l_c, o_c); the combine
//     step merges in chunk order. The chunking depends only on the position.)
//  5. out_h = W_UV_h o: GEMV over v_b's head h (d_v rows of kv_lora; ggml [kv_lora, d_v, H]) with o
//     quantized to activation_type(v_b type). Output [T, H*d_v] (head-major), then attn_output.
// Non-finite scores (from non-finite inputs) propagate as NaN; every row j <= p is finite otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsk/core/fp.hpp"
#include "dsk/core/status.hpp"
#include "dsk/quant/quantize.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::attention {

inline constexpr int64_t kChunk = 256;  // rows per softmax chunk (part of the contract)

struct MlaParams {
  // q [T, H, d_nope + rope_dims], per head [q_nope | q_rope] with RoPE already applied.
  const float* q = nullptr;
  int64_t q_token_stride = 0;  // elements, 0: H * q_head_stride
  int64_t q_head_stride = 0;   // elements, 0: d_nope + rope_dims
  // Latent cache: rows 0 .. p0+T-1 (the new tokens' rows already written), each [k_rope | c_kv].
  const void* cache = nullptr;
  GgmlType cache_type = GgmlType::F32;  // F32, F16 or BF16
  size_t cache_row_bytes = 0;           // 0: packed
  // k_b [d_nope, kv_lora, H] and v_b [kv_lora, d_v, H] (ggml order: rows of d_nope / kv_lora).
  GgmlType k_b_type = GgmlType::F32;
  const void* k_b = nullptr;
  GgmlType v_b_type = GgmlType::F32;
  const void* v_b = nullptr;
  int64_t T = 0, p0 = 0;
  int64_t n_head = 0, d_nope = 0, rope_dims = 0, kv_lora = 0, d_v = 0;
  float kq_scale = 1.0f;
  quant::Q8Flavor flavor = quant::Q8Flavor::ggml_ref;
  float* out = nullptr;        // [T, out_stride]
  int64_t out_stride = 0;      // elements, 0: H * d_v
  // Decode with the position on the device (CUDA launcher only; T = 1): the token's position is
  // pos_dev[0], read by the kernels, and p0 is not used; the launch and the workspace are sized
  // for max_ctx rows (pos_dev[0] < max_ctx), so one captured CUDA graph serves every position.
  // The bits are those of p0 = pos_dev[0].
  const int32_t* pos_dev = nullptr;
  int64_t max_ctx = 0;
};

inline Status validate(const MlaParams& p) {
  if (p.T < 0 || p.p0 < 0 || p.n_head <= 0 || p.d_nope <= 0 || p.rope_dims < 0 || p.kv_lora <= 0 || p.d_v <= 0)
    return Status::Invalid("mla: bad sizes");
  if (p.T > 0 && (!p.q || !p.cache || !p.k_b || !p.v_b || !p.out)) return Status::Invalid("mla: null pointer");
  if (p.cache_type != GgmlType::F32 && p.cache_type != GgmlType::F16 && p.cache_type != GgmlType::BF16)
    return Status::Unsupported("mla: cache type (F32, F16, BF16)");
  if (p.p0 + p.T > INT32_MAX) return Status::Unsupported("mla: context too long");
  const int64_t qh = p.q_head_stride ? p.q_head_stride : p.d_nope + p.rope_dims;
  if (qh < p.d_nope + p.rope_dims || (p.q_token_stride && p.q_token_stride < qh * p.n_head))
    return Status::Invalid("mla: q strides");
  if (p.out_stride && p.out_stride < p.n_head * p.d_v) return Status::Invalid("mla: out_stride");
  if (!(fp::is_finite(p.kq_scale))) return Status::Invalid("mla: kq_scale");
  if (p.pos_dev && (p.T != 1 || p.max_ctx < 1 || p.max_ctx > INT32_MAX)) return Status::Invalid("mla: pos_dev needs T = 1 and max_ctx >= 1");
  return Status::Ok();
}

}  // namespace dsk::attention
