// backend/cuda_ops.hpp — the CUDA backend: each operation is the kernel of include/dsk/ that matches
// the CPU backend's reference bit for bit (docs/runner.md, "one forward pass, two backends").
//
// Weights are copied to the device once, on first use (every TensorRef is keyed by its host
// address); activations, the KV cache (F32 latent rows, as the CPU backend) and the kernels'
// scratch live in device memory. Every operation is queued on one stream; only to_host() waits.
// Out of device memory: an error naming the bytes asked for and the bytes free.
#pragma once

#include <memory>

#include "backend/ops.hpp"
#include "common/result.hpp"

namespace dsk::backend {

// true when this build has the CUDA backend (DSK_CUDA=ON with a CUDA toolkit).
bool cuda_backend_built();

struct CudaOptions {
  int device = 0;
  // Weights are made on the GPU instead of copied (dsk-bench --synthetic): random valid blocks of
  // each tensor's type with moderate scales, seeded by the tensor's name; the host bytes are never
  // read (the synthetic GGUF's data is a file hole).
  bool synthetic_weights = false;
  uint64_t seed = 1;
  // Events around every op; Ops::profile_report() then tells where the time went (dsk-bench
  // --profile). Adds a little time per op.
  bool profile = false;
  // Decode steps (one token) replay one captured CUDA graph (positions and the token on the
  // device; see CudaOps::begin): no per-kernel launch cost. Off with profile.
  bool graphs = true;
};

// The CUDA backend; an error when the build has no CUDA backend or no usable device is present.
Result<std::unique_ptr<Ops>> make_cuda_ops(const CudaOptions& o = {});

// The device's read bandwidth in GB/s: a streaming read of 2 GiB, median of 9 runs after warm-up
// (the ceiling dsk-bench reports decode against).
Result<double> cuda_read_bandwidth(int device = 0);

}  // namespace dsk::backend
