// dsk/gemv/gemv.hpp — quantized GEMV / small-batch GEMM: y[n] = W · x[n] for n = 0..N-1, N = 1..4.
//
// W: M rows of K elements in F32, F16, BF16, Q8_0, Q4_K, Q6_K, Q2_K or IQ2_XXS (ggml blocks, as
// GGUF stores them; F32/F16/BF16 taken in 32-element dot blocks). x[n]: a row in the activation
// type of W (quant/blocks.hpp act_block_t): Q8_0 blocks for Q8_0, Q8_K blocks for the k-/i-quants,
// F32 for the float types (quantize_act.hpp makes Q8_0 / Q8_K rows on the GPU).
//
// NUMERICS (the contract; identical to dsk::ref::gemv / quant::dot_row, docs/numerics.md §5–6):
//   y[n][m] = order::row_sum over the nb = K / block_elems block results r_b = the block dot product
//             of dsk/quant/dot.hpp (exact integer sums, then that type's fixed float formula):
//             lane c of the warp that owns row m sums blocks [c·L, min(nb, (c+1)·L)), L = ceil(nb/32),
//             in block order from +0.0f; the 32 lane sums are combined by order::warp_tree32.
//   The order depends on K only: not on N, M, the launch shape or the GPU. Each weight block is read
//   from memory once and dotted with the N activation blocks; token n's bits equal those of N = 1.
//   The device block dots below compute the integer sums with dp4a in another (exact) order and then
//   the float formula of dot.hpp word for word (fp:: ops), so they give dot_block's bits.
//
// Kernel (sm_80+: cp.async, dp4a): persistent CTAs of up to 16 warps, one CTA per SM; a warp owns a
// row at a time. The CTA first copies the N activation rows into shared memory (block b of token t
// at slot t * nb + b, padded to an odd number of 16-byte granules: conflict-free 16-byte reads by
// consecutive lanes). A warp streams its row in units of 32P consecutive blocks: each unit is one
// contiguous byte range, copied with coalesced 16-byte cp.async (lane l: granules l, l + 32, ...;
// clipped to the tensor's end) into one of 2..4 stage buffers while earlier units are computed.
// Lane l computes blocks l, l + 32, ... of the unit and stores each block result in the warp's
// result table at (chunk, step); when the row is complete, lane c sums its chunk in block order and
// warp_tree32 combines the 32 lanes: the canonical order above. Block results are order-free (exact
// integer sums), so who computes a block does not matter; only the float accumulation is fixed.
// The dot work per weight byte is a few instructions; an earlier design (lane c streamed its own
// chunk from per-chunk slots) spent ~200 instructions per Q8_0 block on copy bookkeeping and
// bank-conflicted reads and was instruction-bound at 30-55 % of bandwidth (docs/performance.md).
// P (bytes per unit), the stage count and the warp count are performance choices (detail::*_knob,
// for benches); they never change a result (test_gemv_gpu checks several settings).
//
// Requirements (else launch returns an error, never a silent no-op): N in 1..4; K a multiple of the
// dot block (32 for Q8_0/F32/F16/BF16, 256 otherwise), K / block <= 2^24; w 16-byte aligned; row
// stride (bytes) >= the row's bytes and a multiple of the block's natural alignment (16 for F32,
// F16, BF16, Q4_K; 4 for Q2_K; 2 otherwise; packed rows always are); x rows 4-byte aligned (2 for
// Q8_0); y 4-byte aligned. The N staged activation rows (N * K / block * 304 bytes for the k- and
// i-quants, * 48 for Q8_0, * 144 for the float types) must fit in shared memory (227 KB on sm_90)
// next to one warp's buffers, which bounds K (kUnsupported beyond): max K for N = 1/4 is about
// 190000/47000 (k-quants), 150000/37000 (Q8_0), 50000/12000 (F32/F16/BF16). Every DeepSeek shape
// fits (K <= 18432 except float weights with N >= 3 at K = 18432). Launchers never allocate or
// synchronize; they can be captured in a CUDA graph. workspace_size() is 0 today (the argument is
// for future split-K paths).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/half.hpp"
#include "dsk/core/reduce.hpp"
#include "dsk/core/status.hpp"
#include "dsk/gemv/quantize_act.hpp"
#include "dsk/quant/blocks.hpp"
#include "dsk/quant/tables.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::gemv {

inline constexpr int kMaxTokens = 4;

struct Params {
  GgmlType wtype = GgmlType::F32;
  const void* w = nullptr;   // M rows of K elements of wtype
  size_t w_row_stride = 0;   // bytes between weight rows (0: packed, the row's bytes)
  const void* x = nullptr;   // N rows of K elements in the activation type of wtype
  size_t x_stride = 0;       // bytes between activation rows (0: packed)
  float* y = nullptr;        // y[n * y_stride + m]
  int64_t y_stride = 0;      // elements between output rows (0: M)
  int64_t M = 0;
  int64_t K = 0;
  int N = 1;                 // tokens, 1..4
};

// Scratch bytes launch() needs for p (0 today: every supported shape runs without scratch).
inline size_t workspace_size(const Params&) { return 0; }

// Expert GEMV (MoE; MLA's per-head matrices with ids = nullptr, expert j for slot j): P = T * k
// pairs; pair p = t * k + j multiplies expert e = ids[t * ids_stride + j] of a 3-D weight stack (expert e at w + e * expert_bytes, M rows of K) with activation row t
// (act_per_pair: row p) of x, into y[p * y_pair_stride + 0 .. M). Each row in the canonical order,
// so pair p's output has the bits of a plain launch on expert e with that activation row. An id
// outside [0, n_expert) gives a row of NaN (nothing of it is read). The staged activation rows
// (T, or P with act_per_pair) must fit in shared memory like N rows of launch().
struct IndexedParams {
  GgmlType wtype = GgmlType::F32;
  const void* w = nullptr;
  size_t w_row_stride = 0;   // 0: packed rows
  size_t expert_bytes = 0;   // 0: M * row stride
  int32_t n_expert = 0;
  const void* x = nullptr;   // activation rows (activation type of wtype)
  size_t x_stride = 0;       // bytes, 0: packed
  int T = 0;                 // tokens
  const int32_t* ids = nullptr;
  int64_t ids_stride = 0;    // 0: k
  int k = 0;                 // slots per token
  bool act_per_pair = false; // activation row of pair p is row p (else row t)
  float* y = nullptr;
  int64_t y_pair_stride = 0; // 0: M
  int64_t M = 0, K = 0;
};

#if defined(__CUDACC__)

