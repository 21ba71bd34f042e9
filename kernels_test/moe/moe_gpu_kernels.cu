// Host wrappers of test_moe_gpu around dsk/moe/moe_cuda.cuh.
#include "device_mirror.cuh"
#include "dsk/moe/moe_cuda.cuh"
#include "moe_gpu_kernels.hpp"

namespace dsk::test::gpu_moe {

namespace {
moe::Tensor mirror(DeviceMirror& m, const moe::Tensor& t, size_t bytes) {
  moe::Tensor d = t;
  d.data = m.in(static_cast<const uint8_t*>(t.data), bytes);
  return d;
}
size_t rows(int64_t T, int64_t n, int64_t stride) { return T > 0 ? static_cast<size_t>((T - 1) * (stride ? stride : n) + n) : 0; }

struct Workspace {
  void* ptr = nullptr;
  explicit Workspace(size_t n) { DSK_CUDA_CHECK(cudaMalloc(&ptr, n ? n : 256)); }
  ~Workspace() { cudaFree(ptr); }
};
}  // namespace

Status moe(const moe::Params& h, const Sizes& sz, bool graph, bool side) {
  if (!moe::validate(h).ok()) return moe::launch(h, nullptr, 0, nullptr);
  DeviceMirror m;
  moe::Params d = h;
  d.x = m.in(h.x, rows(h.T, h.n_embd, h.x_stride));
  d.ids = m.in(h.ids, rows(h.T, h.k, h.ids_stride));
  d.weights = m.in(h.weights, rows(h.T, h.k, h.ids_stride));
  d.gate = mirror(m, h.gate, sz.gate);
  d.up = mirror(m, h.up, sz.up);
  d.down = mirror(m, h.down, sz.down);
  if (h.n_ff_shared > 0) {
    d.gate_shared = mirror(m, h.gate_shared, sz.gate_shared);
    d.up_shared = mirror(m, h.up_shared, sz.up_shared);
    d.down_shared = mirror(m, h.down_shared, sz.down_shared);
  }
  d.y = m.out(h.y, rows(h.T, h.n_embd, h.y_stride));
  const size_t wb = moe::workspace_size(d);
  Workspace ws(wb);
  moe::SharedStream ss;
  if (side) {
    DSK_CUDA_CHECK(cudaStreamCreateWithFlags(&ss.stream, cudaStreamNonBlocking));
    DSK_CUDA_CHECK(cudaEventCreateWithFlags(&ss.fork, cudaEventDisableTiming));
    DSK_CUDA_CHECK(cudaEventCreateWithFlags(&ss.join, cudaEventDisableTiming));
  }
  const Status s = launch_maybe_in_graph(graph, [&](cudaStream_t st) {
    return moe::launch(d, ws.ptr, wb, st, side ? &ss : nullptr);
  });
  m.download();
  if (side) {
    DSK_CUDA_CHECK(cudaEventDestroy(ss.fork));
    DSK_CUDA_CHECK(cudaEventDestroy(ss.join));
    DSK_CUDA_CHECK(cudaStreamDestroy(ss.stream));
  }
  return s;
}

Status ffn(const moe::FfnParams& h, const Sizes& sz) {
  if (!moe::validate(h).ok()) return moe::launch(h, nullptr, 0, nullptr);
  DeviceMirror m;
  moe::FfnParams d = h;
  d.x = m.in(h.x, rows(h.T, h.n_embd, h.x_stride));
  d.gate = mirror(m, h.gate, sz.gate);
  d.up = mirror(m, h.up, sz.up);
  d.down = mirror(m, h.down, sz.down);
  d.y = m.out(h.y, rows(h.T, h.n_embd, h.y_stride));
  const size_t wb = moe::workspace_size(d);
  Workspace ws(wb);
  const Status s = moe::launch(d, ws.ptr, wb, nullptr);
  m.download();
  return s;
}

void set_grouped_min_tokens(int T) { moe::cuda_detail::grouped_min_tokens_knob() = T > 0 ? T : moe::cuda_detail::kChunk + 1; }

}  // namespace dsk::test::gpu_moe
