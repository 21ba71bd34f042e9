// dsk/gemm/grouped_gemm.cuh — grouped quantized GEMM for prefill: many activation rows per weight
// matrix, each output the bits of the GEMV (dsk/gemv/gemv.hpp) of that row.
//
// Work is a list of P pairs grouped by matrix ("expert"): pairs [offsets[g], offsets[g+1]) use
// expert g of a 3-D weight stack (expert g at w + g * expert_bytes, M rows of K). Pair i names an
// id q = pair[i] (nullptr: q = i); its activation row is q / act_div, its output row q:
// y[q * y_stride + m] = W_g[m] · x[q / act_div]. The MoE groups (token, slot) pairs by expert with
// group_pairs() (CUB radix sort + offsets, no atomics); MLA uses one group per head; a dense GEMM
// is one group (offsets = nullptr).
//
// NUMERICS: every output is the canonical row sum of dsk/quant/dot.hpp's block results (the same
// gemv::detail::block_dot functions as the GEMV): chunk c of L = ceil(nb / 32) blocks summed in
// block order from +0.0f, the 32 chunk sums combined by order::tree32. The kernel streams K in
// order, so each output keeps its running chunk sum and a stack of five completed subtrees (the
// binary-counter form of tree32, dsk/core/reduce.hpp §2); chunks past the row's end enter as +0.0f.
// Nothing depends on P, the grouping, the tile shape or the GPU: pair i's output has the bits of
// gemv::launch with that weight matrix and activation row, and of dsk::ref::gemv.
//
// Kernel: a CTA computes a tile of 64 rows × 32 pairs of one group, streaming K in steps of 256
// elements (F32/F16/BF16: 128) through double-buffered shared memory (16-byte cp.async; Q8_0
// activations, 2-byte aligned, through registers). Warp w owns rows 8w..8w+7; lane l computes row
// 8w + l % 8 for the pairs l / 8 + 4t, t = 0..7 (each weight block decoded once for 8 pairs; the
// 4 lanes of a row decode it redundantly). Staged weight rows are 16·odd bytes apart and
// activation blocks of consecutive pairs adjacent, so the 16-byte and 4-byte shared loads of a
// warp hit distinct banks. Integer dot products by dp4a (exact); an int8 tensor-core (MMA) kernel
// is the way to the int8 roofline (docs/performance.md).
//
// Requirements (else an error): as gemv::launch_indexed for the weights (16-byte aligned stack, row
// stride and expert_bytes at the block's natural alignment), K a multiple of the dot block;
// activation rows as gemv (x 4-byte aligned, 2 for Q8_0); tile_offsets from group_pairs() or
// group_tiles(). An id group >= n_expert (group_pairs() puts ids outside [0, n_expert) there) writes
// NaN rows. Launchers never allocate or synchronize; graph-capturable.
#pragma once

#include "dsk/gemv/gemv.hpp"

#if defined(__CUDACC__)
#include <cuda_runtime.h>

#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <cstdint>

namespace dsk::gemm {

inline constexpr int kTileM = 64;  // rows per CTA tile
inline constexpr int kTileP = 32;  // pairs per CTA tile (group_pairs' tile count uses it)

struct GroupedParams {
  GgmlType wtype = GgmlType::F32;
  const void* w = nullptr;
  size_t w_row_stride = 0;   // 0: packed rows
  size_t expert_bytes = 0;   // 0: M * row stride
  int32_t n_expert = 1;      // groups 0 .. n_expert - 1 are experts; group n_expert: NaN rows
  const void* x = nullptr;   // activation rows (activation type of wtype)
  size_t x_stride = 0;       // bytes, 0: packed
  int64_t P = 0;             // pairs
  const int32_t* pair = nullptr;           // [P] device, ids grouped by expert (nullptr: i)
  int32_t act_div = 1;                     // activation row of id q: q / act_div
  const int32_t* group_offsets = nullptr;  // [n_expert + 2] device (nullptr: one group, expert 0)
  const int32_t* tile_offsets = nullptr;   // [n_expert + 2] device: exclusive scan of ceil(count / kTileP)
  float* y = nullptr;        // y[q * y_stride + m]
  int64_t y_stride = 0;      // 0: M
  int64_t M = 0, K = 0;
};

// --- grouping (token, slot) pairs by expert ---------------------------------------------------

// Device arrays group_pairs() fills (inside the caller's workspace).
struct Grouping {
  int32_t* pair = nullptr;           // [P]: pair ids t * k + j, grouped by expert (ascending id within)
  int32_t* group_offsets = nullptr;  // [n_expert + 2]
  int32_t* tile_offsets = nullptr;   // [n_expert + 2]
};

namespace detail {

inline size_t align256(size_t b) { return (b + 255) / 256 * 256; }
inline int key_bits(int32_t n_expert) {
  int b = 1;
  while ((int64_t{1} << b) <= n_expert) ++b;  // keys 0 .. n_expert (the invalid group)
  return b;
}
struct GroupLayout {
  size_t keys_in, keys_out, vals_in, pair, goff, toff, cub, cub_bytes, total;
};
inline GroupLayout group_layout(int64_t P, int32_t n_expert) {
  GroupLayout l{};
  size_t cub_bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, cub_bytes, static_cast<const uint32_t*>(nullptr), static_cast<uint32_t*>(nullptr),
                                  static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr),
                                  static_cast<int>(P), 0, key_bits(n_expert));
  size_t o = 0;
  l.keys_in = o; o += align256(static_cast<size_t>(P) * 4);
  l.keys_out = o; o += align256(static_cast<size_t>(P) * 4);
  l.vals_in = o; o += align256(static_cast<size_t>(P) * 4);
  l.pair = o; o += align256(static_cast<size_t>(P) * 4);
  l.goff = o; o += align256(static_cast<size_t>(n_expert + 2) * 4);
  l.toff = o; o += align256(static_cast<size_t>(n_expert + 2) * 4);
  l.cub = o; o += align256(cub_bytes);
  l.cub_bytes = cub_bytes;
  l.total = o;
  return l;
}