namespace detail {

using namespace dsk::quant;

// --- static facts per weight block ----------------------------------------------------------------

// Staged activation block (shared memory): Q8_K as {qs[256], bsums[16], float d} padded to 304
// bytes; Q8_0 as {qs[32], float d} padded to 48; F32 as {v[32]} padded to 144. Strides of 76, 12
// and 36 words (12, 12, 4 mod 32) make the [step][chunk] layout conflict-free for 16-byte reads.
template <class W>
struct wtraits {
  using act = act_block_t<W>;
  static constexpr int bytes = sizeof(W);
  static constexpr int elems = block_traits<W>::elems;
  static constexpr bool is_q8k = std::is_same_v<act, block_q8_K>;
  static constexpr bool is_q80 = std::is_same_v<act, block_q8_0>;
  static constexpr int act_stride = is_q8k ? 304 : is_q80 ? 48 : 144;
  static constexpr int act_src_bytes = sizeof(act);
  // Alignment of every weight block in a row whose start is 16-byte aligned (launch() requires the
  // row stride to be a multiple of it): the width of the shared-memory weight loads.
  static constexpr int align = bytes % 16 == 0 ? 16 : bytes % 4 == 0 ? 4 : 2;
  // Float weights (blocks of 64 / 128 bytes, a power of two): 16 bytes of padding after every 128
  // staged bytes, so that the 16-byte reads of 32 consecutive blocks hit distinct bank groups.
  static constexpr bool pad = !is_q8k && !is_q80;
};

// --- small device helpers -------------------------------------------------------------------------

__device__ __forceinline__ uint32_t smem_u32addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte global -> shared copy, only `bytes` (0..16) read, the rest zero-filled; bypasses L1.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32addr(dst)), "l"(src), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async4(void* dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_u32addr(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
}

// NWORDS consecutive 32-bit words starting at shared address p, which is A-byte aligned (A = 2, 4
// or 16, a compile-time fact of the weight type, see wtraits::align): 16-byte loads when A = 16,
// 4-byte loads when A = 4, else 4-byte loads of the aligned words around p realigned by byte_perm
// (reads NWORDS + 1 words; the stage buffers have slack after every unit).
template <int NWORDS, int A = 2>
__device__ __forceinline__ void load_words(const uint8_t* p, uint32_t (&w)[NWORDS]) {
  if constexpr (A >= 16) {
    const uint4* v = reinterpret_cast<const uint4*>(p);
#pragma unroll
    for (int i = 0; i < NWORDS / 4; ++i) {
      const uint4 q = v[i];
      w[4 * i] = q.x; w[4 * i + 1] = q.y; w[4 * i + 2] = q.z; w[4 * i + 3] = q.w;
    }
#pragma unroll
    for (int i = NWORDS / 4 * 4; i < NWORDS; ++i) w[i] = reinterpret_cast<const uint32_t*>(p)[i];
  } else if constexpr (A >= 4) {
#pragma unroll
    for (int i = 0; i < NWORDS; ++i) w[i] = reinterpret_cast<const uint32_t*>(p)[i];
  } else {
    // Pointer arithmetic (not an integer round trip) keeps the shared address space: LDS, not LD.
    const uint32_t mis = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p)) & 3u;
    const uint32_t* base = reinterpret_cast<const uint32_t*>(p - mis);
    const uint32_t sel = (mis & 2) ? 0x5432u : 0x3210u;
    uint32_t prev = base[0];
#pragma unroll
    for (int i = 0; i < NWORDS; ++i) {
      const uint32_t next = base[i + 1];
      w[i] = __byte_perm(prev, next, sel);
      prev = next;
    }
  }
}

// Exact fp16 -> fp32 widening by the conversion instruction (equal to f16_bits_to_f32 for every
// non-NaN input; a NaN stays a NaN, and outputs are compared with NaNs canonical).
__device__ __forceinline__ float cvt_half(uint32_t h16) {
  float f;
  const unsigned short h = static_cast<unsigned short>(h16);
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}

__device__ __forceinline__ float half_lo(uint32_t w) { return cvt_half(w & 0xFFFFu); }
__device__ __forceinline__ float half_hi(uint32_t w) { return cvt_half(w >> 16); }
__device__ __forceinline__ int32_t byte_of(uint32_t w, int k) { return static_cast<int32_t>((w >> (8 * k)) & 0xFFu); }
__device__ __forceinline__ int32_t sbyte_of(uint32_t w, int k) {
  return static_cast<int32_t>(static_cast<int8_t>((w >> (8 * k)) & 0xFFu));
}
__device__ __forceinline__ int dp4a(uint32_t a, uint32_t b, int c) {
  return __dp4a(static_cast<int>(a), static_cast<int>(b), c);
}
// Four sign bits (bit j: byte j negative) -> byte mask 0xFF / 0x00: the multiply moves bit j to bit
// 8j + 7 (the other copies land on no byte's top bit and never overlap), then prmt's sign mode
// replicates each byte's top bit over the byte.
__device__ __forceinline__ uint32_t sign_mask4(uint32_t s4) {
  uint32_t r;
  asm("prmt.b32 %0, %1, 0, 0xBA98;" : "=r"(r) : "r"(s4 * 0x10204080u));
  return r;
}

// Shared-memory tables of the CTA (IQ2_XXS only).
struct Tables {
  const uint64_t* grid;   // 256 entries
  const uint8_t* signs;   // 128 entries
};

// --- block dots: weight block at wb (shared, 2-byte aligned), N staged activation blocks ----------
// Each returns r[t] with the bits of quant::dot_block(w, a_t) (see dot.hpp for the formulas).

template <int N>
__device__ __forceinline__ void block_dot(const block_q8_0*, const uint8_t* wb, const uint8_t* const (&a)[N],
                                          const Tables&, float (&r)[N]) {
  uint32_t q[8];
  load_words<8>(wb + 2, q);
  const float dw = cvt_half(*reinterpret_cast<const uint16_t*>(wb));
#pragma unroll
  for (int t = 0; t < N; ++t) {
    const uint4 a0 = *reinterpret_cast<const uint4*>(a[t]);
    const uint4 a1 = *reinterpret_cast<const uint4*>(a[t] + 16);
    const float da = *reinterpret_cast<const float*>(a[t] + 32);
    int s = 0;
    s = dp4a(q[0], a0.x, s); s = dp4a(q[1], a0.y, s); s = dp4a(q[2], a0.z, s); s = dp4a(q[3], a0.w, s);
    s = dp4a(q[4], a1.x, s); s = dp4a(q[5], a1.y, s); s = dp4a(q[6], a1.z, s); s = dp4a(q[7], a1.w, s);
    r[t] = fp::mul(fp::mul(dw, da), fp::from_int(s));
  }
}

template <int N>
__device__ __forceinline__ void block_dot(const block_q4_K*, const uint8_t* wb, const uint8_t* const (&a)[N],
                                          const Tables&, float (&r)[N]) {
  uint32_t w[36];
  load_words<36, 16>(wb, w);
  const float dw = half_lo(w[0]), dminw = half_hi(w[0]);
  auto sb = [&](int k) { return byte_of(w[1 + k / 4], k % 4); };
  int32_t sc[8], mn[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      sc[j] = sb(j) & 63;
      mn[j] = sb(j + 4) & 63;
    } else {
      sc[j] = (sb(j + 4) & 0xF) | ((sb(j - 4) >> 6) << 4);
      mn[j] = (sb(j + 4) >> 4) | ((sb(j) >> 6) << 4);
    }
  }
  int32_t isum[N], msum[N];
#pragma unroll
  for (int t = 0; t < N; ++t) isum[t] = msum[t] = 0;
#pragma unroll
  for (int c = 0; c < 4; ++c) {
    uint32_t lo4[8], hi4[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      lo4[k] = w[4 + 8 * c + k] & 0x0F0F0F0Fu;
      hi4[k] = (w[4 + 8 * c + k] >> 4) & 0x0F0F0F0Fu;
    }
#pragma unroll
    for (int t = 0; t < N; ++t) {
      const uint4* aq = reinterpret_cast<const uint4*>(a[t]) + 4 * c;
      int lo = 0, hi = 0;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const uint4 x = aq[h], z = aq[2 + h];
        lo = dp4a(lo4[4 * h + 0], x.x, lo); lo = dp4a(lo4[4 * h + 1], x.y, lo);
        lo = dp4a(lo4[4 * h + 2], x.z, lo); lo = dp4a(lo4[4 * h + 3], x.w, lo);
        hi = dp4a(hi4[4 * h + 0], z.x, hi); hi = dp4a(hi4[4 * h + 1], z.y, hi);
        hi = dp4a(hi4[4 * h + 2], z.z, hi); hi = dp4a(hi4[4 * h + 3], z.w, hi);
      }
      isum[t] += sc[2 * c] * lo + sc[2 * c + 1] * hi;
    }
  }
  // Mins: sum_j mn[j] * (bsums[2j] + bsums[2j+1]) by dp2a on the bsum pairs with byte pairs
  // (mn[j], mn[j]) (exact integers).
  uint32_t mp[4];
