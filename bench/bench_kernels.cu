// dsk-bench-kernels: kernel benches on the GPU, printed as a markdown table.
//
// read_bw: the read bandwidth of this GPU, the denominator of every GEMV / decode figure: a
// read-only kernel (16-byte loads, grid-stride, one float per block written) over a 4 GiB buffer
// (far larger than L2), CUDA events, 3 warm-ups, median of 20 runs.
// math: throughput of the dsk/core transcendentals (elements/s), for the cost of exactness.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "bench_util.hpp"
#include "dsk/core/math.hpp"

namespace {

template <int F>
__global__ void math_kernel(const float* __restrict__ x, float* __restrict__ y, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    float r;
    if constexpr (F == 0) r = dsk::math::exp(v);
    else if constexpr (F == 1) r = dsk::math::sigmoid(v);
    else if constexpr (F == 2) r = dsk::math::silu(v);
    else r = dsk::math::sqrt_softplus(v);
    y[i] = r;
  }
}

__global__ void fill_kernel(float* x, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    x[i] = static_cast<float>((i * 2654435761u) % 20000u) * 1e-3f - 10.0f;  // [-10, 10)
}

void bench_read_bw(int sms) {
  const dsk::bench::ReadBandwidth r = dsk::bench::measure_read_bandwidth(sms);
  std::printf("| read_bw | 4 GiB, 16 B loads, %d x 512 threads | %.3f | %.1f GB/s |\n", r.blocks, r.median_ms,
              r.gb_per_s);
}

template <int F>
void bench_math(const char* name, const float* x, float* y, size_t n, int sms) {
  auto t = dsk::bench::time_runs([&](int) { math_kernel<F><<<sms * 16, 256>>>(x, y, n); }, 3, 20);
  std::printf("| math %s | %zu M elements | %.3f | %.1f G elem/s |\n", name, n >> 20, t.median_ms,
              static_cast<double>(n) / (t.median_ms * 1e6));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (!std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help"))) {
    std::printf("usage: dsk-bench-kernels\n  Runs the kernel benches on GPU 0 and prints a markdown table\n"
                "  (median of 20 timed runs after 3 warm-ups, CUDA events).\n");
    return 0;
  }
  try {
    cudaDeviceProp prop{};
    DSK_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("GPU: %s, %d SMs, L2 %d MB\n\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
    std::printf("| bench | shape | median ms | rate |\n|---|---|---:|---:|\n");
    bench_read_bw(prop.multiProcessorCount);
    const size_t n = size_t{256} << 20;
    float *x = nullptr, *y = nullptr;
    DSK_CUDA_CHECK(cudaMalloc(&x, n * sizeof(float)));
    DSK_CUDA_CHECK(cudaMalloc(&y, n * sizeof(float)));
    fill_kernel<<<prop.multiProcessorCount * 8, 256>>>(x, n);
    DSK_CUDA_CHECK(cudaDeviceSynchronize());
    bench_math<0>("exp", x, y, n, prop.multiProcessorCount);
    bench_math<1>("sigmoid", x, y, n, prop.multiProcessorCount);
    bench_math<2>("silu", x, y, n, prop.multiProcessorCount);
    bench_math<3>("sqrt_softplus", x, y, n, prop.multiProcessorCount);
    cudaFree(x);
    cudaFree(y);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsk-bench-kernels: %s\n", e.what());
    return 1;
  }
  return 0;
}
