// Timing helpers for dsk benches (METHOD: CUDA events around each run, warm-up runs first, the
// median of the timed runs reported; inputs larger than L2 and rotated by the caller).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dsk/core/status.hpp"

namespace dsk::bench {

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int runs = 0;
};

// Runs `launch(i)` warmup + runs times on `stream`, timing each timed run with events.
template <class Launch>
Timing time_runs(Launch&& launch, int warmup, int runs, cudaStream_t stream = nullptr) {
  cudaEvent_t a, b;
  DSK_CUDA_CHECK(cudaEventCreate(&a));
  DSK_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < warmup; ++i) launch(i);
  DSK_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    DSK_CUDA_CHECK(cudaEventRecord(a, stream));
    launch(warmup + i);
    DSK_CUDA_CHECK(cudaEventRecord(b, stream));
    DSK_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    DSK_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  DSK_CUDA_CHECK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), ms.back(), runs};
}

// Pseudo-random bytes (never time on constant data); `seed` selects the stream.
__global__ inline void fill_bytes_kernel(uint4* p, size_t n, uint64_t seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint64_t h = (i + 1 + seed * 0x632be59bd9b4e019ull) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    p[i] = make_uint4(static_cast<uint32_t>(h), static_cast<uint32_t>(h >> 32), static_cast<uint32_t>(h * 3),
                      static_cast<uint32_t>(h * 7));
  }
}

// Read-only kernel: 16-byte loads, grid-stride; one conditional store per block keeps the loads.
__global__ inline void read_kernel(const uint4* __restrict__ p, size_t n, float* out) {
  uint32_t acc = 0;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const uint4 v = __ldg(p + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) out[blockIdx.x] = 1.0f;  // practically never written
}

// The read bandwidth of this GPU (the denominator of GEMV / decode figures): read_kernel over 4 GiB of
// pseudo-random bytes, 8 blocks of 512 threads per SM, 3 warm-ups, median of 20 runs.
struct ReadBandwidth {
  double gb_per_s = 0, median_ms = 0;
  int blocks = 0;
};
inline ReadBandwidth measure_read_bandwidth(int sms) {
  const size_t bytes = size_t{4} << 30;
  void* buf = nullptr;
  float* out = nullptr;
  DSK_CUDA_CHECK(cudaMalloc(&buf, bytes));
  DSK_CUDA_CHECK(cudaMalloc(&out, 65536 * sizeof(float)));
  const size_t n = bytes / sizeof(uint4);
  fill_bytes_kernel<<<sms * 8, 256>>>(static_cast<uint4*>(buf), n, 1);
  DSK_CUDA_CHECK(cudaDeviceSynchronize());
  const int blocks = sms * 8;
  const Timing t = time_runs([&](int) { read_kernel<<<blocks, 512>>>(static_cast<const uint4*>(buf), n, out); }, 3, 20);
  cudaFree(buf);
  cudaFree(out);
  return {static_cast<double>(bytes) / (t.median_ms * 1e6), t.median_ms, blocks};
}

}  // namespace dsk::bench