#pragma unroll
  for (int k = 0; k < 4; ++k)
    mp[k] = static_cast<uint32_t>(mn[2 * k]) * 0x0101u + static_cast<uint32_t>(mn[2 * k + 1]) * 0x01010000u;
#pragma unroll
  for (int t = 0; t < N; ++t) {
    const uint4 b0 = reinterpret_cast<const uint4*>(a[t] + 256)[0], b1 = reinterpret_cast<const uint4*>(a[t] + 256)[1];
    int m = 0;
    m = __dp2a_lo(static_cast<int>(b0.x), static_cast<int>(mp[0]), m); m = __dp2a_hi(static_cast<int>(b0.y), static_cast<int>(mp[0]), m);
    m = __dp2a_lo(static_cast<int>(b0.z), static_cast<int>(mp[1]), m); m = __dp2a_hi(static_cast<int>(b0.w), static_cast<int>(mp[1]), m);
    m = __dp2a_lo(static_cast<int>(b1.x), static_cast<int>(mp[2]), m); m = __dp2a_hi(static_cast<int>(b1.y), static_cast<int>(mp[2]), m);
    m = __dp2a_lo(static_cast<int>(b1.z), static_cast<int>(mp[3]), m); m = __dp2a_hi(static_cast<int>(b1.w), static_cast<int>(mp[3]), m);
    msum[t] = m;
    const float da = *reinterpret_cast<const float*>(a[t] + 288);
    const float dd = fp::mul(dw, da), dm = fp::mul(dminw, da);
    r[t] = fp::sub(fp::mul(dd, fp::from_int(isum[t])), fp::mul(dm, fp::from_int(msum[t])));
  }
}

template <int N>
__device__ __forceinline__ void block_dot(const block_q6_K*, const uint8_t* wb, const uint8_t* const (&a)[N],
                                          const Tables&, float (&r)[N]) {
  uint32_t w[53];
  load_words<53>(wb, w);
  const float dw = half_lo(w[52]);
  int32_t isum[N];
#pragma unroll
  for (int t = 0; t < N; ++t) isum[t] = 0;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    uint32_t qv[4];
#pragma unroll
    for (int g = 0; g < 4; ++g) {
      const int e = 16 * j + 4 * g, h = e / 128, k = (e % 128) / 32, l = e % 32;
      const uint32_t qlw = w[(64 * h + 32 * (k & 1) + l) / 4];
      const uint32_t q4 = k < 2 ? (qlw & 0x0F0F0F0Fu) : ((qlw >> 4) & 0x0F0F0F0Fu);
      const uint32_t q2 = ((w[32 + (32 * h + l) / 4] >> (2 * k)) & 0x03030303u) << 4;
      qv[g] = q4 | q2;  // 0..63; the -32 offset is applied through the activations below
    }
    const int32_t sc = sbyte_of(w[48 + j / 4], j % 4);
#pragma unroll
    for (int t = 0; t < N; ++t) {
      const uint4 x = reinterpret_cast<const uint4*>(a[t])[j];
      // sum((q - 32) * a) = dp4a(q, a) - dp4a(32, a): no SIMD subtraction (exact integers).
      int s = 0, o = 0;
      s = dp4a(qv[0], x.x, s); o = dp4a(0x20202020u, x.x, o); s = dp4a(qv[1], x.y, s); o = dp4a(0x20202020u, x.y, o);
      s = dp4a(qv[2], x.z, s); o = dp4a(0x20202020u, x.z, o); s = dp4a(qv[3], x.w, s); o = dp4a(0x20202020u, x.w, o);
      isum[t] += sc * (s - o);
    }
  }
#pragma unroll
  for (int t = 0; t < N; ++t) {
    const float da = *reinterpret_cast<const float*>(a[t] + 288);
    r[t] = fp::mul(fp::mul(dw, da), fp::from_int(isum[t]));
  }
}

template <int N>
__device__ __forceinline__ void block_dot(const block_q2_K*, const uint8_t* wb, const uint8_t* const (&a)[N],
                                          const Tables&, float (&r)[N]) {
  uint32_t w[21];
  load_words<21, 4>(wb, w);
  const float dw = half_lo(w[20]), dminw = half_hi(w[20]);
  int32_t isum[N], msum[N];
#pragma unroll
  for (int t = 0; t < N; ++t) isum[t] = msum[t] = 0;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    uint32_t qv[4];
#pragma unroll
    for (int g = 0; g < 4; ++g) {
      const int e = 16 * j + 4 * g, h = e / 128, k = (e % 128) / 32, l = e % 32;
      qv[g] = (w[4 + (32 * h + l) / 4] >> (2 * k)) & 0x03030303u;
    }
    const int32_t sc = byte_of(w[j / 4], j % 4) & 0xF;
#pragma unroll
    for (int t = 0; t < N; ++t) {
      const uint4 x = reinterpret_cast<const uint4*>(a[t])[j];
      int s = 0;
      s = dp4a(qv[0], x.x, s); s = dp4a(qv[1], x.y, s); s = dp4a(qv[2], x.z, s); s = dp4a(qv[3], x.w, s);
      isum[t] += sc * s;
    }
  }
  // Mins: sum_j (scales[j] >> 4) * bsums[j] by dp2a, the four mins of a scale word as its bytes.
#pragma unroll
  for (int t = 0; t < N; ++t) {
    const uint4 b0 = reinterpret_cast<const uint4*>(a[t] + 256)[0], b1 = reinterpret_cast<const uint4*>(a[t] + 256)[1];
    const int bw[8] = {static_cast<int>(b0.x), static_cast<int>(b0.y), static_cast<int>(b0.z), static_cast<int>(b0.w),
                       static_cast<int>(b1.x), static_cast<int>(b1.y), static_cast<int>(b1.z), static_cast<int>(b1.w)};
    int m = 0;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int mw = static_cast<int>((w[k] >> 4) & 0x0F0F0F0Fu);
      m = __dp2a_lo(bw[2 * k], mw, m);
      m = __dp2a_hi(bw[2 * k + 1], mw, m);
    }
    msum[t] = m;
  }
#pragma unroll
  for (int t = 0; t < N; ++t) {
    const float da = *reinterpret_cast<const float*>(a[t] + 288);
    const float dd = fp::mul(dw, da), dm = fp::mul(dminw, da);
    r[t] = fp::sub(fp::mul(dd, fp::from_int(isum[t])), fp::mul(dm, fp::from_int(msum[t])));
  }
}

