// dsk/sample/sample_cuda.cuh — the sampling chain of sample.hpp on the GPU: the same token as
// dsk::ref::sample::sample for the same logits, parameters and position, by construction.
//
//   launch_sample(p, workspace, bytes, stream): one row of n_vocab logits -> one token id (-1 when no
//   candidate) in device memory. Greedy (temperature <= 0) is one reduction kernel; otherwise the
//   candidates are sorted once with CUB (64-bit keys: descending logit, then ascending id, so the
//   order is total and the same as the host's comparator, -0 == +0) and one block runs top-k, top-p,
//   min-p and the draw with the chunked sums of sample.hpp (thread c owns chunk c; the chunk prefix
//   is summed by one thread left to right, as the reference does).
// The position of the draw may come from device memory (pos_dev, for a captured CUDA graph whose
// position advances between replays): position = *pos_dev + pos, else pos.
// No allocation, no synchronisation; graph-capturable.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cub/device/device_radix_sort.cuh>

#include "dsk/core/fp.hpp"
#include "dsk/core/math.hpp"
#include "dsk/core/status.hpp"
#include "dsk/sample/philox.hpp"
#include "dsk/sample/sample.hpp"

namespace dsk::sample {

struct SampleParams {
  const float* logits = nullptr;  // device, n_vocab values
  int32_t n_vocab = 0;
  SamplerParams sampler;
  const int32_t* pos_dev = nullptr;  // device; null: the position is `pos`
  int64_t pos = 0;                   // added to *pos_dev when pos_dev is set
  int32_t* token = nullptr;          // device: the drawn id, -1 when no logit is a candidate
};

namespace detail {

inline constexpr int kThreads = 1024;
inline constexpr uint64_t kNoCandidate = ~uint64_t{0};

// Ascending key = descending logit, then ascending id. NaN and -inf are no candidates (kNoCandidate:
// a candidate's high word is never 0xffffffff, that would be a NaN's bits). -0 is made +0 first so
// the two zeros tie like they do under the host's `>`.
__device__ __forceinline__ uint64_t candidate_key(float l, int32_t id) {
  if (fp::is_nan(l) || (fp::is_inf(l) && l < 0.0f)) return kNoCandidate;
  uint32_t b = fp::bits(l == 0.0f ? 0.0f : l);
  const uint32_t ord = (b & 0x80000000u) ? ~b : (b | 0x80000000u);  // ascending with the float
  return (static_cast<uint64_t>(~ord) << 32) | static_cast<uint32_t>(id);
}

inline size_t align256(size_t b) { return (b + 255) / 256 * 256; }

struct Layout {
  size_t keys_in = 0, keys_out = 0, prefix = 0, cub = 0, cub_bytes = 0, total = 0;
};

inline Layout layout(int32_t n_vocab) {
  Layout l;
  const size_t n = static_cast<size_t>(n_vocab);
  size_t cub_bytes = 0;
  cub::DeviceRadixSort::SortKeys(nullptr, cub_bytes, static_cast<const uint64_t*>(nullptr),
                                 static_cast<uint64_t*>(nullptr), n_vocab, 0, 64);
  l.keys_in = 0;
  l.keys_out = align256(n * 8);
  l.prefix = l.keys_out + align256(n * 8);
  l.cub = l.prefix + align256((n / kSumChunk + 2) * 4);
  l.cub_bytes = cub_bytes;
  l.total = l.cub + align256(cub_bytes);
  return l;
}

__global__ void keys_kernel(const float* __restrict__ logits, int32_t n, uint64_t* __restrict__ keys) {
  const int32_t i = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) keys[i] = candidate_key(logits[i], i);
}

// Greedy: the smallest key of the row (one block).
__global__ void __launch_bounds__(kThreads) greedy_kernel(const float* __restrict__ logits, int32_t n,
                                                          int32_t* __restrict__ token) {
  __shared__ uint64_t warp_min[kThreads / 32];
  uint64_t m = kNoCandidate;
  for (int32_t i = static_cast<int32_t>(threadIdx.x); i < n; i += kThreads) {
    const uint64_t k = candidate_key(logits[i], i);
    m = k < m ? k : m;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const uint64_t v = __shfl_xor_sync(0xffffffffu, m, o);
    m = v < m ? v : m;
  }
  if ((threadIdx.x & 31) == 0) warp_min[threadIdx.x / 32] = m;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kThreads / 32; ++w) m = warp_min[w] < m ? warp_min[w] : m;
    *token = m == kNoCandidate ? -1 : static_cast<int32_t>(static_cast<uint32_t>(m));
  }
}

