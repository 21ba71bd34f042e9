// Kernels for test_core_gpu: each evaluates one dsk/core function on the device, from the same
// source the host references use.
#include <stdexcept>
#include <string>

#include "core_gpu_kernels.hpp"
#include "dsk/core/half.hpp"
#include "dsk/core/math.hpp"
#include "dsk/core/reduce.hpp"
#include "dsk/core/status.hpp"

namespace dsk::test::gpu {
namespace {

template <class T>
struct DeviceBuffer {
  T* ptr = nullptr;
  size_t n = 0;
  explicit DeviceBuffer(size_t count) : n(count) { DSK_CUDA_CHECK(cudaMalloc(&ptr, count * sizeof(T) + 1)); }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void upload(const T* h) { DSK_CUDA_CHECK(cudaMemcpy(ptr, h, n * sizeof(T), cudaMemcpyHostToDevice)); }
  void download(T* h) const { DSK_CUDA_CHECK(cudaMemcpy(h, ptr, n * sizeof(T), cudaMemcpyDeviceToHost)); }
};

void finish() {
  DSK_CUDA_CHECK(cudaGetLastError());
  DSK_CUDA_CHECK(cudaDeviceSynchronize());
}

unsigned blocks_for(size_t n, unsigned threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

__global__ void math_kernel(uint64_t start, uint64_t stride, size_t n, float* out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float x = fp::from_bits(static_cast<uint32_t>(start + i * stride));
  out[0 * n + i] = math::exp(x);
  out[1 * n + i] = math::log(x);
  out[2 * n + i] = math::log1p(x);
  out[3 * n + i] = math::softplus(x);
  out[4 * n + i] = math::sqrt_softplus(x);
  out[5 * n + i] = math::sigmoid(x);
  out[6 * n + i] = math::silu(x);
  out[7 * n + i] = math::tanh(x);
}

__global__ void f16_kernel(uint64_t start, size_t n, uint16_t* out, bool bf) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float x = fp::from_bits(static_cast<uint32_t>(start + i));
  out[i] = bf ? f32_to_bf16_bits(x) : f32_to_f16_bits(x);
}

__global__ void widen_kernel(float* out, bool bf) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= 65536) return;
  out[i] = bf ? bf16_bits_to_f32(static_cast<uint16_t>(i)) : f16_bits_to_f32(static_cast<uint16_t>(i));
}

__global__ void round_kernel(uint64_t start, uint64_t stride, size_t n, float* out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  out[i] = fp::round_half_away(fp::from_bits(static_cast<uint32_t>(start + i * stride)));
}

__global__ void warp_tree_kernel(const float* in, size_t sets, float* out) {
  const size_t s = blockIdx.x;
  if (s >= sets) return;
  out[32 * s + threadIdx.x] = order::warp_tree32(in[32 * s + threadIdx.x]);
}

template <int NT>
__global__ void __launch_bounds__(NT) block_sum_kernel(const float* x, int64_t n, float* out) {
  __shared__ float scratch[32];
  const float* v = x + blockIdx.x * n;
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += NT) acc = fp::add(acc, v[i]);
  out[blockIdx.x * static_cast<size_t>(NT) + threadIdx.x] = order::block_tree_sum<NT>(acc, scratch);
}

__global__ void row_sum_kernel(const float* r, size_t stride, const int* nb, size_t rows, float* out) {
  const size_t s = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (s >= rows) return;
  const float* row = r + s * stride;
  out[s] = order::row_sum(nb[s], [&](int b) { return row[b]; });
}

}  // namespace

void math_eval(uint64_t start, uint64_t stride, size_t n, float* out) {
  DeviceBuffer<float> d(8 * n);
  math_kernel<<<blocks_for(n, 256), 256>>>(start, stride, n, d.ptr);
  finish();
  d.download(out);
}

void f32_to_f16(uint64_t start, size_t n, uint16_t* out) {
  DeviceBuffer<uint16_t> d(n);
  f16_kernel<<<blocks_for(n, 256), 256>>>(start, n, d.ptr, false);
  finish();
  d.download(out);
}

void f32_to_bf16(uint64_t start, size_t n, uint16_t* out) {
  DeviceBuffer<uint16_t> d(n);
  f16_kernel<<<blocks_for(n, 256), 256>>>(start, n, d.ptr, true);
  finish();
  d.download(out);
}

void f16_to_f32_all(float* out) {
  DeviceBuffer<float> d(65536);
  widen_kernel<<<256, 256>>>(d.ptr, false);
  finish();
  d.download(out);
}

void bf16_to_f32_all(float* out) {
  DeviceBuffer<float> d(65536);
  widen_kernel<<<256, 256>>>(d.ptr, true);
  finish();
  d.download(out);
}

void round_half_away(uint64_t start, uint64_t stride, size_t n, float* out) {
  DeviceBuffer<float> d(n);
  round_kernel<<<blocks_for(n, 256), 256>>>(start, stride, n, d.ptr);
  finish();
  d.download(out);
}

void warp_tree32(const float* in, size_t sets, float* out) {
  DeviceBuffer<float> din(32 * sets), dout(32 * sets);
  din.upload(in);
  warp_tree_kernel<<<static_cast<unsigned>(sets), 32>>>(din.ptr, sets, dout.ptr);
  finish();
  dout.download(out);
}

void block_sum(int nt, const float* x, int64_t n, size_t sets, float* out) {
  DeviceBuffer<float> dx(static_cast<size_t>(n) * sets), dout(static_cast<size_t>(nt) * sets);
  dx.upload(x);
  const unsigned g = static_cast<unsigned>(sets);
  switch (nt) {
    case 32: block_sum_kernel<32><<<g, 32>>>(dx.ptr, n, dout.ptr); break;
    case 128: block_sum_kernel<128><<<g, 128>>>(dx.ptr, n, dout.ptr); break;
    case 256: block_sum_kernel<256><<<g, 256>>>(dx.ptr, n, dout.ptr); break;
    case 1024: block_sum_kernel<1024><<<g, 1024>>>(dx.ptr, n, dout.ptr); break;
    default: throw std::invalid_argument("block_sum: nt must be 32, 128, 256 or 1024");
  }
  finish();
  dout.download(out);
}

void row_sum(const float* r, size_t stride, const int* nb, size_t rows, float* out) {
  DeviceBuffer<float> dr(stride * rows), dout(rows);
  DeviceBuffer<int> dnb(rows);
  dr.upload(r);
  dnb.upload(nb);
  row_sum_kernel<<<blocks_for(rows, 128), 128>>>(dr.ptr, stride, dnb.ptr, rows, dout.ptr);
  finish();
  dout.download(out);
}

}  // namespace dsk::test::gpu