template <int N>
__device__ __forceinline__ void block_dot(const block_iq2_xxs*, const uint8_t* wb, const uint8_t* const (&a)[N],
                                          const Tables& tab, float (&r)[N]) {
  uint32_t w[16];
  load_words<16>(wb + 2, w);
  const float dw = cvt_half(*reinterpret_cast<const uint16_t*>(wb));
  int32_t isum[N];
#pragma unroll
  for (int t = 0; t < N; ++t) isum[t] = 0;
  // Signs without SIMD subtraction: for a grid byte g (0 < g < 128) and a byte mask m (0 or -1),
  // (g ^ m) - m is the signed weight, so sum(w * a) = dp4a(g ^ m, a) - dp4a(m, a): one XOR and
  // one more dp4a per 4 weights (exact integer sums, any order).
#pragma unroll
  for (int g = 0; g < 8; ++g) {
    const uint32_t w0 = w[2 * g], w1 = w[2 * g + 1];
    const int32_t ls = 2 * static_cast<int32_t>(w1 >> 28) + 1;
    uint32_t q[8], m[8];
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      const uint64_t gv = tab.grid[(w0 >> (8 * l)) & 0xFFu];
      const uint32_t sg = tab.signs[(w1 >> (7 * l)) & 127u];
      m[2 * l] = sign_mask4(sg & 0xFu);
      m[2 * l + 1] = sign_mask4(sg >> 4);
      q[2 * l] = static_cast<uint32_t>(gv) ^ m[2 * l];
      q[2 * l + 1] = static_cast<uint32_t>(gv >> 32) ^ m[2 * l + 1];
    }
#pragma unroll
    for (int t = 0; t < N; ++t) {
      const uint4* aq = reinterpret_cast<const uint4*>(a[t]) + 2 * g;
      const uint4 x0 = aq[0], x1 = aq[1];
      int sp = 0, sn = 0;
      sp = dp4a(q[0], x0.x, sp); sn = dp4a(m[0], x0.x, sn); sp = dp4a(q[1], x0.y, sp); sn = dp4a(m[1], x0.y, sn);
      sp = dp4a(q[2], x0.z, sp); sn = dp4a(m[2], x0.z, sn); sp = dp4a(q[3], x0.w, sp); sn = dp4a(m[3], x0.w, sn);
      sp = dp4a(q[4], x1.x, sp); sn = dp4a(m[4], x1.x, sn); sp = dp4a(q[5], x1.y, sp); sn = dp4a(m[5], x1.y, sn);
      sp = dp4a(q[6], x1.z, sp); sn = dp4a(m[6], x1.z, sn); sp = dp4a(q[7], x1.w, sp); sn = dp4a(m[7], x1.w, sn);
      isum[t] += ls * (sp - sn);
    }
  }
#pragma unroll
  for (int t = 0; t < N; ++t) {
    const float da = *reinterpret_cast<const float*>(a[t] + 288);
    r[t] = fp::mul(fp::mul(fp::mul(dw, da), fp::from_int(isum[t])), 0.125f);
  }
}

// Float dot blocks: acc = +0; for i in 0..31: acc = fma(w_i, x_i, acc) (one chain per token).

template <int N, class W>
__device__ __forceinline__ void float_block_dot(const uint8_t* wb, const uint8_t* const (&a)[N], float (&r)[N]) {
  constexpr int kWords = sizeof(W) / 4;
  uint32_t w[kWords];
  load_words<kWords, 16>(wb, w);
#pragma unroll
  for (int t = 0; t < N; ++t) r[t] = 0.0f;
#pragma unroll
  for (int i4 = 0; i4 < 8; ++i4) {
    float4 x[N];
#pragma unroll
    for (int t = 0; t < N; ++t) x[t] = reinterpret_cast<const float4*>(a[t])[i4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int i = 4 * i4 + k;
      float wi;
      if constexpr (std::is_same_v<W, block_f32>) wi = __uint_as_float(w[i]);
      else if constexpr (std::is_same_v<W, block_f16>) wi = cvt_half((i & 1) ? (w[i / 2] >> 16) : (w[i / 2] & 0xFFFFu));
      else wi = __uint_as_float((i & 1) ? (w[i / 2] & 0xFFFF0000u) : (w[i / 2] << 16));  // bf16: exact
#pragma unroll
      for (int t = 0; t < N; ++t) {
        const float xi = k == 0 ? x[t].x : k == 1 ? x[t].y : k == 2 ? x[t].z : x[t].w;
        r[t] = fp::fma(wi, xi, r[t]);
      }
    }
  }
}
template <int N>
__device__ __forceinline__ void block_dot(const block_f32*, const uint8_t* wb, const uint8_t* const (&a)[N],
                                          const Tables&, float (&r)[N]) {
  float_block_dot<N, block_f32>(wb, a, r);
}
template <int N>
__device__ __forceinline__ void block_dot(const block_f16*, const uint8_t* wb, const uint8_t* const (&a)[N],
                                          const Tables&, float (&r)[N]) {
  float_block_dot<N, block_f16>(wb, a, r);
}
template <int N>
__device__ __forceinline__ void block_dot(const block_bf16*, const uint8_t* wb, const uint8_t* const (&a)[N],
                                          const Tables&, float (&r)[N]) {
  float_block_dot<N, block_bf16>(wb, a, r);
}

// --- kernel ---------------------------------------------------------------------------------------

inline constexpr int kMaxWarps = 32;
// Warps per CTA (one CTA per SM), where more warps measured faster on the H200 and registers allow
// (32 warps: <= 64 registers per thread, 24: <= 85): Q8_0 N <= 2 78 -> 84 %, F32 N = 1, IQ2_XXS
// N = 1 23 -> 25 %, Q2_K N = 1 51 -> 54 % (24 warps). F16/BF16 (86 -> 83 %), Q4_K (=) and Q6_K
// (72 -> 67 %) keep 16, as does every kernel with N >= 2 (up to 128 registers).
template <class W, int N>
inline constexpr int kWarpsFor = (wtraits<W>::is_q80 && N <= 2) || (sizeof(W) == 128 && N == 1) ? 32
                                 : (std::is_same_v<W, quant::block_iq2_xxs> && N == 1)       ? 32
                                 : (std::is_same_v<W, quant::block_q2_K> && N == 1)          ? 24
                                                                                            : 16;
inline constexpr int kMaxStages = 4;  // copy stages per warp: 2..4, chosen at launch
inline constexpr int kResPitch = 33;  // words per row of a warp's block-result table (bank spread)

// Wait until at most stages - 1 commit groups of this thread are pending.
__device__ __forceinline__ void cp_async_wait_stages(int stages) {
  if (stages >= 4) cp_async_wait<3>();
  else if (stages == 3) cp_async_wait<2>();
  else cp_async_wait<1>();
}

struct KernelArgs {
  const uint8_t* w;
  const uint8_t* w_end;      // one past the last weight byte (copy clip)
  size_t w_row_stride;
  const uint8_t* x;
  size_t x_stride;
  float* y;
  int64_t y_stride;
  int M;
  int nb;                    // blocks per row
  int L;                     // chunk length of the canonical row order, ceil(nb / 32)
  int P;                     // blocks per lane and unit (a unit is 32 * P consecutive blocks)
  int U;                     // units per row, ceil(nb / (32 * P))
  int stage_bytes;           // bytes of one copy stage of one warp (multiple of 16)
  int res_bytes;             // bytes of one warp's block-result table (multiple of 16)
  int act_bytes;             // bytes of the staged activations (multiple of 16)
  int stages;                // copy stages per warp (2..4)
  int x_vec16;               // F32 activations: x and x_stride 16-byte aligned (16-byte copies)
  int q32, r32;              // 32 = q32 * L + r32: a step of 32 blocks in (chunk, step) terms
  int R;                     // rows per unit: 1, or floor(32 / nb) when nb <= 16 (then P = U = 1)
  int region_bytes;          // bytes of one row's region in a stage buffer (multiple of 16)
  int act_rows;              // activation rows staged (N; indexed: the rows the pairs use)
  // Indexed (expert) mode, ids != nullptr (launch_indexed): row m is row m % M_pair of pair
  // m / M_pair = t * ids_k + j, whose matrix is expert ids[t * ids_stride + j] at w + id *
  // expert_bytes; its activation row is t (act_per_pair: the pair); y[pair * y_pair_stride + row].
  int indexed;               // the mode flag (ids may be null: expert j for slot j)
  const int32_t* ids;
  int64_t ids_stride;
  int ids_k, n_expert, M_pair, act_per_pair;
  size_t expert_bytes;
  int64_t y_pair_stride;
};