// key = the slot's expert id (n_expert for an id outside [0, n_expert)), value = the pair id.
__global__ void pair_keys_kernel(const int32_t* ids, int64_t ids_stride, int k, int64_t P, int32_t n_expert,
                                 uint32_t* keys, int32_t* vals) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < P; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = i / k, j = i - t * k;
    const int32_t e = ids[t * ids_stride + j];
    keys[i] = (e >= 0 && e < n_expert) ? static_cast<uint32_t>(e) : static_cast<uint32_t>(n_expert);
    vals[i] = static_cast<int32_t>(i);
  }
}

// offsets[g] = first sorted index with key >= g (g = 0 .. G, G = n_expert + 1 groups), and the
// exclusive scan of the groups' tile counts. One CTA; integer work only.
inline constexpr int kScanThreads = 1024;
__global__ void __launch_bounds__(kScanThreads) group_offsets_kernel(const uint32_t* keys, int64_t P, int32_t G,
                                                                     int32_t* goff, int32_t* toff) {
  using Scan = cub::BlockScan<int32_t, kScanThreads>;
  __shared__ typename Scan::TempStorage tmp;
  __shared__ int32_t carry;
  if (threadIdx.x == 0) carry = 0;
  for (int32_t g0 = 0; g0 <= G; g0 += kScanThreads) {
    const int32_t g = g0 + static_cast<int32_t>(threadIdx.x);
    int32_t tiles = 0;
    if (g <= G) {
      int64_t lo = 0, hi = P;  // lower bound of g
      while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        if (keys[mid] < static_cast<uint32_t>(g)) lo = mid + 1;
        else hi = mid;
      }
      goff[g] = static_cast<int32_t>(lo);
      if (g < G) {
        int64_t lo2 = lo, hi2 = P;  // lower bound of g + 1
        while (lo2 < hi2) {
          const int64_t mid = (lo2 + hi2) / 2;
          if (keys[mid] < static_cast<uint32_t>(g + 1)) lo2 = mid + 1;
          else hi2 = mid;
        }
        tiles = static_cast<int32_t>((hi2 - lo + kTileP - 1) / kTileP);
      }
    }
    __syncthreads();
    int32_t excl = 0, total = 0;
    Scan(tmp).ExclusiveSum(tiles, excl, total);
    if (g <= G) toff[g] = carry + excl;
    __syncthreads();
    if (threadIdx.x == 0) carry += total;
    __syncthreads();
  }
}

// One group per head (MLA): ids q = t * H + h grouped by head: pair[i] for i = h * T + t.
__global__ void head_pairs_kernel(int64_t T, int32_t H, int32_t* pair, int32_t* goff, int32_t* toff) {
  const int64_t tiles = (T + kTileP - 1) / kTileP;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < T * H; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t h = i / T, t = i - h * T;
    pair[i] = static_cast<int32_t>(t * H + h);
  }
  for (int64_t g = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; g <= H + 1; g += int64_t{gridDim.x} * blockDim.x) {
    const int64_t gg = g < H ? g : H;  // the (empty) invalid group H, then the end
    goff[g] = static_cast<int32_t>(gg * T);
    toff[g] = static_cast<int32_t>(gg * tiles);
  }
}

