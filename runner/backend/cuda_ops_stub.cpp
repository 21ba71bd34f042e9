// The CUDA backend's entry points in a build without CUDA (DSK_CUDA=OFF or no toolkit).
#include "backend/cuda_ops.hpp"

namespace dsk::backend {

bool cuda_backend_built() { return false; }

Result<std::unique_ptr<Ops>> make_cuda_ops(const CudaOptions&) {
  return Error("--backend cuda: this build has no CUDA backend (configure with -DDSK_CUDA=ON and a CUDA toolkit)");
}

Result<double> cuda_read_bandwidth(int) { return Error("this build has no CUDA backend"); }

}  // namespace dsk::backend
