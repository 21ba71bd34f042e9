// dsk-bench-attention: MLA attention (dsk/attention/attention_cuda.cuh) on the DeepSeek-V3 shape
// (128 heads, d_nope 128, rope 64, kv_lora 512, d_v 128; F16 latent cache; k_b / v_b Q8_0):
//  1. decode: one new token at contexts of 1K, 8K and 32K rows;
//  2. prefill: T = 512 and 4096 new tokens from p0 = 0 (and 32768 when its estimate is under 10 s),
//     the whole launch and the attention kernel alone (steps 2 + 3: one launch for all tokens);
//  3. the path rule's crossover: T = 2..16 at p0 = 1K and 16K through both paths.
//
// Method (docs/performance.md): pseudo-random finite data (cache in [-1, 1), Q8_0 scales 2^-7).
// Decode: 20 launches captured in one CUDA graph (bench_util's time_graph), 3 warm-ups, median of
// --runs graph runs / 20; the bandwidth bound counts each byte once: the cache rows 0..ctx-1, k_b
// and v_b; % against the read bandwidth measured in the same run. (At these sizes the cache may
// partly stay in L2 between launches of the graph: the bound is then optimistic for the kernel.)
// Prefill and crossover: stream launches timed with events (a prefill is 4 T + 1 launches), one
// warm-up, median of up to 5 runs (fewer when a run takes over 0.5 s; one for 32K). The prefill
// bound is the fp32 FMA rate: the contract makes scores and P·V fp32 fma chains in a fixed order
// (no tensor cores), so any kernel does H * (rope + kv_lora) multiply-adds per score and H *
// kv_lora per row of P·V: FMA = H * (rope + 2 kv_lora) * sum_t (p0 + t + 1), at 33.5e12 FMA/s
// (67 TFLOP/s fp32, H100 SXM and H200).
// Usage: dsk-bench-attention [--runs N]   (N >= 20, default 30)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "bench_util.hpp"
#include "dsk/attention/attention_cuda.cuh"
#include "dsk/core/half.hpp"

namespace {

constexpr double kFmaPerSecond = 33.5e12;  // fp32: 67 TFLOP/s (H100 SXM, H200)

__global__ void to_half_kernel(const float* x, uint16_t* y, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    y[i] = dsk::f32_to_f16_bits(x[i]);
}

// Random Q8_0 blocks made finite: every block's scale set to 2^-7 (f16 0x2000), quants random.
__global__ void q8_0_scales_kernel(uint8_t* p, size_t blocks) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < blocks;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    p[34 * i] = 0x00;
    p[34 * i + 1] = 0x20;
  }
}

