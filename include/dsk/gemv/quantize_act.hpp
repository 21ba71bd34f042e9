// dsk/gemv/quantize_act.hpp — activation quantization on the GPU: N float rows of K elements into
// Q8_0 or Q8_K rows (the activation types of the GEMV), byte for byte as dsk::ref::quantize_row.
//
// Kernels (warp-cooperative, one pass, no shared memory, no block-wide barrier):
//   Q8_0: 8 lanes per block, 4 blocks per warp; lane j of a group holds elements 4j..4j+3 of its
//         block (one 16-byte load; a warp reads 512 contiguous bytes of a row).
//   Q8_K: one warp per block; lane l holds elements 4l..4l+3 and 128+4l..128+4l+3 (two 16-byte
//         loads, each a contiguous 512 bytes per warp). The 16-element bsum groups are 4 lanes.
// Rows that are not 16-byte aligned (x is only required 4-byte aligned) are read with scalar loads
// into the same lanes, so the result does not depend on the alignment.
//
// NUMERICS: the same bytes as quant::quantize_block(x, block, flavor), the function the reference
// calls, for every input and flavour, non-finite blocks included (d = NaN, quants 0):
//   - max |x| is the maximum of quant::abs_bits(x) over the block (an integer max, order
//     independent; abs_bits is monotonic in |x|, subnormals and -0 included), made a float by
//     quant::amax_of_bits — max_abs's value, +inf for a block holding a NaN or an infinity;
//   - Q8_K's ggml flavours also need the *first* x of largest |x| (ggml's iscale = -127/max, so its
//     sign matters when +a and -a tie): each lane keeps the smallest index among its elements whose
//     abs_bits equal the block's maximum, as the key (index << 1 | sign bit), and the warp takes the
//     minimum key — the smallest index wins, exactly the reference's first-strictly-greater scan;
//   - d, the quant multiplier and every quant come from quant::q8_0_scale / q8_0_quant and
//     q8_K_zero / q8_K_scale / q8_K_quant, the pieces quantize_block itself is made of;
//   - bsums are uint32 sums of q8_K_quant's contributions (exact, wrapping as the reference), over
//     the 4 lanes of a group by shuffles; their low 16 bits are stored.
// No float value is ever combined across lanes, so no summation order is involved.
//
// Fused SwiGLU (QuantizeParams::swiglu.u set, the MoE's h before the down projection): element i of
// row r is h = ops::swiglu(x, u) (ops::swiglu_clamped when clamp), times the row's routing weight
// w[(r / k) * w_stride + r % k] when w is set — the formula of the separate SwiGLU kernel, computed
// while loading, so the bytes equal SwiGLU then quantize_act and h never goes to memory.
//
// Requirements: type Q8_0 or Q8_K (kUnsupported otherwise); K a multiple of 32 / 256; N >= 1;
// x 4-byte aligned; y 2-byte (Q8_0) / 4-byte (Q8_K) aligned. Never allocates or synchronizes;
// capturable in a CUDA graph.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/status.hpp"
#include "dsk/ops/ops.hpp"
#include "dsk/quant/blocks.hpp"
#include "dsk/quant/quantize.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::gemv {

// The SwiGLU the quantizer applies to its input (see the header); u == nullptr: none.
struct SwigluInput {
  const float* u = nullptr;  // rows like x (same stride)
  const float* w = nullptr;  // routing weights, or nullptr
  int64_t w_stride = 0;
  int k = 1;                 // rows (pairs) per token for w
  bool clamp = false;
  float limit = 0.0f;
};

struct QuantizeParams {
  GgmlType type = GgmlType::Q8_K;  // Q8_0 or Q8_K
  const float* x = nullptr;        // N rows of K floats
  int64_t x_stride = 0;            // elements between input rows (0: K)
  void* y = nullptr;               // N rows of K / block blocks
  size_t y_stride = 0;             // bytes between output rows (0: packed)
  int64_t K = 0;
  int N = 1;
  quant::Q8Flavor flavor = quant::Q8Flavor::ggml_ref;
  SwigluInput swiglu;              // u set: quantize swiglu(x, u) (* w)
};

