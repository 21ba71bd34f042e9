// dsk-bench-gemv: GEMV (dsk/gemv/gemv.hpp) on the DeepSeek shapes for every weight type and
// N = 1..4, and the activation quantizers, printed as markdown tables.
//
// Method (docs/performance.md): R >= 16 launches captured in one CUDA graph, rotating over enough
// weight copies that at least 320 MB are cycled (L2 is 60 MB on the H200), on pseudo-random bytes
// (never constant data); CUDA events around each graph launch, 2 warm-ups, median of 50 (--quick:
// 20) graph runs, divided by R. GB/s counts the weight bytes only (the
// activations are < 0.2 MB and L2-resident); % is against this run's read_bw (the
// bench_kernels.cu kernel, measured first) and against 4557 GB/s (docs/performance.md).
// Usage: dsk-bench-gemv [--quick] [--sweep] [--only TYPE K M] [--profile]
//   --quick: N = 1 and 4 only, fewer runs; --sweep: also time the launch knobs (copy stages, unit
//   bytes) on a few large matrices; --only: one type and shape; --profile: with --only, no graphs
//   and no timing, 3 plain launches per N (for ncu / compute-sanitizer).
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "dsk/gemv/gemv.hpp"
#include "dsk/gemv/quantize_act.hpp"