dsk::bench::Timing time_adaptive(const std::function<void()>& launch, cudaStream_t st, int max_runs = 5) {
  const dsk::bench::Timing first = dsk::bench::time_runs([&](int) { launch(); }, 0, 1, st);  // warm-up, timed
  const int runs = first.median_ms > 500.0 ? 1 : std::min(max_runs, std::max(1, static_cast<int>(2000.0 / first.median_ms)));
  if (runs == 1) return first;
  return dsk::bench::time_runs([&](int) { launch(); }, 0, runs, st);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 30;
  if (const int rc = dsk::bench::parse_runs(
          argc, argv, "dsk-bench-attention",
          "  Times dsk::attention::launch (MLA, V3 shape): decode at 1K / 8K / 32K contexts (20 launches per CUDA\n"
          "  graph, median of N (default 30, >= 20) graph runs / 20); prefill of 512 / 4096 (/ 32768) tokens from\n"
          "  p0 = 0 against the fp32 FMA bound; the decode / prefill crossover at T = 2..16.\n",
          runs);
      rc >= 0)
    return rc;
  try {
    using dsk::bench::DeviceBuffer;
    namespace cd = dsk::attention::cuda_detail;
    cudaDeviceProp prop{};
    DSK_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    const double bw = dsk::bench::measure_read_bandwidth(prop.multiProcessorCount).gb_per_s;
    std::printf("GPU: %s, %d SMs, L2 %d MB; read_bw %.1f GB/s (this run); median of %d graph runs\n\n", prop.name,
                prop.multiProcessorCount, prop.l2CacheSize >> 20, bw, runs);
    const int64_t H = 128, d_nope = 128, rope = 64, lora = 512, d_v = 128, D = rope + lora;
    const int64_t max_ctx = 32768;
    DeviceBuffer cache(static_cast<size_t>(max_ctx * D) * 2);
    {
      DeviceBuffer tmp(static_cast<size_t>(max_ctx * D) * 4);
      dsk::bench::fill_uniform(tmp.as<float>(), static_cast<size_t>(max_ctx * D), 1, -1.0f, 1.0f);
      to_half_kernel<<<1024, 256>>>(tmp.as<float>(), cache.as<uint16_t>(), static_cast<size_t>(max_ctx * D));
      DSK_CUDA_CHECK(cudaGetLastError());
      DSK_CUDA_CHECK(cudaDeviceSynchronize());
    }
    const size_t kb_bytes = static_cast<size_t>(H * lora) * (d_nope / 32 * 34);
    const size_t vb_bytes = static_cast<size_t>(H * d_v) * (lora / 32 * 34);
    DeviceBuffer kb(kb_bytes), vb(vb_bytes);
    dsk::bench::fill_random_bytes(kb.as(), kb_bytes, 2);
    dsk::bench::fill_random_bytes(vb.as(), vb_bytes, 3);
    q8_0_scales_kernel<<<1024, 256>>>(kb.as<uint8_t>(), kb_bytes / 34);
    q8_0_scales_kernel<<<1024, 256>>>(vb.as<uint8_t>(), vb_bytes / 34);
    DSK_CUDA_CHECK(cudaGetLastError());
    auto params = [&](int64_t p0, int64_t T, const float* q, float* out) {
      dsk::attention::MlaParams p;
      p.q = q;
      p.cache = cache.as();
      p.cache_type = dsk::GgmlType::F16;
      p.k_b_type = dsk::GgmlType::Q8_0;
      p.k_b = kb.as();
      p.v_b_type = dsk::GgmlType::Q8_0;
      p.v_b = vb.as();
      p.T = T;
      p.p0 = p0;
      p.n_head = H;
      p.d_nope = d_nope;
      p.rope_dims = rope;
      p.kv_lora = lora;
      p.d_v = d_v;
      p.kq_scale = 0.1f;
      p.out = out;
      return p;
    };
    dsk::bench::Stream st;

    // 1. decode
    {
      DeviceBuffer q(static_cast<size_t>(H * (d_nope + rope)) * 4), out(static_cast<size_t>(H * d_v) * 4);
      dsk::bench::fill_uniform(q.as<float>(), static_cast<size_t>(H * (d_nope + rope)), 4, -1.0f, 1.0f);
      std::printf("Decode, T = 1 (decode path):\n\n");
      std::printf("| context | MB/launch (bound) | us/launch | bound us | %% of bound | launches/graph |\n|---:|---:|---:|---:|---:|---:|\n");
      for (int64_t ctx : {1024, 8192, 32768}) {
        const dsk::attention::MlaParams p = params(ctx - 1, 1, q.as<float>(), out.as<float>());
        const size_t wsb = dsk::attention::workspace_size(p);
        DeviceBuffer ws(wsb);
        const auto tm = dsk::bench::time_graph(
            [&](int) { DSK_CHECK_STATUS(dsk::attention::launch(p, ws.as(), wsb, st.get())); }, 20, 3, runs, st.get());
        const double bytes = static_cast<double>(ctx * D) * 2 + kb_bytes + vb_bytes;
        const double bound_us = bytes / (bw * 1e3);
        std::printf("| %lld | %.1f | %.1f | %.1f | %.1f | 20 |\n", static_cast<long long>(ctx), bytes / 1e6,
                    tm.per_launch_us, bound_us, 100.0 * bound_us / tm.per_launch_us);
        std::fflush(stdout);
      }
    }

    // 2. prefill
    std::printf("\nPrefill from p0 = 0 (prefill path). FMA = H * (rope + 2 * kv_lora) * sum_t (p0 + t + 1) = "
                "128 * 1088 * sum; bound = FMA / 33.5e12 FMA/s (fp32 67 TFLOP/s).\n"
                "launch: the whole dsk::attention::launch (per-token W_UK / W_UV GEMVs included); kernel: the "
                "attention launch alone (steps 2 + 3).\n\n");
    std::printf("| T | p0 | G FMA | bound ms | launch ms | %% of bound | kernel ms | kernel %% of bound | GEMV ms/token |\n"
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    double last_kernel_ms = 0, last_launch_ms = 0, last_sum = 0, last_T = 0;
    cd::path_knob() = cd::Path::prefill;
    for (int64_t T : {512, 4096, 32768}) {
      const int64_t p0 = 0;
      const double sum = static_cast<double>(T) * p0 + 0.5 * static_cast<double>(T) * static_cast<double>(T + 1);
      if (T == 32768) {
        const double est = last_kernel_ms * sum / last_sum + (last_launch_ms - last_kernel_ms) * T / last_T;
        if (!(last_sum > 0) || est > 10000.0) {
          std::printf("| %lld | %lld | %.0f | %.1f | skipped: estimate %.1f s > 10 s | | | | |\n", static_cast<long long>(T),
                      static_cast<long long>(p0), static_cast<double>(H) * (rope + 2 * lora) * sum / 1e9,
                      static_cast<double>(H) * (rope + 2 * lora) * sum / kFmaPerSecond * 1e3, est / 1e3);
          continue;
        }
      }
      DeviceBuffer q(static_cast<size_t>(T * H * (d_nope + rope)) * 4), out(static_cast<size_t>(T * H * d_v) * 4);
      dsk::bench::fill_uniform(q.as<float>(), static_cast<size_t>(T * H * (d_nope + rope)), 5, -1.0f, 1.0f);
      const dsk::attention::MlaParams p = params(p0, T, q.as<float>(), out.as<float>());
      const size_t wsb = dsk::attention::workspace_size(p);
      DeviceBuffer ws(wsb);
      const dsk::bench::Timing whole =
          time_adaptive([&] { DSK_CHECK_STATUS(dsk::attention::launch(p, ws.as(), wsb, st.get())); }, st.get());
      // The kernel alone reads Q^ slots that the launches above overwrote with o: other values, the same work.
      const dsk::bench::Timing kernel =
          time_adaptive([&] { DSK_CHECK_STATUS(cd::launch_prefill_attention(p, ws.as(), st.get())); }, st.get());
      const double fma = static_cast<double>(H) * (rope + 2 * lora) * sum, bound_ms = fma / kFmaPerSecond * 1e3;
      std::printf("| %lld | %lld | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", static_cast<long long>(T),
                  static_cast<long long>(p0), fma / 1e9, bound_ms, whole.median_ms, 100.0 * bound_ms / whole.median_ms,
                  kernel.median_ms, 100.0 * bound_ms / kernel.median_ms,
                  (whole.median_ms - kernel.median_ms) / static_cast<double>(T));
      std::fflush(stdout);
      last_kernel_ms = kernel.median_ms;
      last_launch_ms = whole.median_ms;
      last_sum = sum;
      last_T = static_cast<double>(T);
    }

    // 3. crossover of the path rule
    std::printf("\nPath crossover (whole launch, ms): the rule takes prefill from T = 8, or from T = 2 while p0 + T <= 1024.\n\n");
    std::printf("| p0 | T | decode ms | prefill ms | rule |\n|---:|---:|---:|---:|---|\n");
    for (int64_t p0 : {1024, 16384}) {
      for (int64_t T : {2, 4, 8, 16}) {
        DeviceBuffer q(static_cast<size_t>(T * H * (d_nope + rope)) * 4), out(static_cast<size_t>(T * H * d_v) * 4);
        dsk::bench::fill_uniform(q.as<float>(), static_cast<size_t>(T * H * (d_nope + rope)), 6, -1.0f, 1.0f);
        const dsk::attention::MlaParams p = params(p0, T, q.as<float>(), out.as<float>());
        double ms[2] = {0, 0};
        for (int k = 0; k < 2; ++k) {
          cd::path_knob() = k == 0 ? cd::Path::decode : cd::Path::prefill;
          const size_t wsb = dsk::attention::workspace_size(p);
          DeviceBuffer ws(wsb);
          ms[k] = time_adaptive([&] { DSK_CHECK_STATUS(dsk::attention::launch(p, ws.as(), wsb, st.get())); }, st.get())
                      .median_ms;
        }
        cd::path_knob() = cd::Path::automatic;
        std::printf("| %lld | %lld | %.3f | %.3f | %s |\n", static_cast<long long>(p0), static_cast<long long>(T), ms[0],
                    ms[1], dsk::attention::uses_prefill(p) ? "prefill" : "decode");
        std::fflush(stdout);
      }
    }
    cd::path_knob() = cd::Path::automatic;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsk-bench-attention: %s\n", e.what());
    return 1;
  }
  return 0;
}
