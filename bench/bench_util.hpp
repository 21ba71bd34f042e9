// Timing helpers for dsk benches (METHOD: CUDA events around each run, warm-up runs first, the
// median of the timed runs reported; inputs larger than L2 and rotated by the caller).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <utility>
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

// --- shared by the graph-timed benches (bench_router.cu, bench_ops.cu, bench_moe.cu, ...) --------

// The benches' one option, --runs N (N >= 20): sets runs and returns -1 to go on, or the exit code
// (0 after --help, 2 after a bad argument, both with the usage line printed).
inline int parse_runs(int argc, char** argv, const char* tool, const char* what, int& runs) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else {
      const bool help = !std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help");
      std::fprintf(help ? stdout : stderr, "usage: %s [--runs N]\n%s", tool, what);
      return help ? 0 : 2;
    }
  }
  if (runs < 20) {
    std::fprintf(stderr, "%s: --runs must be >= 20\n", tool);
    return 2;
  }
  return -1;
}


// Device memory owned by one object (cudaMalloc checked; cudaFree checked in the destructor: a failure
// is printed and exits 1, unless an exception is already propagating, which then reports the cause).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes) DSK_CUDA_CHECK(cudaMalloc(&p_, bytes));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { release(); }
  template <class T = void>
  T* as() const {
    return static_cast<T*>(p_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void release() noexcept {
    if (!p_) return;
    const cudaError_t e = cudaFree(p_);
    p_ = nullptr;
    if (e != cudaSuccess && std::uncaught_exceptions() == 0) {
      std::fprintf(stderr, "cudaFree: %s\n", cudaGetErrorString(e));
      std::exit(1);
    }
  }
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// A non-blocking stream (graph capture needs a stream other than the legacy default one).
class Stream {
 public:
  Stream() { DSK_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (cudaStreamDestroy(s_) != cudaSuccess && std::uncaught_exceptions() == 0) {
      std::fprintf(stderr, "cudaStreamDestroy failed\n");
      std::exit(1);
    }
  }
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

// Uniform pseudo-random floats in [lo, hi) (24 random bits; never constant); `seed` selects the stream.
__global__ inline void fill_uniform_kernel(float* p, size_t n, uint64_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint64_t h = (i + 1 + seed * 0x632be59bd9b4e019ull) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    const float u = static_cast<float>(static_cast<uint32_t>(h >> 40)) * (1.0f / 16777216.0f);  // [0, 1)
    p[i] = lo + (hi - lo) * u;
  }
}
inline void fill_uniform(float* p, size_t n, uint64_t seed, float lo, float hi, cudaStream_t stream = nullptr) {
  if (n == 0) return;
  fill_uniform_kernel<<<1024, 256, 0, stream>>>(p, n, seed, lo, hi);
  DSK_CUDA_CHECK(cudaGetLastError());
}

// Pseudo-random int32 in [0, mod) (mod > 0).
__global__ inline void fill_index_kernel(int32_t* p, size_t n, uint64_t seed, uint32_t mod) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint64_t h = (i + 1 + seed * 0x632be59bd9b4e019ull) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 29;
    p[i] = static_cast<int32_t>(static_cast<uint32_t>(h >> 32) % mod);
  }
}
inline void fill_index(int32_t* p, size_t n, uint64_t seed, uint32_t mod, cudaStream_t stream = nullptr) {
  if (n == 0) return;
  fill_index_kernel<<<1024, 256, 0, stream>>>(p, n, seed, mod);
  DSK_CUDA_CHECK(cudaGetLastError());
}

inline void fill_random_bytes(void* p, size_t bytes, uint64_t seed, cudaStream_t stream = nullptr) {
  if (bytes < 16) return;
  fill_bytes_kernel<<<1024, 256, 0, stream>>>(static_cast<uint4*>(p), bytes / 16, seed);
  DSK_CUDA_CHECK(cudaGetLastError());
}

// Input copies to rotate over: 1 when `launches` launches of `bytes_per_launch` (read + written)
// move at most `rotate_above` bytes in all (small cases: L2-resident, as in decode where the producer
// just wrote them); else enough copies that the launches cycle at least `cycle_bytes` (large cases
// stay out of L2), at most `launches`.
inline int rotation_copies(size_t bytes_per_launch, int launches, size_t rotate_above = size_t{120} << 20,
                           size_t cycle_bytes = size_t{256} << 20) {
  const size_t nl = static_cast<size_t>(launches < 1 ? 1 : launches);
  if (bytes_per_launch == 0 || bytes_per_launch * nl <= rotate_above) return 1;
  const size_t c = (cycle_bytes + bytes_per_launch - 1) / bytes_per_launch;
  return static_cast<int>(std::clamp<size_t>(c, 1, nl));
}

// `launches` calls launch(0), launch(1), ... (i selects the rotated inputs) captured into one CUDA
// graph on `stream` (global capture mode: a launcher that allocates or synchronizes fails here),
// then time_runs over graph launches (warm-up graph launches, CUDA events around each timed one);
// per_launch_us = median graph time / launches. kernel_nodes / other_nodes: what the capture
// recorded (one kernel node per launch expected from dsk's launchers).
struct GraphTiming {
  Timing graph;
  double per_launch_us = 0;
  int launches = 0;
  size_t kernel_nodes = 0, other_nodes = 0;
};
template <class Launch>
GraphTiming time_graph(Launch&& launch, int launches, int warmup, int runs, cudaStream_t stream) {
  cudaGraph_t g = nullptr;
  DSK_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  try {
    for (int i = 0; i < launches; ++i) launch(i);
  } catch (...) {
    if (cudaStreamEndCapture(stream, &g) == cudaSuccess && g) cudaGraphDestroy(g);
    throw;
  }
  DSK_CUDA_CHECK(cudaStreamEndCapture(stream, &g));
  GraphTiming r;
  r.launches = launches;
  size_t n = 0;
  DSK_CUDA_CHECK(cudaGraphGetNodes(g, nullptr, &n));
  std::vector<cudaGraphNode_t> nodes(n);
  if (n) DSK_CUDA_CHECK(cudaGraphGetNodes(g, nodes.data(), &n));
  for (size_t i = 0; i < n; ++i) {
    cudaGraphNodeType t;
    DSK_CUDA_CHECK(cudaGraphNodeGetType(nodes[i], &t));
    if (t == cudaGraphNodeTypeKernel) ++r.kernel_nodes;
    else ++r.other_nodes;
  }
  cudaGraphExec_t ge = nullptr;
  DSK_CUDA_CHECK(cudaGraphInstantiate(&ge, g, 0));
  DSK_CUDA_CHECK(cudaGraphDestroy(g));
  r.graph = time_runs([&](int) { DSK_CUDA_CHECK(cudaGraphLaunch(ge, stream)); }, warmup, runs, stream);
  DSK_CUDA_CHECK(cudaGraphExecDestroy(ge));
  r.per_launch_us = r.graph.median_ms * 1e3 / launches;
  return r;
}

}  // namespace dsk::bench
