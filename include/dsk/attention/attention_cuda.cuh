// dsk/attention/attention_cuda.cuh — CUDA launcher of MLA attention (dsk/attention/attention.hpp),
// bit-identical to dsk::ref::attention::mla.
//
// Two paths with the same bits (the contract fixes every operation and order; tokens are independent):
//
// Decode path (few tokens; it splits the context over blocks), token after token:
//   1. q_nope of every head quantized (gemv::quantize_act) and q~ = W_UK_h^T q_nope_h for all heads
//      by gemv::launch_indexed with identity ids (expert h = head h), written into Q^ rows of Dp
//      floats at rope_dims; q_rope and the zero padding written by q_hat_kernel;
//   2. flash decoding: one block per (chunk of kChunk = 256 cache rows, group of HG heads, which
//      share every cache read; HG = 8, or 4 / 2 / 1 when that leaves fewer than two blocks per SM
//      — a short context —, the per-head arithmetic is the same): scores as the F32 row dot of the padded cache row with Q^ (lane c:
//      blocks of its chunk of the row, 32-element fma chains, then warp_tree32: order::row_sum),
//      m_c by max_num, e_j, l_c and o_c[d] summed over j ascending; (m_c, l_c, o_c) to the workspace;
//   3. merge_kernel: chunks ascending, M, L and O as the reference, o = O / L;
//   4. o quantized and out_h = W_UV_h o by launch_indexed (identity ids).
//
// Prefill path (many tokens): step 1 per token (q~ of token t to its own Q^ slot), then ONE launch of
// prefill_kernel for all T tokens (steps 2 + 3), then step 4 per token. prefill_kernel: one block per
// (token, group of 16 heads) over the token's whole causal context, in two passes and without chunk
// partials in memory: pass 1 computes every score, m_c per chunk and M = max_num of the m_c in chunk
// order; pass 2 recomputes each chunk's scores (the same code: the same bits), m_c, e_j, l_c and o_c,
// and merges at once: f_c = exp(m_c - M), L = fma(f_c, l_c, L), O = fma(f_c, o_c, O); o = O / L.
// Scores: a thread per (row, 8 heads); the row's 32-element blocks are widened once and run against
// the 8 heads' Q^ (shared memory, [Dp][16], read as broadcasts), and the 32 leaves of order::row_sum
// (L = 1: Dp <= 1024) are combined by a binary counter, which is tree32 (dsk/core/reduce.hpp).
// P·V: a thread per (8 heads, 4 consecutive d), rows ascending, e_j from shared memory.
//
// Path rule (uses_prefill; T and the context only, and shapes the prefill kernel takes: Dp <= 1024,
// kv_lora <= 512): prefill when T >= 8, or T >= 2 with p0 + T <= 1024 (one block per token then
// beats per-token launches); else decode. cuda_detail::path_knob() forces either path (tests, benches).
//
// Scratch: workspace_size(p) bytes, caller-provided, 256-byte aligned; never allocates or
// synchronizes; graph-capturable. Decode path: H activation rows each for q_nope and o, Q^ and o of one
// token (H * Dp and H * kv_lora floats) and the chunk partials of one token (H * nc * (kv_lora + 2)
// floats, nc = ceil((p0 + T) / 256)): grows with the context, not with T. Prefill path: the two sets
// of H activation rows and Q^ of all T tokens (T * H * Dp floats; o overwrites each (token, head)'s
// Q^ slot: only the block that owns it reads it, before writing): grows with T only (V3: 295 KB per
// token).
#pragma once

#include "dsk/attention/attention.hpp"

#if defined(__CUDACC__)
#include <cuda_runtime.h>

#include <cstdint>

#include "dsk/core/half.hpp"
#include "dsk/core/math.hpp"
#include "dsk/core/reduce.hpp"
#include "dsk/gemm/grouped_gemm.cuh"
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
DSK_HD int64_t chunks(int64_t n) { return (n + kChunk - 1) / kChunk; }

// Cache element col of a row, widened exactly (F32, F16, BF16).
template <int CT>
__device__ __forceinline__ float cache_elem(const uint8_t* row, int64_t col) {
  if constexpr (CT == 0) return reinterpret_cast<const float*>(row)[col];
  else if constexpr (CT == 1) return gemv::detail::cvt_half(reinterpret_cast<const uint16_t*>(row)[col]);  // exact
  else return __uint_as_float(static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(row)[col]) << 16);
}