inline unsigned grid_for(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 65536 ? (b > 0 ? b : 1) : 65536);
}

}  // namespace detail

// Scratch bytes of group_pairs() for P = T * k pairs.
inline size_t group_workspace_size(int64_t P, int32_t n_expert) { return detail::group_layout(P, n_expert).total; }

// Groups the T * k (token, slot) pairs of ids [T, ids_stride] by expert: out.pair holds the pair ids
// t * k + j in ascending expert order (pairs of one expert in ascending id), out.group_offsets and
// out.tile_offsets the group bounds and tile starts for GroupedParams (act_div = k for the
// token's row, 1 for the pair's). Ids outside [0, n_expert) go to group n_expert (NaN rows).
inline Status group_pairs(const int32_t* ids, int64_t ids_stride, int T, int k, int32_t n_expert, void* workspace,
                          size_t workspace_bytes, Grouping& out, cudaStream_t stream) {
  if (T < 0 || k <= 0 || n_expert <= 0) return Status::Invalid("group_pairs: bad sizes");
  if (ids_stride == 0) ids_stride = k;
  if (ids_stride < k) return Status::Invalid("group_pairs: ids_stride < k");
  const int64_t P = int64_t{T} * k;
  if (P > INT32_MAX / 2) return Status::Unsupported("group_pairs: too many pairs");
  const detail::GroupLayout l = detail::group_layout(P, n_expert);
  if (!workspace || workspace_bytes < l.total) return Status::Workspace("group_pairs: workspace too small");
  if (reinterpret_cast<uintptr_t>(workspace) % 256 != 0) return Status::Invalid("group_pairs: workspace must be 256-byte aligned");
  if (P > 0 && !ids) return Status::Invalid("group_pairs: null ids");
  uint8_t* ws = static_cast<uint8_t*>(workspace);
  uint32_t* keys_in = reinterpret_cast<uint32_t*>(ws + l.keys_in);
  uint32_t* keys_out = reinterpret_cast<uint32_t*>(ws + l.keys_out);
  int32_t* vals_in = reinterpret_cast<int32_t*>(ws + l.vals_in);
  out.pair = reinterpret_cast<int32_t*>(ws + l.pair);
  out.group_offsets = reinterpret_cast<int32_t*>(ws + l.goff);
  out.tile_offsets = reinterpret_cast<int32_t*>(ws + l.toff);
  if (P > 0) {
    detail::pair_keys_kernel<<<detail::grid_for(P, 256), 256, 0, stream>>>(ids, ids_stride, k, P, n_expert, keys_in, vals_in);
    DSK_RETURN_IF_LAUNCH_FAILED("gemm::pair_keys_kernel");
    size_t cub_bytes = l.cub_bytes;
    // Radix sort is stable: the pairs of one expert stay in ascending id order (not needed for the
    // bits — every pair is computed alone — but it keeps a token's reads together).
    DSK_CUDA_RETURN_IF_ERROR(cub::DeviceRadixSort::SortPairs(ws + l.cub, cub_bytes, keys_in, keys_out, vals_in, out.pair,
                                                             static_cast<int>(P), 0, detail::key_bits(n_expert), stream));
  }
  detail::group_offsets_kernel<<<1, detail::kScanThreads, 0, stream>>>(keys_out, P, n_expert + 1, out.group_offsets,
                                                                       out.tile_offsets);
  DSK_RETURN_IF_LAUNCH_FAILED("gemm::group_offsets_kernel");
  return Status::Ok();
}

// Scratch bytes of group_heads(): pair ids and offsets of T tokens × H heads.
inline size_t head_workspace_size(int64_t T, int32_t H) {
  return detail::align256(static_cast<size_t>(T * H) * 4) + 2 * detail::align256(static_cast<size_t>(H + 2) * 4);
}