// Where row m's weights, activation row and output are. w == 0: an expert id outside
// [0, n_expert) (the row's output is NaN; nothing is read).
struct RowRef {
  uintptr_t w;
  int tok;
  float* y;
};
__device__ __forceinline__ RowRef row_ref(const KernelArgs& p, int m) {
  if (!p.indexed) return {reinterpret_cast<uintptr_t>(p.w) + static_cast<uintptr_t>(m) * p.w_row_stride, 0, p.y + m};
  const int pair = m / p.M_pair, mm = m - pair * p.M_pair;
  const int t = pair / p.ids_k, j = pair - t * p.ids_k;
  const int32_t e = p.ids ? p.ids[t * p.ids_stride + j] : j;
  const bool ok = e >= 0 && e < p.n_expert;
  return {ok ? reinterpret_cast<uintptr_t>(p.w) + static_cast<uintptr_t>(e) * p.expert_bytes +
                   static_cast<uintptr_t>(mm) * p.w_row_stride
             : uintptr_t{0},
          p.act_per_pair ? pair : t, p.y + static_cast<int64_t>(pair) * p.y_pair_stride + mm};
}

// Byte offset of staged byte o in a stage buffer (float weights: 16 bytes of padding per 128).
template <class W>
__device__ __forceinline__ int staged_offset(int o) {
  if constexpr (wtraits<W>::pad) return o + ((o >> 7) << 4);
  else return o;
}

// Copy unit u of the row group starting at row m (rows m .. m + R - 1; blocks [32Pu, min(nb,
// 32P(u+1))) of each, a contiguous byte range per row) into a stage buffer, row r at r *
// region_bytes: lane l copies the 16-byte granules l, l + 32, ... of each row's aligned superset,
// so every warp instruction reads up to 512 consecutive bytes.
template <class W>
__device__ __forceinline__ void issue_unit(const KernelArgs& p, int m, int u, uint8_t* buf, int lane) {
  constexpr int bs = sizeof(W);
  const int b0 = u * 32 * p.P, b1 = min(p.nb, b0 + 32 * p.P);
  const uintptr_t wend = reinterpret_cast<uintptr_t>(p.w_end);
  const int rows = min(p.R, p.M - m);
  for (int r = 0; r < rows; ++r) {
    const uintptr_t row = row_ref(p, m + r).w;
    if (row == 0) continue;  // invalid expert id: nothing to copy
    const uintptr_t a0 = (row + static_cast<uintptr_t>(b0) * bs) & ~uintptr_t{15};
    const int G = static_cast<int>((row + static_cast<uintptr_t>(b1) * bs - a0 + 15) >> 4);
    uint8_t* rbuf = buf + r * p.region_bytes;
    // Granules wholly inside the tensor: one cp.async each, pointers stepped (no per-granule
    // bounds arithmetic); at most one granule at the tensor's end is left over.
    const int full = static_cast<int>(min(static_cast<uintptr_t>(G), (wend - a0) >> 4));
    const uint8_t* src = reinterpret_cast<const uint8_t*>(a0) + 16 * lane;
    if constexpr (wtraits<W>::pad) {
      for (int g = lane; g < full; g += 32, src += 512) cp_async16(rbuf + staged_offset<W>(16 * g), src, 16);
    } else {
      uint8_t* dst = rbuf + 16 * lane;
      for (int g = lane; g < full; g += 32, src += 512, dst += 512) cp_async16(dst, src, 16);
    }
    if (full < G && lane == 0) {
      // The tensor ends inside this granule: plain loads of its bytes only (no access may leave
      // the tensor), the rest zero-filled.
      const uint8_t* sp = reinterpret_cast<const uint8_t*>(a0) + 16 * full;
      uint8_t* dst = rbuf + staged_offset<W>(16 * full);
      const int left = static_cast<int>(wend - reinterpret_cast<uintptr_t>(sp));
      for (int k = 0; k < 16; ++k) dst[k] = k < left ? sp[k] : uint8_t{0};
    }
  }
}