// The two 16-bit cache elements of a word (low first), widened exactly (CT 1: F16, 2: BF16).
template <int CT>
__device__ __forceinline__ void widen2(uint32_t u, float& lo, float& hi) {
  if constexpr (CT == 1) {
    lo = gemv::detail::cvt_half(u & 0xFFFFu);
    hi = gemv::detail::cvt_half(u >> 16);
  } else {
    lo = __uint_as_float(u << 16);
    hi = __uint_as_float(u & 0xFFFF0000u);
  }
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

// Elements c0 .. c0 + N - 1 of a row (N = 16 or 32, c0 a multiple of N), widened exactly, zeros
// past D (16-byte loads when `vec`).
template <int CT, int N>
__device__ __forceinline__ void load_elems(const uint8_t* row, int64_t c0, int64_t D, bool vec, float (&w)[N]) {
  if (vec && c0 + N <= D) {
    if constexpr (CT == 0) {
      const uint4* v = reinterpret_cast<const uint4*>(row + 4 * c0);
#pragma unroll
      for (int k = 0; k < N / 4; ++k) {
        const uint4 x = __ldg(v + k);
        w[4 * k] = __uint_as_float(x.x); w[4 * k + 1] = __uint_as_float(x.y);
        w[4 * k + 2] = __uint_as_float(x.z); w[4 * k + 3] = __uint_as_float(x.w);
      }
    } else {
      const uint4* v = reinterpret_cast<const uint4*>(row + 2 * c0);
#pragma unroll
      for (int k = 0; k < N / 8; ++k) {
        const uint4 x = __ldg(v + k);
        const uint32_t u[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) widen2<CT>(u[e], w[8 * k + 2 * e], w[8 * k + 2 * e + 1]);
      }
    }
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) w[i] = c0 + i < D ? cache_elem<CT>(row, c0 + i) : 0.0f;
  }
}

// Row j's 32-element block b, widened exactly, zeros past D.
template <int CT>
__device__ __forceinline__ void load_block(const uint8_t* row, int b, int64_t D, bool vec, float (&w)[32]) {
  load_elems<CT, 32>(row, 32 * static_cast<int64_t>(b), D, vec, w);
}