// One group per head h (expert h of a per-head weight stack) holding ids q = t * H + h, t = 0..T-1
// (act_div = 1: activation row q, output row q).
inline Status group_heads(int64_t T, int32_t H, void* workspace, size_t workspace_bytes, Grouping& out,
                          cudaStream_t stream) {
  if (T < 0 || H <= 0) return Status::Invalid("group_heads: bad sizes");
  if (T * H > INT32_MAX / 2) return Status::Unsupported("group_heads: too many pairs");
  if (!workspace || workspace_bytes < head_workspace_size(T, H)) return Status::Workspace("group_heads: workspace too small");
  uint8_t* ws = static_cast<uint8_t*>(workspace);
  out.pair = reinterpret_cast<int32_t*>(ws);
  out.group_offsets = reinterpret_cast<int32_t*>(ws + detail::align256(static_cast<size_t>(T * H) * 4));
  out.tile_offsets = out.group_offsets + detail::align256(static_cast<size_t>(H + 2) * 4) / 4;
  detail::head_pairs_kernel<<<detail::grid_for(T * H, 256), 256, 0, stream>>>(T, H, out.pair, out.group_offsets,
                                                                             out.tile_offsets);
  DSK_RETURN_IF_LAUNCH_FAILED("gemm::head_pairs_kernel");
  return Status::Ok();
}

