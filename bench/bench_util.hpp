// Timing helpers for dsk benches (METHOD: CUDA events around each run, warm-up runs first, the
// median of the timed runs reported; inputs larger than L2 and rotated by the caller).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "dsk/core/status.hpp"

namespace dsk::bench {

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int runs = 0;
};

// Runs `launch(i)` warmup + runs times on `stream`, timing each timed run with events.
template <class Launch>
Timing time_runs(Launch&& launch, int warmup, int runs, cudaStream_t stream = nullptr) {
  cudaEvent_t a, b;
  DSK_CUDA_CHECK(cudaEventCreate(&a));
  DSK_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < warmup; ++i) launch(i);
  DSK_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    DSK_CUDA_CHECK(cudaEventRecord(a, stream));
    launch(warmup + i);
    DSK_CUDA_CHECK(cudaEventRecord(b, stream));
    DSK_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    DSK_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  DSK_CUDA_CHECK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), ms.back(), runs};
}

}  // namespace dsk::bench