// Elements col..col+3 of a row, widened exactly (one 16- / 8-byte load when `vec`: then 4 * col
// elements' bytes are aligned to 4 elements).
template <int CT>
__device__ __forceinline__ void load4(const uint8_t* row, int64_t col, bool vec, float (&v)[4]) {
  if (vec) {
    if constexpr (CT == 0) {
      const uint4 x = __ldg(reinterpret_cast<const uint4*>(row + 4 * col));
      v[0] = __uint_as_float(x.x); v[1] = __uint_as_float(x.y);
      v[2] = __uint_as_float(x.z); v[3] = __uint_as_float(x.w);
    } else {
      const uint2 x = __ldg(reinterpret_cast<const uint2*>(row + 2 * col));
      widen2<CT>(x.x, v[0], v[1]);
      widen2<CT>(x.y, v[2], v[3]);
    }
  } else {
#pragma unroll
    for (int e = 0; e < 4; ++e) v[e] = cache_elem<CT>(row, col + e);
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
                                                         int64_t n_host, int64_t H, float scale, bool vec, float* part_m,
                                                         float* part_l, float* part_o, int64_t nc, const int32_t* pos_dev) {
  // Context rows: from the device position when given (the grid then covers max_ctx; chunks past
  // the context have nothing to do).
  const int64_t n = pos_dev ? static_cast<int64_t>(*pos_dev) + 1 : n_host;
  if (static_cast<int64_t>(blockIdx.x) * kChunk >= n) return;
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
                            float* pm, float* pl, float* po, cudaStream_t stream, const int32_t* pos_dev = nullptr) {
  const dim3 grid(static_cast<unsigned>(nc), static_cast<unsigned>((H + HG - 1) / HG));
  const size_t smem = static_cast<size_t>(HG * (Dp / 32) * 33 + HG * kChunk) * 4;
  switch (ct) {
    case GgmlType::F32:
      chunk_kernel<0, HG><<<grid, kThreads, smem, stream>>>(qhat, cache, crb, D, Dp, rope, kv_lora, n, H, scale, vec, pm, pl, po, nc, pos_dev);
      break;
    case GgmlType::F16:
      chunk_kernel<1, HG><<<grid, kThreads, smem, stream>>>(qhat, cache, crb, D, Dp, rope, kv_lora, n, H, scale, vec, pm, pl, po, nc, pos_dev);
      break;
    default:
      chunk_kernel<2, HG><<<grid, kThreads, smem, stream>>>(qhat, cache, crb, D, Dp, rope, kv_lora, n, H, scale, vec, pm, pl, po, nc, pos_dev);
      break;
  }
  DSK_RETURN_IF_LAUNCH_FAILED("attention::chunk_kernel");
  return Status::Ok();
}

// o_h = merge of the chunks of head h in chunk order.
// nc: the partials' stride per head; with pos_dev the chunks merged are those of pos_dev[0] + 1 rows.
__global__ void __launch_bounds__(kThreads) merge_kernel(const float* part_m, const float* part_l, const float* part_o,
                                                         int64_t nc_stride, int64_t kv_lora, float* o, const int32_t* pos_dev) {
  const int64_t nc = pos_dev ? (static_cast<int64_t>(*pos_dev) + kChunk) / kChunk : nc_stride;  // chunks of pos + 1 rows
  const int64_t h = blockIdx.x;
  const float* pm = part_m + h * nc_stride;
  const float* pl = part_l + h * nc_stride;
  float M = fp::from_bits(0xff800000u);
  for (int64_t c = 0; c < nc; ++c) M = fp::max_num(M, pm[c]);
  float L = 0.0f;
  for (int64_t c = 0; c < nc; ++c) L = fp::fma(math::exp(fp::sub(pm[c], M)), pl[c], L);
  for (int64_t d = threadIdx.x; d < kv_lora; d += kThreads) {
    float O = 0.0f;
    for (int64_t c = 0; c < nc; ++c) O = fp::fma(math::exp(fp::sub(pm[c], M)), part_o[(h * nc_stride + c) * kv_lora + d], O);
    o[h * kv_lora + d] = fp::div(O, L);
  }
}

// --- prefill path -------------------------------------------------------------------------------

inline constexpr int kPfHeads = 16;       // heads per prefill block: two sets of 8 (half-warps)
inline constexpr int kPfMaxDp = 1024;     // nb <= 32 blocks: one block per row_sum chunk (L = 1)
inline constexpr int kPfMaxLora = 4 * kThreads / 2;  // P·V: 128 threads per head set, 4 d each

struct PrefillArgs {
  const float* q;         // q_rope of (t, h) at q + t * qt + h * qh + d_nope
  int64_t qt, qh, d_nope;
  const float* qhat;      // q~ of (t, h) at qhat + (t * H + h) * Dp + rope (written by the W_UK GEMV)
  float* o;               // o of (t, h) to o + (t * H + h) * o_stride (may be qhat: see the kernel)
  int64_t o_stride;
  const uint8_t* cache;
  size_t crb;
  int64_t D, Dp, rope, kv_lora, H, p0, T;
  float scale;
  bool vec;   // 16-byte row loads
  bool vvec;  // V loads of 4 elements (rows 16-byte aligned and rope % 4 == 0)
};

inline size_t prefill_smem_bytes(int64_t Dp, int64_t kv_lora) {
  // Q^ [Dp][16], e [256][16], O [16][kv_lora], warp maxima [8][16], m_c, M, L [16] each
  return static_cast<size_t>(kPfHeads * Dp + kChunk * kPfHeads + kPfHeads * kv_lora + 8 * kPfHeads + 3 * kPfHeads) * 4;
}

__device__ __forceinline__ void add8(const float (&a)[8], float (&x)[8]) {
#pragma unroll
  for (int h = 0; h < 8; ++h) x[h] = fp::add(a[h], x[h]);
}
__device__ __forceinline__ void copy8(float (&d)[8], const float (&x)[8]) {
#pragma unroll
  for (int h = 0; h < 8; ++h) d[h] = x[h];
}

// s[h] = scale * (row . Q^_h) for one cache row and 8 heads (q: shared memory, element k of head h at
// q[k * kPfHeads + h]): order::row_sum with L = 1 (nb <= 32): leaf b = +0 + (32-element fma chain of
// block b), leaves past nb +0; tree32 built by a binary counter (t_k: the completed subtree of 2^k
// leaves; adding leaf b merges while bit k of b is set), the same tree as warp_tree32.
template <int CT>
__device__ __forceinline__ void row_scores8(const uint8_t* row, const float* q, int nb, int64_t D, bool vec,
                                            float scale, float (&s)[8]) {
  float t0[8], t1[8], t2[8], t3[8], t4[8], x[8];
#pragma unroll
  for (int h = 0; h < 8; ++h) t0[h] = t1[h] = t2[h] = t3[h] = t4[h] = x[h] = 0.0f;
#pragma unroll 1
  for (int b = 0; b < 32; ++b) {
#pragma unroll
    for (int h = 0; h < 8; ++h) x[h] = 0.0f;
    if (b < nb) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {  // 16 elements at a time (registers); one chain
        float w[16];
        load_elems<CT, 16>(row, 32 * b + 16 * half, D, vec, w);
        const float* qb = q + (32 * b + 16 * half) * kPfHeads;
#pragma unroll
        for (int i = 0; i < 16; ++i) {
          const float4 lo = *reinterpret_cast<const float4*>(qb + i * kPfHeads);
          const float4 hi = *reinterpret_cast<const float4*>(qb + i * kPfHeads + 4);
          x[0] = fp::fma(w[i], lo.x, x[0]);
          x[1] = fp::fma(w[i], lo.y, x[1]);
          x[2] = fp::fma(w[i], lo.z, x[2]);
          x[3] = fp::fma(w[i], lo.w, x[3]);
          x[4] = fp::fma(w[i], hi.x, x[4]);
          x[5] = fp::fma(w[i], hi.y, x[5]);
          x[6] = fp::fma(w[i], hi.z, x[6]);
          x[7] = fp::fma(w[i], hi.w, x[7]);
        }
      }
#pragma unroll
      for (int h = 0; h < 8; ++h) x[h] = fp::add(0.0f, x[h]);  // the chunk sum (one block, from +0)
    }
    if (b & 1) {
      add8(t0, x);
      if (b & 2) {
        add8(t1, x);
        if (b & 4) {
          add8(t2, x);
          if (b & 8) {
            add8(t3, x);
            if (b & 16) add8(t4, x);  // b = 31: x is the whole tree
            else copy8(t4, x);
          } else {
            copy8(t3, x);
          }
        } else {
          copy8(t2, x);
        }
      } else {
        copy8(t1, x);
      }
    } else {
      copy8(t0, x);
    }
  }
#pragma unroll
  for (int h = 0; h < 8; ++h) s[h] = fp::mul(scale, x[h]);
}