__device__ __forceinline__ int32_t key_id(uint64_t k) { return static_cast<int32_t>(static_cast<uint32_t>(k)); }

// Weight of candidate i: exp((l_i - lmax) [/ t]).
__device__ __forceinline__ float weight(const float* logits, const uint64_t* keys, int32_t i, float lmax, float t,
                                        bool tempered) {
  const float d = fp::sub(logits[key_id(keys[i])], lmax);
  return math::exp(tempered ? fp::div(d, t) : d);
}

// The chunked prefix of sample.hpp over candidates 0 .. n-1 into P[0 .. nc]; returns nothing, P in
// global memory (visible to the block after the barrier).
__device__ void chunk_prefix(const float* logits, const uint64_t* keys, int32_t n, float lmax, float t, bool tempered,
                             float* P) {
  const int32_t nc = (n + kSumChunk - 1) / kSumChunk;
  for (int32_t c = static_cast<int32_t>(threadIdx.x); c < nc; c += kThreads) {
    float s = 0.0f;
    const int32_t end = min(n, (c + 1) * kSumChunk);
    for (int32_t i = c * kSumChunk; i < end; ++i) s = fp::add(s, weight(logits, keys, i, lmax, t, tempered));
    P[c + 1] = s;  // the chunk's total for now
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float acc = 0.0f;
    P[0] = 0.0f;
    for (int32_t c = 0; c < nc; ++c) {
      acc = fp::add(acc, P[c + 1]);
      P[c + 1] = acc;
    }
  }
  __syncthreads();
}

// The first candidate whose running sum is >= bound (strict: > bound); n when none. Block-wide.
__device__ int32_t first_running(const float* logits, const uint64_t* keys, int32_t n, float lmax, float t,
                                 bool tempered, const float* P, float bound, bool strict, int32_t* s_first) {
  if (threadIdx.x == 0) *s_first = n;
  __syncthreads();
  const int32_t nc = (n + kSumChunk - 1) / kSumChunk;
  for (int32_t c = static_cast<int32_t>(threadIdx.x); c < nc; c += kThreads) {
    float cum = P[c];
    const int32_t end = min(n, (c + 1) * kSumChunk);
    for (int32_t i = c * kSumChunk; i < end; ++i) {
      cum = fp::add(cum, weight(logits, keys, i, lmax, t, tempered));
      if (strict ? cum > bound : cum >= bound) {
        atomicMin(s_first, i);  // the minimum is the same whatever the order of the atomics
        break;
      }
    }
  }
  __syncthreads();
  const int32_t r = *s_first;
  __syncthreads();
  return r;
}