namespace detail {

using gemv::detail::wtraits;
using namespace dsk::quant;

inline constexpr int kThreads = 256;
inline constexpr int kN = 8;  // pairs per thread

// Blocks per K step: 256 elements (F32/F16/BF16: 128, their staged blocks are large).
template <class W>
inline constexpr int kStepBlocks = wtraits<W>::elems == 256 ? 1 : (sizeof(W) >= 64 ? 4 : 8);

// Bytes between staged weight rows: room for the step's blocks from a 16-byte-aligned start up to
// 15 bytes early, one slack word for load_words' look-ahead, and an odd number of 16-byte granules
// (distinct banks for the 8 rows a warp reads at once).
template <class W>
inline constexpr int kRowPitch = [] {
  int g = (kStepBlocks<W> * static_cast<int>(sizeof(W)) + 15 + 15) / 16 + 1;
  return 16 * (g % 2 == 1 ? g : g + 1);
}();

template <class W>
inline constexpr int kWeightStage = kTileM * kRowPitch<W>;
template <class W>
inline constexpr int kActStage = kStepBlocks<W> * kTileP * wtraits<W>::act_stride;
template <class W>
inline constexpr int kTabBytes = std::is_same_v<W, block_iq2_xxs> ? 2048 + 128 : 0;
template <class W>
inline constexpr int kSmemBytes = kTabBytes<W> + 2 * (kWeightStage<W> + kActStage<W>);

struct Args {
  const uint8_t* w;
  const uint8_t* w_end;  // one past the stack's last byte (copy clip)
  size_t w_row_stride, expert_bytes;
  int32_t n_expert;
  const uint8_t* x;
  size_t x_stride;
  int x_vec16;
  int64_t P;
  const int32_t* pair;
  int32_t act_div;
  const int32_t* goff;
  const int32_t* toff;
  float* y;
  int64_t y_stride;
  int M, nb, L;
};

// The five-entry subtree stack of tree32 in streaming form: slot c's value v merges with the
// completed subtrees below it (neighbours first, left + right as tree32) and is kept at its level.
template <int N>
__device__ __forceinline__ void tree_push(float (&s)[5][N], float (&v)[N], int c) {
  // Predicated, fully unrolled (static indices keep the stack in registers).
  bool placed = false;
#pragma unroll
  for (int lvl = 0; lvl < 5; ++lvl) {
    const bool here = !placed && !((c >> lvl) & 1);
    const bool merge = !placed && ((c >> lvl) & 1);
#pragma unroll
    for (int t = 0; t < N; ++t) {
      if (here) s[lvl][t] = v[t];
      if (merge) v[t] = fp::add(s[lvl][t], v[t]);
    }
    placed = placed || here;
  }
  if (!placed) {  // c = 31: v is the root, kept at the top level
#pragma unroll
    for (int t = 0; t < N; ++t) s[4][t] = v[t];
  }
}

// Q8_0 activation block (34 bytes, 2-byte aligned) -> the staged {qs[32], float d} form.
struct Q80Regs {
  uint16_t v[17];
};
__device__ __forceinline__ void load_q80(const uint8_t* src, Q80Regs& r) {
  const uint16_t* s = reinterpret_cast<const uint16_t*>(src);
#pragma unroll
  for (int k = 0; k < 17; ++k) r.v[k] = s[k];
}
__device__ __forceinline__ void store_q80(uint8_t* dst, const Q80Regs& r) {
#pragma unroll
  for (int k = 0; k < 8; ++k)
    reinterpret_cast<uint32_t*>(dst)[k] = static_cast<uint32_t>(r.v[1 + 2 * k]) | (static_cast<uint32_t>(r.v[2 + 2 * k]) << 16);
  *reinterpret_cast<float*>(dst + 32) = f16_bits_to_f32(r.v[0]);
}

template <class W>
__global__ void __launch_bounds__(kThreads, 1) grouped_kernel(const Args a) {
  using T = wtraits<W>;
  constexpr int bs = sizeof(W);
  constexpr int S = kStepBlocks<W>;
  constexpr int pitch = kRowPitch<W>;
  extern __shared__ __align__(16) uint8_t smem[];
  uint64_t* grid_tab = reinterpret_cast<uint64_t*>(smem);
  uint8_t* sign_tab = smem + 2048;
  auto wbuf = [&](int bi) { return smem + kTabBytes<W> + bi * kWeightStage<W>; };
  auto abuf = [&](int bi) { return smem + kTabBytes<W> + 2 * kWeightStage<W> + bi * kActStage<W>; };

  // This CTA's tile: group g (binary search over the tile starts), its pairs [i0, i0 + np).
  const int32_t G = a.n_expert + 1;
  const int32_t tile = static_cast<int32_t>(blockIdx.x);
  int32_t g = 0, i0 = 0, np = 0;
  if (a.toff) {
    if (tile >= a.toff[G]) return;
    int32_t lo = 0, hi = G;  // last g with toff[g] <= tile
    while (hi - lo > 1) {
      const int32_t mid = (lo + hi) / 2;
      if (a.toff[mid] <= tile) lo = mid;
      else hi = mid;
    }
    g = lo;
    i0 = a.goff[g] + (tile - a.toff[g]) * kTileP;
    np = min(kTileP, a.goff[g + 1] - i0);
  } else {
    i0 = tile * kTileP;
    np = a.P - i0 < kTileP ? static_cast<int32_t>(a.P - i0) : kTileP;
  }
  if (np <= 0) return;
  const int m0 = static_cast<int>(blockIdx.y) * kTileM;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int rl = warp * 8 + (lane & 7), pg = lane >> 3;  // row in the tile, pair group
  const int row = m0 + rl;
  __shared__ int32_t tile_pair[kTileP];  // the tile's ids (slots past np: slot 0's)
  if (threadIdx.x < kTileP) {
    const int s = static_cast<int>(threadIdx.x) < np ? static_cast<int>(threadIdx.x) : 0;
    tile_pair[threadIdx.x] = a.pair ? a.pair[i0 + s] : i0 + s;
  }
  __syncthreads();
  auto pair_id = [&](int s) { return tile_pair[s]; };

  if (g >= a.n_expert) {  // ids outside [0, n_expert): NaN rows, nothing read
    if (row < a.M)
      for (int s = pg; s < np; s += 4) a.y[static_cast<int64_t>(pair_id(s)) * a.y_stride + row] = fp::canonical_nan();
    return;
  }
  const uint8_t* wexp = a.w + static_cast<size_t>(g) * a.expert_bytes;

  if constexpr (std::is_same_v<W, block_iq2_xxs>) {
    for (int i = threadIdx.x; i < 256; i += kThreads) grid_tab[i] = iq2xxs_grid(i);
    for (int i = threadIdx.x; i < 128; i += kThreads) sign_tab[i] = ksigns_iq2xs(i);
  }

  // Activation row of tile slot s (slots past np reuse slot 0's row: computed, never stored).
  auto act_src = [&](int s) {
    const int32_t q = pair_id(s);
    return a.x + static_cast<size_t>(q / a.act_div) * a.x_stride;
  };

  // Copies of step st (blocks [S st, S st + S) ∩ [0, nb)) into buffer bi.
  auto issue_weights = [&](int st, int bi) {
    const int b0 = st * S, b1 = min(a.nb, b0 + S);
    constexpr int gmax = pitch / 16;
    const uintptr_t wend = reinterpret_cast<uintptr_t>(a.w_end);
    for (int i = threadIdx.x; i < kTileM * gmax; i += kThreads) {
      const int r = i / gmax, gr = i - r * gmax;
      if (m0 + r >= a.M) continue;
      const uintptr_t base = reinterpret_cast<uintptr_t>(wexp) + static_cast<uintptr_t>(m0 + r) * a.w_row_stride;
      const uintptr_t a0 = (base + static_cast<uintptr_t>(b0) * bs) & ~uintptr_t{15};
      const uintptr_t end = base + static_cast<uintptr_t>(b1) * bs;
      const uintptr_t src = a0 + 16 * static_cast<uintptr_t>(gr);
      if (src >= end) continue;
      uint8_t* dst = wbuf(bi) + r * pitch + 16 * gr;
      if (src + 16 <= wend) {
        gemv::detail::cp_async16(dst, reinterpret_cast<const void*>(src), 16);
      } else {  // the stack ends inside this granule: its bytes only
        const int left = static_cast<int>(wend - src);
        for (int k2 = 0; k2 < 16; ++k2) dst[k2] = k2 < left ? reinterpret_cast<const uint8_t*>(src)[k2] : uint8_t{0};
      }
    }
  };
  // Activation block b of slot s at abuf(bi) + ((b - b0) * kTileP + s) * act_stride.
  auto issue_acts = [&](int st, int bi) {
    const int b0 = st * S, nbk = min(a.nb, b0 + S) - b0;
    if constexpr (T::is_q8k) {
      for (int i = threadIdx.x; i < nbk * kTileP * 73; i += kThreads) {
        const int bb = i / (kTileP * 73), r = i - bb * kTileP * 73, s = r / 73, wd = r - s * 73;
        const uint8_t* src = act_src(s) + static_cast<size_t>(b0 + bb) * 292 + 4 * wd;
        uint8_t* dst = abuf(bi) + (bb * kTileP + s) * T::act_stride;
        gemv::detail::cp_async4(dst + 4 * (wd == 0 ? 72 : wd - 1), src);
      }
    } else if constexpr (!T::is_q80) {
      if (a.x_vec16) {
        for (int i = threadIdx.x; i < nbk * kTileP * 8; i += kThreads) {
          const int bb = i / (kTileP * 8), r = i - bb * kTileP * 8, s = r / 8, e = r - s * 8;
          gemv::detail::cp_async16(abuf(bi) + (bb * kTileP + s) * T::act_stride + 16 * e,
                                   act_src(s) + static_cast<size_t>(b0 + bb) * 128 + 16 * e, 16);
        }
      } else {
        for (int i = threadIdx.x; i < nbk * kTileP * 32; i += kThreads) {
          const int bb = i / (kTileP * 32), r = i - bb * kTileP * 32, s = r / 32, e = r - s * 32;
          gemv::detail::cp_async4(abuf(bi) + (bb * kTileP + s) * T::act_stride + 4 * e,
                                  act_src(s) + static_cast<size_t>(b0 + bb) * 128 + 4 * e);
        }
      }
    }
  };
  // Q8_0 activations: one block per thread and step (S * kTileP = 256 = kThreads), loaded into
  // registers before the step's compute and stored after it.
  Q80Regs q80{};
  auto load_acts_q80 = [&](int st) {
    if constexpr (T::is_q80) {
      const int bb = threadIdx.x / kTileP, s = threadIdx.x - bb * kTileP, b = st * S + bb;
      if (b < a.nb) load_q80(act_src(s) + static_cast<size_t>(b) * 34, q80);
    }
  };
  auto store_acts_q80 = [&](int st, int bi) {
    if constexpr (T::is_q80) {
      const int bb = threadIdx.x / kTileP, s = threadIdx.x - bb * kTileP;
      if (st * S + bb < a.nb) store_q80(abuf(bi) + (bb * kTileP + s) * T::act_stride, q80);
    }
  };
  static_assert(!T::is_q80 || S * kTileP == kThreads, "Q8_0 staging: one block per thread");

  const int steps = (a.nb + S - 1) / S;
  float acc[kN], stk[5][kN];
#pragma unroll
  for (int t = 0; t < kN; ++t) {
    acc[t] = 0.0f;
#pragma unroll
    for (int l = 0; l < 5; ++l) stk[l][t] = 0.0f;
  }
  const int L = a.L;
  int c = 0, in_chunk = 0;  // current chunk and blocks summed in it

  if (steps > 0) {
    issue_weights(0, 0);
    issue_acts(0, 0);
    load_acts_q80(0);
    store_acts_q80(0, 0);
  }
  gemv::detail::cp_async_commit();
  const gemv::detail::Tables tab{grid_tab, sign_tab};
  const int rrow = row < a.M ? rl : 0;  // rows past M compute row 0's data (never stored)
  for (int st = 0; st < steps; ++st) {
    const int cur = st & 1, nxt = cur ^ 1;
    if (st + 1 < steps) {
      issue_weights(st + 1, nxt);
      issue_acts(st + 1, nxt);
      load_acts_q80(st + 1);
    }
    gemv::detail::cp_async_commit();
    gemv::detail::cp_async_wait<1>();
    __syncthreads();
    const int b0 = st * S;
    const uintptr_t base = reinterpret_cast<uintptr_t>(wexp) + static_cast<uintptr_t>(m0 + rrow) * a.w_row_stride;
    const int off0 = static_cast<int>((base + static_cast<uintptr_t>(b0) * bs) & 15);
    const uint8_t* wrow = wbuf(cur) + rrow * pitch + off0;
#pragma unroll 1
    for (int bb = 0; bb < S && b0 + bb < a.nb; ++bb) {
      const uint8_t* ap[kN];
#pragma unroll
      for (int t = 0; t < kN; ++t) {
        const int s = pg + 4 * t;
        ap[t] = abuf(cur) + (bb * kTileP + (s < np ? s : 0)) * T::act_stride;
      }
      float r[kN];
      gemv::detail::block_dot<kN>(static_cast<const W*>(nullptr), wrow + bb * bs, ap, tab, r);
#pragma unroll
      for (int t = 0; t < kN; ++t) acc[t] = fp::add(acc[t], r[t]);
      if (++in_chunk == L || b0 + bb == a.nb - 1) {
        tree_push<kN>(stk, acc, c);
#pragma unroll
        for (int t = 0; t < kN; ++t) acc[t] = 0.0f;
        ++c;
        in_chunk = 0;
      }
    }
    if (st + 1 < steps) store_acts_q80(st + 1, nxt);
    __syncthreads();  // buffer cur is refilled by the next iteration's copies
  }
  gemv::detail::cp_async_wait<0>();
  // Chunks past the row's end are +0.0f slots of the tree.
  for (; c < 32; ++c) {
#pragma unroll
    for (int t = 0; t < kN; ++t) acc[t] = 0.0f;
    tree_push<kN>(stk, acc, c);
  }
  if (row < a.M) {
#pragma unroll
    for (int t = 0; t < kN; ++t) {
      const int s = pg + 4 * t;
      if (s < np) a.y[static_cast<int64_t>(pair_id(s)) * a.y_stride + row] = stk[4][t];
    }
  }
}

template <class W>
Status launch_typed(const GroupedParams& p, int max_smem, cudaStream_t stream) {
  using T = wtraits<W>;
  constexpr int smem = kSmemBytes<W>;
  if (smem > max_smem) return Status::Unsupported("grouped_gemm: shared memory");
  const int nb = static_cast<int>(p.K / T::elems);
  const size_t row_bytes = static_cast<size_t>(nb) * sizeof(W);
  Args a{};
  a.w = static_cast<const uint8_t*>(p.w);
  a.w_row_stride = p.w_row_stride ? p.w_row_stride : row_bytes;
  a.expert_bytes = p.expert_bytes ? p.expert_bytes : a.w_row_stride * static_cast<size_t>(p.M);
  a.n_expert = p.group_offsets ? p.n_expert : 1;
  a.w_end = a.w + static_cast<size_t>(a.n_expert - 1) * a.expert_bytes + static_cast<size_t>(p.M - 1) * a.w_row_stride + row_bytes;
  a.x = static_cast<const uint8_t*>(p.x);
  a.x_stride = p.x_stride ? p.x_stride : static_cast<size_t>(nb) * T::act_src_bytes;
  a.x_vec16 = (reinterpret_cast<uintptr_t>(p.x) % 16 == 0 && a.x_stride % 16 == 0) ? 1 : 0;
  a.P = p.P;
  a.pair = p.pair;
  a.act_div = p.act_div;
  a.goff = p.group_offsets;
  a.toff = p.group_offsets ? p.tile_offsets : nullptr;
  a.y = p.y;
  a.y_stride = p.y_stride ? p.y_stride : p.M;
  a.M = static_cast<int>(p.M);
  a.nb = nb;
  a.L = nb > 0 ? (nb + 31) / 32 : 1;
  // Tiles: an upper bound (the real count is on the device); CTAs past it return at once.
  const int64_t tiles = p.group_offsets ? (p.P + kTileP - 1) / kTileP + p.n_expert + 1 : (p.P + kTileP - 1) / kTileP;
  const int64_t row_tiles = (p.M + kTileM - 1) / kTileM;
  if (tiles > INT32_MAX || row_tiles > 65535) return Status::Unsupported("grouped_gemm: grid too large");
  auto kern = grouped_kernel<W>;
  static int raised[64] = {};
  int dev = 0;
  DSK_CUDA_RETURN_IF_ERROR(cudaGetDevice(&dev));
  if (dev >= 64 || raised[dev] < smem) {
    DSK_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    if (dev < 64) raised[dev] = smem;
  }
  kern<<<dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(row_tiles)), kThreads, smem, stream>>>(a);
  DSK_RETURN_IF_LAUNCH_FAILED("gemm::grouped_kernel");
  return Status::Ok();
}

}  // namespace detail

