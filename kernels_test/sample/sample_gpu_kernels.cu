// Host wrappers of test_sample_gpu (sample_gpu_kernels.hpp).
#include "dsk/sample/sample_cuda.cuh"
#include "sample_gpu_kernels.hpp"

namespace dsk::test::gpu_sample {

namespace {
struct DevBuf {
  void* p = nullptr;
  explicit DevBuf(size_t bytes) { DSK_CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1)); }
  ~DevBuf() { cudaFree(p); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
};

void check(const Status& s) {
  if (!s.ok()) throw std::runtime_error("launch_sample: " + to_string(s));
}
}  // namespace

std::vector<int32_t> run_sample(const std::vector<float>& logits, const sample::SamplerParams& sp,
                                const std::vector<int64_t>& positions, bool via_graph) {
  const int32_t n = static_cast<int32_t>(logits.size());
  DevBuf d_logits(logits.size() * sizeof(float)), d_token(sizeof(int32_t)), d_pos(sizeof(int32_t));
  const size_t ws_bytes = sample::sample_workspace_size(n);
  DevBuf ws(ws_bytes);
  DSK_CUDA_CHECK(cudaMemcpy(d_logits.p, logits.data(), logits.size() * sizeof(float), cudaMemcpyHostToDevice));
  cudaStream_t stream;
  DSK_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  sample::SampleParams p;
  p.logits = static_cast<const float*>(d_logits.p);
  p.n_vocab = n;
  p.sampler = sp;
  p.token = static_cast<int32_t*>(d_token.p);
  std::vector<int32_t> out;
  cudaGraphExec_t exec = nullptr;
  if (via_graph) {
    p.pos_dev = static_cast<const int32_t*>(d_pos.p);
    p.pos = 1;
    cudaGraph_t g;
    DSK_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    check(sample::launch_sample(p, ws.p, ws_bytes, stream));
    DSK_CUDA_CHECK(cudaStreamEndCapture(stream, &g));
    DSK_CUDA_CHECK(cudaGraphInstantiate(&exec, g, 0));
    DSK_CUDA_CHECK(cudaGraphDestroy(g));
  }
  for (int64_t pos : positions) {
    const int32_t poison = 0x7fbadbad;
    DSK_CUDA_CHECK(cudaMemcpyAsync(d_token.p, &poison, sizeof poison, cudaMemcpyHostToDevice, stream));
    if (via_graph) {
      const int32_t before = static_cast<int32_t>(pos - 1);
      DSK_CUDA_CHECK(cudaMemcpyAsync(d_pos.p, &before, sizeof before, cudaMemcpyHostToDevice, stream));
      DSK_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    } else {
      p.pos = pos;
      check(sample::launch_sample(p, ws.p, ws_bytes, stream));
    }
    int32_t tok = 0;
    DSK_CUDA_CHECK(cudaMemcpyAsync(&tok, d_token.p, sizeof tok, cudaMemcpyDeviceToHost, stream));
    DSK_CUDA_CHECK(cudaStreamSynchronize(stream));
    out.push_back(tok);
  }
  if (exec) DSK_CUDA_CHECK(cudaGraphExecDestroy(exec));
  DSK_CUDA_CHECK(cudaStreamDestroy(stream));
  return out;
}

Status sample_status(int32_t n_vocab, const sample::SamplerParams& sp, bool null_logits, size_t workspace_bytes) {
  DevBuf d_logits(16 * sizeof(float)), d_token(sizeof(int32_t)), ws(workspace_bytes);
  sample::SampleParams p;
  p.logits = null_logits ? nullptr : static_cast<const float*>(d_logits.p);
  p.n_vocab = n_vocab;
  p.sampler = sp;
  p.token = static_cast<int32_t*>(d_token.p);
  const Status s = sample::launch_sample(p, ws.p, workspace_bytes, nullptr);
  DSK_CUDA_CHECK(cudaDeviceSynchronize());
  return s;
}

}  // namespace dsk::test::gpu_sample