// One warp streams a row group (R rows) at a time through shared memory in units of 32P consecutive
// blocks per row. With R = 1, lane l computes blocks l, l + 32, ... of the unit (consecutive lanes
// read consecutive blocks: no bank conflicts to speak of); with R > 1 (short rows, nb <= 16, P = 1)
// lane l computes block l % nb of row l / nb, so the lanes stay busy. Each block result r_b goes
// to the warp's result table at (row, chunk c = b / L, step s = b % L). When a group's rows are
// complete, lane c sums its chunk of each row in block order and the warp combines the 32 chunk
// sums by warp_tree32: the canonical row order, whatever P, R, the stage count or the warp count.
template <class W, int N>
__global__ void __launch_bounds__(kWarpsFor<W, N> * 32, 1) gemv_kernel(const KernelArgs p) {
  using T = wtraits<W>;
  constexpr int bs = sizeof(W);
  extern __shared__ __align__(16) uint8_t smem[];
  uint8_t* act = smem;
  uint64_t* grid_tab = reinterpret_cast<uint64_t*>(smem + p.act_bytes);
  uint8_t* sign_tab = smem + p.act_bytes + 2048;
  const int tab_bytes = std::is_same_v<W, block_iq2_xxs> ? 2048 + 128 : 0;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  const int gw = blockIdx.x * nwarps + warp, tw = gridDim.x * nwarps;
  const int stages = p.stages;
  uint8_t* mybuf = smem + p.act_bytes + tab_bytes + static_cast<size_t>(warp) * (stages * p.stage_bytes + p.res_bytes);
  float* res = reinterpret_cast<float*>(mybuf + stages * p.stage_bytes);

  const int group_step = tw * p.R;  // rows between a warp's consecutive groups
  int pf_m = gw * p.R, pf_u = 0;
  auto advance = [&](int& m, int& u) {
    if (++u == p.U) {
      u = 0;
      m += group_step;
    }
  };

  // Activations -> shared, block b of token t at slot t * nb + b: cp.async (one commit group,
  // complete before the first unit's group by the wait below); Q8_0 (2-byte aligned blocks)
  // through registers, one thread per block.
  {
    if constexpr (T::is_q8k) {
      const int per_tok = p.nb * 73;
      for (int i = threadIdx.x; i < p.act_rows * per_tok; i += blockDim.x) {
        const int t = i / per_tok, r = i - t * per_tok, b = r / 73, wd = r - b * 73;
        const uint8_t* src = p.x + t * p.x_stride + static_cast<size_t>(b) * 292 + 4 * wd;
        uint8_t* dst = act + static_cast<size_t>(t * p.nb + b) * T::act_stride;
        const int dw = wd == 0 ? 72 : wd - 1;  // d last, then qs, bsums
        cp_async4(dst + 4 * dw, src);
      }
    } else if constexpr (T::is_q80) {
      for (int i = threadIdx.x; i < p.act_rows * p.nb; i += blockDim.x) {
        const int t = i / p.nb, b = i - t * p.nb;
        const uint16_t* src = reinterpret_cast<const uint16_t*>(p.x + t * p.x_stride + static_cast<size_t>(b) * 34);
        uint16_t v[17];
#pragma unroll
        for (int k = 0; k < 17; ++k) v[k] = src[k];
        uint8_t* dst = act + static_cast<size_t>(i) * T::act_stride;
#pragma unroll
        for (int k = 0; k < 8; ++k)
          reinterpret_cast<uint32_t*>(dst)[k] = static_cast<uint32_t>(v[1 + 2 * k]) | (static_cast<uint32_t>(v[2 + 2 * k]) << 16);
        *reinterpret_cast<float*>(dst + 32) = f16_bits_to_f32(v[0]);
      }
    } else if (p.x_vec16) {
      const int per_tok = p.nb * 8;
      for (int i = threadIdx.x; i < p.act_rows * per_tok; i += blockDim.x) {
        const int t = i / per_tok, r = i - t * per_tok, b = r / 8, e = r - b * 8;
        uint8_t* dst = act + static_cast<size_t>(t * p.nb + b) * T::act_stride;
        cp_async16(dst + 16 * e, p.x + t * p.x_stride + static_cast<size_t>(b) * 128 + 16 * e, 16);
      }
    } else {
      const int per_tok = p.nb * 32;
      for (int i = threadIdx.x; i < p.act_rows * per_tok; i += blockDim.x) {
        const int t = i / per_tok, r = i - t * per_tok, b = r / 32, e = r - b * 32;
        uint8_t* dst = act + static_cast<size_t>(t * p.nb + b) * T::act_stride;
        cp_async4(dst + 4 * e, p.x + t * p.x_stride + static_cast<size_t>(b) * 128 + 4 * e);
      }
    }
    cp_async_commit();
    if constexpr (std::is_same_v<W, block_iq2_xxs>) {
      for (int i = threadIdx.x; i < 256; i += blockDim.x) grid_tab[i] = iq2xxs_grid(i);
      for (int i = threadIdx.x; i < 128; i += blockDim.x) sign_tab[i] = ksigns_iq2xs(i);
    }
  }
  // The first units' weight copies.
  for (int s = 0; s < stages - 1; ++s) {
    if (pf_m < p.M) issue_unit<W>(p, pf_m, pf_u, mybuf + s * p.stage_bytes, lane);
    cp_async_commit();
    if (pf_m < p.M) advance(pf_m, pf_u);
  }
  cp_async_wait_stages(stages);  // the activation group is complete
  __syncthreads();
  const Tables tab{grid_tab, sign_tab};

  // Row and block of this lane's first block in every unit, and that block's (chunk, step).
  const int r_lane = p.R > 1 ? lane / p.nb : 0;
  const int b_lane = lane - r_lane * p.nb;
  const int c_first = b_lane / p.L, s_first = b_lane - c_first * p.L;
  int cur_m = gw * p.R, cur_u = 0, stage = 0;
  int ck = c_first, sk = s_first;
  while (cur_m < p.M) {
    {  // prefetch the unit stages - 1 ahead
      const int ps = stage == 0 ? stages - 1 : stage - 1;
      if (pf_m < p.M) issue_unit<W>(p, pf_m, pf_u, mybuf + ps * p.stage_bytes, lane);
      cp_async_commit();
      if (pf_m < p.M) advance(pf_m, pf_u);
    }
    cp_async_wait_stages(stages);
    __syncwarp();
    const RowRef rref = r_lane < p.R && cur_m + r_lane < p.M ? row_ref(p, cur_m + r_lane) : RowRef{0, 0, nullptr};
    if (rref.w != 0) {
      const uintptr_t row = rref.w;
      const uint8_t* act_row = act + static_cast<size_t>(rref.tok) * p.nb * T::act_stride;
      const int b0 = cur_u * 32 * p.P;
      const int off0 = static_cast<int>((row + static_cast<uintptr_t>(b0) * bs) & 15);
      const uint8_t* sbuf = mybuf + stage * p.stage_bytes + r_lane * p.region_bytes;
      float* rres = res + r_lane * p.L * kResPitch;
      for (int k = 0; k < p.P; ++k) {
        const int bl = 32 * k + b_lane, b = b0 + bl;
        if (b < p.nb) {
          const uint8_t* wb = sbuf + staged_offset<W>(off0 + bl * bs);
          const uint8_t* ap[N];
#pragma unroll
          for (int t = 0; t < N; ++t) ap[t] = act_row + static_cast<size_t>(t * p.nb + b) * T::act_stride;
          float r[N];
          block_dot<N>(static_cast<const W*>(nullptr), wb, ap, tab, r);
#pragma unroll
          for (int t = 0; t < N; ++t) rres[(t * p.R * p.L + sk) * kResPitch + ck] = r[t];
        }
        sk += p.r32;
        ck += p.q32;
        if (sk >= p.L) {
          sk -= p.L;
          ++ck;
        }
      }
    }
    if (cur_u == p.U - 1) {  // the group's rows are complete: canonical sums
      __syncwarp();
      const int len = min(p.L, max(0, p.nb - lane * p.L));
      const int rows = min(p.R, p.M - cur_m);
      for (int r = 0; r < rows; ++r) {
        float out[N];
#pragma unroll
        for (int t = 0; t < N; ++t) {
          float acc = 0.0f;
          const float* rr = res + ((t * p.R + r) * p.L) * kResPitch + lane;
          for (int s2 = 0; s2 < len; ++s2) acc = fp::add(acc, rr[s2 * kResPitch]);
          out[t] = order::warp_tree32(acc);
        }
        const RowRef ro = row_ref(p, cur_m + r);
#pragma unroll
        for (int t = 0; t < N; ++t)
          if (lane == t) ro.y[t * p.y_stride] = ro.w != 0 ? out[t] : fp::canonical_nan();
      }
      ck = c_first;
      sk = s_first;
    }
    __syncwarp();
    advance(cur_m, cur_u);
    stage = stage + 1 == stages ? 0 : stage + 1;
  }
  cp_async_wait<0>();
}

// --- launch planning ------------------------------------------------------------------------------