// The scores of this thread's rows of chunk [j0, j1), stored raw at es[(row - j0) * 16 + head]: rows
// j0 + 128 * it + rw (it = 0, 1; rw = 16 * warp + lane % 16), heads hs..hs+7 (hs = 8 * (lane / 16)).
// A lane past j1 computes the warp's first row (valid) and drops it, keeping the warp converged.
// Then mx = max_num over the thread's rows in order.
template <int CT>
__device__ __forceinline__ void chunk_scores(const PrefillArgs& a, const float* qs, int nb, int64_t j0, int64_t j1,
                                             int rw, int warp, int hs, float* es, float (&mx)[8]) {
#pragma unroll 1
  for (int it = 0; it < 2; ++it) {
    const int64_t jw = j0 + 128 * it + 16 * warp;
    if (jw >= j1) break;  // warp-uniform
    const int64_t j = j0 + 128 * it + rw;
    const bool ok = j < j1;
    float s[8];
    row_scores8<CT>(a.cache + static_cast<size_t>(ok ? j : jw) * a.crb, qs + hs, nb, a.D, a.vec, a.scale, s);
    if (ok) {
      float4* e = reinterpret_cast<float4*>(es + (128 * it + rw) * kPfHeads + hs);
      e[0] = make_float4(s[0], s[1], s[2], s[3]);
      e[1] = make_float4(s[4], s[5], s[6], s[7]);
    }
  }
  const float ninf = fp::from_bits(0xff800000u);
#pragma unroll
  for (int h = 0; h < 8; ++h) mx[h] = ninf;
#pragma unroll
  for (int it = 0; it < 2; ++it) {
    if (j0 + 128 * it + rw < j1) {
#pragma unroll
      for (int h = 0; h < 8; ++h) mx[h] = fp::max_num(mx[h], es[(128 * it + rw) * kPfHeads + hs + h]);
    }
  }
}

// m_c of the 16 heads from every thread's mx (half-warp butterfly, then warps in order) into mcs.
// Both passes call it on the same scores in the same order: the same bits. (max_num's value does not
// depend on the order; only the sign of a zero maximum can, and exp(s - m) and exp(m_c - M) do not
// see it.) Contains two __syncthreads: call from all threads.
__device__ __forceinline__ void chunk_max(float (&mx)[8], float* red, float* mcs, int lane, int warp, int tid) {
#pragma unroll
  for (int h = 0; h < 8; ++h)
#pragma unroll
    for (int o = 1; o < 16; o <<= 1) mx[h] = fp::max_num(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], o));
  if ((lane & 15) == 0) {
#pragma unroll
    for (int h = 0; h < 8; ++h) red[warp * kPfHeads + (lane >> 4) * 8 + h] = mx[h];
  }
  __syncthreads();
  if (tid < kPfHeads) {
    float m = fp::from_bits(0xff800000u);
    for (int w = 0; w < kThreads / 32; ++w) m = fp::max_num(m, red[w * kPfHeads + tid]);
    mcs[tid] = m;
  }
  __syncthreads();
}

