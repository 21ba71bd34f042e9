// dsk-bench-moe: the MoE layer (dsk/moe/moe_cuda.cuh, dsk::moe::launch) at decode sizes on the
// DeepSeek-V3 layer shape (7168 x 2048 experts, 256 experts, top-8, one shared expert) and the
// V4-Flash shape (4096 x 2048, 256 experts, top-6, one shared expert, clamp and weight before
// down), in the 2-bit mix of real files (IQ2_XXS gate/up, Q2_K down) and in Q8_0.
//
// Method (docs/performance.md): weight stacks of pseudo-random bytes (all 256 experts, GBs: never
// L2-resident), the shared expert rotated over 8 copies; per launch fresh ids (k distinct experts
// per token, host-drawn) and weights; R launches captured in one CUDA graph (bench_util's
// time_graph), 3 warm-ups, median of --runs graph runs / R. Bytes counted: the weights of the
// selected experts (distinct per launch) and of the shared expert, read once; % against the read
// bandwidth measured in the same run.
// Prefill (the grouped path, T = 512 and 4096, one launch per graph, median of 5 runs): % of the
// roofline max(bytes / read_bw, int8 ops / 1979 TOPS, the H200's dense int8 tensor-core rate),
// bytes = the experts the tokens select (distinct, counted once) + the shared expert, int8 ops =
// 2 * (T * k + T) * 3 * n_embd * n_ff. The kernel today uses dp4a (CUDA cores), not int8 MMA.
// Usage: dsk-bench-moe [--runs N]   (N >= 20, default 30)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "bench_util.hpp"
#include "dsk/moe/moe_cuda.cuh"