namespace {

// Weights are dsk::bench::fill_bytes_kernel bytes; fp16 / float fields are left random (NaN/inf
// included: the integer and FMA pipes run at the same speed on them).
using dsk::bench::fill_bytes_kernel;

__global__ void fill_floats_kernel(float* x, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    x[i] = static_cast<float>((i * 2654435761u) % 20000u) * 1e-4f - 1.0f;
}

double read_bw(int sms) { return dsk::bench::measure_read_bandwidth(sms).gb_per_s; }

struct TypeInfo {
  dsk::GgmlType t;
  const char* name;
  int elems, bytes, act_elems, act_bytes;
};
const TypeInfo kTypes[] = {
    {dsk::GgmlType::Q8_0, "Q8_0", 32, 34, 32, 34},       {dsk::GgmlType::Q4_K, "Q4_K", 256, 144, 256, 292},
    {dsk::GgmlType::Q6_K, "Q6_K", 256, 210, 256, 292},   {dsk::GgmlType::Q2_K, "Q2_K", 256, 84, 256, 292},
    {dsk::GgmlType::IQ2_XXS, "IQ2_XXS", 256, 66, 256, 292}, {dsk::GgmlType::F16, "F16", 32, 64, 32, 128},
    {dsk::GgmlType::BF16, "BF16", 32, 64, 32, 128},      {dsk::GgmlType::F32, "F32", 32, 128, 32, 128},
};
struct Shape {
  int64_t K, M;
};
const Shape kShapes[] = {{7168, 2048}, {7168, 1536}, {7168, 576}, {7168, 24576}, {4096, 2048},
                         {4096, 1024}, {4096, 512},  {1536, 24576}, {2048, 7168}, {512, 32768}};

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, sweep = false, profile = false;
  const char* only_type = nullptr;
  int64_t only_k = 0, only_m = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--sweep")) sweep = true;
    else if (!std::strcmp(argv[i], "--profile")) profile = true;
    else if (!std::strcmp(argv[i], "--only") && i + 3 < argc) {
      only_type = argv[i + 1];
      only_k = std::atoll(argv[i + 2]);
      only_m = std::atoll(argv[i + 3]);
      i += 3;
    } else {
      std::printf("usage: dsk-bench-gemv [--quick] [--sweep] [--only TYPE K M] [--profile]\n");
      return !std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help") ? 0 : 2;
    }
  }
  if (profile && !only_type) {
    std::fprintf(stderr, "dsk-bench-gemv: --profile needs --only TYPE K M\n");
    return 2;
  }
  try {
    cudaDeviceProp prop{};
    DSK_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    const int sms = prop.multiProcessorCount;
    const double bw = read_bw(sms);
    std::printf("GPU: %s, %d SMs, L2 %d MB; read_bw %.1f GB/s (this run)\n\n", prop.name, sms, prop.l2CacheSize >> 20, bw);
    const int runs = quick ? 20 : 50;

    // Largest weight matrix, activations.
    const size_t max_w = size_t{7168} * 24576 * 4;
    const size_t pool = std::max<size_t>(max_w, size_t{320} << 20);
    void* wpool = nullptr;
    DSK_CUDA_CHECK(cudaMalloc(&wpool, pool));
    fill_bytes_kernel<<<sms * 8, 256>>>(static_cast<uint4*>(wpool), pool / 16, 2);
    float* xf = nullptr;
    void* xq = nullptr;
    float* y = nullptr;
    DSK_CUDA_CHECK(cudaMalloc(&xf, 4 * 32768 * sizeof(float)));
    DSK_CUDA_CHECK(cudaMalloc(&xq, 4 * 32768 * 2));
    DSK_CUDA_CHECK(cudaMalloc(&y, 4 * 32768 * sizeof(float)));
    fill_floats_kernel<<<64, 256>>>(xf, 4 * 32768);
    DSK_CUDA_CHECK(cudaDeviceSynchronize());

    std::printf("| type | K | M | MB | N=1 us | N=1 GB/s | %% read_bw | %% 4557 | N=2 us | N=3 us | N=4 us | N4/N1 |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    const std::vector<Shape> shapes = only_type ? std::vector<Shape>{{only_k, only_m}}
                                                : std::vector<Shape>(std::begin(kShapes), std::end(kShapes));
    for (const TypeInfo& ti : kTypes) {
      if (only_type && std::strcmp(only_type, ti.name)) continue;
      for (const Shape& s : shapes) {
        if (s.K % ti.elems != 0 || s.K <= 0 || s.M <= 0) {
          std::fprintf(stderr, "dsk-bench-gemv: K must be a positive multiple of %d for %s, M positive\n", ti.elems, ti.name);
          return 2;
        }
        const size_t wbytes = static_cast<size_t>(s.K / ti.elems) * ti.bytes * s.M;
        const size_t wstride = (wbytes + 255) / 256 * 256;
        int copies = static_cast<int>(pool / wstride);
        if (copies < 1) continue;
        if (copies > 64) copies = 64;
        // Activations: for quant types quantize the float rows on the GPU (valid blocks).
        const bool is_float = ti.act_elems == 32 && ti.act_bytes == 128;
        if (!is_float) {
          dsk::gemv::QuantizeParams q;
          q.type = ti.t == dsk::GgmlType::Q8_0 ? dsk::GgmlType::Q8_0 : dsk::GgmlType::Q8_K;
          q.x = xf;
          q.y = xq;
          q.K = s.K;
          q.N = 4;
          DSK_CHECK_STATUS(dsk::gemv::quantize_act(q, nullptr));
        }
        double us[5] = {};
        for (int N = 1; N <= 4; ++N) {
          if (quick && (N == 2 || N == 3)) continue;
          dsk::gemv::Params p;
          p.wtype = ti.t;
          p.x = is_float ? static_cast<const void*>(xf) : xq;
          p.y = y;
          p.M = s.M;
          p.K = s.K;
          p.N = N;
          if (profile) {
            for (int i = 0; i < 3; ++i) {
              p.w = static_cast<const uint8_t*>(wpool) + static_cast<size_t>(i % copies) * wstride;
              DSK_CHECK_STATUS(dsk::gemv::launch(p, nullptr, 0, nullptr));
            }
            DSK_CUDA_CHECK(cudaDeviceSynchronize());
            us[N] = 1.0;
            continue;
          }
          // R launches captured in one graph (rotating the weight copies), timed as one run: no
          // host launch gaps in the figure.
          const int R = copies < 16 ? 16 : copies;
          cudaStream_t st;
          DSK_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
          cudaGraph_t g;
          cudaGraphExec_t ge;
          DSK_CUDA_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
          for (int i = 0; i < R; ++i) {
            p.w = static_cast<const uint8_t*>(wpool) + static_cast<size_t>(i % copies) * wstride;
            DSK_CHECK_STATUS(dsk::gemv::launch(p, nullptr, 0, st));
          }
          DSK_CUDA_CHECK(cudaStreamEndCapture(st, &g));
          DSK_CUDA_CHECK(cudaGraphInstantiate(&ge, g, 0));
          auto t = dsk::bench::time_runs([&](int) { DSK_CUDA_CHECK(cudaGraphLaunch(ge, st)); }, 2, runs, st);
          cudaGraphExecDestroy(ge);
          cudaGraphDestroy(g);
          cudaStreamDestroy(st);
          t.median_ms /= R;
          us[N] = t.median_ms * 1e3;
        }
        const double gbs = static_cast<double>(wbytes) / (us[1] * 1e3);
        std::printf("| %s | %lld | %lld | %.1f | %.2f | %.0f | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f |\n", ti.name,
                    static_cast<long long>(s.K), static_cast<long long>(s.M), wbytes / 1e6, us[1], gbs,
                    100.0 * gbs / bw, 100.0 * gbs / 4557.0, us[2], us[3], us[4], us[4] / us[1]);
        std::fflush(stdout);
      }
    }

    if (profile) return 0;
    // Sweep of the launch knobs (copy stages, unit bytes) on a few large matrices, N = 1 and 4.
    if (sweep) {
      std::printf("\n| sweep type | K | M | stages | unit B | N=1 us | %% 4557 | N=4 us |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
      const struct { int ti; Shape s; } cases[] = {{0, {7168, 24576}}, {1, {7168, 24576}}, {2, {7168, 24576}},
                                                     {3, {7168, 24576}}, {4, {7168, 24576}}, {5, {7168, 24576}},
                                                     {5, {2048, 7168}},  {7, {7168, 24576}}, {0, {1536, 24576}}};
      for (const auto& cs : cases) {
        const TypeInfo& ti = kTypes[cs.ti];
        const size_t wbytes = static_cast<size_t>(cs.s.K / ti.elems) * ti.bytes * cs.s.M;
        const size_t wstride = (wbytes + 255) / 256 * 256;
        int copies = static_cast<int>(pool / wstride);
        copies = copies > 64 ? 64 : copies;
        const bool is_float = ti.act_bytes == 128;
        for (int ub : {4096, 8192, 16384}) {
          for (int mw : {2, 3, 4}) {  // stages
            dsk::gemv::detail::unit_bytes_knob() = ub;
            dsk::gemv::detail::stages_knob() = mw;
            double us[5] = {};
            for (int N : {1, 4}) {
              dsk::gemv::Params p;
              p.wtype = ti.t;
              p.x = is_float ? static_cast<const void*>(xf) : xq;
              p.y = y;
              p.M = cs.s.M;
              p.K = cs.s.K;
              p.N = N;
              const int R = copies < 16 ? 16 : copies;
              cudaStream_t st;
              DSK_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
              cudaGraph_t g;
              cudaGraphExec_t ge;
              DSK_CUDA_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
              for (int i = 0; i < R; ++i) {
                p.w = static_cast<const uint8_t*>(wpool) + static_cast<size_t>(i % copies) * wstride;
                DSK_CHECK_STATUS(dsk::gemv::launch(p, nullptr, 0, st));
              }
              DSK_CUDA_CHECK(cudaStreamEndCapture(st, &g));
              DSK_CUDA_CHECK(cudaGraphInstantiate(&ge, g, 0));
              auto t = dsk::bench::time_runs([&](int) { DSK_CUDA_CHECK(cudaGraphLaunch(ge, st)); }, 2, 10, st);
              cudaGraphExecDestroy(ge);
              cudaGraphDestroy(g);
              cudaStreamDestroy(st);
              us[N] = t.median_ms * 1e3 / R;
            }
            std::printf("| %s | %lld | %lld | %d | %d | %.2f | %.1f | %.2f |\n", ti.name, static_cast<long long>(cs.s.K),
                        static_cast<long long>(cs.s.M), mw, ub, us[1], 100.0 * wbytes / (us[1] * 1e3) / 4557.0, us[4]);
            std::fflush(stdout);
          }
        }
      }
      dsk::gemv::detail::unit_bytes_knob() = 0;
      dsk::gemv::detail::stages_knob() = 2;
    }

    std::printf("\n| quantize_act | K | N | median us |\n|---|---:|---:|---:|\n");
    for (dsk::GgmlType at : {dsk::GgmlType::Q8_0, dsk::GgmlType::Q8_K}) {
      for (int64_t K : {2048, 7168}) {
        for (int N : {1, 4}) {
          dsk::gemv::QuantizeParams q;
          q.type = at;
          q.x = xf;
          q.y = xq;
          q.K = K;
          q.N = N;
          auto t = dsk::bench::time_runs([&](int) { DSK_CHECK_STATUS(dsk::gemv::quantize_act(q, nullptr)); }, 5, runs);
          std::printf("| %s | %lld | %d | %.2f |\n", at == dsk::GgmlType::Q8_0 ? "Q8_0" : "Q8_K",
                      static_cast<long long>(K), N, t.median_ms * 1e3);
        }
      }
    }
    cudaFree(wpool);
    cudaFree(xf);
    cudaFree(xq);
    cudaFree(y);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsk-bench-gemv: %s\n", e.what());
    return 1;
  }
  return 0;
}