// One block per (token t, group of 16 heads); blocks in x run the longest contexts first. In-place o:
// the block reads its tokens' Q^ rows into shared memory before anything is written, and no other
// block reads them. Thread tid < 16 keeps head tid's M and L; every thread owns O of (8 heads, 4 d)
// in shared memory.
template <int CT>
__global__ void __launch_bounds__(kThreads, 2) prefill_kernel(const PrefillArgs a) {
  extern __shared__ __align__(16) float sh[];
  const int Dp = static_cast<int>(a.Dp), kvl = static_cast<int>(a.kv_lora), nb = Dp / 32;
  float* qs = sh;                          // [Dp][16]
  float* es = qs + kPfHeads * Dp;          // [256][16]: scores, then e_j
  float* os = es + kChunk * kPfHeads;      // [16][kv_lora]: O
  float* red = os + kPfHeads * kvl;        // [8][16]
  float* mcs = red + 8 * kPfHeads;         // m_c [16]
  float* ms = mcs + kPfHeads;              // M [16]
  float* ls = ms + kPfHeads;               // L [16]
  const int64_t t = a.T - 1 - static_cast<int64_t>(blockIdx.x);
  const int64_t h0 = static_cast<int64_t>(blockIdx.y) * kPfHeads;
  const int hn = static_cast<int>(a.H - h0 < kPfHeads ? a.H - h0 : kPfHeads);
  const int64_t n = a.p0 + t + 1, nc = chunks(n);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const float ninf = fp::from_bits(0xff800000u);

  // Q^ = [q_rope | q~ | 0] of the 16 heads (missing heads: zeros, never written out).
  for (int i = tid; i < kPfHeads * Dp; i += kThreads) {
    const int hh = i / Dp, k = i - hh * Dp;
    float v = 0.0f;
    if (hh < hn) {
      if (k < a.rope) v = a.q[t * a.qt + (h0 + hh) * a.qh + a.d_nope + k];
      else if (k < a.D) v = a.qhat[(t * a.H + h0 + hh) * a.Dp + k];
    }
    qs[k * kPfHeads + hh] = v;
  }
  for (int i = tid; i < kPfHeads * kvl; i += kThreads) os[i] = 0.0f;
  __syncthreads();

  const int hs = (lane >> 4) * 8, rw = warp * 16 + (lane & 15);
  // Pass 1: m_c of every chunk, M = max_num over the chunks in chunk order.
  float M = ninf;
#pragma unroll 1
  for (int64_t c = 0; c < nc; ++c) {
    const int64_t j0 = c * kChunk, j1 = j0 + kChunk < n ? j0 + kChunk : n;
    float mx[8];
    chunk_scores<CT>(a, qs, nb, j0, j1, rw, warp, hs, es, mx);
    chunk_max(mx, red, mcs, lane, warp, tid);
    if (tid < kPfHeads) M = fp::max_num(M, mcs[tid]);
  }
  if (tid < kPfHeads) ms[tid] = M;

  // Pass 2: per chunk e_j, l_c, o_c, merged at once.
  const int ho = tid >> 7, d0 = 4 * (tid & 127);  // P·V: heads 8 ho .. 8 ho + 7, d0 .. d0 + 3
  const bool dv = d0 < kvl;
  float L = 0.0f;
#pragma unroll 1
  for (int64_t c = 0; c < nc; ++c) {
    const int64_t j0 = c * kChunk, j1 = j0 + kChunk < n ? j0 + kChunk : n;
    const int rows = static_cast<int>(j1 - j0);
    __syncthreads();  // the previous chunk's readers of es are done
    float mx[8];
    chunk_scores<CT>(a, qs, nb, j0, j1, rw, warp, hs, es, mx);
    chunk_max(mx, red, mcs, lane, warp, tid);
#pragma unroll 1
    for (int it = 0; it < 2; ++it) {  // e_j = exp(s_j - m_c), each thread on its own entries
      const int r = 128 * it + rw;
      if (r < rows) {
#pragma unroll
        for (int h = 0; h < 8; ++h) {
          float* e = es + r * kPfHeads + hs + h;
          *e = math::exp(fp::sub(*e, mcs[hs + h]));
        }
      }
    }
    __syncthreads();
    if (tid < kPfHeads) {  // l_c in row order; L = fma(f_c, l_c, L)
      float l = 0.0f;
      for (int r = 0; r < rows; ++r) l = fp::add(l, es[r * kPfHeads + tid]);
      L = fp::fma(math::exp(fp::sub(mcs[tid], M)), l, L);
    }
    if (dv) {
      float o[8][4];
#pragma unroll
      for (int h = 0; h < 8; ++h)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[h][e] = 0.0f;
      const uint8_t* vrow = a.cache + static_cast<size_t>(j0) * a.crb;
#pragma unroll 2
      for (int r = 0; r < rows; ++r) {
        float v[4];
        load4<CT>(vrow + static_cast<size_t>(r) * a.crb, a.rope + d0, a.vvec, v);
        const float4 ea = *reinterpret_cast<const float4*>(es + r * kPfHeads + 8 * ho);
        const float4 eb = *reinterpret_cast<const float4*>(es + r * kPfHeads + 8 * ho + 4);
        const float eh[8] = {ea.x, ea.y, ea.z, ea.w, eb.x, eb.y, eb.z, eb.w};
#pragma unroll
        for (int h = 0; h < 8; ++h)
#pragma unroll
          for (int e = 0; e < 4; ++e) o[h][e] = fp::fma(eh[h], v[e], o[h][e]);
      }
#pragma unroll
      for (int h = 0; h < 8; ++h) {
        const float f = math::exp(fp::sub(mcs[8 * ho + h], ms[8 * ho + h]));
        float* O = os + (8 * ho + h) * kvl + d0;
#pragma unroll
        for (int e = 0; e < 4; ++e) O[e] = fp::fma(f, o[h][e], O[e]);
      }
    }
  }
  if (tid < kPfHeads) ls[tid] = L;
  __syncthreads();
  if (dv) {
#pragma unroll
    for (int h = 0; h < 8; ++h) {
      const int hh = 8 * ho + h;
      if (hh < hn) {
        float* out = a.o + (t * a.H + h0 + hh) * a.o_stride + d0;
        const float* O = os + hh * kvl + d0;
#pragma unroll
        for (int e = 0; e < 4; ++e) out[e] = fp::div(O[e], ls[hh]);
      }
    }
  }
}

template <int CT>
inline Status launch_prefill_ct(const PrefillArgs& a, cudaStream_t stream) {
  const size_t smem = prefill_smem_bytes(a.Dp, a.kv_lora);
  auto kern = prefill_kernel<CT>;
  // Not a stream operation: fine inside graph capture.
  if (smem > 48 * 1024)
    DSK_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  const dim3 grid(static_cast<unsigned>(a.T), static_cast<unsigned>((a.H + kPfHeads - 1) / kPfHeads));
  kern<<<grid, kThreads, smem, stream>>>(a);
  DSK_RETURN_IF_LAUNCH_FAILED("attention::prefill_kernel");
  return Status::Ok();
}

// --- path choice, workspace -----------------------------------------------------------------------

enum class Path { automatic, decode, prefill };
// Forces a path for tests and benches (the bits never depend on it). Set it before workspace_size().
// Not thread-safe. A forced prefill on a shape the prefill kernel does not take runs decode.
inline Path& path_knob() {
  static Path v = Path::automatic;
  return v;
}
inline constexpr int64_t kPrefillMinTokens = 8;       // prefill from this T on,
inline constexpr int64_t kPrefillShortContext = 1024;  // and from T = 2 while p0 + T is at most this