__global__ void __launch_bounds__(kThreads) chain_kernel(const float* __restrict__ logits, int32_t n_vocab,
                                                         const uint64_t* __restrict__ keys, SamplerParams sp,
                                                         const int32_t* pos_dev, int64_t pos, float* P,
                                                         int32_t* __restrict__ token) {
  __shared__ int32_t s_n, s_first;
  if (threadIdx.x == 0) {
    // Candidates sort first: binary search for the first kNoCandidate key.
    int32_t lo = 0, hi = n_vocab;
    while (lo < hi) {
      const int32_t mid = lo + (hi - lo) / 2;
      if (keys[mid] == kNoCandidate) hi = mid; else lo = mid + 1;
    }
    s_n = lo;
  }
  __syncthreads();
  int32_t n = s_n;
  if (n == 0) {
    if (threadIdx.x == 0) *token = -1;
    return;
  }
  if (sp.top_k > 0 && sp.top_k < n) n = sp.top_k;
  const float lmax = logits[key_id(keys[0])];
  if (fp::is_inf(lmax) || sp.temperature <= 0.0f) {
    if (threadIdx.x == 0) *token = key_id(keys[0]);
    return;
  }
  if (sp.top_p < 1.0f) {
    chunk_prefix(logits, keys, n, lmax, 1.0f, false, P);
    const int32_t nc = (n + kSumChunk - 1) / kSumChunk;
    const float target = fp::mul(sp.top_p, P[nc]);
    const int32_t f = first_running(logits, keys, n, lmax, 1.0f, false, P, target, false, &s_first);
    if (f < n) n = f + 1;
  }
  if (sp.min_p > 0.0f) {
    // keep = the first i >= 1 with exp(l_i - lmax) < min_p (n when none).
    if (threadIdx.x == 0) s_first = n;
    __syncthreads();
    for (int32_t i = 1 + static_cast<int32_t>(threadIdx.x); i < n; i += kThreads)
      if (!(weight(logits, keys, i, lmax, 1.0f, false) >= sp.min_p)) atomicMin(&s_first, i);
    __syncthreads();
    n = s_first;
    __syncthreads();
  }
  chunk_prefix(logits, keys, n, lmax, sp.temperature, true, P);
  const int32_t nc = (n + kSumChunk - 1) / kSumChunk;
  const uint64_t at = static_cast<uint64_t>(pos_dev ? static_cast<int64_t>(*pos_dev) + pos : pos);
  const float u = fp::mul(uniform(sp.seed, at, 0), P[nc]);
  const int32_t f = first_running(logits, keys, n, lmax, sp.temperature, true, P, u, true, &s_first);
  if (threadIdx.x == 0) *token = key_id(keys[f < n ? f : n - 1]);
}

}  // namespace detail

// Device bytes launch_sample needs for rows of n_vocab logits (0 for greedy-only use is not
// special-cased: the size covers every parameter set).
inline size_t sample_workspace_size(int32_t n_vocab) { return detail::layout(n_vocab).total; }

inline Status launch_sample(const SampleParams& p, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  if (p.n_vocab <= 0 || !p.logits || !p.token) return Status::Invalid("launch_sample: bad sizes or null pointers");
  if (p.pos_dev == nullptr && p.pos < 0) return Status::Invalid("launch_sample: negative position");
  if (p.sampler.temperature <= 0.0f) {
    detail::greedy_kernel<<<1, detail::kThreads, 0, stream>>>(p.logits, p.n_vocab, p.token);
    return Status::Cuda(cudaGetLastError(), "launch_sample: greedy");
  }
  const detail::Layout l = detail::layout(p.n_vocab);
  if (!workspace || workspace_bytes < l.total) return Status::Workspace("launch_sample: workspace too small");
  if (reinterpret_cast<uintptr_t>(workspace) % 256 != 0) return Status::Invalid("launch_sample: workspace must be 256-byte aligned");
  auto* base = static_cast<uint8_t*>(workspace);
  auto* keys_in = reinterpret_cast<uint64_t*>(base + l.keys_in);
  auto* keys_out = reinterpret_cast<uint64_t*>(base + l.keys_out);
  auto* P = reinterpret_cast<float*>(base + l.prefix);
  detail::keys_kernel<<<(p.n_vocab + 255) / 256, 256, 0, stream>>>(p.logits, p.n_vocab, keys_in);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return Status::Cuda(e, "launch_sample: keys");
  size_t cub_bytes = l.cub_bytes;
  if (cudaError_t e = cub::DeviceRadixSort::SortKeys(base + l.cub, cub_bytes, keys_in, keys_out, p.n_vocab, 0, 64, stream);
      e != cudaSuccess)
    return Status::Cuda(e, "launch_sample: sort");
  detail::chain_kernel<<<1, detail::kThreads, 0, stream>>>(p.logits, p.n_vocab, keys_out, p.sampler, p.pos_dev, p.pos,
                                                           P, p.token);
  return Status::Cuda(cudaGetLastError(), "launch_sample: chain");
}

}  // namespace dsk::sample