// y = the grouped products of p on `stream` (see the header comment).
inline Status launch_grouped(const GroupedParams& p, cudaStream_t stream) {
  const int be = gemv::detail::weight_block_elems(p.wtype);
  if (be == 0) return Status::Unsupported("grouped_gemm: weight type");
  if (p.P < 0 || p.M < 0 || p.K < 0 || p.n_expert <= 0 || p.act_div <= 0) return Status::Invalid("grouped_gemm: bad sizes");
  if (!gemv::k_fits(p.wtype, p.K)) return Status::Unsupported("grouped_gemm: K is not a multiple of the weight / activation block");
  if (p.P == 0 || p.M == 0) return Status::Ok();
  if (p.P > INT32_MAX / 2 || p.M > INT32_MAX / 2) return Status::Unsupported("grouped_gemm: too large");
  if (!p.w || !p.x || !p.y) return Status::Invalid("grouped_gemm: null pointer");
  if (p.group_offsets && !p.tile_offsets) return Status::Invalid("grouped_gemm: group_offsets without tile_offsets");
  if (p.y_stride != 0 && p.y_stride < p.M) return Status::Invalid("grouped_gemm: y_stride < M");
  if (Status s = gemv::detail::check_layout(p.wtype, p.w, p.w_row_stride, p.x, p.x_stride, p.y, p.K); !s.ok()) return s;
  const size_t row_bytes = static_cast<size_t>(p.K / be) * gemv::detail::weight_block_bytes(p.wtype);
  const size_t rs = p.w_row_stride ? p.w_row_stride : row_bytes;
  const int bb = gemv::detail::weight_block_bytes(p.wtype);
  const size_t ea = bb % 16 == 0 ? 16 : bb % 4 == 0 ? 4 : 2;
  const size_t eb = p.expert_bytes ? p.expert_bytes : rs * static_cast<size_t>(p.M);
  if (eb < rs * static_cast<size_t>(p.M) || eb % ea != 0)
    return Status::Invalid("grouped_gemm: expert_bytes must be >= M rows and keep the blocks' natural alignment");
  int sms = 0, max_smem = 0;
  if (Status s = gemv::detail::device_limits(sms, max_smem); !s.ok()) return s;
  using namespace dsk::quant;
  switch (p.wtype) {
    case GgmlType::F32: return detail::launch_typed<block_f32>(p, max_smem, stream);
    case GgmlType::F16: return detail::launch_typed<block_f16>(p, max_smem, stream);
    case GgmlType::BF16: return detail::launch_typed<block_bf16>(p, max_smem, stream);
    case GgmlType::Q8_0: return detail::launch_typed<block_q8_0>(p, max_smem, stream);
    case GgmlType::Q4_K: return detail::launch_typed<block_q4_K>(p, max_smem, stream);
    case GgmlType::Q6_K: return detail::launch_typed<block_q6_K>(p, max_smem, stream);
    case GgmlType::Q2_K: return detail::launch_typed<block_q2_K>(p, max_smem, stream);
    case GgmlType::IQ2_XXS: return detail::launch_typed<block_iq2_xxs>(p, max_smem, stream);
    default: return Status::Unsupported("grouped_gemm: weight type");
  }
}

