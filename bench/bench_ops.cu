// dsk-bench-ops: the small ops' CUDA launchers on DeepSeek shapes, T = 1 and T = 2048 tokens,
// printed as a markdown table:
//   dsk::norm::launch   RMSNorm (weighted; n = 7168 hidden, 1536 q_lora, 512 kv_lora), residual add
//                       and fused residual add + RMSNorm (n = 7168)      (dsk/norm/norm_cuda.cuh)
//   dsk::rope::launch   RoPE with YaRN (interleaved, 64 rotated dims): V3 q (128 heads x 192, rope
//                       on dims 128..191) without and with a weighted per-head RMSNorm, V3 k_pe
//                       (1 x 64), V4 q (64 x 512, weightless per-head RMSNorm, rope on the last 64)
//                                                                        (dsk/rope/rope_cuda.cuh)
//   dsk::ops::launch    embedding gather (vocab 129280 x 7168, every table type), SwiGLU (n = 18432;
//                       clamped at 10, n = 2048, V4), softmax and argmax over the vocabulary
//                       (129280)                                         (dsk/ops/ops_cuda.cuh)
//
// Method (as bench_router.cu / docs/performance.md): R = 100 launches captured into one CUDA graph
// (dsk::bench::time_graph), 3 warm-up graph launches, CUDA events around each of --runs (default 30,
// at least 20) graph launches; the figure is the median graph time / 100. Inputs are pseudo-random
// (never constant). Where the 100 launches of a case move more than 120 MB, inputs and outputs rotate
// over enough copies to cycle >= 256 MB (dsk::bench::rotation_copies; L2 is 50-60 MB on H100/H200), so
// the T = 2048 cases are not L2-resident; the T = 1 cases are (as in decode, where the producing
// kernel just wrote the input). Embedding ids are fresh for each of the 100 launches (random rows of
// a 0.5-3.7 GB table). GB/s counts the bytes each launch must read plus write once (a kernel that
// reads a row twice, e.g. softmax, gets no credit for it); % is against the read bandwidth measured
// at the start of the same run (dsk::bench::measure_read_bandwidth).
// Usage: dsk-bench-ops [--runs N]
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "dsk/norm/norm_cuda.cuh"
#include "dsk/ops/ops_cuda.cuh"
#include "dsk/quant/types.hpp"
#include "dsk/rope/rope_cuda.cuh"

