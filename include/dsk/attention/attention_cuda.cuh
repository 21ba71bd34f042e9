// dsk/attention/attention_cuda.cuh — CUDA launcher of MLA attention (dsk/attention/attention.hpp),
// bit-identical to dsk::ref::attention::mla.
//
// Per token (tokens are independent; longer T runs token after token — decode-shaped, a correct
// but slow path for prefill until the chunked prefill kernel exists):
//   1. q_nope of every head quantized (gemv::quantize_act) and q~ = W_UK_h^T q_nope_h for all heads
//      by gemv::launch_indexed with identity ids (expert h = head h), written into Q^ rows of Dp
//      floats at rope_dims; q_rope and the zero padding written by q_hat_kernel;
//   2. flash decoding: one block per (head, chunk of kChunk = 256 cache rows): scores as the F32 row
//      dot of the padded cache row with Q^ (lane c: blocks of its chunk of the row, 32-element fma
//      chains, then warp_tree32: order::row_sum), m_c by max_num, e_j, l_c and o_c[d] summed over j
//      ascending; (m_c, l_c, o_c) to the workspace;
//   3. merge_kernel: chunks ascending, M, L and O as the reference, o = O / L;
//   4. o quantized and out_h = W_UV_h o by launch_indexed (identity ids).
// The chunking depends only on the position, so the bits are those of the reference for any T.
// Scratch: workspace_size(p) bytes (it grows with the context: the chunk partials), caller-provided;
// never allocates or synchronizes; graph-capturable.
#pragma once

#include "dsk/attention/attention.hpp"

#if defined(__CUDACC__)
#include <cuda_runtime.h>

#include <cstdint>

#include "dsk/core/half.hpp"
#include "dsk/core/math.hpp"
#include "dsk/core/reduce.hpp"
#include "dsk/gemv/gemv.hpp"
#include "dsk/gemv/quantize_act.hpp"