// y[r] = W · x[r] for R activation rows of one 2-D weight (row stride w_row_stride, 0: packed):
// gemv::launch for R <= 4 tokens, one grouped-GEMM group beyond. The same bits either way (every
// row in the canonical order); the choice is speed only.
inline Status launch_dense(GgmlType wtype, const void* w, size_t w_row_stride, const void* x, size_t x_stride, int64_t R,
                           int64_t M, int64_t K, float* y, int64_t y_stride, cudaStream_t stream) {
  if (R <= gemv::kMaxTokens) {
    gemv::Params p;
    p.wtype = wtype;
    p.w = w;
    p.w_row_stride = w_row_stride;
    p.x = x;
    p.x_stride = x_stride;
    p.y = y;
    p.y_stride = y_stride;
    p.M = M;
    p.K = K;
    p.N = static_cast<int>(R);
    return R == 0 ? Status::Ok() : gemv::launch(p, nullptr, 0, stream);
  }
  GroupedParams p;
  p.wtype = wtype;
  p.w = w;
  p.w_row_stride = w_row_stride;
  p.x = x;
  p.x_stride = x_stride;
  p.P = R;
  p.y = y;
  p.y_stride = y_stride;
  p.M = M;
  p.K = K;
  return launch_grouped(p, stream);
}

}  // namespace dsk::gemm

#endif  // __CUDACC__