namespace {

using dsk::bench::DeviceBuffer;
using dsk::bench::fill_index;
using dsk::bench::fill_uniform;
using dsk::bench::rotation_copies;

constexpr int kLaunches = 100;  // launches per graph
constexpr int kWarmup = 3;      // graph launches before timing
constexpr int64_t kHidden = 7168;
constexpr int64_t kVocab = 129280;
constexpr int64_t kTokens[] = {1, 2048};

struct Ctx {
  cudaStream_t st = nullptr;
  int runs = 30;
  double read_bw = 0;  // GB/s, this run
  uint64_t seed = 0;
  bool graph_ok = true;
  uint64_t next_seed() { return ++seed; }
};

size_t fbytes(int64_t elems) { return static_cast<size_t>(elems) * sizeof(float); }

// Times `launch` (a graph of kLaunches) and prints one row; bytes: read + written once per launch.
template <class Launch>
void report(Ctx& cx, const std::string& op, const std::string& shape, int64_t T, size_t bytes, int copies,
            Launch&& launch) {
  const dsk::bench::GraphTiming r = dsk::bench::time_graph(launch, kLaunches, kWarmup, cx.runs, cx.st);
  cx.graph_ok = cx.graph_ok && r.kernel_nodes == static_cast<size_t>(kLaunches) && r.other_nodes == 0;
  const double gbs = static_cast<double>(bytes) / (r.per_launch_us * 1e3);
  std::printf("| %s | %s | %lld | %.3f | %d | %.2f | %.1f | %.1f |\n", op.c_str(), shape.c_str(),
              static_cast<long long>(T), static_cast<double>(bytes) / 1e6, copies, r.per_launch_us, gbs,
              100.0 * gbs / cx.read_bw);
  std::fflush(stdout);
}

void sync(const Ctx& cx) { DSK_CUDA_CHECK(cudaStreamSynchronize(cx.st)); }

// --- norm -----------------------------------------------------------------------------------------

void bench_rms_norm(Ctx& cx, int64_t n, int64_t T) {
  const int64_t rows = T * n;
  const size_t bytes = fbytes(2 * rows + n);  // x, w read; y written
  const int copies = rotation_copies(bytes, kLaunches);
  DeviceBuffer x(fbytes(rows) * copies), y(fbytes(rows) * copies), w(fbytes(n));
  fill_uniform(x.as<float>(), static_cast<size_t>(rows) * copies, cx.next_seed(), -2.0f, 2.0f, cx.st);
  fill_uniform(w.as<float>(), static_cast<size_t>(n), cx.next_seed(), 0.5f, 1.5f, cx.st);
  sync(cx);
  dsk::norm::RmsNormParams p;
  p.w = w.as<const float>();
  p.T = T;
  p.n = n;
  p.eps = 1e-6f;
  report(cx, "rms_norm (weighted)", "n=" + std::to_string(n), T, bytes, copies, [&](int i) {
    const size_t o = static_cast<size_t>(i % copies) * static_cast<size_t>(rows);
    p.x = x.as<const float>() + o;
    p.y = y.as<float>() + o;
    DSK_CHECK_STATUS(dsk::norm::launch(p, cx.st));
  });
}

void bench_add(Ctx& cx, int64_t n, int64_t T) {
  const int64_t rows = T * n;
  const size_t bytes = fbytes(3 * rows);  // a, b read; y written
  const int copies = rotation_copies(bytes, kLaunches);
  DeviceBuffer a(fbytes(rows) * copies), b(fbytes(rows) * copies), y(fbytes(rows) * copies);
  fill_uniform(a.as<float>(), static_cast<size_t>(rows) * copies, cx.next_seed(), -2.0f, 2.0f, cx.st);
  fill_uniform(b.as<float>(), static_cast<size_t>(rows) * copies, cx.next_seed(), -2.0f, 2.0f, cx.st);
  sync(cx);
  dsk::norm::AddParams p;
  p.T = T;
  p.n = n;
  report(cx, "residual add", "n=" + std::to_string(n), T, bytes, copies, [&](int i) {
    const size_t o = static_cast<size_t>(i % copies) * static_cast<size_t>(rows);
    p.a = a.as<const float>() + o;
    p.b = b.as<const float>() + o;
    p.y = y.as<float>() + o;
    DSK_CHECK_STATUS(dsk::norm::launch(p, cx.st));
  });
}

void bench_add_rms_norm(Ctx& cx, int64_t n, int64_t T) {
  const int64_t rows = T * n;
  const size_t bytes = fbytes(4 * rows + n);  // a, b, w read; s, y written
  const int copies = rotation_copies(bytes, kLaunches);
  DeviceBuffer a(fbytes(rows) * copies), b(fbytes(rows) * copies), s(fbytes(rows) * copies),
      y(fbytes(rows) * copies), w(fbytes(n));
  fill_uniform(a.as<float>(), static_cast<size_t>(rows) * copies, cx.next_seed(), -2.0f, 2.0f, cx.st);
  fill_uniform(b.as<float>(), static_cast<size_t>(rows) * copies, cx.next_seed(), -2.0f, 2.0f, cx.st);
  fill_uniform(w.as<float>(), static_cast<size_t>(n), cx.next_seed(), 0.5f, 1.5f, cx.st);
  sync(cx);
  dsk::norm::AddRmsNormParams p;
  p.w = w.as<const float>();
  p.T = T;
  p.n = n;
  p.eps = 1e-6f;
  report(cx, "add + rms_norm (weighted)", "n=" + std::to_string(n), T, bytes, copies, [&](int i) {
    const size_t o = static_cast<size_t>(i % copies) * static_cast<size_t>(rows);
    p.a = a.as<const float>() + o;
    p.b = b.as<const float>() + o;
    p.s = s.as<float>() + o;
    p.y = y.as<float>() + o;
    DSK_CHECK_STATUS(dsk::norm::launch(p, cx.st));
  });
}

// --- rope -----------------------------------------------------------------------------------------

struct RopeCase {
  const char* name;
  int64_t n_head, head_dim, rope_offset;
  dsk::rope::HeadNorm norm;
};
constexpr int kRopeDims = 64;
constexpr int64_t kRopePositions = 4096;

void bench_rope(Ctx& cx, const RopeCase& rc, const DeviceBuffer& table, int64_t T) {
  const int64_t elems = T * rc.n_head * rc.head_dim;
  // x read, y written; per token its table row (kRopeDims floats) and position; the norm weight.
  const size_t bytes = fbytes(2 * elems + T * kRopeDims) + static_cast<size_t>(T) * sizeof(int32_t) +
                       (rc.norm == dsk::rope::HeadNorm::weighted ? fbytes(rc.head_dim) : 0);
  const int copies = rotation_copies(bytes, kLaunches);
  DeviceBuffer x(fbytes(elems) * copies), y(fbytes(elems) * copies), w(fbytes(rc.head_dim)),
      pos(static_cast<size_t>(T) * sizeof(int32_t));
  fill_uniform(x.as<float>(), static_cast<size_t>(elems) * copies, cx.next_seed(), -2.0f, 2.0f, cx.st);
  fill_uniform(w.as<float>(), static_cast<size_t>(rc.head_dim), cx.next_seed(), 0.5f, 1.5f, cx.st);
  // Prefill: positions 1024.. (T = 2048); decode: one position near the end of the table.
  std::vector<int32_t> hpos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) hpos[static_cast<size_t>(t)] = static_cast<int32_t>(T == 1 ? 3000 : 1024 + t);
  DSK_CUDA_CHECK(cudaMemcpyAsync(pos.as<void>(), hpos.data(), hpos.size() * sizeof(int32_t), cudaMemcpyHostToDevice,
                                 cx.st));
  sync(cx);
  dsk::rope::Params p;
  p.pos = pos.as<const int32_t>();
  p.table.cs = table.as<const float>();
  p.table.n_pos = kRopePositions;
  p.table.n_dims = kRopeDims;
  p.T = T;
  p.n_head = rc.n_head;
  p.head_dim = rc.head_dim;
  p.rope_offset = rc.rope_offset;
  p.rope_dims = kRopeDims;
  p.mode = dsk::rope::Mode::interleaved;
  p.norm = rc.norm;
  p.norm_w = rc.norm == dsk::rope::HeadNorm::weighted ? w.as<const float>() : nullptr;
  p.eps = 1e-6f;
  const std::string shape = std::to_string(rc.n_head) + " x " + std::to_string(rc.head_dim) + ", rope " +
                            std::to_string(kRopeDims) + " @" + std::to_string(rc.rope_offset);
  report(cx, rc.name, shape, T, bytes, copies, [&](int i) {
    const size_t o = static_cast<size_t>(i % copies) * static_cast<size_t>(elems);
    p.x = x.as<const float>() + o;
    p.y = y.as<float>() + o;
    DSK_CHECK_STATUS(dsk::rope::launch(p, cx.st));
  });
}

