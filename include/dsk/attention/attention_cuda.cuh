// dsk/attention/attention_cuda.cuh — CUDA launcher of MLA attention (dsk/attention/attention.hpp),
// bit-identical to dsk::ref::attention::mla.
//
// Per token (tokens are independent; longer T runs token after token — decode-shaped, a correct
// but slow path for prefill until the chunked prefill kernel exists):
//   1. q_nope of every head quantized (gemv::quantize_act) and q~ = W_UK_h^T q_nope_h for all heads
//      by gemv::launch_indexed with identity ids (expert h = head h), written into Q^ rows of Dp
//      floats at rope_dims; q_rope and the zero padding written by q_hat_kernel;
//   2. flash decoding: one block per (chunk of kChunk = 256 cache rows, group of 8 heads, which
//      share every cache read): scores as the F32 row dot of the padded cache row with Q^ (lane c:
//      blocks of its chunk of the row, 32-element fma chains, then warp_tree32: order::row_sum),
//      m_c by max_num, e_j, l_c and o_c[d] summed over j ascending; (m_c, l_c, o_c) to the workspace;
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

using gemv::activation_row_bytes;
using gemv::activation_type;
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

// Row j's 32-element block b, widened exactly, zeros past D (16-byte loads when `vec`).
template <int CT>
__device__ __forceinline__ void load_block(const uint8_t* row, int b, int64_t D, bool vec, float (&w)[32]) {
  const int64_t c0 = 32 * static_cast<int64_t>(b);
  if (vec && c0 + 32 <= D) {
    if constexpr (CT == 0) {
      const uint4* v = reinterpret_cast<const uint4*>(row + 4 * c0);
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        const uint4 x = __ldg(v + k);
        w[4 * k] = __uint_as_float(x.x); w[4 * k + 1] = __uint_as_float(x.y);
        w[4 * k + 2] = __uint_as_float(x.z); w[4 * k + 3] = __uint_as_float(x.w);
      }
    } else {
      const uint4* v = reinterpret_cast<const uint4*>(row + 2 * c0);
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const uint4 x = __ldg(v + k);
        const uint32_t u[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          if constexpr (CT == 1) {
            w[8 * k + 2 * e] = gemv::detail::cvt_half(u[e] & 0xFFFFu);
            w[8 * k + 2 * e + 1] = gemv::detail::cvt_half(u[e] >> 16);
          } else {
            w[8 * k + 2 * e] = __uint_as_float(u[e] << 16);
            w[8 * k + 2 * e + 1] = __uint_as_float(u[e] & 0xFFFF0000u);
          }
        }
      }
    }
  } else {
#pragma unroll
    for (int i = 0; i < 32; ++i) w[i] = c0 + i < D ? cache_elem<CT>(row, c0 + i) : 0.0f;
  }
}