inline bool prefill_shape_ok(const MlaParams& p) {
  return padded(p.rope_dims + p.kv_lora) <= kPfMaxDp && p.kv_lora <= kPfMaxLora &&
         (p.n_head + kPfHeads - 1) / kPfHeads <= 65535;
}

// Prefill with packed q rows (token stride H * head stride) and out rows (H * d_v): steps 1 and 4
// run as two grouped GEMMs over all T * H (token, head) rows, one group per head, instead of
// per-token GEMVs (same bits: every row in the canonical order).
inline bool grouped_heads(const MlaParams& p) {
  const int64_t qh = p.q_head_stride ? p.q_head_stride : p.d_nope + p.rope_dims;
  const int64_t qt = p.q_token_stride ? p.q_token_stride : qh * p.n_head;
  const int64_t os = p.out_stride ? p.out_stride : p.n_head * p.d_v;
  return qt == qh * p.n_head && os == p.n_head * p.d_v && p.T * p.n_head <= INT32_MAX / 4;
}

struct Layout {
  size_t qa, qhat, pm, pl, po, o, oa, grp, grp_bytes, total;
};
inline Layout layout(const MlaParams& p, bool prefill) {
  const int64_t H = p.n_head, D = p.rope_dims + p.kv_lora, Dp = padded(D),
                nc = prefill ? 0 : chunks(p.pos_dev ? p.max_ctx : p.p0 + p.T);
  const int64_t rows = prefill && grouped_heads(p) ? p.T * H : H;  // activation rows of steps 1 and 4
  Layout l{};
  size_t x = 0;
  l.qa = x; x += align256(static_cast<size_t>(rows) * activation_row_bytes(activation_type(p.k_b_type), p.d_nope));
  l.qhat = x; x += align256(static_cast<size_t>(prefill ? p.T : 1) * static_cast<size_t>(H * Dp) * 4);
  l.pm = x; x += align256(static_cast<size_t>(H * nc) * 4);
  l.pl = x; x += align256(static_cast<size_t>(H * nc) * 4);
  l.po = x; x += align256(static_cast<size_t>(H * nc * p.kv_lora) * 4);
  if (prefill) {
    l.o = l.qhat;  // o of (t, h) in Q^'s slot, stride Dp
  } else {
    l.o = x; x += align256(static_cast<size_t>(H * p.kv_lora) * 4);
  }
  l.oa = x; x += align256(static_cast<size_t>(rows) * activation_row_bytes(activation_type(p.v_b_type), p.kv_lora));
  l.grp_bytes = rows > H ? gemm::head_workspace_size(p.T, static_cast<int32_t>(H)) : 0;
  l.grp = x; x += align256(l.grp_bytes);
  l.total = x;
  return l;
}

}  // namespace cuda_detail

// Whether launch(p) takes the prefill path (the rule in the header comment, or path_knob()).
inline bool uses_prefill(const MlaParams& p) {
  using namespace cuda_detail;
  if (!prefill_shape_ok(p) || p.pos_dev) return false;
  switch (path_knob()) {
    case Path::decode: return false;
    case Path::prefill: return true;
    default: return p.T >= kPrefillMinTokens || (p.T >= 2 && p.p0 + p.T <= kPrefillShortContext);
  }
}

// Device scratch bytes launch(p, ...) needs: see the header comment (decode: grows with p0 + T, the
// chunk partials of one token; prefill: with T, Q^ of every token).
inline size_t workspace_size(const MlaParams& p) { return cuda_detail::layout(p, uses_prefill(p)).total; }

