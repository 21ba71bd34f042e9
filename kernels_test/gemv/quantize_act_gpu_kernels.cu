// Host wrapper of test_quantize_act_gpu (quantize_act_gpu_kernels.hpp): device buffers, poisoning,
// launches (plain or captured in a CUDA graph).
#include <vector>

#include "dsk/core/status.hpp"
#include "dsk/gemv/quantize_act.hpp"
#include "quantize_act_gpu_kernels.hpp"

namespace dsk::test::gpu_quantize_act {
namespace {

struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t n) : bytes(n) { DSK_CUDA_CHECK(cudaMalloc(&ptr, n ? n : 16)); }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

}  // namespace

std::vector<uint8_t> run_quantize(const QuantizeRun& r) {
  const bool q80 = r.type == GgmlType::Q8_0;
  const size_t row = static_cast<size_t>(r.K / (q80 ? quant::kQK8_0 : quant::kQK_K)) *
                     (q80 ? sizeof(quant::block_q8_0) : sizeof(quant::block_q8_K));
  const int64_t xs = r.x_stride ? r.x_stride : r.K;
  const size_t ys = r.y_stride ? r.y_stride : row;
  const size_t x_floats =
      r.N > 0 ? static_cast<size_t>(xs) * static_cast<size_t>(r.N - 1) + static_cast<size_t>(r.K) : 0;
  DeviceBuffer dx((x_floats + static_cast<size_t>(r.x_offset)) * sizeof(float)), dy(ys * static_cast<size_t>(r.N));
  float* x = static_cast<float*>(dx.ptr) + r.x_offset;  // cudaMalloc: 256-byte aligned
  if (x_floats) DSK_CUDA_CHECK(cudaMemcpy(x, r.x, x_floats * sizeof(float), cudaMemcpyHostToDevice));
  DSK_CUDA_CHECK(cudaMemset(dy.ptr, r.poison, dy.bytes));
  DeviceBuffer du(r.u ? (x_floats + static_cast<size_t>(r.x_offset)) * sizeof(float) : 0), dw(r.w_count * sizeof(float));
  float* u = r.u ? static_cast<float*>(du.ptr) + r.x_offset : nullptr;
  if (u && x_floats) DSK_CUDA_CHECK(cudaMemcpy(u, r.u, x_floats * sizeof(float), cudaMemcpyHostToDevice));
  if (r.w) DSK_CUDA_CHECK(cudaMemcpy(dw.ptr, r.w, r.w_count * sizeof(float), cudaMemcpyHostToDevice));
  gemv::QuantizeParams p;
  p.type = r.type;
  p.x = x;
  p.x_stride = r.x_stride;
  p.y = dy.ptr;
  p.y_stride = r.y_stride;
  p.K = r.K;
  p.N = r.N;
  p.flavor = r.flavor;
  p.swiglu.u = u;
  p.swiglu.w = r.w ? static_cast<const float*>(dw.ptr) : nullptr;
  p.swiglu.w_stride = r.w_stride;
  p.swiglu.k = r.k;
  p.swiglu.clamp = r.clamp;
  p.swiglu.limit = r.limit;
  cudaStream_t stream;
  DSK_CUDA_CHECK(cudaDeviceSynchronize());  // pageable cudaMemcpy may still be landing; the stream below does not wait for it
  DSK_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  if (r.graph) {
    cudaGraph_t g;
    cudaGraphExec_t ge;
    DSK_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    const Status st = gemv::quantize_act(p, stream);
    DSK_CUDA_CHECK(cudaStreamEndCapture(stream, &g));
    DSK_CHECK_STATUS(st);
    DSK_CUDA_CHECK(cudaGraphInstantiate(&ge, g, 0));
    DSK_CUDA_CHECK(cudaGraphLaunch(ge, stream));
    DSK_CUDA_CHECK(cudaStreamSynchronize(stream));
    cudaGraphExecDestroy(ge);
    cudaGraphDestroy(g);
  } else {
    DSK_CHECK_STATUS(gemv::quantize_act(p, stream));
  }
  DSK_CUDA_CHECK(cudaStreamSynchronize(stream));
  DSK_CUDA_CHECK(cudaGetLastError());
  cudaStreamDestroy(stream);
  std::vector<uint8_t> out(dy.bytes);
  DSK_CUDA_CHECK(cudaMemcpy(out.data(), dy.ptr, out.size(), cudaMemcpyDeviceToHost));
  return out;
}

Status quantize_status(const gemv::QuantizeParams& p) { return gemv::quantize_act(p, nullptr); }

}  // namespace dsk::test::gpu_quantize_act
