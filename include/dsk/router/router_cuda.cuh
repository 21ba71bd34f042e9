// dsk/router/router_cuda.cuh — CUDA kernel and launchers of the router family
// (dsk/router/router.hpp). Convention as dsk/norm/norm_cuda.cuh:
// `dsk::router::launch(const Params&, cudaStream_t) -> Status`, validating, never allocating or
// synchronizing, graph-capturable.
//
// Kernel: one warp (kNT = 32 lanes) per token, 4 warps per block, grid-stride over tokens. Lane l
// owns experts l, l+32, ..., l+32*(NS-1) (NS = n_expert/32).
//   scores: softmax as ops::softmax_row<32>: max by fp::max_num (order-free up to the sign of a
//     zero max, which exp(x - m) cannot see), lane l sums exp(l_e - m) over its experts in order,
//     warp_tree32, then the warp sum in slot 0 of a second tree32 (= order::vector_sum<32>);
//     sigmoid / sqrt_softplus per element (router::score).
//   groups: lane g scans group g exactly as the reference (best, then second best by
//     ops::key_before); a group is kept when fewer than topk_group groups rank before it (the same
//     set as the reference's repeated best-remaining picks: key_before is a strict total order).
//   top-k: k rounds of a warp arg-best under key_before over the eligible experts (a strict total
//     order, so the butterfly's tree gives the reference's pick); the winner becomes ineligible.
//   weights: lane 0 gathers p_{id_j} and runs router::finish_weights, as the reference.
// Fast paths are compiled for n_expert in {64, 128, 160, 256, 384, 512} (registers sized at compile
// time); any other multiple of 32 up to 512 runs the runtime-sized kernel, with identical results
// (launch_generic forces it).
// Few tokens (T <= kBlockKernelMaxT, decode): a block of n_expert threads per token instead
// (block_select_kernel): thread e scores expert e; the softmax sum is gathered in the same order
// (lane l of warp 0 sums experts l, l + 32, ... from shared memory); the strict total order
// key_before is mapped to distinct 64-bit integers (orderable key bits, then the complemented
// index), so a selection is a count of larger integers: group ranks from shared memory, a warp's
// candidates by a 31-step shuffle count, the final ranks among the <= k candidates of every warp.
// Same ids and bits as the warp kernel (test_router_gpu compares both with the reference); the
// latency of one warp walking 512 experts is what it removes (H200: 22 -> see docs/performance.md).
// Hash layers: ids and validity are data. A token whose id is outside [0, n_vocab), or whose table
// row holds an expert outside [0, n_expert), gets ids -1 and NaN weights in all k slots (the
// reference returns an error); nothing outside the table or the logits is read.
#pragma once

#include "dsk/router/router.hpp"

#if defined(__CUDACC__)
#include <cuda_runtime.h>

#include <cstdint>

