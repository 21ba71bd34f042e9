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

// ids / weights of every token (dsk/router/router.hpp).
inline Status launch(const Params& p, cudaStream_t stream) {
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

}  // namespace dsk::router

#endif  // __CUDACC__