namespace dsk::attention {

namespace cuda_detail {

inline constexpr int kThreads = 256;

inline GgmlType act_type(GgmlType w) {
  switch (w) {
    case GgmlType::Q8_0: return GgmlType::Q8_0;
    case GgmlType::Q4_K: case GgmlType::Q6_K: case GgmlType::Q2_K: case GgmlType::IQ2_XXS: return GgmlType::Q8_K;
    default: return GgmlType::F32;
  }
}
inline size_t act_row_bytes(GgmlType a, int64_t K) {
  if (a == GgmlType::F32) return static_cast<size_t>(K) * 4;
  const GgmlTypeInfo& ti = ggml_type_info(a);
  return static_cast<size_t>(K / ti.block_elems) * ti.block_bytes;
}
inline size_t weight_row_bytes(GgmlType w, int64_t K) {
  const GgmlTypeInfo& ti = ggml_type_info(w);
  return static_cast<size_t>(K / ti.block_elems) * ti.block_bytes;
}
inline size_t align256(size_t b) { return (b + 255) / 256 * 256; }
inline int64_t padded(int64_t D) { return (D + 31) / 32 * 32; }
inline int64_t chunks(int64_t n) { return (n + kChunk - 1) / kChunk; }

// Cache element col of a row, widened exactly (F32, F16, BF16).
template <int CT>
__device__ __forceinline__ float cache_elem(const uint8_t* row, int64_t col) {
  if constexpr (CT == 0) return reinterpret_cast<const float*>(row)[col];
  else if constexpr (CT == 1) return gemv::detail::cvt_half(reinterpret_cast<const uint16_t*>(row)[col]);  // exact
  else return __uint_as_float(static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(row)[col]) << 16);
}

// Q^[h] = [q_rope_h | (q~ written by the GEMV) | zeros up to Dp].
__global__ void __launch_bounds__(kThreads) q_hat_kernel(const float* q, int64_t qh, int64_t d_nope, int64_t rope,
                                                         int64_t D, int64_t Dp, int64_t H, float* qhat) {
  const int64_t h = blockIdx.x;
  for (int64_t d = threadIdx.x; d < Dp; d += kThreads) {
    if (d < rope) qhat[h * Dp + d] = q[h * qh + d_nope + d];
    else if (d >= D) qhat[h * Dp + d] = 0.0f;
  }
}

// One block per (chunk c, head h) of one token at position pos.
template <int CT>
__global__ void __launch_bounds__(kThreads) chunk_kernel(const float* qhat, const uint8_t* cache, size_t crb,
                                                         int64_t D, int64_t Dp, int64_t rope, int64_t kv_lora,
                                                         int64_t n, float scale, float* part_m, float* part_l,
                                                         float* part_o, int64_t nc) {
  extern __shared__ float sh[];  // Q^ [Dp], then e [kChunk]
  float* qs = sh;
  float* es = sh + Dp;
  const int64_t c = blockIdx.x, h = blockIdx.y;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t j0 = c * kChunk, j1 = j0 + kChunk < n ? j0 + kChunk : n;
  for (int64_t d = threadIdx.x; d < Dp; d += kThreads) qs[d] = qhat[h * Dp + d];
  __syncthreads();
  // Scores: a warp per row; lane l sums the block results of its chunk of the row (row_sum).
  const int nb = static_cast<int>(Dp / 32), L = (nb + 31) / 32;
  const int b0 = lane * L, b1 = b0 + L < nb ? b0 + L : nb;
  // Two rows per warp at a time (independent fma chains in flight).
  constexpr int kWarps = kThreads / 32;
  for (int64_t j = j0 + warp; j < j1; j += 2 * kWarps) {
    const int64_t j2 = j + kWarps;
    const bool two = j2 < j1;
    const uint8_t* row = cache + static_cast<size_t>(j) * crb;
    const uint8_t* row2 = cache + static_cast<size_t>(two ? j2 : j) * crb;
    float acc = 0.0f, acc2 = 0.0f;
    for (int b = b0; b < b1; ++b) {
      float r = 0.0f, r2 = 0.0f;
#pragma unroll 8
      for (int i = 0; i < 32; ++i) {
        const int64_t col = 32 * b + i;
        const float w = col < D ? cache_elem<CT>(row, col) : 0.0f;
        const float w2 = col < D ? cache_elem<CT>(row2, col) : 0.0f;
        r = fp::fma(w, qs[col], r);
        r2 = fp::fma(w2, qs[col], r2);
      }
      acc = fp::add(acc, r);
      acc2 = fp::add(acc2, r2);
    }
    const float s = fp::mul(scale, order::warp_tree32(acc));
    const float s2 = fp::mul(scale, order::warp_tree32(acc2));
    if (lane == 0) {
      es[j - j0] = s;
      if (two) es[j2 - j0] = s2;
    }
  }
  __syncthreads();
  // m_c (order-free), e_j, l_c (j ascending).
  float m = fp::from_bits(0xff800000u);
  for (int64_t j = 0; j < j1 - j0; ++j) m = fp::max_num(m, es[j]);
  __syncthreads();
  for (int64_t j = threadIdx.x; j < j1 - j0; j += kThreads) es[j] = math::exp(fp::sub(es[j], m));
  __syncthreads();
  const int64_t slot = h * nc + c;
  if (threadIdx.x == 0) {
    float l = 0.0f;
    for (int64_t j = 0; j < j1 - j0; ++j) l = fp::add(l, es[j]);
    part_m[slot] = m;
    part_l[slot] = l;
  }
  // o_c[d] = sum_j e_j v_j[d], j ascending.
  for (int64_t d = threadIdx.x; d < kv_lora; d += kThreads) {
    float o = 0.0f;
    for (int64_t j = j0; j < j1; ++j) o = fp::fma(es[j - j0], cache_elem<CT>(cache + static_cast<size_t>(j) * crb, rope + d), o);
    part_o[slot * kv_lora + d] = o;
  }
}

// o_h = merge of the chunks of head h in chunk order.
__global__ void __launch_bounds__(kThreads) merge_kernel(const float* part_m, const float* part_l, const float* part_o,
                                                         int64_t nc, int64_t kv_lora, float* o) {
  const int64_t h = blockIdx.x;
  const float* pm = part_m + h * nc;
  const float* pl = part_l + h * nc;
  float M = fp::from_bits(0xff800000u);
  for (int64_t c = 0; c < nc; ++c) M = fp::max_num(M, pm[c]);
  float L = 0.0f;
  for (int64_t c = 0; c < nc; ++c) L = fp::fma(math::exp(fp::sub(pm[c], M)), pl[c], L);
  for (int64_t d = threadIdx.x; d < kv_lora; d += kThreads) {
    float O = 0.0f;
    for (int64_t c = 0; c < nc; ++c) O = fp::fma(math::exp(fp::sub(pm[c], M)), part_o[(h * nc + c) * kv_lora + d], O);
    o[h * kv_lora + d] = fp::div(O, L);
  }
}

struct Layout {
  size_t qa, qhat, pm, pl, po, o, oa, total;
};
inline Layout layout(const MlaParams& p) {
  const int64_t H = p.n_head, D = p.rope_dims + p.kv_lora, Dp = padded(D), nc = chunks(p.p0 + p.T);
  Layout l{};
  size_t x = 0;
  l.qa = x; x += align256(static_cast<size_t>(H) * act_row_bytes(act_type(p.k_b_type), p.d_nope));
  l.qhat = x; x += align256(static_cast<size_t>(H * Dp) * 4);
  l.pm = x; x += align256(static_cast<size_t>(H * nc) * 4);
  l.pl = x; x += align256(static_cast<size_t>(H * nc) * 4);
  l.po = x; x += align256(static_cast<size_t>(H * nc * p.kv_lora) * 4);
  l.o = x; x += align256(static_cast<size_t>(H * p.kv_lora) * 4);
  l.oa = x; x += align256(static_cast<size_t>(H) * act_row_bytes(act_type(p.v_b_type), p.kv_lora));
  l.total = x;
  return l;
}

inline bool k_ok(GgmlType w, int64_t K) {
  const int be = gemv::detail::weight_block_elems(w);
  const GgmlType a = act_type(w);
  const int ae = a == GgmlType::F32 ? 1 : static_cast<int>(ggml_type_info(a).block_elems);
  return be > 0 && K % be == 0 && K % ae == 0;
}

}  // namespace cuda_detail