namespace dsk::router {

namespace cuda_detail {

constexpr int kWarpsPerBlock = 4;
constexpr int kMaxSlots = kMaxExperts / 32;

struct WarpShared {
  float key[kMaxExperts];
  float prob[kMaxExperts];
  float gscore[kMaxExperts];
  uint8_t keep[kMaxExperts];
};

// Merge (v, i) with (ov, oi) under key_before; index -1: empty (ranks after everything).
__device__ __forceinline__ void best_merge(float& v, int32_t& i, float ov, int32_t oi) {
  if (oi >= 0 && (i < 0 || ops::key_before(ov, oi, v, i))) {
    v = ov;
    i = oi;
  }
}

__device__ __forceinline__ int32_t warp_best(float v, int32_t i) {
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int32_t oi = __shfl_xor_sync(0xffffffffu, i, o);
    best_merge(v, i, ov, oi);
  }
  return i;
}

// NS: experts per lane (n_expert / 32), 0: taken from p.n_expert at run time.
template <int NS>
__global__ void __launch_bounds__(32 * kWarpsPerBlock) select_kernel(Params p, int64_t ls, int64_t os, int64_t hs) {
  __shared__ WarpShared shared[kWarpsPerBlock];
  WarpShared& S = shared[threadIdx.x / 32];
  constexpr int kSlotsArr = NS ? NS : kMaxSlots;
  const int lane = threadIdx.x % 32;
  const int n = p.n_expert, k = p.k;
  const int ns = NS ? NS : n / 32;
  const float kNegInf = fp::from_bits(0xff800000u);
  for (int64_t t = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32; t < p.T;
       t += int64_t{gridDim.x} * kWarpsPerBlock) {
    const float* l = p.logits + t * ls;
    float prob[kSlotsArr];
    // 1. scores
    if (p.scoring == Scoring::softmax) {
      float m = kNegInf;
      bool nan_here = false;
#pragma unroll
      for (int j = 0; j < kSlotsArr; ++j)
        if (j < ns) {
          const float v = l[lane + 32 * j];
          prob[j] = v;
          m = fp::max_num(m, v);
          nan_here = nan_here || fp::is_nan(v);
        }
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) m = fp::max_num(m, __shfl_xor_sync(0xffffffffu, m, o));
      const bool any_nan = __any_sync(0xffffffffu, nan_here);
      if (m == kNegInf) {
#pragma unroll
        for (int j = 0; j < kSlotsArr; ++j) prob[j] = any_nan ? fp::canonical_nan() : 0.0f;
      } else {
        float acc = 0.0f;
#pragma unroll
        for (int j = 0; j < kSlotsArr; ++j)
          if (j < ns) {
            prob[j] = math::exp(fp::sub(prob[j], m));
            acc = fp::add(acc, prob[j]);
          }
        const float ws = order::warp_tree32(acc);
        const float s = order::warp_tree32(lane == 0 ? ws : 0.0f);
#pragma unroll
        for (int j = 0; j < kSlotsArr; ++j) prob[j] = fp::div(prob[j], s);
      }
    } else {
#pragma unroll
      for (int j = 0; j < kSlotsArr; ++j)
        if (j < ns) prob[j] = score(p.scoring, l[lane + 32 * j]);
    }
    __syncwarp();  // the previous token's readers of S are done
#pragma unroll
    for (int j = 0; j < kSlotsArr; ++j)
      if (j < ns) S.prob[lane + 32 * j] = prob[j];

    int32_t* ids_out = p.ids + t * os;
    float* w_out = p.weights + t * os;
    int32_t sel[kMaxK];
    bool hash_ok = true;
    if (p.tid2eid) {
      const int32_t tok = p.token_ids[t];
      hash_ok = tok >= 0 && tok < p.n_vocab;
      for (int j = 0; j < k; ++j) {
        const int32_t e = hash_ok ? p.tid2eid[static_cast<int64_t>(tok) * hs + j] : -1;
        hash_ok = hash_ok && e >= 0 && e < n;
        sel[j] = e;
      }
    } else {
      // 2. keys
      float key[kSlotsArr];
#pragma unroll
      for (int j = 0; j < kSlotsArr; ++j)
        if (j < ns) {
          const int e = lane + 32 * j;
          key[j] = p.bias ? fp::add(prob[j], p.bias[e]) : prob[j];
          S.key[e] = key[j];
        }
      uint32_t eligible = ns >= 32 ? 0xffffffffu : ((1u << ns) - 1u);
      // 3. groups
      if (p.n_group > 1) {
        __syncwarp();
        const int G = n / p.n_group;
        for (int g = lane; g < p.n_group; g += 32) {
          int32_t b1 = g * G;
          for (int32_t e = g * G + 1; e < (g + 1) * G; ++e)
            if (ops::key_before(S.key[e], e, S.key[b1], b1)) b1 = e;
          if (p.group_score == GroupScore::max) {
            S.gscore[g] = S.key[b1];
          } else {
            int32_t b2 = -1;
            for (int32_t e = g * G; e < (g + 1) * G; ++e)
              if (e != b1 && (b2 < 0 || ops::key_before(S.key[e], e, S.key[b2], b2))) b2 = e;
            S.gscore[g] = fp::add(S.key[b1], S.key[b2]);
          }
        }
        __syncwarp();
        for (int g = lane; g < p.n_group; g += 32) {
          int rank = 0;
          const float gs = S.gscore[g];
          for (int h = 0; h < p.n_group; ++h) rank += ops::key_before(S.gscore[h], h, gs, g) ? 1 : 0;
          S.keep[g] = rank < p.topk_group ? 1 : 0;
        }
        __syncwarp();
#pragma unroll
        for (int j = 0; j < kSlotsArr; ++j)
          if (j < ns && !S.keep[(lane + 32 * j) / G]) eligible &= ~(1u << j);
      }
      // 4. top-k
      for (int r = 0; r < k; ++r) {
        float bv = 0.0f;
        int32_t bi = -1;
#pragma unroll
        for (int j = 0; j < kSlotsArr; ++j)
          if (j < ns && (eligible >> j & 1u)) best_merge(bv, bi, key[j], lane + 32 * j);
        const int32_t win = warp_best(bv, bi);
        if (win >= 0 && (win & 31) == lane) eligible &= ~(1u << (win >> 5));
        sel[r] = win;
      }
    }
    __syncwarp();  // S.prob complete
    // 5. weights
    if (lane == 0) {
      float w[kMaxK];
      if (hash_ok) {
        for (int j = 0; j < k; ++j) w[j] = S.prob[sel[j]];
        finish_weights(w, k, p.normalize, p.norm_eps, p.norm_floor, p.scale);
      }
      for (int j = 0; j < k; ++j) {
        ids_out[j] = hash_ok ? sel[j] : -1;
        w_out[j] = hash_ok ? w[j] : fp::canonical_nan();
      }
    }
  }
}