// One block per (chunk c of kChunk rows, group of HG heads) of one token with n rows of context.
// Scores: a warp per row at a time; lane l widens the row's blocks of its chunk of the row once
// and runs the 32-element fma chain against each head's Q^ (shared memory, padded to 33 words per
// block: conflict-free), then warp_tree32 per head (order::row_sum). m_c, e_j, l_c: a warp per
// head. o_c[h][d]: thread per d, every head of the group from one read of v_j[d].
template <int CT, int HG>
__global__ void __launch_bounds__(kThreads) chunk_kernel(const float* qhat, const uint8_t* cache, size_t crb,
                                                         int64_t D, int64_t Dp, int64_t rope, int64_t kv_lora,
                                                         int64_t n, int64_t H, float scale, bool vec, float* part_m,
                                                         float* part_l, float* part_o, int64_t nc) {
  extern __shared__ float sh[];
  const int nb = static_cast<int>(Dp / 32), L = (nb + 31) / 32;
  float* qs = sh;                        // [HG][nb][33]
  float* es = sh + HG * nb * 33;         // [HG][kChunk]
  const int64_t c = blockIdx.x, h0 = static_cast<int64_t>(blockIdx.y) * HG;
  const int hn = static_cast<int>(H - h0 < HG ? H - h0 : HG);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  constexpr int kWarps = kThreads / 32;
  const int64_t j0 = c * kChunk, j1 = j0 + kChunk < n ? j0 + kChunk : n;
  for (int i = threadIdx.x; i < hn * nb * 32; i += kThreads) {
    const int hh = i / (nb * 32), r = i - hh * nb * 32;
    qs[(hh * nb + r / 32) * 33 + r % 32] = qhat[(h0 + hh) * Dp + r];
  }
  __syncthreads();
  const int b0 = lane * L, b1 = b0 + L < nb ? b0 + L : nb;
  for (int64_t j = j0 + warp; j < j1; j += kWarps) {
    const uint8_t* row = cache + static_cast<size_t>(j) * crb;
    float acc[HG];
#pragma unroll
    for (int hh = 0; hh < HG; ++hh) acc[hh] = 0.0f;
    for (int b = b0; b < b1; ++b) {
      float w[32];
      load_block<CT>(row, b, D, vec, w);
#pragma unroll
      for (int hh = 0; hh < HG; ++hh) {
        if (hh < hn) {
          const float* qb = qs + (hh * nb + b) * 33;
          float r = 0.0f;
#pragma unroll
          for (int i = 0; i < 32; ++i) r = fp::fma(w[i], qb[i], r);
          acc[hh] = fp::add(acc[hh], r);
        }
      }
    }
#pragma unroll
    for (int hh = 0; hh < HG; ++hh) {
      const float s = fp::mul(scale, order::warp_tree32(acc[hh]));
      if (lane == 0 && hh < hn) es[hh * kChunk + (j - j0)] = s;
    }
  }
  __syncthreads();
  const int64_t rows = j1 - j0;
  for (int hh = warp; hh < hn; hh += kWarps) {  // a warp per head: m_c, e_j, l_c
    float* e = es + hh * kChunk;
    float m = fp::from_bits(0xff800000u);
    for (int64_t j = lane; j < rows; j += 32) m = fp::max_num(m, e[j]);
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) m = fp::max_num(m, __shfl_xor_sync(0xffffffffu, m, o));
    for (int64_t j = lane; j < rows; j += 32) e[j] = math::exp(fp::sub(e[j], m));
    __syncwarp();
    if (lane == 0) {
      float l = 0.0f;
      for (int64_t j = 0; j < rows; ++j) l = fp::add(l, e[j]);
      part_m[(h0 + hh) * nc + c] = m;
      part_l[(h0 + hh) * nc + c] = l;
    }
  }
  __syncthreads();
  for (int64_t d = threadIdx.x; d < kv_lora; d += kThreads) {
    float o[HG];
#pragma unroll
    for (int hh = 0; hh < HG; ++hh) o[hh] = 0.0f;
    for (int64_t j = j0; j < j1; ++j) {
      const float v = cache_elem<CT>(cache + static_cast<size_t>(j) * crb, rope + d);
#pragma unroll
      for (int hh = 0; hh < HG; ++hh)
        if (hh < hn) o[hh] = fp::fma(es[hh * kChunk + (j - j0)], v, o[hh]);
    }
#pragma unroll
    for (int hh = 0; hh < HG; ++hh)
      if (hh < hn) part_o[((h0 + hh) * nc + c) * kv_lora + d] = o[hh];
  }
}

