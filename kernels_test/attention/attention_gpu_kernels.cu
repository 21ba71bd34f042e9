// Host wrapper of test_attention_gpu around dsk/attention/attention_cuda.cuh.
#include "attention_gpu_kernels.hpp"
#include "device_mirror.cuh"
#include "dsk/attention/attention_cuda.cuh"

namespace dsk::test::gpu_attention {

namespace {
// Sets the launcher's path knob for one scope.
struct KnobScope {
  attention::cuda_detail::Path saved = attention::cuda_detail::path_knob();
  explicit KnobScope(Path p) {
    attention::cuda_detail::path_knob() = p == Path::decode    ? attention::cuda_detail::Path::decode
                                          : p == Path::prefill ? attention::cuda_detail::Path::prefill
                                                               : attention::cuda_detail::Path::automatic;
  }
  ~KnobScope() { attention::cuda_detail::path_knob() = saved; }
};
}  // namespace

Status mla(const attention::MlaParams& h, const Sizes& sz, bool graph, Path path, bool* prefill) {
  KnobScope knob(path);
  if (prefill) *prefill = attention::uses_prefill(h);
  if (!attention::validate(h).ok()) return attention::launch(h, nullptr, 0, nullptr);
  DeviceMirror m;
  attention::MlaParams d = h;
  d.q = m.in(h.q, sz.q);
  d.cache = m.in(static_cast<const uint8_t*>(h.cache), sz.cache);
  d.k_b = m.in(static_cast<const uint8_t*>(h.k_b), sz.k_b);
  d.v_b = m.in(static_cast<const uint8_t*>(h.v_b), sz.v_b);
  d.out = m.out(h.out, sz.out);
  d.pos_dev = m.in(h.pos_dev, 1);  // a host int in the test's Params
  const size_t wb = attention::workspace_size(d);
  void* ws = nullptr;
  DSK_CUDA_CHECK(cudaMalloc(&ws, wb ? wb : 256));
  DSK_CUDA_CHECK(cudaMemset(ws, 0xff, wb ? wb : 256));  // NaN: a read of a slot nobody wrote shows
  const Status s = launch_maybe_in_graph(graph, [&](cudaStream_t st) { return attention::launch(d, ws, wb, st); });
  m.download();
  cudaFree(ws);
  return s;
}

bool uses_prefill(const attention::MlaParams& p) {
  KnobScope knob(Path::automatic);
  return attention::uses_prefill(p);
}

}  // namespace dsk::test::gpu_attention