// Device scratch bytes launch(p, ...) needs (grows with p0 + T: the chunk partials).
inline size_t workspace_size(const MlaParams& p) { return cuda_detail::layout(p).total; }

// out = MLA attention of every new token (see the header comment).
inline Status launch(const MlaParams& p, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  using namespace cuda_detail;
  if (Status s = validate(p); !s.ok()) return s;
  if (gemv::detail::weight_block_elems(p.k_b_type) == 0 || gemv::detail::weight_block_elems(p.v_b_type) == 0)
    return Status::Unsupported("mla: k_b / v_b type");
  if (!k_ok(p.k_b_type, p.d_nope)) return Status::Invalid("mla: d_nope not a multiple of k_b's block");
  if (!k_ok(p.v_b_type, p.kv_lora)) return Status::Invalid("mla: kv_lora not a multiple of v_b's block");
  if (p.T == 0) return Status::Ok();
  if (!workspace || workspace_bytes < workspace_size(p)) return Status::Workspace("mla: workspace too small");
  if (reinterpret_cast<uintptr_t>(workspace) % 256 != 0) return Status::Invalid("mla: workspace must be 256-byte aligned");
  const int64_t H = p.n_head, D = p.rope_dims + p.kv_lora, Dp = padded(D);
  const int64_t qh = p.q_head_stride ? p.q_head_stride : p.d_nope + p.rope_dims;
  const int64_t qt = p.q_token_stride ? p.q_token_stride : qh * H;
  const int64_t os = p.out_stride ? p.out_stride : H * p.d_v;
  const size_t esz = p.cache_type == GgmlType::F32 ? 4 : 2;
  const size_t crb = p.cache_row_bytes ? p.cache_row_bytes : static_cast<size_t>(D) * esz;
  if (crb < static_cast<size_t>(D) * esz || crb % esz != 0 || reinterpret_cast<uintptr_t>(p.cache) % esz != 0)
    return Status::Invalid("mla: cache rows");
  const size_t smem = static_cast<size_t>(Dp + kChunk) * 4;
  if (smem > 48 * 1024) return Status::Unsupported("mla: rope_dims + kv_lora too large");
  const Layout l = layout(p);
  uint8_t* ws = static_cast<uint8_t*>(workspace);
  float* qhat = reinterpret_cast<float*>(ws + l.qhat);
  float* pm = reinterpret_cast<float*>(ws + l.pm);
  float* pl = reinterpret_cast<float*>(ws + l.pl);
  float* po = reinterpret_cast<float*>(ws + l.po);
  float* o = reinterpret_cast<float*>(ws + l.o);
  const GgmlType ka = act_type(p.k_b_type), va = act_type(p.v_b_type);
  const size_t kb_row = weight_row_bytes(p.k_b_type, p.d_nope), vb_row = weight_row_bytes(p.v_b_type, p.kv_lora);
  for (int64_t t = 0; t < p.T; ++t) {
    const float* q = p.q + t * qt;
    const int64_t n = p.p0 + t + 1, nc = chunks(n);
    // 1. Q^ = [q_rope | W_UK^T q_nope | 0]
    const void* qx = q;
    size_t qxs = static_cast<size_t>(qh) * 4;
    if (ka != GgmlType::F32) {
      gemv::QuantizeParams qp;
      qp.type = ka;
      qp.x = q;
      qp.x_stride = qh;
      qp.y = ws + l.qa;
      qp.K = p.d_nope;
      qp.N = static_cast<int>(H);
      qp.flavor = p.flavor;
      DSK_RETURN_IF_ERROR(gemv::quantize_act(qp, stream));
      qx = ws + l.qa;
      qxs = act_row_bytes(ka, p.d_nope);
    }
    gemv::IndexedParams kp;
    kp.wtype = p.k_b_type;
    kp.w = p.k_b;
    kp.n_expert = static_cast<int32_t>(H);
    kp.expert_bytes = kb_row * static_cast<size_t>(p.kv_lora);
    kp.x = qx;
    kp.x_stride = qxs;
    kp.T = 1;
    kp.k = static_cast<int>(H);
    kp.act_per_pair = true;
    kp.y = qhat + p.rope_dims;
    kp.y_pair_stride = Dp;
    kp.M = p.kv_lora;
    kp.K = p.d_nope;
    DSK_RETURN_IF_ERROR(gemv::launch_indexed(kp, stream));
    q_hat_kernel<<<static_cast<unsigned>(H), kThreads, 0, stream>>>(q, qh, p.d_nope, p.rope_dims, D, Dp, H, qhat);
    DSK_RETURN_IF_LAUNCH_FAILED("attention::q_hat_kernel");
    // 2. chunks
    const dim3 grid(static_cast<unsigned>(nc), static_cast<unsigned>(H));
    const uint8_t* cache = static_cast<const uint8_t*>(p.cache);
    switch (p.cache_type) {
      case GgmlType::F32:
        chunk_kernel<0><<<grid, kThreads, smem, stream>>>(qhat, cache, crb, D, Dp, p.rope_dims, p.kv_lora, n, p.kq_scale, pm, pl, po, nc);
        break;
      case GgmlType::F16:
        chunk_kernel<1><<<grid, kThreads, smem, stream>>>(qhat, cache, crb, D, Dp, p.rope_dims, p.kv_lora, n, p.kq_scale, pm, pl, po, nc);
        break;
      default:
        chunk_kernel<2><<<grid, kThreads, smem, stream>>>(qhat, cache, crb, D, Dp, p.rope_dims, p.kv_lora, n, p.kq_scale, pm, pl, po, nc);
        break;
    }
    DSK_RETURN_IF_LAUNCH_FAILED("attention::chunk_kernel");
    // 3. merge
    merge_kernel<<<static_cast<unsigned>(H), kThreads, 0, stream>>>(pm, pl, po, nc, p.kv_lora, o);
    DSK_RETURN_IF_LAUNCH_FAILED("attention::merge_kernel");
    // 4. out_h = W_UV_h o_h
    const void* ox = o;
    size_t oxs = static_cast<size_t>(p.kv_lora) * 4;
    if (va != GgmlType::F32) {
      gemv::QuantizeParams qp;
      qp.type = va;
      qp.x = o;
      qp.x_stride = p.kv_lora;
      qp.y = ws + l.oa;
      qp.K = p.kv_lora;
      qp.N = static_cast<int>(H);
      qp.flavor = p.flavor;
      DSK_RETURN_IF_ERROR(gemv::quantize_act(qp, stream));
      ox = ws + l.oa;
      oxs = act_row_bytes(va, p.kv_lora);
    }
    gemv::IndexedParams vp;
    vp.wtype = p.v_b_type;
    vp.w = p.v_b;
    vp.n_expert = static_cast<int32_t>(H);
    vp.expert_bytes = vb_row * static_cast<size_t>(p.d_v);
    vp.x = ox;
    vp.x_stride = oxs;
    vp.T = 1;
    vp.k = static_cast<int>(H);
    vp.act_per_pair = true;
    vp.y = p.out + t * os;
    vp.y_pair_stride = p.d_v;
    vp.M = p.d_v;
    vp.K = p.kv_lora;
    DSK_RETURN_IF_ERROR(gemv::launch_indexed(vp, stream));
  }
  return Status::Ok();
}

}  // namespace dsk::attention

#endif  // __CUDACC__