struct Plan {
  KernelArgs args;
  int warps = 0, blocks = 0;
  size_t smem = 0;
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Tuning knobs for benches (performance only: results never depend on them). Not thread-safe.
// Bytes of weights per warp and unit; 0: the default (see plan()).
inline int& unit_bytes_knob() {
  static int v = 0;
  return v;
}
// Copy stages per warp (2..4).
inline int& stages_knob() {
  static int v = 2;
  return v;
}
inline int& max_warps_knob() {
  static int v = kMaxWarps;
  return v;
}

template <class W>
Status plan(const Params& pr, int sms, int max_smem, int N, int max_warps, Plan& out, int act_rows = 0) {
  using T = wtraits<W>;
  constexpr int bs = sizeof(W);
  const int64_t nb64 = pr.K / T::elems;
  if (nb64 > (int64_t{1} << 24)) return Status::Unsupported("gemv: K too large");
  const int nb = static_cast<int>(nb64);
  const int L = static_cast<int>(ceil_div(nb, 32));
  const size_t row_bytes = static_cast<size_t>(nb) * bs;
  KernelArgs& a = out.args;
  a.w = static_cast<const uint8_t*>(pr.w);
  a.w_row_stride = pr.w_row_stride ? pr.w_row_stride : row_bytes;
  a.w_end = a.w + (pr.M > 0 ? static_cast<size_t>(pr.M - 1) * a.w_row_stride + row_bytes : 0);
  a.x = static_cast<const uint8_t*>(pr.x);
  a.x_stride = pr.x_stride ? pr.x_stride : static_cast<size_t>(nb) * T::act_src_bytes;
  a.x_vec16 = (reinterpret_cast<uintptr_t>(pr.x) % 16 == 0 && a.x_stride % 16 == 0) ? 1 : 0;
  a.y = pr.y;
  a.y_stride = pr.y_stride ? pr.y_stride : pr.M;
  a.M = static_cast<int>(pr.M);
  a.nb = nb;
  a.L = L > 0 ? L : 1;
  a.q32 = 32 / a.L;
  a.r32 = 32 - a.q32 * a.L;
  const int tab = std::is_same_v<W, block_iq2_xxs> ? 2048 + 128 : 0;
  a.act_rows = act_rows > 0 ? act_rows : N;
  a.indexed = 0;
  a.ids = nullptr;
  a.ids_stride = 0;
  a.ids_k = 1;
  a.n_expert = 0;
  a.M_pair = static_cast<int>(pr.M);
  a.act_per_pair = 0;
  a.expert_bytes = 0;
  a.y_pair_stride = 0;
  const int64_t act = static_cast<int64_t>(a.act_rows) * (nb > 0 ? nb : 1) * T::act_stride;
  if (act + tab > max_smem) return Status::Unsupported("gemv: K too large for the shared-memory activations");
  a.act_bytes = static_cast<int>(ceil_div(act, 16) * 16);
  // Short rows (nb <= 16): R = floor(32 / nb) rows per unit keep the lanes busy.
  a.R = nb >= 1 && nb <= 16 ? 32 / nb : 1;
  a.res_bytes = static_cast<int>(ceil_div(static_cast<int64_t>(N) * a.R * a.L * kResPitch * 4, 16) * 16);
  a.stages = stages_knob() < 2 ? 2 : (stages_knob() > kMaxStages ? kMaxStages : stages_knob());
  // Blocks per lane and unit: about unit_bytes_knob() (default 4 KB) of weights per unit and warp.
  const int unit_bytes = unit_bytes_knob() > 0 ? unit_bytes_knob() : 4096;
  int P = static_cast<int>(unit_bytes / (32 * bs));
  P = P < 1 ? 1 : P;
  P = L > 0 && P > L ? L : P;
  P = a.R > 1 ? 1 : P;
  for (;; --P) {
    a.P = P;
    a.U = nb > 0 ? static_cast<int>(ceil_div(nb, 32 * P)) : 1;
    // Granules of a unit's aligned superset (start up to 14 bytes before a 16-byte boundary),
    // the padding of float weights, and one granule of slack for load_words' look-ahead.
    const int64_t unit_blocks = std::min<int64_t>(int64_t{32} * P, nb > 0 ? nb : 1);
    const int64_t gran = ceil_div(unit_blocks * bs + 14, 16) + 1;
    a.region_bytes = static_cast<int>(16 * (gran + (T::pad ? gran / 8 + 1 : 0)));
    a.stage_bytes = a.R * a.region_bytes;
    const int64_t per_warp = static_cast<int64_t>(a.stages) * a.stage_bytes + a.res_bytes;
    const int64_t fixed = a.act_bytes + tab;
    int warps = static_cast<int>((max_smem - fixed) / per_warp);
    const int cap = max_warps_knob() < 1 ? 1 : (max_warps_knob() > max_warps ? max_warps : max_warps_knob());
    // Smaller units until the CTA holds its full warp count (more warps hide more latency than
    // bigger units: docs/performance.md), or one block per lane.
    if (warps >= cap || P == 1) {
      if (warps < 1) return Status::Unsupported("gemv: K too large for the shared-memory activations");
      warps = warps > cap ? cap : warps;
      // Spread small M over the SMs.
      const int64_t groups = ceil_div(pr.M, a.R);
      const int64_t want = ceil_div(groups, sms);
      if (want < warps) warps = static_cast<int>(want < 1 ? 1 : want);
      out.warps = warps;
      const int64_t blocks = ceil_div(groups, warps);
      out.blocks = static_cast<int>(blocks < sms ? blocks : sms);
      out.smem = static_cast<size_t>(fixed + per_warp * warps);
      return Status::Ok();
    }
  }
}

template <class W, int N>
Status launch_plan(const Plan& pl, int max_smem, cudaStream_t stream) {
  auto kern = gemv_kernel<W, N>;
  // Raise the kernel's dynamic shared-memory limit once per device (not a stream operation: fine
  // inside graph capture; a benign race sets the same value twice).
  static int raised[64] = {};
  int dev = 0;
  DSK_CUDA_RETURN_IF_ERROR(cudaGetDevice(&dev));
  if (dev >= 64 || raised[dev] < max_smem) {
    DSK_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, max_smem));
    if (dev < 64) raised[dev] = max_smem;
  }
  kern<<<pl.blocks, pl.warps * 32, pl.smem, stream>>>(pl.args);
  DSK_RETURN_IF_LAUNCH_FAILED("gemv_kernel");
  return Status::Ok();
}

template <class W, int N>
Status launch_typed(const Params& pr, int sms, int max_smem, cudaStream_t stream) {
  Plan pl;
  const Status st = plan<W>(pr, sms, max_smem, N, kWarpsFor<W, N>, pl);
  if (!st.ok()) return st;
  if (pr.M == 0) return Status::Ok();
  return launch_plan<W, N>(pl, max_smem, stream);
}

template <class W>
Status launch_n(const Params& pr, int sms, int max_smem, cudaStream_t stream) {
  switch (pr.N) {
    case 1: return launch_typed<W, 1>(pr, sms, max_smem, stream);
    case 2: return launch_typed<W, 2>(pr, sms, max_smem, stream);
    case 3: return launch_typed<W, 3>(pr, sms, max_smem, stream);
    case 4: return launch_typed<W, 4>(pr, sms, max_smem, stream);
    default: return Status::Unsupported("gemv: N must be 1..4");
  }
}

inline int weight_block_elems(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0: return 32;
    case GgmlType::Q4_K: case GgmlType::Q6_K: case GgmlType::Q2_K: case GgmlType::IQ2_XXS: return 256;
    default: return 0;
  }
}
inline int weight_block_bytes(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 128;
    case GgmlType::F16: case GgmlType::BF16: return 64;
    case GgmlType::Q8_0: return 34;
    case GgmlType::Q4_K: return 144;
    case GgmlType::Q6_K: return 210;
    case GgmlType::Q2_K: return 84;
    case GgmlType::IQ2_XXS: return 66;
    default: return 0;
  }
}

}  // namespace detail

// K can be the inner size of a GEMV over weights of type w: a multiple of w's dot block and of its
// activation type's block.
inline bool k_fits(GgmlType w, int64_t K) {
  const int be = detail::weight_block_elems(w);
  const GgmlType a = activation_type(w);
  const int ae = a == GgmlType::F32 ? 1 : static_cast<int>(ggml_type_info(a).block_elems);
  return be > 0 && K % be == 0 && K % ae == 0;
}

namespace detail {

// Checks shared by launch() and launch_indexed(); pointers already known non-null.
inline Status check_layout(GgmlType wtype, const void* w, size_t w_row_stride, const void* x, size_t x_stride,
                           const float* y, int64_t K) {
  const int be = weight_block_elems(wtype);
  if (K % be != 0) return Status::Unsupported("gemv: K is not a multiple of the weight block");
  const size_t row_bytes = static_cast<size_t>(K / be) * weight_block_bytes(wtype);
  // Row starts keep every block at its natural alignment (wtraits::align): 16 bytes for F32, F16,
  // BF16 and Q4_K, 4 for Q2_K, 2 otherwise. Packed rows always do.
  const size_t elem_align = weight_block_bytes(wtype) % 16 == 0 ? 16 : weight_block_bytes(wtype) % 4 == 0 ? 4 : 2;
  if (reinterpret_cast<uintptr_t>(w) % 16 != 0) return Status::Invalid("gemv: w must be 16-byte aligned");
  if (w_row_stride && (w_row_stride < row_bytes || w_row_stride % elem_align != 0))
    return Status::Invalid(
        "gemv: w_row_stride must be >= the row's bytes and a multiple of 16 (F32, F16, BF16, Q4_K), 4 (Q2_K) or 2");
  const size_t x_align = wtype == GgmlType::Q8_0 ? 2 : 4;
  if (reinterpret_cast<uintptr_t>(x) % x_align != 0 || x_stride % x_align != 0) return Status::Invalid("gemv: x misaligned");
  if (reinterpret_cast<uintptr_t>(y) % 4 != 0) return Status::Invalid("gemv: y misaligned");
  return Status::Ok();
}

inline Status device_limits(int& sms, int& max_smem) {
  int dev = 0;
  DSK_CUDA_RETURN_IF_ERROR(cudaGetDevice(&dev));
  DSK_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  DSK_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  return Status::Ok();
}

template <class W>
Status launch_indexed_typed(const IndexedParams& ip, int sms, int max_smem, cudaStream_t stream) {
  using T = wtraits<W>;
  const int64_t pairs = static_cast<int64_t>(ip.T) * ip.k;
  Params pr;
  pr.wtype = ip.wtype;
  pr.w = ip.w;
  pr.w_row_stride = ip.w_row_stride;
  pr.x = ip.x;
  pr.x_stride = ip.x_stride;
  pr.y = ip.y;
  pr.M = pairs * ip.M;
  pr.K = ip.K;
  pr.N = 1;
  Plan pl;
  const int act_rows = static_cast<int>(ip.act_per_pair ? pairs : ip.T);
  if (Status st = plan<W>(pr, sms, max_smem, 1, kWarpsFor<W, 1>, pl, act_rows); !st.ok()) return st;
  KernelArgs& a = pl.args;
  const size_t row_stride = a.w_row_stride;
  const size_t row_bytes = static_cast<size_t>(ip.K / T::elems) * sizeof(W);
  a.indexed = 1;
  a.ids = ip.ids;
  a.ids_stride = ip.ids_stride ? ip.ids_stride : ip.k;
  a.ids_k = ip.k;
  a.n_expert = ip.n_expert;
  a.M_pair = static_cast<int>(ip.M);
  a.act_per_pair = ip.act_per_pair ? 1 : 0;
  a.expert_bytes = ip.expert_bytes ? ip.expert_bytes : row_stride * static_cast<size_t>(ip.M);
  a.y_pair_stride = ip.y_pair_stride ? ip.y_pair_stride : ip.M;
  a.y_stride = 0;
  a.w_end = a.w + static_cast<size_t>(ip.n_expert - 1) * a.expert_bytes + static_cast<size_t>(ip.M - 1) * row_stride + row_bytes;
  return launch_plan<W, 1>(pl, max_smem, stream);
}

}  // namespace detail