// --- ops ------------------------------------------------------------------------------------------

// Rows of a [kVocab x kHidden] table of `type` in `pool` (pseudo-random bytes; fp16 / float fields
// are random too, NaN / inf included: the dequantization runs at the same speed on them).
void bench_embed(Ctx& cx, const DeviceBuffer& pool, dsk::GgmlType type, int64_t T) {
  const dsk::GgmlTypeInfo& ti = dsk::ggml_type_info(type);
  const size_t row_bytes = static_cast<size_t>(kHidden / ti.block_elems) * ti.block_bytes;
  if (row_bytes * static_cast<size_t>(kVocab) > pool.bytes()) throw std::runtime_error("embed: table pool too small");
  const int64_t out = T * kHidden;
  const size_t bytes = static_cast<size_t>(T) * (row_bytes + sizeof(int32_t)) + fbytes(out);  // rows, ids; y
  const int copies = rotation_copies(bytes, kLaunches);
  DeviceBuffer ids(static_cast<size_t>(kLaunches) * static_cast<size_t>(T) * sizeof(int32_t)),
      y(fbytes(out) * copies);
  fill_index(ids.as<int32_t>(), static_cast<size_t>(kLaunches) * static_cast<size_t>(T), cx.next_seed(),
             static_cast<uint32_t>(kVocab), cx.st);
  sync(cx);
  dsk::ops::EmbedParams p;
  p.type = type;
  p.table = pool.as<const void>();
  p.n_embd = kHidden;
  p.n_vocab = kVocab;
  p.T = T;
  const std::string op = "embed " + std::string(ti.name);
  report(cx, op, std::to_string(kVocab) + " x " + std::to_string(kHidden), T, bytes, copies, [&](int i) {
    p.ids = ids.as<const int32_t>() + static_cast<size_t>(i) * static_cast<size_t>(T);
    p.y = y.as<float>() + static_cast<size_t>(i % copies) * static_cast<size_t>(out);
    DSK_CHECK_STATUS(dsk::ops::launch(p, cx.st));
  });
}

