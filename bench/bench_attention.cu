// dsk-bench-attention: MLA attention decode (dsk/attention/attention_cuda.cuh) on the DeepSeek-V3
// shape (128 heads, d_nope 128, rope 64, kv_lora 512, d_v 128; F16 latent cache; k_b / v_b Q8_0) at
// contexts of 1K, 8K and 32K rows, one new token.
//
// Method (docs/performance.md): pseudo-random cache and weights; 20 launches captured in one CUDA
// graph (bench_util's time_graph), 3 warm-ups, median of --runs graph runs / 20. The bandwidth
// bound counts each byte once: the cache rows 0..ctx-1, k_b and v_b (what any kernel must read);
// % against the read bandwidth measured in the same run. (At these sizes the cache may partly stay
// in L2 between launches of the graph: the bound is then optimistic for the kernel.)
// Usage: dsk-bench-attention [--runs N]   (N >= 20, default 30)
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench_util.hpp"
#include "dsk/attention/attention_cuda.cuh"

int main(int argc, char** argv) {
  int runs = 30;
  if (const int rc = dsk::bench::parse_runs(argc, argv, "dsk-bench-attention",
                                            "  Times dsk::attention::launch (MLA decode, V3 shape) at 1K / 8K / 32K contexts:\n"
                                            "  20 launches per CUDA graph, median of N (default 30, >= 20) graph runs / 20.\n",
                                            runs);
      rc >= 0)
    return rc;
  try {
    using dsk::bench::DeviceBuffer;
    cudaDeviceProp prop{};
    DSK_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    const double bw = dsk::bench::measure_read_bandwidth(prop.multiProcessorCount).gb_per_s;
    std::printf("GPU: %s, %d SMs, L2 %d MB; read_bw %.1f GB/s (this run); median of %d graph runs\n\n", prop.name,
                prop.multiProcessorCount, prop.l2CacheSize >> 20, bw, runs);
    const int64_t H = 128, d_nope = 128, rope = 64, lora = 512, d_v = 128, D = rope + lora;
    const int64_t max_ctx = 32768;
    DeviceBuffer cache(static_cast<size_t>(max_ctx * D) * 2);
    dsk::bench::fill_uniform(reinterpret_cast<float*>(cache.as()), cache.bytes() / 4, 1, -1.0f, 1.0f);  // finite f16 pairs
    const size_t kb_bytes = static_cast<size_t>(H * lora) * (d_nope / 32 * 34);
    const size_t vb_bytes = static_cast<size_t>(H * d_v) * (lora / 32 * 34);
    DeviceBuffer kb(kb_bytes), vb(vb_bytes), q(static_cast<size_t>(H * (d_nope + rope)) * 4),
        out(static_cast<size_t>(H * d_v) * 4);
    dsk::bench::fill_random_bytes(kb.as(), kb_bytes, 2);
    dsk::bench::fill_random_bytes(vb.as(), vb_bytes, 3);
    dsk::bench::fill_uniform(q.as<float>(), static_cast<size_t>(H * (d_nope + rope)), 4, -1.0f, 1.0f);
    std::printf("| context | MB/launch (bound) | us/launch | bound us | %% of bound | launches/graph |\n|---:|---:|---:|---:|---:|---:|\n");
    for (int64_t ctx : {1024, 8192, 32768}) {
      dsk::attention::MlaParams p;
      p.q = q.as<float>();
      p.cache = cache.as();
      p.cache_type = dsk::GgmlType::F16;
      p.k_b_type = dsk::GgmlType::Q8_0;
      p.k_b = kb.as();
      p.v_b_type = dsk::GgmlType::Q8_0;
      p.v_b = vb.as();
      p.T = 1;
      p.p0 = ctx - 1;
      p.n_head = H;
      p.d_nope = d_nope;
      p.rope_dims = rope;
      p.kv_lora = lora;
      p.d_v = d_v;
      p.kq_scale = 0.1f;
      p.out = out.as<float>();
      const size_t wsb = dsk::attention::workspace_size(p);
      DeviceBuffer ws(wsb);
      dsk::bench::Stream st;
      const auto tm = dsk::bench::time_graph(
          [&](int) { DSK_CHECK_STATUS(dsk::attention::launch(p, ws.as(), wsb, st.get())); }, 20, 3, runs, st.get());
      const double bytes = static_cast<double>(ctx * D) * 2 + kb_bytes + vb_bytes;
      const double bound_us = bytes / (bw * 1e3);
      std::printf("| %lld | %.1f | %.1f | %.1f | %.1f | 20 |\n", static_cast<long long>(ctx), bytes / 1e6, tm.per_launch_us,
                  bound_us, 100.0 * bound_us / tm.per_launch_us);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsk-bench-attention: %s\n", e.what());
    return 1;
  }
  return 0;
}
