// Device copies of host arrays for the GPU tests of the kernel families (nvcc only): a test builds
// a family's Params with host pointers; the .cu side maps every pointer to a device buffer with
// in() / out(), launches the family's launcher with the mapped Params, and downloads the outputs.
// The same host pointer maps to the same device buffer, so aliasing (in place) carries over.
// Outputs that are not also inputs are poisoned (0x7fbadbad in every 32-bit word, as
// compare.hpp's poison) before the launch.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dsk/core/status.hpp"

namespace dsk::test {

class DeviceMirror {
 public:
  DeviceMirror() = default;
  DeviceMirror(const DeviceMirror&) = delete;
  DeviceMirror& operator=(const DeviceMirror&) = delete;
  ~DeviceMirror() {
    for (Buf& b : bufs_) cudaFree(b.dev);
  }

  // Input of n elements of T (nullptr stays nullptr).
  template <class T>
  T* in(const T* host, size_t n) {
    if (!host) return nullptr;
    if (Buf* b = find(host)) return static_cast<T*>(b->dev);
    Buf b{host, nullptr, n * sizeof(T), nullptr};
    DSK_CUDA_CHECK(cudaMalloc(&b.dev, b.bytes ? b.bytes : 1));
    DSK_CUDA_CHECK(cudaMemcpy(b.dev, host, b.bytes, cudaMemcpyHostToDevice));
    bufs_.push_back(b);
    return static_cast<T*>(b.dev);
  }
  // Output of n elements of T, downloaded by download(); an input of the same host pointer is
  // reused (in place), anything else is poisoned.
  template <class T>
  T* out(T* host, size_t n) {
    if (!host) return nullptr;
    if (Buf* b = find(host)) {
      b->out = host;
      return static_cast<T*>(b->dev);
    }
    Buf b{host, host, n * sizeof(T), nullptr};
    DSK_CUDA_CHECK(cudaMalloc(&b.dev, b.bytes ? b.bytes : 1));
    std::vector<uint32_t> poison((b.bytes + 3) / 4, 0x7fbadbadu);
    DSK_CUDA_CHECK(cudaMemcpy(b.dev, poison.data(), b.bytes, cudaMemcpyHostToDevice));
    bufs_.push_back(b);
    return static_cast<T*>(b.dev);
  }
  // Wait for the default stream, report launch / execution errors, copy the outputs back.
  void download() {
    DSK_CUDA_CHECK(cudaGetLastError());
    DSK_CUDA_CHECK(cudaDeviceSynchronize());
    for (Buf& b : bufs_)
      if (b.out) DSK_CUDA_CHECK(cudaMemcpy(b.out, b.dev, b.bytes, cudaMemcpyDeviceToHost));
  }

 private:
  struct Buf {
    const void* host;
    void* out;
    size_t bytes;
    void* dev;
  };
  Buf* find(const void* host) {
    for (Buf& b : bufs_)
      if (b.host == host) return &b;
    return nullptr;
  }
  std::vector<Buf> bufs_;
};

// Elements spanned by T rows of n at a stride (0: n).
inline size_t rows_extent(int64_t T, int64_t n, int64_t stride) {
  if (T <= 0) return 0;
  return static_cast<size_t>((T - 1) * (stride ? stride : n) + n);
}

// launch(stream) on the default stream, or (graph) captured in a CUDA graph on a fresh non-blocking
// stream in global capture mode and replayed once; returns launch's Status (a failed launch is not
// replayed). Synchronizes before returning.
template <class Launch>
Status launch_maybe_in_graph(bool graph, Launch&& launch) {
  if (!graph) {
    const Status s = launch(cudaStream_t{nullptr});
    DSK_CUDA_CHECK(cudaDeviceSynchronize());
    return s;
  }
  // A cudaMemcpy from pageable memory may return before its DMA lands; a non-blocking stream does
  // not wait for the legacy stream, so wait for the inputs here.
  DSK_CUDA_CHECK(cudaDeviceSynchronize());
  cudaStream_t st;
  DSK_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  cudaGraph_t g;
  DSK_CUDA_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
  const Status s = launch(st);
  DSK_CUDA_CHECK(cudaStreamEndCapture(st, &g));
  if (s.ok()) {
    cudaGraphExec_t ge;
    DSK_CUDA_CHECK(cudaGraphInstantiate(&ge, g, 0));
    DSK_CUDA_CHECK(cudaGraphLaunch(ge, st));
    DSK_CUDA_CHECK(cudaStreamSynchronize(st));
    DSK_CUDA_CHECK(cudaGraphExecDestroy(ge));
  }
  DSK_CUDA_CHECK(cudaGraphDestroy(g));
  DSK_CUDA_CHECK(cudaStreamDestroy(st));
  return s;
}

}  // namespace dsk::test