// key_before as an integer order: a larger value is an earlier key. NaN (any payload) ranks below
// every number, +0 == -0, then the lower index first; 0 is never produced (index < 2^31).
__device__ __forceinline__ uint64_t order_key(float v, int32_t i) {
  uint32_t b = fp::bits(v);
  uint32_t u;
  if (fp::is_nan(v)) {
    u = 0;
  } else {
    if (b == 0x80000000u) b = 0;
    u = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  }
  return (static_cast<uint64_t>(u) << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(i));
}

constexpr int64_t kBlockKernelMaxT = 64;

struct BlockShared {
  uint64_t okey[kMaxExperts];   // order keys of the selection keys; candidates after step 4a
  float prob[kMaxExperts];      // p_e (softmax: exp(l - m) first)
  float key[kMaxExperts];       // s_e
  float gbest[kMaxExperts], gsecond[kMaxExperts];
  uint64_t gkey[kMaxExperts];
  uint8_t keep[kMaxExperts];
  int32_t sel[kMaxK];
  int32_t warp_count[kMaxExperts / 32];
  float red[32];
  int flag;
};

// One token per block, blockDim.x = n_expert (one expert per thread).
__global__ void __launch_bounds__(kMaxExperts) block_select_kernel(Params p, int64_t ls, int64_t os, int64_t hs) {
  __shared__ BlockShared S;
  const int e = threadIdx.x, lane = e & 31, warp = e >> 5;
  const int n = p.n_expert, k = p.k, nw = n / 32;
  const float kNegInf = fp::from_bits(0xff800000u);
  const int64_t t = blockIdx.x;
  const float le = p.logits[t * ls + e];
  // 1. scores
  float pe;
  if (p.scoring == Scoring::softmax) {
    float m = fp::max_num(kNegInf, le);
    for (int o = 1; o < 32; o <<= 1) m = fp::max_num(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (lane == 0) S.red[warp] = m;
    const int any_nan = __syncthreads_or(fp::is_nan(le) ? 1 : 0);
    m = S.red[0];
    for (int w = 1; w < nw; ++w) m = fp::max_num(m, S.red[w]);
    if (m == kNegInf) {
      pe = any_nan ? fp::canonical_nan() : 0.0f;
    } else {
      pe = math::exp(fp::sub(le, m));
      S.prob[e] = pe;
      __syncthreads();
      if (warp == 0) {  // ops::softmax_row<32>'s order: lane l sums experts l, l + 32, ...
        float acc = 0.0f;
        for (int j = 0; j < nw; ++j) acc = fp::add(acc, S.prob[lane + 32 * j]);
        const float ws = order::warp_tree32(acc);
        const float sum = order::warp_tree32(lane == 0 ? ws : 0.0f);
        if (lane == 0) S.red[0] = sum;
      }
      __syncthreads();
      pe = fp::div(pe, S.red[0]);
    }
    __syncthreads();  // S.prob and S.red reused below
  } else {
    pe = score(p.scoring, le);
  }
  S.prob[e] = pe;
  int32_t* ids_out = p.ids + t * os;
  float* w_out = p.weights + t * os;
  if (p.tid2eid) {
    __syncthreads();
    if (e == 0) {
      const int32_t tok = p.token_ids[t];
      bool ok = tok >= 0 && tok < p.n_vocab;
      int32_t sel[kMaxK];
      for (int j = 0; j < k; ++j) {
        const int32_t id = ok ? p.tid2eid[static_cast<int64_t>(tok) * hs + j] : -1;
        ok = ok && id >= 0 && id < n;
        sel[j] = id;
      }
      float w[kMaxK];
      if (ok) {
        for (int j = 0; j < k; ++j) w[j] = S.prob[sel[j]];
        finish_weights(w, k, p.normalize, p.norm_eps, p.norm_floor, p.scale);
      }
      for (int j = 0; j < k; ++j) {
        ids_out[j] = ok ? sel[j] : -1;
        w_out[j] = ok ? w[j] : fp::canonical_nan();
      }
    }
    return;
  }
  // 2. keys
  const float ke = p.bias ? fp::add(pe, p.bias[e]) : pe;
  uint64_t K = order_key(ke, e);
  // 3. groups
  if (p.n_group > 1) {
    const int G = n / p.n_group, g = e / G;
    S.okey[e] = K;
    S.key[e] = ke;
    __syncthreads();
    int r = 0;
    for (int j = g * G; j < (g + 1) * G; ++j) r += S.okey[j] > K ? 1 : 0;
    if (r == 0) S.gbest[g] = ke;
    if (r == 1) S.gsecond[g] = ke;
    __syncthreads();
    if (e < p.n_group) {
      const float gs = p.group_score == GroupScore::max ? S.gbest[e] : fp::add(S.gbest[e], S.gsecond[e]);
      S.gkey[e] = order_key(gs, e);
    }
    __syncthreads();
    if (e < p.n_group) {
      int gr = 0;
      for (int h = 0; h < p.n_group; ++h) gr += S.gkey[h] > S.gkey[e] ? 1 : 0;
      S.keep[e] = gr < p.topk_group ? 1 : 0;
    }
    __syncthreads();
    if (!S.keep[g]) K = 0;  // ineligible: after every key
  }
  // 4a. a warp's candidates: its eligible experts with fewer than k larger keys in the warp.
  int r = 0;
#pragma unroll
  for (int o = 1; o < 32; ++o) r += __shfl_sync(0xffffffffu, K, (lane + o) & 31) > K ? 1 : 0;
  const bool cand = K != 0 && r < k;
  const uint32_t ballot = __ballot_sync(0xffffffffu, cand);
  if (lane == 0) S.warp_count[warp] = __popc(ballot);
  __syncthreads();
  int off = 0, C = 0;
  for (int w = 0; w < nw; ++w) {
    off += w < warp ? S.warp_count[w] : 0;
    C += S.warp_count[w];
  }
  if (cand) S.okey[off + __popc(ballot & ((1u << lane) - 1u))] = K;
  __syncthreads();
  // 4b. the k best candidates, slot = rank.
  if (e < C) {
    const uint64_t Kc = S.okey[e];
    int rank = 0;
    for (int j = 0; j < C; ++j) rank += S.okey[j] > Kc ? 1 : 0;
    if (rank < k) S.sel[rank] = static_cast<int32_t>(0xFFFFFFFFu - static_cast<uint32_t>(Kc));
  }
  __syncthreads();
  // 5. weights
  if (e == 0) {
    float w[kMaxK];
    for (int j = 0; j < k; ++j) w[j] = S.prob[S.sel[j]];
    finish_weights(w, k, p.normalize, p.norm_eps, p.norm_floor, p.scale);
    for (int j = 0; j < k; ++j) {
      ids_out[j] = S.sel[j];
      w_out[j] = w[j];
    }
  }
}

inline Status launch_block(const Params& p, cudaStream_t stream) {
  const int64_t ls = p.logits_stride ? p.logits_stride : p.n_expert;
  const int64_t os = p.out_stride ? p.out_stride : p.k;
  const int64_t hs = p.tid2eid_stride ? p.tid2eid_stride : p.k;
  block_select_kernel<<<static_cast<unsigned>(p.T), static_cast<unsigned>(p.n_expert), 0, stream>>>(p, ls, os, hs);
  DSK_RETURN_IF_LAUNCH_FAILED("router::block_select_kernel");
  return Status::Ok();
}

template <int NS>
Status launch_ns(const Params& p, cudaStream_t stream) {
  const int64_t ls = p.logits_stride ? p.logits_stride : p.n_expert;
  const int64_t os = p.out_stride ? p.out_stride : p.k;
  const int64_t hs = p.tid2eid_stride ? p.tid2eid_stride : p.k;
  const int64_t blocks = (p.T + kWarpsPerBlock - 1) / kWarpsPerBlock;
  const unsigned grid = static_cast<unsigned>(blocks < 262144 ? blocks : 262144);
  select_kernel<NS><<<grid, 32 * kWarpsPerBlock, 0, stream>>>(p, ls, os, hs);
  DSK_RETURN_IF_LAUNCH_FAILED("router::select_kernel");
  return Status::Ok();
}

}  // namespace cuda_detail

