// Host wrappers of test_gemv_gpu (gemv_gpu_kernels.hpp): device buffers, poisoning, launches.
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "dsk/core/status.hpp"
#include "dsk/gemv/gemv.hpp"
#include "dsk/gemv/quantize_act.hpp"
#include "gemv_gpu_kernels.hpp"

namespace dsk::test::gpu_gemv {
namespace {

constexpr uint32_t kPoisonBits = 0x7fbadbadu;  // as kernels_test/support/compare.hpp

struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t n) : bytes(n) { DSK_CUDA_CHECK(cudaMalloc(&ptr, n ? n : 16)); }
  DeviceBuffer(const void* host, size_t n) : DeviceBuffer(n) {
    if (n) DSK_CUDA_CHECK(cudaMemcpy(ptr, host, n, cudaMemcpyHostToDevice));
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void poison_floats() {
    std::vector<uint32_t> p(bytes / 4, kPoisonBits);
    DSK_CUDA_CHECK(cudaMemcpy(ptr, p.data(), p.size() * 4, cudaMemcpyHostToDevice));
  }
};

size_t act_row_bytes(GgmlType wtype, int64_t K) {
  switch (wtype) {
    case GgmlType::Q8_0: return static_cast<size_t>(K / 32) * 34;
    case GgmlType::Q4_K: case GgmlType::Q6_K: case GgmlType::Q2_K: case GgmlType::IQ2_XXS:
      return static_cast<size_t>(K / 256) * 292;
    default: return static_cast<size_t>(K) * 4;
  }
}

}  // namespace

std::vector<float> run_gemv(const GemvRun& r) {
  DeviceBuffer w(r.w, r.w_bytes), x(r.x, r.x_bytes);
  const int64_t ys = r.y_stride ? r.y_stride : r.M;
  DeviceBuffer y(static_cast<size_t>(ys) * r.N * sizeof(float));
  y.poison_floats();
  gemv::Params p;
  p.wtype = r.wtype;
  p.w = w.ptr;
  p.w_row_stride = r.w_row_stride;
  p.x = x.ptr;
  p.x_stride = r.x_stride;
  p.y = static_cast<float*>(y.ptr);
  p.y_stride = r.y_stride;
  p.M = r.M;
  p.K = r.K;
  p.N = r.N;
  const size_t ws = gemv::workspace_size(p);
  DeviceBuffer work(ws);
  cudaStream_t stream;
  DSK_CUDA_CHECK(cudaDeviceSynchronize());  // pageable cudaMemcpy may still be landing; the stream below does not wait for it
  DSK_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  if (r.graph) {
    cudaGraph_t g;
    cudaGraphExec_t ge;
    DSK_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    const Status st = gemv::launch(p, work.ptr, ws, stream);
    DSK_CUDA_CHECK(cudaStreamEndCapture(stream, &g));
    DSK_CHECK_STATUS(st);
    DSK_CUDA_CHECK(cudaGraphInstantiate(&ge, g, 0));
    DSK_CUDA_CHECK(cudaGraphLaunch(ge, stream));
    DSK_CUDA_CHECK(cudaStreamSynchronize(stream));
    cudaGraphExecDestroy(ge);
    cudaGraphDestroy(g);
  } else {
    DSK_CHECK_STATUS(gemv::launch(p, work.ptr, ws, stream));
  }
  DSK_CUDA_CHECK(cudaStreamSynchronize(stream));
  DSK_CUDA_CHECK(cudaGetLastError());
  cudaStreamDestroy(stream);
  std::vector<float> out(static_cast<size_t>(ys) * r.N);
  DSK_CUDA_CHECK(cudaMemcpy(out.data(), y.ptr, out.size() * sizeof(float), cudaMemcpyDeviceToHost));
  return out;
}

Status gemv_status(const gemv::Params& p) { return gemv::launch(p, nullptr, 0, nullptr); }
Status quantize_status(const gemv::QuantizeParams& p) { return gemv::quantize_act(p, nullptr); }

void set_knobs(int stages, int unit_bytes, int max_warps) {
  static const int d_stages = gemv::detail::stages_knob(), d_unit = gemv::detail::unit_bytes_knob(),
                   d_warps = gemv::detail::max_warps_knob();
  gemv::detail::stages_knob() = stages ? stages : d_stages;
  gemv::detail::unit_bytes_knob() = unit_bytes ? unit_bytes : d_unit;
  gemv::detail::max_warps_knob() = max_warps ? max_warps : d_warps;
}

std::vector<uint8_t> run_quantize(GgmlType t, quant::Q8Flavor flavor, const float* x, int64_t K, int N) {
  const size_t row = t == GgmlType::Q8_0 ? static_cast<size_t>(K / 32) * 34 : static_cast<size_t>(K / 256) * 292;
  DeviceBuffer dx(x, static_cast<size_t>(K) * N * sizeof(float)), dy(row * N);
  DSK_CUDA_CHECK(cudaMemset(dy.ptr, 0xAB, dy.bytes));
  gemv::QuantizeParams p;
  p.type = t;
  p.x = static_cast<const float*>(dx.ptr);
  p.y = dy.ptr;
  p.K = K;
  p.N = N;
  p.flavor = flavor;
  DSK_CHECK_STATUS(gemv::quantize_act(p, nullptr));
  DSK_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<uint8_t> out(row * N);
  DSK_CUDA_CHECK(cudaMemcpy(out.data(), dy.ptr, out.size(), cudaMemcpyDeviceToHost));
  return out;
}

std::vector<float> run_quantize_then_gemv(GgmlType wtype, quant::Q8Flavor flavor, const void* w, size_t w_bytes,
                                          const float* x, int64_t M, int64_t K, int N) {
  DeviceBuffer dw(w, w_bytes), dx(x, static_cast<size_t>(K) * N * sizeof(float));
  DeviceBuffer dq(act_row_bytes(wtype, K) * N), dy(static_cast<size_t>(M) * N * sizeof(float));
  dy.poison_floats();
  const bool is_float = wtype == GgmlType::F32 || wtype == GgmlType::F16 || wtype == GgmlType::BF16;
  if (!is_float) {
    gemv::QuantizeParams q;
    q.type = wtype == GgmlType::Q8_0 ? GgmlType::Q8_0 : GgmlType::Q8_K;
    q.x = static_cast<const float*>(dx.ptr);
    q.y = dq.ptr;
    q.K = K;
    q.N = N;
    q.flavor = flavor;
    DSK_CHECK_STATUS(gemv::quantize_act(q, nullptr));
  }
  gemv::Params p;
  p.wtype = wtype;
  p.w = dw.ptr;
  p.x = is_float ? dx.ptr : dq.ptr;
  p.y = static_cast<float*>(dy.ptr);
  p.M = M;
  p.K = K;
  p.N = N;
  DSK_CHECK_STATUS(gemv::launch(p, nullptr, 0, nullptr));
  DSK_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> out(static_cast<size_t>(M) * N);
  DSK_CUDA_CHECK(cudaMemcpy(out.data(), dy.ptr, out.size() * sizeof(float), cudaMemcpyDeviceToHost));
  return out;
}

}  // namespace dsk::test::gpu_gemv