namespace cuda_detail {

// Shapes and strides both paths use.
struct Geometry {
  int64_t H, D, Dp, qh, qt, os;
  size_t crb;
  bool vec;
};

// One token's per-head matrices (expert h = head h of a [K, M, H] stack) times activation row h:
// y + h * y_stride.
inline Status per_head_gemv(GgmlType wt, const void* w, int64_t M, int64_t K, const void* x, size_t xs, int64_t H,
                            float* y, int64_t y_stride, cudaStream_t stream) {
  gemv::IndexedParams ip;
  ip.wtype = wt;
  ip.w = w;
  ip.n_expert = static_cast<int32_t>(H);
  ip.expert_bytes = weight_row_bytes(wt, K) * static_cast<size_t>(M);
  ip.x = x;
  ip.x_stride = xs;
  ip.T = 1;
  ip.k = static_cast<int>(H);
  ip.act_per_pair = true;
  ip.y = y;
  ip.y_pair_stride = y_stride;
  ip.M = M;
  ip.K = K;
  return gemv::launch_indexed(ip, stream);
}

// Step 1 of token t: q~ of every head to y + h * y_stride (quantized q_nope, then the W_UK GEMV).
inline Status q_tilde(const MlaParams& p, const Geometry& g, int64_t t, uint8_t* qa, float* y, int64_t y_stride,
                      cudaStream_t stream) {
  const void* qx = nullptr;
  size_t qxs = 0;
  DSK_RETURN_IF_ERROR(gemv::activation_rows(activation_type(p.k_b_type), p.q + t * g.qt, g.qh, qa, p.d_nope,
                                            static_cast<int>(g.H), p.flavor, stream, qx, qxs));
  return per_head_gemv(p.k_b_type, p.k_b, p.kv_lora, p.d_nope, qx, qxs, g.H, y, y_stride, stream);
}

// Step 4 of token t: out_h = W_UV_h o_h for every head, o_h at o + h * o_stride.
inline Status w_uv(const MlaParams& p, const Geometry& g, int64_t t, const float* o, int64_t o_stride, uint8_t* oa,
                   cudaStream_t stream) {
  const void* ox = nullptr;
  size_t oxs = 0;
  DSK_RETURN_IF_ERROR(gemv::activation_rows(activation_type(p.v_b_type), o, o_stride, oa, p.kv_lora, static_cast<int>(g.H),
                                            p.flavor, stream, ox, oxs));
  return per_head_gemv(p.v_b_type, p.v_b, p.d_v, p.kv_lora, ox, oxs, g.H, p.out + t * g.os, p.d_v, stream);
}

inline Geometry geometry(const MlaParams& p) {
  Geometry g{};
  g.H = p.n_head;
  g.D = p.rope_dims + p.kv_lora;
  g.Dp = padded(g.D);
  g.qh = p.q_head_stride ? p.q_head_stride : p.d_nope + p.rope_dims;
  g.qt = p.q_token_stride ? p.q_token_stride : g.qh * g.H;
  g.os = p.out_stride ? p.out_stride : g.H * p.d_v;
  const size_t esz = p.cache_type == GgmlType::F32 ? 4 : 2;
  g.crb = p.cache_row_bytes ? p.cache_row_bytes : static_cast<size_t>(g.D) * esz;
  g.vec = reinterpret_cast<uintptr_t>(p.cache) % 16 == 0 && g.crb % 16 == 0;
  return g;
}

// Steps 2 + 3 of the prefill path for all T tokens, one launch: reads q~ from the workspace's Q^
// slots (written by step 1) and q_rope from p.q; writes o over the Q^ slots. (Exposed for benches.)
inline Status launch_prefill_attention(const MlaParams& p, void* workspace, cudaStream_t stream) {
  const Geometry g = geometry(p);
  const Layout l = layout(p, true);
  uint8_t* ws = static_cast<uint8_t*>(workspace);
  PrefillArgs a{};
  a.q = p.q;
  a.qt = g.qt;
  a.qh = g.qh;
  a.d_nope = p.d_nope;
  a.qhat = reinterpret_cast<const float*>(ws + l.qhat);
  a.o = reinterpret_cast<float*>(ws + l.o);
  a.o_stride = g.Dp;
  a.cache = static_cast<const uint8_t*>(p.cache);
  a.crb = g.crb;
  a.D = g.D;
  a.Dp = g.Dp;
  a.rope = p.rope_dims;
  a.kv_lora = p.kv_lora;
  a.H = g.H;
  a.p0 = p.p0;
  a.T = p.T;
  a.scale = p.kq_scale;
  a.vec = g.vec;
  a.vvec = g.vec && p.rope_dims % 4 == 0;
  switch (p.cache_type) {
    case GgmlType::F32: return launch_prefill_ct<0>(a, stream);
    case GgmlType::F16: return launch_prefill_ct<1>(a, stream);
    default: return launch_prefill_ct<2>(a, stream);
  }
}

}  // namespace cuda_detail

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
  const Geometry g = geometry(p);
  const size_t esz = p.cache_type == GgmlType::F32 ? 4 : 2;
  if (g.crb < static_cast<size_t>(g.D) * esz || g.crb % esz != 0 || reinterpret_cast<uintptr_t>(p.cache) % esz != 0)
    return Status::Invalid("mla: cache rows");
  const int64_t H = g.H, D = g.D, Dp = g.Dp;
  uint8_t* ws = static_cast<uint8_t*>(workspace);

  if (uses_prefill(p)) {
    const Layout l = layout(p, true);
    float* qhat = reinterpret_cast<float*>(ws + l.qhat);
    if (l.grp_bytes > 0) {  // steps 1 and 4 as grouped GEMMs over the T * H (token, head) rows
      const int64_t R = p.T * H;
      gemm::Grouping grp;
      DSK_RETURN_IF_ERROR(gemm::group_heads(p.T, static_cast<int32_t>(H), ws + l.grp, l.grp_bytes, grp, stream));
      auto grouped = [&](GgmlType wt, const void* w, int64_t M, int64_t K, const void* x, size_t xs, float* y,
                         int64_t ys) {
        gemm::GroupedParams gp;
        gp.wtype = wt;
        gp.w = w;
        gp.expert_bytes = weight_row_bytes(wt, K) * static_cast<size_t>(M);
        gp.n_expert = static_cast<int32_t>(H);
        gp.x = x;
        gp.x_stride = xs;
        gp.P = R;
        gp.pair = grp.pair;
        gp.group_offsets = grp.group_offsets;
        gp.tile_offsets = grp.tile_offsets;
        gp.y = y;
        gp.y_stride = ys;
        gp.M = M;
        gp.K = K;
        return gemm::launch_grouped(gp, stream);
      };
      const void* qx = nullptr;
      size_t qxs = 0;  // row t * H + h = q_nope of (t, h): q rows are packed (grouped_heads)
      DSK_RETURN_IF_ERROR(gemv::activation_rows(activation_type(p.k_b_type), p.q, g.qh, ws + l.qa, p.d_nope,
                                                static_cast<int>(R), p.flavor, stream, qx, qxs));
      DSK_RETURN_IF_ERROR(grouped(p.k_b_type, p.k_b, p.kv_lora, p.d_nope, qx, qxs, qhat + p.rope_dims, Dp));
      DSK_RETURN_IF_ERROR(launch_prefill_attention(p, workspace, stream));  // 2 + 3, every token
      const void* ox = nullptr;
      size_t oxs = 0;  // o of (t, h) in its Q^ slot
      DSK_RETURN_IF_ERROR(gemv::activation_rows(activation_type(p.v_b_type), qhat, Dp, ws + l.oa, p.kv_lora,
                                                static_cast<int>(R), p.flavor, stream, ox, oxs));
      return grouped(p.v_b_type, p.v_b, p.d_v, p.kv_lora, ox, oxs, p.out, p.d_v);
    }
    for (int64_t t = 0; t < p.T; ++t)  // 1. q~ of token t into its Q^ slots
      DSK_RETURN_IF_ERROR(q_tilde(p, g, t, ws + l.qa, qhat + t * H * Dp + p.rope_dims, Dp, stream));
    DSK_RETURN_IF_ERROR(launch_prefill_attention(p, workspace, stream));  // 2 + 3, every token
    for (int64_t t = 0; t < p.T; ++t)  // 4. o of token t from its Q^ slots
      DSK_RETURN_IF_ERROR(w_uv(p, g, t, qhat + t * H * Dp, Dp, ws + l.oa, stream));
    return Status::Ok();
  }

  // 8 heads per block (they share every cache row read).
  const size_t smem8 = static_cast<size_t>(8 * (Dp / 32) * 33 + 8 * kChunk) * 4;
  if (smem8 > 48 * 1024) return Status::Unsupported("mla: rope_dims + kv_lora too large");
  const Layout l = layout(p, false);
  float* qhat = reinterpret_cast<float*>(ws + l.qhat);
  float* pm = reinterpret_cast<float*>(ws + l.pm);
  float* pl = reinterpret_cast<float*>(ws + l.pl);
  float* po = reinterpret_cast<float*>(ws + l.po);
  float* o = reinterpret_cast<float*>(ws + l.o);
  int sms = 0, max_smem = 0;
  if (Status s = gemv::detail::device_limits(sms, max_smem); !s.ok()) return s;
  for (int64_t t = 0; t < p.T; ++t) {
    const float* q = p.q + t * g.qt;
    // With pos_dev: every chunk of max_ctx launched, the kernels read the position.
    const int64_t n = p.pos_dev ? p.max_ctx : p.p0 + t + 1, nc = chunks(n);
    // 1. Q^ = [q_rope | W_UK^T q_nope | 0]
    DSK_RETURN_IF_ERROR(q_tilde(p, g, t, ws + l.qa, qhat + p.rope_dims, Dp, stream));
    q_hat_kernel<<<static_cast<unsigned>(H), kThreads, 0, stream>>>(q, g.qh, p.d_nope, p.rope_dims, D, Dp, H, qhat);
    DSK_RETURN_IF_LAUNCH_FAILED("attention::q_hat_kernel");
    // 2. chunks, HG heads per block: 8 share every cache read, fewer give more blocks (each block's
    // scores are a serial loop over its rows and heads); per-head arithmetic does not depend on HG.
    {
      const int64_t blocks8 = nc * ((H + 7) / 8);
      const int hg = blocks8 >= 2 * sms ? 8 : 2 * blocks8 >= 2 * sms ? 4 : 4 * blocks8 >= 2 * sms ? 2 : 1;
      const uint8_t* cache = static_cast<const uint8_t*>(p.cache);
      Status st;
      switch (hg) {
        case 8: st = launch_chunks<8>(p.cache_type, nc, H, qhat, cache, g.crb, D, Dp, p.rope_dims, p.kv_lora, n, p.kq_scale, g.vec, pm, pl, po, stream, p.pos_dev); break;
        case 4: st = launch_chunks<4>(p.cache_type, nc, H, qhat, cache, g.crb, D, Dp, p.rope_dims, p.kv_lora, n, p.kq_scale, g.vec, pm, pl, po, stream, p.pos_dev); break;
        case 2: st = launch_chunks<2>(p.cache_type, nc, H, qhat, cache, g.crb, D, Dp, p.rope_dims, p.kv_lora, n, p.kq_scale, g.vec, pm, pl, po, stream, p.pos_dev); break;
        default: st = launch_chunks<1>(p.cache_type, nc, H, qhat, cache, g.crb, D, Dp, p.rope_dims, p.kv_lora, n, p.kq_scale, g.vec, pm, pl, po, stream, p.pos_dev); break;
      }
      DSK_RETURN_IF_ERROR(st);
    }
    // 3. merge
    merge_kernel<<<static_cast<unsigned>(H), kThreads, 0, stream>>>(pm, pl, po, nc, p.kv_lora, o, p.pos_dev);
    DSK_RETURN_IF_LAUNCH_FAILED("attention::merge_kernel");
    // 4. out_h = W_UV_h o_h
    DSK_RETURN_IF_ERROR(w_uv(p, g, t, o, p.kv_lora, ws + l.oa, stream));
  }
  return Status::Ok();
}

}  // namespace dsk::attention

#endif  // __CUDACC__