// The runtime-sized kernel for every supported n_expert (same results as launch).
inline Status launch_generic(const Params& p, cudaStream_t stream) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  return cuda_detail::launch_ns<0>(p, stream);
}

// The block-per-token kernel for any T (launch uses it for T <= kBlockKernelMaxT; same results).
inline Status launch_block_per_token(const Params& p, cudaStream_t stream) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  if (p.T > 2147483647) return Status::Unsupported("router: T too large for the block kernel");
  return cuda_detail::launch_block(p, stream);
}

// The warp-per-token kernels for any T (launch uses them for T > kBlockKernelMaxT; same results).
inline Status launch_warp_per_token(const Params& p, cudaStream_t stream) {
  if (Status s = validate(p); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  switch (p.n_expert) {
    case 64: return cuda_detail::launch_ns<2>(p, stream);
    case 128: return cuda_detail::launch_ns<4>(p, stream);
    case 160: return cuda_detail::launch_ns<5>(p, stream);
    case 256: return cuda_detail::launch_ns<8>(p, stream);
    case 384: return cuda_detail::launch_ns<12>(p, stream);
    case 512: return cuda_detail::launch_ns<16>(p, stream);
    default: return cuda_detail::launch_ns<0>(p, stream);
  }
}

// ids / weights of every token (dsk/router/router.hpp): a block per token for few tokens (decode
// latency), a warp per token otherwise (throughput).
inline Status launch(const Params& p, cudaStream_t stream) {
  if (p.T >= 1 && p.T <= cuda_detail::kBlockKernelMaxT) return launch_block_per_token(p, stream);
  return launch_warp_per_token(p, stream);
}

}  // namespace dsk::router

#endif  // __CUDACC__