template <int HG>
inline Status launch_chunks(GgmlType ct, int64_t nc, int64_t H, const float* qhat, const uint8_t* cache, size_t crb,
                            int64_t D, int64_t Dp, int64_t rope, int64_t kv_lora, int64_t n, float scale, bool vec,
                            float* pm, float* pl, float* po, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(nc), static_cast<unsigned>((H + HG - 1) / HG));
  const size_t smem = static_cast<size_t>(HG * (Dp / 32) * 33 + HG * kChunk) * 4;
  switch (ct) {
    case GgmlType::F32:
      chunk_kernel<0, HG><<<grid, kThreads, smem, stream>>>(qhat, cache, crb, D, Dp, rope, kv_lora, n, H, scale, vec, pm, pl, po, nc);
      break;
    case GgmlType::F16:
      chunk_kernel<1, HG><<<grid, kThreads, smem, stream>>>(qhat, cache, crb, D, Dp, rope, kv_lora, n, H, scale, vec, pm, pl, po, nc);
      break;
    default:
      chunk_kernel<2, HG><<<grid, kThreads, smem, stream>>>(qhat, cache, crb, D, Dp, rope, kv_lora, n, H, scale, vec, pm, pl, po, nc);
      break;
  }
  DSK_RETURN_IF_LAUNCH_FAILED("attention::chunk_kernel");
  return Status::Ok();
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
  l.qa = x; x += align256(static_cast<size_t>(H) * activation_row_bytes(activation_type(p.k_b_type), p.d_nope));
  l.qhat = x; x += align256(static_cast<size_t>(H * Dp) * 4);
  l.pm = x; x += align256(static_cast<size_t>(H * nc) * 4);
  l.pl = x; x += align256(static_cast<size_t>(H * nc) * 4);
  l.po = x; x += align256(static_cast<size_t>(H * nc * p.kv_lora) * 4);
  l.o = x; x += align256(static_cast<size_t>(H * p.kv_lora) * 4);
  l.oa = x; x += align256(static_cast<size_t>(H) * activation_row_bytes(activation_type(p.v_b_type), p.kv_lora));
  l.total = x;
  return l;
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
  if (!gemv::k_fits(p.k_b_type, p.d_nope)) return Status::Invalid("mla: d_nope not a multiple of k_b's block");
  if (!gemv::k_fits(p.v_b_type, p.kv_lora)) return Status::Invalid("mla: kv_lora not a multiple of v_b's block");
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
  // 8 heads per block (they share every cache row read).
  const size_t smem8 = static_cast<size_t>(8 * (Dp / 32) * 33 + 8 * kChunk) * 4;
  if (smem8 > 48 * 1024) return Status::Unsupported("mla: rope_dims + kv_lora too large");
  const bool vec = reinterpret_cast<uintptr_t>(p.cache) % 16 == 0 && crb % 16 == 0;
  const Layout l = layout(p);
  uint8_t* ws = static_cast<uint8_t*>(workspace);
  float* qhat = reinterpret_cast<float*>(ws + l.qhat);
  float* pm = reinterpret_cast<float*>(ws + l.pm);
  float* pl = reinterpret_cast<float*>(ws + l.pl);
  float* po = reinterpret_cast<float*>(ws + l.po);
  float* o = reinterpret_cast<float*>(ws + l.o);
  const GgmlType ka = activation_type(p.k_b_type), va = activation_type(p.v_b_type);
  const size_t kb_row = weight_row_bytes(p.k_b_type, p.d_nope), vb_row = weight_row_bytes(p.v_b_type, p.kv_lora);
  for (int64_t t = 0; t < p.T; ++t) {
    const float* q = p.q + t * qt;
    const int64_t n = p.p0 + t + 1, nc = chunks(n);
    // 1. Q^ = [q_rope | W_UK^T q_nope | 0]
    const void* qx = nullptr;
    size_t qxs = 0;
    DSK_RETURN_IF_ERROR(gemv::activation_rows(ka, q, qh, ws + l.qa, p.d_nope, static_cast<int>(H), p.flavor, stream, qx, qxs));
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
    DSK_RETURN_IF_ERROR(launch_chunks<8>(p.cache_type, nc, H, qhat, static_cast<const uint8_t*>(p.cache), crb, D, Dp,
                                         p.rope_dims, p.kv_lora, n, p.kq_scale, vec, pm, pl, po, stream));
    // 3. merge
    merge_kernel<<<static_cast<unsigned>(H), kThreads, 0, stream>>>(pm, pl, po, nc, p.kv_lora, o);
    DSK_RETURN_IF_LAUNCH_FAILED("attention::merge_kernel");
    // 4. out_h = W_UV_h o_h
    const void* ox = nullptr;
    size_t oxs = 0;
    DSK_RETURN_IF_ERROR(gemv::activation_rows(va, o, p.kv_lora, ws + l.oa, p.kv_lora, static_cast<int>(H), p.flavor, stream, ox, oxs));
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