// y[n] = W · x[n] on `stream` (see the header comment). Never allocates or synchronizes.
inline Status launch(const Params& p, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  (void)workspace;
  const int be = detail::weight_block_elems(p.wtype);
  if (be == 0) return Status::Unsupported("gemv: weight type");
  if (p.N < 1 || p.N > kMaxTokens) return Status::Unsupported("gemv: N must be 1..4");
  if (p.M < 0 || p.K < 0) return Status::Invalid("gemv: negative M or K");
  if (p.K % be != 0) return Status::Unsupported("gemv: K is not a multiple of the weight block");
  if (p.M > INT32_MAX / 2) return Status::Unsupported("gemv: M too large");
  if (workspace_bytes < workspace_size(p)) return Status::Workspace("gemv: workspace too small");
  if (p.M == 0) return Status::Ok();
  if (!p.w || !p.x || !p.y) return Status::Invalid("gemv: null pointer");
  if (Status s = detail::check_layout(p.wtype, p.w, p.w_row_stride, p.x, p.x_stride, p.y, p.K); !s.ok()) return s;
  if (p.y_stride != 0 && p.y_stride < p.M) return Status::Invalid("gemv: y_stride < M");
  int sms = 0, max_smem = 0;
  if (Status s = detail::device_limits(sms, max_smem); !s.ok()) return s;
  using namespace dsk::quant;
  switch (p.wtype) {
    case GgmlType::F32: return detail::launch_n<block_f32>(p, sms, max_smem, stream);
    case GgmlType::F16: return detail::launch_n<block_f16>(p, sms, max_smem, stream);
    case GgmlType::BF16: return detail::launch_n<block_bf16>(p, sms, max_smem, stream);
    case GgmlType::Q8_0: return detail::launch_n<block_q8_0>(p, sms, max_smem, stream);
    case GgmlType::Q4_K: return detail::launch_n<block_q4_K>(p, sms, max_smem, stream);
    case GgmlType::Q6_K: return detail::launch_n<block_q6_K>(p, sms, max_smem, stream);
    case GgmlType::Q2_K: return detail::launch_n<block_q2_K>(p, sms, max_smem, stream);
    case GgmlType::IQ2_XXS: return detail::launch_n<block_iq2_xxs>(p, sms, max_smem, stream);
    default: return Status::Unsupported("gemv: weight type");
  }
}

// The expert GEMV of IndexedParams on `stream`. Never allocates or synchronizes; ids are read on
// the device.
inline Status launch_indexed(const IndexedParams& p, cudaStream_t stream) {
  const int be = detail::weight_block_elems(p.wtype);
  if (be == 0) return Status::Unsupported("gemv: weight type");
  if (p.T < 0 || p.k < 0 || p.M < 0 || p.K < 0 || p.n_expert < 0) return Status::Invalid("gemv: negative size");
  if (p.K % be != 0) return Status::Unsupported("gemv: K is not a multiple of the weight block");
  const int64_t pairs = static_cast<int64_t>(p.T) * p.k;
  if (pairs == 0 || p.M == 0) return Status::Ok();
  if (p.n_expert == 0) return Status::Invalid("gemv: n_expert = 0");
  if (pairs * p.M > INT32_MAX / 2) return Status::Unsupported("gemv: pairs * M too large");
  if (!p.w || !p.x || !p.y) return Status::Invalid("gemv: null pointer");
  if (!p.ids && p.k > p.n_expert) return Status::Invalid("gemv: identity ids need k <= n_expert");
  if (p.ids_stride != 0 && p.ids_stride < p.k) return Status::Invalid("gemv: ids_stride < k");
  if (p.y_pair_stride != 0 && p.y_pair_stride < p.M) return Status::Invalid("gemv: y_pair_stride < M");
  if (Status s = detail::check_layout(p.wtype, p.w, p.w_row_stride, p.x, p.x_stride, p.y, p.K); !s.ok()) return s;
  const size_t row_bytes = static_cast<size_t>(p.K / be) * detail::weight_block_bytes(p.wtype);
  const size_t rs = p.w_row_stride ? p.w_row_stride : row_bytes;
  // Experts keep their blocks at the natural alignment, as rows do (launch()'s stride rule).
  const size_t ea = detail::weight_block_bytes(p.wtype) % 16 == 0 ? 16 : detail::weight_block_bytes(p.wtype) % 4 == 0 ? 4 : 2;
  const size_t eb = p.expert_bytes ? p.expert_bytes : rs * static_cast<size_t>(p.M);
  if (eb < rs * static_cast<size_t>(p.M) || eb % ea != 0)
    return Status::Invalid("gemv: expert_bytes must be >= M rows and keep the blocks' natural alignment");
  int sms = 0, max_smem = 0;
  if (Status s = detail::device_limits(sms, max_smem); !s.ok()) return s;
  using namespace dsk::quant;
  switch (p.wtype) {
    case GgmlType::F32: return detail::launch_indexed_typed<block_f32>(p, sms, max_smem, stream);
    case GgmlType::F16: return detail::launch_indexed_typed<block_f16>(p, sms, max_smem, stream);
    case GgmlType::BF16: return detail::launch_indexed_typed<block_bf16>(p, sms, max_smem, stream);
    case GgmlType::Q8_0: return detail::launch_indexed_typed<block_q8_0>(p, sms, max_smem, stream);
    case GgmlType::Q4_K: return detail::launch_indexed_typed<block_q4_K>(p, sms, max_smem, stream);
    case GgmlType::Q6_K: return detail::launch_indexed_typed<block_q6_K>(p, sms, max_smem, stream);
    case GgmlType::Q2_K: return detail::launch_indexed_typed<block_q2_K>(p, sms, max_smem, stream);
    case GgmlType::IQ2_XXS: return detail::launch_indexed_typed<block_iq2_xxs>(p, sms, max_smem, stream);
    default: return Status::Unsupported("gemv: weight type");
  }
}

#endif  // __CUDACC__

}  // namespace dsk::gemv