void bench_swiglu(Ctx& cx, int64_t n, int64_t T, bool clamp) {
  const int64_t rows = T * n;
  const size_t bytes = fbytes(3 * rows);  // g, u read; y written
  const int copies = rotation_copies(bytes, kLaunches);
  DeviceBuffer g(fbytes(rows) * copies), u(fbytes(rows) * copies), y(fbytes(rows) * copies);
  // [-12, 12): some values beyond the clamp limit (10).
  fill_uniform(g.as<float>(), static_cast<size_t>(rows) * copies, cx.next_seed(), -12.0f, 12.0f, cx.st);
  fill_uniform(u.as<float>(), static_cast<size_t>(rows) * copies, cx.next_seed(), -12.0f, 12.0f, cx.st);
  sync(cx);
  dsk::ops::SwigluParams p;
  p.T = T;
  p.n = n;
  p.clamp = clamp;
  p.limit = 10.0f;
  report(cx, clamp ? "swiglu clamped (10)" : "swiglu", "n=" + std::to_string(n), T, bytes, copies, [&](int i) {
    const size_t o = static_cast<size_t>(i % copies) * static_cast<size_t>(rows);
    p.g = g.as<const float>() + o;
    p.u = u.as<const float>() + o;
    p.y = y.as<float>() + o;
    DSK_CHECK_STATUS(dsk::ops::launch(p, cx.st));
  });
}

void bench_softmax(Ctx& cx, int64_t n, int64_t T) {
  const int64_t rows = T * n;
  const size_t bytes = fbytes(2 * rows);  // x read; y written
  const int copies = rotation_copies(bytes, kLaunches);
  DeviceBuffer x(fbytes(rows) * copies), y(fbytes(rows) * copies);
  fill_uniform(x.as<float>(), static_cast<size_t>(rows) * copies, cx.next_seed(), -20.0f, 20.0f, cx.st);
  sync(cx);
  dsk::ops::SoftmaxParams p;
  p.T = T;
  p.n = n;
  report(cx, "softmax", "n=" + std::to_string(n), T, bytes, copies, [&](int i) {
    const size_t o = static_cast<size_t>(i % copies) * static_cast<size_t>(rows);
    p.x = x.as<const float>() + o;
    p.y = y.as<float>() + o;
    DSK_CHECK_STATUS(dsk::ops::launch(p, cx.st));
  });
}