namespace {

using dsk::GgmlType;
using dsk::bench::DeviceBuffer;

struct Config {
  const char* name;
  int64_t n_embd, n_ff;
  int n_expert, k;
  int64_t n_ff_shared;
  GgmlType gate_up, down;
  bool v4;
};

size_t row_bytes(GgmlType t, int64_t K) {
  const dsk::GgmlTypeInfo& ti = dsk::ggml_type_info(t);
  return static_cast<size_t>(K / ti.block_elems) * ti.block_bytes;
}
size_t up16(size_t b) { return (b + 15) / 16 * 16; }

// k distinct experts for each of T tokens into ids (appended); the experts used go into `used`.
void draw_ids(std::mt19937_64& rng, int T, int k, int n_expert, std::vector<int32_t>& ids, std::set<int32_t>& used) {
  for (int t = 0; t < T; ++t) {
    std::vector<int32_t> perm(n_expert);
    std::iota(perm.begin(), perm.end(), 0);
    for (int j = 0; j < k; ++j) {
      std::uniform_int_distribution<int> pick(j, n_expert - 1);
      std::swap(perm[j], perm[pick(rng)]);
      ids.push_back(perm[j]);
      used.insert(perm[j]);
    }
  }
}

// The layer's Params for T tokens (ids / weights / shared tensors set by the caller).
dsk::moe::Params layer_params(const Config& c, int T, const float* x, float* y, const void* gate, const void* up,
                              const void* down, size_t gu_exp, size_t d_exp) {
  dsk::moe::Params p;
  p.T = T;
  p.n_embd = c.n_embd;
  p.n_ff = c.n_ff;
  p.n_expert = c.n_expert;
  p.k = c.k;
  p.x = x;
  p.y = y;
  p.gate = {c.gate_up, gate, 0, gu_exp};
  p.up = {c.gate_up, up, 0, gu_exp};
  p.down = {c.down, down, 0, d_exp};
  p.clamp = c.v4;
  p.weight_before_down = c.v4;
  p.n_ff_shared = c.n_ff_shared;
  p.shared_clamp = c.v4;
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 30;
  if (const int rc = dsk::bench::parse_runs(argc, argv, "dsk-bench-moe",
                                            "  Times dsk::moe::launch on the V3 / V4-Flash layer shapes (2-bit mix, Q8_0), T = 1 and 4:\n"
                                            "  20 launches per CUDA graph, median of N (default 30, >= 20) graph runs / 20;\n"
                                            "  then prefill T = 512 and 4096 (one launch per graph, median of 5) vs the roofline.\n",
                                            runs);
      rc >= 0)
    return rc;
  try {
    cudaDeviceProp prop{};
    DSK_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    const double bw = dsk::bench::measure_read_bandwidth(prop.multiProcessorCount).gb_per_s;
    std::printf("GPU: %s, %d SMs, L2 %d MB; read_bw %.1f GB/s (this run); median of %d graph runs\n\n", prop.name,
                prop.multiProcessorCount, prop.l2CacheSize >> 20, bw, runs);
    const Config configs[] = {
        {"DeepSeek-V3 layer, 2-bit (IQ2_XXS gate/up, Q2_K down)", 7168, 2048, 256, 8, 2048, GgmlType::IQ2_XXS,
         GgmlType::Q2_K, false},
        {"DeepSeek-V3 layer, Q8_0", 7168, 2048, 256, 8, 2048, GgmlType::Q8_0, GgmlType::Q8_0, false},
        {"DeepSeek-V4-Flash layer, 2-bit (IQ2_XXS gate/up, Q2_K down)", 4096, 2048, 256, 6, 2048, GgmlType::IQ2_XXS,
         GgmlType::Q2_K, true},
        {"DeepSeek-V4-Flash layer, Q8_0", 4096, 2048, 256, 6, 2048, GgmlType::Q8_0, GgmlType::Q8_0, true},
    };
    std::printf("| layer | T | launches/graph | MB/launch | us/launch | GB/s | %% read_bw |\n|---|---:|---:|---:|---:|---:|---:|\n");
    std::mt19937_64 rng(7);
    struct PrefillRow {
      const char* name;
      int T;
      double mb, tops, us, tps, roof_us;
    };
    std::vector<PrefillRow> prefill;
    for (const Config& c : configs) {
      const size_t gu_row = row_bytes(c.gate_up, c.n_embd), d_row = row_bytes(c.down, c.n_ff);
      const size_t gu_exp = up16(gu_row * c.n_ff), d_exp = up16(d_row * c.n_embd);
      DeviceBuffer gate(gu_exp * c.n_expert), up(gu_exp * c.n_expert), down(d_exp * c.n_expert);
      dsk::bench::fill_random_bytes(gate.as(), gate.bytes(), 1);
      dsk::bench::fill_random_bytes(up.as(), up.bytes(), 2);
      dsk::bench::fill_random_bytes(down.as(), down.bytes(), 3);
      constexpr int kSharedCopies = 8;
      const size_t sgu = up16(row_bytes(c.gate_up, c.n_embd) * c.n_ff_shared), sd = up16(row_bytes(c.down, c.n_ff_shared) * c.n_embd);
      DeviceBuffer sgate(sgu * kSharedCopies), sup(sgu * kSharedCopies), sdown(sd * kSharedCopies);
      dsk::bench::fill_random_bytes(sgate.as(), sgate.bytes(), 4);
      dsk::bench::fill_random_bytes(sup.as(), sup.bytes(), 5);
      dsk::bench::fill_random_bytes(sdown.as(), sdown.bytes(), 6);
      for (int T : {1, 4}) {
        const int R = 20;  // launches per graph, each with its own ids
        std::vector<int32_t> ids;
        std::vector<size_t> distinct(R);
        for (int r = 0; r < R; ++r) {
          std::set<int32_t> used;
          draw_ids(rng, T, c.k, c.n_expert, ids, used);
          distinct[r] = used.size();
        }
        DeviceBuffer d_ids(ids.size() * 4), d_w(ids.size() * 4), d_x(static_cast<size_t>(T) * c.n_embd * 4),
            d_y(static_cast<size_t>(T) * c.n_embd * 4);
        DSK_CUDA_CHECK(cudaMemcpy(d_ids.as(), ids.data(), ids.size() * 4, cudaMemcpyHostToDevice));
        dsk::bench::fill_uniform(d_w.as<float>(), ids.size(), 8, 0.05f, 0.3f);
        dsk::bench::fill_uniform(d_x.as<float>(), static_cast<size_t>(T) * c.n_embd, 9, -1.0f, 1.0f);
        dsk::moe::Params p =
            layer_params(c, T, d_x.as<float>(), d_y.as<float>(), gate.as(), up.as(), down.as(), gu_exp, d_exp);
        const size_t wsb = dsk::moe::workspace_size(p);
        DeviceBuffer ws(wsb);
        dsk::bench::Stream st;
        double bytes = 0;
        for (int r = 0; r < R; ++r)
          bytes += static_cast<double>(distinct[r]) * (2.0 * gu_row * c.n_ff + static_cast<double>(d_row) * c.n_embd) +
                   2.0 * sgu + static_cast<double>(sd);
        bytes /= R;
        auto launch = [&](int i) {
          dsk::moe::Params q = p;
          q.ids = d_ids.as<int32_t>() + static_cast<size_t>(i % R) * T * c.k;
          q.weights = d_w.as<float>() + static_cast<size_t>(i % R) * T * c.k;
          const int sc = i % kSharedCopies;
          q.gate_shared = {c.gate_up, sgate.as<uint8_t>() + sc * sgu, 0, 0};
          q.up_shared = {c.gate_up, sup.as<uint8_t>() + sc * sgu, 0, 0};
          q.down_shared = {c.down, sdown.as<uint8_t>() + sc * sd, 0, 0};
          DSK_CHECK_STATUS(dsk::moe::launch(q, ws.as(), wsb, st.get()));
        };
        const auto tm = dsk::bench::time_graph(launch, R, 3, runs, st.get());
        const double us = tm.per_launch_us;
        std::printf("| %s | %d | %d | %.1f | %.2f | %.0f | %.1f |\n", c.name, T, R, bytes / 1e6, us, bytes / (us * 1e3),
                    100.0 * bytes / (us * 1e3) / bw);
        std::fflush(stdout);
      }
      for (int T : {512, 4096}) {
        std::vector<int32_t> ids;
        std::set<int32_t> used;
        draw_ids(rng, T, c.k, c.n_expert, ids, used);
        DeviceBuffer d_ids(ids.size() * 4), d_w(ids.size() * 4), d_x(static_cast<size_t>(T) * c.n_embd * 4),
            d_y(static_cast<size_t>(T) * c.n_embd * 4);
        DSK_CUDA_CHECK(cudaMemcpy(d_ids.as(), ids.data(), ids.size() * 4, cudaMemcpyHostToDevice));
        dsk::bench::fill_uniform(d_w.as<float>(), ids.size(), 8, 0.05f, 0.3f);
        dsk::bench::fill_uniform(d_x.as<float>(), static_cast<size_t>(T) * c.n_embd, 9, -1.0f, 1.0f);
        dsk::moe::Params p =
            layer_params(c, T, d_x.as<float>(), d_y.as<float>(), gate.as(), up.as(), down.as(), gu_exp, d_exp);
        p.ids = d_ids.as<int32_t>();
        p.weights = d_w.as<float>();
        p.gate_shared = {c.gate_up, sgate.as(), 0, 0};
        p.up_shared = {c.gate_up, sup.as(), 0, 0};
        p.down_shared = {c.down, sdown.as(), 0, 0};
        const size_t wsb = dsk::moe::workspace_size(p);
        DeviceBuffer ws(wsb);
        dsk::bench::Stream st;
        const double bytes = static_cast<double>(used.size()) * (2.0 * gu_row * c.n_ff + static_cast<double>(d_row) * c.n_embd) +
                             2.0 * sgu + static_cast<double>(sd);
        const double ops = 2.0 * (static_cast<double>(T) * c.k + (c.n_ff_shared > 0 ? T : 0)) * 3.0 * c.n_embd * c.n_ff;
        const auto tm = dsk::bench::time_graph([&](int) { DSK_CHECK_STATUS(dsk::moe::launch(p, ws.as(), wsb, st.get())); },
                                               1, 1, 5, st.get());
        const double us = tm.per_launch_us;
        const double roof_us = std::max(bytes / (bw * 1e3), ops / 1979e6);
        prefill.push_back({c.name, T, bytes / 1e6, ops / 1e12, us, T / (us * 1e-6), roof_us});
      }
    }
    std::printf("\nPrefill (grouped path), one launch per graph, median of 5:\n\n"
                "| layer | T | MB read | int8 Tops | us | tokens/s | roofline us | %% of roofline |\n"
                "|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const PrefillRow& r : prefill)
      std::printf("| %s | %d | %.0f | %.2f | %.0f | %.0f | %.0f | %.1f |\n", r.name, r.T, r.mb, r.tops, r.us, r.tps,
                  r.roof_us, 100.0 * r.roof_us / r.us);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsk-bench-moe: %s\n", e.what());
    return 1;
  }
  return 0;
}