// The activation type a GEMV over weights of type w takes: Q8_0 for Q8_0, Q8_K for the k- and
// i-quants, F32 for the float types (and anything else).
inline GgmlType activation_type(GgmlType w) {
  switch (w) {
    case GgmlType::Q8_0: return GgmlType::Q8_0;
    case GgmlType::Q4_K: case GgmlType::Q6_K: case GgmlType::Q2_K: case GgmlType::IQ2_XXS: return GgmlType::Q8_K;
    default: return GgmlType::F32;
  }
}
// Bytes of one activation row of K elements in type act (Q8_0, Q8_K or F32).
inline size_t activation_row_bytes(GgmlType act, int64_t K) {
  if (act == GgmlType::F32) return static_cast<size_t>(K) * 4;
  const GgmlTypeInfo& ti = ggml_type_info(act);
  return static_cast<size_t>(K / ti.block_elems) * ti.block_bytes;
}

#if defined(__CUDACC__)

namespace detail {

inline constexpr int kQuantThreads = 128;  // 4 warps per CTA
inline constexpr unsigned kQuantFullMask = 0xffffffffu;
inline constexpr int kQ80Lanes = 8;  // lanes per Q8_0 block

// 4 consecutive floats: one 16-byte load where p is 16-byte aligned, else 4 scalar loads.
__device__ __forceinline__ void quant_load4(const float* p, float* v) {
  if ((reinterpret_cast<uintptr_t>(p) & 15u) == 0) {
    const float4 f = __ldg(reinterpret_cast<const float4*>(p));
    v[0] = f.x;
    v[1] = f.y;
    v[2] = f.z;
    v[3] = f.w;
  } else {
    for (int k = 0; k < 4; ++k) v[k] = __ldg(p + k);
  }
}

// The 4 inputs at element offset o of row t: x itself, or SwiGLU(x, u) (* the row's weight).
template <bool kSwiglu>
__device__ __forceinline__ void load_input4(const float* x, int64_t o, int64_t t, const SwigluInput& sw, float* v) {
  quant_load4(x + o, v);
  if constexpr (kSwiglu) {
    float uv[4];
    quant_load4(sw.u + o, uv);
    const float rw = sw.w ? sw.w[(t / sw.k) * sw.w_stride + t % sw.k] : 1.0f;
    for (int k = 0; k < 4; ++k) {
      const float h = sw.clamp ? ops::swiglu_clamped(v[k], uv[k], sw.limit) : ops::swiglu(v[k], uv[k]);
      v[k] = sw.w ? fp::mul(h, rw) : h;
    }
  }
}

// 4 int8 quants as the little-endian word of their bytes in order.
__device__ __forceinline__ uint32_t quant_pack4(const int8_t* q) {
  uint32_t w = 0;
  for (int k = 0; k < 4; ++k) w |= static_cast<uint32_t>(static_cast<uint8_t>(q[k])) << (8 * k);
  return w;
}

// Largest abs_bits over the lanes of aligned groups of W lanes (W a power of two <= 32).
template <int W>
__device__ __forceinline__ uint32_t quant_group_max(uint32_t m) {
  for (int o = W / 2; o > 0; o /= 2) {
    const uint32_t other = __shfl_xor_sync(kQuantFullMask, m, o);
    m = other > m ? other : m;
  }
  return m;
}

// Q8_0: 8 lanes per block. Every lane runs the shuffles (groups past the end compute on zeros and
// store nothing), so the full mask is always right.
template <bool kSwiglu>
__global__ void __launch_bounds__(kQuantThreads) quantize_q8_0_kernel(const float* x, int64_t x_stride, uint8_t* y,
                                                                      size_t y_stride, int nb, int total,
                                                                      quant::Q8Flavor flavor, SwigluInput sw) {
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * kQuantThreads + threadIdx.x;
  const int g = static_cast<int>(tid / kQ80Lanes), j = static_cast<int>(tid % kQ80Lanes);
  const bool active = g < total;
  const int t = active ? g / nb : 0, b = active ? g - t * nb : 0;
  float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  if (active) load_input4<kSwiglu>(x, t * x_stride + static_cast<int64_t>(b) * quant::kQK8_0 + 4 * j, t, sw, v);
  uint32_t m = 0;
  for (int k = 0; k < 4; ++k) {
    const uint32_t a = quant::abs_bits(v[k]);
    m = a > m ? a : m;
  }
  const float amax = quant::amax_of_bits(quant_group_max<kQ80Lanes>(m));
  if (!active) return;
  const quant::Q8_0Scale s = quant::q8_0_scale(amax, flavor);
  const bool finite = fp::is_finite(amax);
  int8_t q[4];
  for (int k = 0; k < 4; ++k) q[k] = finite ? quant::q8_0_quant(v[k], s.id, flavor) : int8_t{0};
  // The block is 2-byte aligned (34 bytes): d, then the quants as 16-bit words.
  uint8_t* yb = y + static_cast<size_t>(t) * y_stride + static_cast<size_t>(b) * sizeof(quant::block_q8_0);
  if (j == 0) *reinterpret_cast<uint16_t*>(yb) = s.d.bits;
  const uint32_t w = quant_pack4(q);
  uint16_t* qp = reinterpret_cast<uint16_t*>(yb + 2 + 4 * j);
  qp[0] = static_cast<uint16_t>(w & 0xFFFFu);
  qp[1] = static_cast<uint16_t>(w >> 16);
}

// Q8_K: one warp per block (the grid has exactly ceil(total / 4) CTAs of 4 warps; a warp past the
// end leaves as a whole, before any shuffle).
template <bool kSwiglu>
__global__ void __launch_bounds__(kQuantThreads) quantize_q8_K_kernel(const float* x, int64_t x_stride, uint8_t* y,
                                                                      size_t y_stride, int nb, int total,
                                                                      quant::Q8Flavor flavor, SwigluInput sw) {
  const int g = static_cast<int>((static_cast<int64_t>(blockIdx.x) * kQuantThreads + threadIdx.x) / 32);
  const int lane = static_cast<int>(threadIdx.x % 32);
  if (g >= total) return;
  const int t = g / nb, b = g - t * nb;
  const int64_t xb = t * x_stride + static_cast<int64_t>(b) * quant::kQK_K;
  float v[8];  // v[k] is element idx(k): 4*lane + k, then 128 + 4*lane + (k - 4)
  load_input4<kSwiglu>(x, xb + 4 * lane, t, sw, v);
  load_input4<kSwiglu>(x, xb + 128 + 4 * lane, t, sw, v + 4);
  uint32_t m = 0;
  for (int k = 0; k < 8; ++k) {
    const uint32_t a = quant::abs_bits(v[k]);
    m = a > m ? a : m;
  }
  m = quant_group_max<32>(m);
  const float amax = quant::amax_of_bits(m);
  const bool zero = quant::q8_K_zero(amax, flavor);
  float max = 0.0f;
  if (!zero && flavor != quant::Q8Flavor::ik_x86) {  // warp-uniform
    // The first element (smallest index) of largest |x|: min over (index << 1 | sign) of the
    // elements whose abs_bits equal the maximum. Indices increase with k within a lane.
    uint32_t key = 0xffffffffu;
    for (int k = 7; k >= 0; --k) {
      if (quant::abs_bits(v[k]) == m) {
        const uint32_t idx = static_cast<uint32_t>(k < 4 ? 4 * lane + k : 128 + 4 * lane + (k - 4));
        key = idx << 1 | fp::bits(v[k]) >> 31;
      }
    }
    for (int o = 16; o > 0; o /= 2) {
      const uint32_t other = __shfl_xor_sync(kQuantFullMask, key, o);
      key = other < key ? other : key;
    }
    max = fp::from_bits(m | (key & 1u) << 31);  // that element's bits
  }
  const quant::Q8_KScale s = quant::q8_K_scale(amax, max, flavor);
  int8_t q[8];
  uint32_t sum[2] = {0, 0};  // bsum groups lane / 4 and 8 + lane / 4
  for (int k = 0; k < 8; ++k) q[k] = zero ? int8_t{0} : quant::q8_K_quant(v[k], s.id, flavor, sum[k / 4]);
  for (int o = 1; o < 4; o *= 2)
    for (int h = 0; h < 2; ++h) sum[h] += __shfl_xor_sync(kQuantFullMask, sum[h], o);
  // The block is 4-byte aligned (292 bytes): d at 0, qs at 4, bsums at 260.
  uint8_t* yb = y + static_cast<size_t>(t) * y_stride + static_cast<size_t>(b) * sizeof(quant::block_q8_K);
  if (lane == 0) *reinterpret_cast<uint32_t*>(yb) = fp::bits(s.d);
  reinterpret_cast<uint32_t*>(yb + 4)[lane] = quant_pack4(q);
  reinterpret_cast<uint32_t*>(yb + 4 + 128)[lane] = quant_pack4(q + 4);
  if (lane % 4 == 0) {
    int16_t* bs = reinterpret_cast<int16_t*>(yb + 4 + quant::kQK_K);
    bs[lane / 4] = quant::detail::wrap16(sum[0]);
    bs[8 + lane / 4] = quant::detail::wrap16(sum[1]);
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
  if (p.swiglu.u && (reinterpret_cast<uintptr_t>(p.swiglu.u) % 4 || p.swiglu.k < 1 || (p.swiglu.w && p.swiglu.w_stride < p.swiglu.k)))
    return Status::Invalid("quantize_act: bad SwiGLU input");
  const int64_t xs = p.x_stride ? p.x_stride : p.K;
  const size_t ys = p.y_stride ? p.y_stride : static_cast<size_t>(nb) * bbytes;
  const size_t yalign = q80 ? 2 : 4;
  if (xs < p.K || reinterpret_cast<uintptr_t>(p.x) % 4 || reinterpret_cast<uintptr_t>(p.y) % yalign || ys % yalign ||
      ys < static_cast<size_t>(nb) * bbytes)
    return Status::Invalid("quantize_act: bad stride or alignment");
  const int total = static_cast<int>(nb * p.N);
  uint8_t* y = static_cast<uint8_t*>(p.y);
  constexpr int threads = detail::kQuantThreads;
  const bool sw = p.swiglu.u != nullptr;
  if (q80) {
    constexpr int bpc = threads / detail::kQ80Lanes;  // blocks per CTA
    const unsigned grid = static_cast<unsigned>((total + bpc - 1) / bpc);
    if (sw)
      detail::quantize_q8_0_kernel<true><<<grid, threads, 0, stream>>>(p.x, xs, y, ys, static_cast<int>(nb), total, p.flavor, p.swiglu);
    else
      detail::quantize_q8_0_kernel<false><<<grid, threads, 0, stream>>>(p.x, xs, y, ys, static_cast<int>(nb), total, p.flavor, p.swiglu);
  } else {
    constexpr int bpc = threads / 32;
    const unsigned grid = static_cast<unsigned>((total + bpc - 1) / bpc);
    if (sw)
      detail::quantize_q8_K_kernel<true><<<grid, threads, 0, stream>>>(p.x, xs, y, ys, static_cast<int>(nb), total, p.flavor, p.swiglu);
    else
      detail::quantize_q8_K_kernel<false><<<grid, threads, 0, stream>>>(p.x, xs, y, ys, static_cast<int>(nb), total, p.flavor, p.swiglu);
  }
  DSK_RETURN_IF_LAUNCH_FAILED("quantize_act");
  return Status::Ok();
}

// N rows of K floats (x_stride elements apart) as GEMV activations of type act: quantized by
// quantize_act into y (packed rows) for Q8_0 / Q8_K, or the rows themselves for F32. Sets the
// pointer and byte stride to give the GEMV.
inline Status activation_rows(GgmlType act, const float* x, int64_t x_stride, void* y, int64_t K, int N,
                              quant::Q8Flavor flavor, cudaStream_t stream, const void*& rows, size_t& row_stride) {
  if (act == GgmlType::F32) {
    rows = x;
    row_stride = static_cast<size_t>(x_stride) * 4;
    return Status::Ok();
  }
  QuantizeParams q;
  q.type = act;
  q.x = x;
  q.x_stride = x_stride;
  q.y = y;
  q.K = K;
  q.N = N;
  q.flavor = flavor;
  rows = y;
  row_stride = activation_row_bytes(act, K);
  return quantize_act(q, stream);
}

#endif  // __CUDACC__

}  // namespace dsk::gemv