void bench_argmax(Ctx& cx, int64_t n, int64_t T) {
  const int64_t rows = T * n;
  const size_t bytes = fbytes(rows) + static_cast<size_t>(T) * sizeof(int32_t);  // x read; idx written
  const int copies = rotation_copies(bytes, kLaunches);
  DeviceBuffer x(fbytes(rows) * copies), idx(static_cast<size_t>(T) * sizeof(int32_t) * copies);
  fill_uniform(x.as<float>(), static_cast<size_t>(rows) * copies, cx.next_seed(), -20.0f, 20.0f, cx.st);
  sync(cx);
  dsk::ops::ArgmaxParams p;
  p.T = T;
  p.n = n;
  report(cx, "argmax", "n=" + std::to_string(n), T, bytes, copies, [&](int i) {
    p.x = x.as<const float>() + static_cast<size_t>(i % copies) * static_cast<size_t>(rows);
    p.idx = idx.as<int32_t>() + static_cast<size_t>(i % copies) * static_cast<size_t>(T);
    DSK_CHECK_STATUS(dsk::ops::launch(p, cx.st));
  });
  // The kernel ran: every index in range.
  std::vector<int32_t> h(static_cast<size_t>(T));
  DSK_CUDA_CHECK(cudaMemcpy(h.data(), idx.as<const int32_t>(), h.size() * sizeof(int32_t), cudaMemcpyDeviceToHost));
  for (int32_t v : h)
    if (v < 0 || v >= n) throw std::runtime_error("argmax: index out of range: " + std::to_string(v));
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 30;
  if (const int rc = dsk::bench::parse_runs(argc, argv, "dsk-bench-ops",
                                            "  Times the norm / rope / ops launchers on DeepSeek shapes: 100 launches per CUDA graph,\n"
                                            "  3 warm-up graph launches, median of N (default 30, >= 20) timed graph launches / 100.\n",
                                            runs);
      rc >= 0)
    return rc;
  try {
    cudaDeviceProp prop{};
    DSK_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    Ctx cx;
    cx.runs = runs;
    cx.read_bw = dsk::bench::measure_read_bandwidth(prop.multiProcessorCount).gb_per_s;
    std::printf("GPU: %s, %d SMs, L2 %d MB; read_bw %.1f GB/s (this run); %d launches per graph, %d warm-up graph "
                "launches, median of %d\n\n",
                prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20, cx.read_bw, kLaunches, kWarmup, runs);
    dsk::bench::Stream stream;
    cx.st = stream.get();

    std::printf("| op | shape | T | MB/launch | copies | us/launch | GB/s | %% read_bw |\n");
    std::printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (int64_t n : {kHidden, int64_t{1536}, int64_t{512}})
      for (int64_t T : kTokens) bench_rms_norm(cx, n, T);
    for (int64_t T : kTokens) bench_add(cx, kHidden, T);
    for (int64_t T : kTokens) bench_add_rms_norm(cx, kHidden, T);

    {
      // DeepSeek-V3 YaRN (factor 40, original context 4096), 64 rotated dims, positions 0..4095.
      dsk::rope::YarnConfig yc;
      yc.n_dims = kRopeDims;
      yc.n_ctx_orig = 4096;
      yc.freq_base = 10000.0;
      yc.freq_scale = 1.0 / 40.0;
      yc.ext_factor = 1.0;
      yc.attn_factor = dsk::rope::deepseek2_rope_attn_factor(40.0f);
      const std::vector<float> h = dsk::rope::make_table(yc, kRopePositions);
      DeviceBuffer table(h.size() * sizeof(float));
      DSK_CUDA_CHECK(cudaMemcpy(table.as<void>(), h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
      using dsk::rope::HeadNorm;
      const RopeCase cases[] = {
          {"rope (V3 q)", 128, 192, 128, HeadNorm::none},
          {"head rms_norm (weighted) + rope", 128, 192, 128, HeadNorm::weighted},
          {"rope (V3 k_pe)", 1, 64, 0, HeadNorm::none},
          {"head rms_norm (weightless) + rope (V4 q)", 64, 512, 448, HeadNorm::weightless},
      };
      for (const RopeCase& rc : cases)
        for (int64_t T : kTokens) bench_rope(cx, rc, table, T);
    }

    {
      // One table pool of pseudo-random bytes, as large as the F32 table; every type reads its rows.
      DeviceBuffer pool(static_cast<size_t>(kVocab) * static_cast<size_t>(kHidden) * sizeof(float));
      dsk::bench::fill_random_bytes(pool.as<void>(), pool.bytes(), cx.next_seed(), cx.st);
      sync(cx);
      using dsk::GgmlType;
      for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K,
                         GgmlType::Q2_K, GgmlType::IQ2_XXS})
        for (int64_t T : kTokens) bench_embed(cx, pool, t, T);
    }

    for (int64_t T : kTokens) bench_swiglu(cx, 18432, T, false);
    for (int64_t T : kTokens) bench_swiglu(cx, 2048, T, true);
    for (int64_t T : kTokens) bench_softmax(cx, kVocab, T);
    for (int64_t T : kTokens) bench_argmax(cx, kVocab, T);

    std::printf("\nGraph capture: %s\n", cx.graph_ok ? "every launch recorded exactly one kernel node (no memsets, "
                                                       "copies or allocations)"
                                                     : "WARNING: some launch recorded other than one kernel node");
    DSK_CUDA_CHECK(cudaDeviceSynchronize());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsk-bench-ops: %s\n", e.what());
    return 1;
  }
  return 0;
}
