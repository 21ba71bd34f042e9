// Kernels for test_quant_gpu: each runs one per-block function of include/dsk/quant/ on the device,
// from the same source the host references use.
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "dsk/core/status.hpp"
#include "dsk/quant/blocks.hpp"
#include "dsk/quant/dequant.hpp"
#include "dsk/quant/dot.hpp"
#include "dsk/quant/quantize.hpp"
#include "quant_gpu_kernels.hpp"

namespace dsk::test::gpu_quant {
namespace {

using namespace dsk::quant;

constexpr uint32_t kPoisonBits = 0x7fbadbadu;  // as kernels_test/support/compare.hpp
constexpr unsigned kThreads = 128;

// Device copy of a host array; `poison` fills it with a pattern no kernel writes.
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t n) : bytes(n) { DSK_CUDA_CHECK(cudaMalloc(&ptr, n ? n : 1)); }
  DeviceBuffer(const void* host, size_t n) : DeviceBuffer(n) {
    DSK_CUDA_CHECK(cudaMemcpy(ptr, host, n, cudaMemcpyHostToDevice));
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void poison_floats() {
    std::vector<uint32_t> p(bytes / 4, kPoisonBits);
    DSK_CUDA_CHECK(cudaMemcpy(ptr, p.data(), p.size() * 4, cudaMemcpyHostToDevice));
  }
  void poison_bytes() { DSK_CUDA_CHECK(cudaMemset(ptr, 0xAB, bytes)); }
  void download(void* host) const { DSK_CUDA_CHECK(cudaMemcpy(host, ptr, bytes, cudaMemcpyDeviceToHost)); }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
};

void finish() {
  DSK_CUDA_CHECK(cudaGetLastError());
  DSK_CUDA_CHECK(cudaDeviceSynchronize());
}

unsigned grid_for(size_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// Calls f(B{}) for the block type of t (F32/F16/BF16: 32-element dot blocks).
template <class F>
void with_block(GgmlType t, F&& f) {
  switch (t) {
    case GgmlType::F32: return f(block_f32{});
    case GgmlType::F16: return f(block_f16{});
    case GgmlType::BF16: return f(block_bf16{});
    case GgmlType::Q8_0: return f(block_q8_0{});
    case GgmlType::Q8_K: return f(block_q8_K{});
    case GgmlType::Q4_K: return f(block_q4_K{});
    case GgmlType::Q6_K: return f(block_q6_K{});
    case GgmlType::Q2_K: return f(block_q2_K{});
    case GgmlType::IQ2_XXS: return f(block_iq2_xxs{});
    default: throw std::runtime_error("gpu_quant: unsupported type " + std::string(ggml_type_name(t)));
  }
}

template <class W>
constexpr bool is_weight = !std::is_void_v<act_block_t<W>>;

// --- kernels -------------------------------------------------------------------------------------

template <class B>
__global__ void dequant_kernel(const B* b, size_t n, float* out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) dequantize_block(b[i], out + i * block_traits<B>::elems);
}

__global__ void dequant_q8_2_kernel(const block_q8_2* b, size_t n, float* out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) dequantize_block(b[i], out + i * kQK8_0);
}

template <class B>
__global__ void quantize_kernel(const float* x, size_t n, Q8Flavor flavor, B* out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  B b;
  if constexpr (std::is_same_v<B, block_q8_0> || std::is_same_v<B, block_q8_K>)
    quantize_block(x + i * block_traits<B>::elems, b, flavor);
  else
    quantize_block(x + i * block_traits<B>::elems, b);
  out[i] = b;
}

__global__ void quantize_q8_2_kernel(const float* x, size_t n, block_q8_2* out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  block_q8_2 b;
  quantize_block(x + i * kQK8_0, b);
  out[i] = b;
}

template <class W>
__global__ void dot_kernel(const W* w, const act_block_t<W>* a, size_t n, float* out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = dot_block(w[i], a[i]);
}

template <class W, int NR>
__global__ void dot_multi_kernel(const W* w, const act_block_t<W>* a, size_t n, int64_t stride, float* out) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  float r[NR];
  dot_block_multi<NR>(w[i], a + i, stride, r);
  for (int k = 0; k < NR; ++k) out[i * NR + k] = r[k];
}

template <class W>
__global__ void row_kernel(const W* w, const act_block_t<W>* a, int rows, int nb, float* out) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r < rows) out[r] = dot_row(w + static_cast<int64_t>(r) * nb, a + static_cast<int64_t>(r) * nb, nb);
}

template <class W, int NR>
__global__ void row_multi_kernel(const W* w, const act_block_t<W>* a, int rows, int nb, int64_t stride, float* out) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float res[NR];
  dot_row_multi<NR>(w + static_cast<int64_t>(r) * nb, a, stride, nb, res);
  for (int k = 0; k < NR; ++k) out[r * NR + k] = res[k];
}

// --- NR dispatch ---------------------------------------------------------------------------------

// DSK_INSTANCES=ci compiles the multi-row kernels for NR 1, 4, 8 only.
#ifndef DSK_QUANT_NR_CI
#define DSK_QUANT_NR_CI 0
#endif
constexpr bool nr_is_compiled(int nr) { return nr >= 1 && nr <= 8 && (!DSK_QUANT_NR_CI || nr == 1 || nr == 4 || nr == 8); }

template <int NR, class F>
bool try_nr(int nr, F& f) {
  if constexpr (nr_is_compiled(NR)) {
    if (nr == NR) {
      f(std::integral_constant<int, NR>{});
      return true;
    }
  }
  return false;
}

template <class F>
void with_nr(int nr, F&& f) {
  const bool done = try_nr<1>(nr, f) || try_nr<2>(nr, f) || try_nr<3>(nr, f) || try_nr<4>(nr, f) ||
                    try_nr<5>(nr, f) || try_nr<6>(nr, f) || try_nr<7>(nr, f) || try_nr<8>(nr, f);
  if (!done) throw std::runtime_error("gpu_quant: NR " + std::to_string(nr) + " not compiled");
}

}  // namespace

bool nr_compiled(int nr) { return nr_is_compiled(nr); }

void dequantize(GgmlType t, const void* blocks, size_t nblocks, float* out) {
  with_block(t, [&](auto b) {
    using B = decltype(b);
    DeviceBuffer in(blocks, nblocks * sizeof(B)), o(nblocks * block_traits<B>::elems * sizeof(float));
    o.poison_floats();
    dequant_kernel<<<grid_for(nblocks), kThreads>>>(in.as<const B>(), nblocks, o.as<float>());
    finish();
    o.download(out);
  });
}

void dequantize_q8_2(const void* blocks, size_t nblocks, float* out) {
  DeviceBuffer in(blocks, nblocks * sizeof(block_q8_2)), o(nblocks * kQK8_0 * sizeof(float));
  o.poison_floats();
  dequant_q8_2_kernel<<<grid_for(nblocks), kThreads>>>(in.as<const block_q8_2>(), nblocks, o.as<float>());
  finish();
  o.download(out);
}

void quantize(GgmlType t, const float* x, size_t nblocks, Q8Flavor flavor, void* out) {
  if (t == GgmlType::IQ2_XXS) throw std::runtime_error("gpu_quant: IQ2_XXS has no quantizer");
  with_block(t, [&](auto b) {
    using B = decltype(b);
    if constexpr (!std::is_same_v<B, block_iq2_xxs>) {
      DeviceBuffer in(x, nblocks * block_traits<B>::elems * sizeof(float)), o(nblocks * sizeof(B));
      o.poison_bytes();
      quantize_kernel<<<grid_for(nblocks), kThreads>>>(in.as<const float>(), nblocks, flavor, o.as<B>());
      finish();
      o.download(out);
    }
  });
}

void quantize_q8_2(const float* x, size_t nblocks, void* out) {
  DeviceBuffer in(x, nblocks * kQK8_0 * sizeof(float)), o(nblocks * sizeof(block_q8_2));
  o.poison_bytes();
  quantize_q8_2_kernel<<<grid_for(nblocks), kThreads>>>(in.as<const float>(), nblocks, o.as<block_q8_2>());
  finish();
  o.download(out);
}

void dot_blocks(GgmlType wt, const void* w, const void* a, size_t nblocks, float* out) {
  with_block(wt, [&](auto b) {
    using W = decltype(b);
    if constexpr (is_weight<W>) {
      using A = act_block_t<W>;
      DeviceBuffer dw(w, nblocks * sizeof(W)), da(a, nblocks * sizeof(A)), o(nblocks * sizeof(float));
      o.poison_floats();
      dot_kernel<<<grid_for(nblocks), kThreads>>>(dw.as<const W>(), da.as<const A>(), nblocks, o.as<float>());
      finish();
      o.download(out);
    } else {
      throw std::runtime_error("gpu_quant: not a weight type");
    }
  });
}

void dot_blocks_multi(GgmlType wt, int nr, const void* w, const void* a, size_t nblocks, int64_t a_stride,
                      float* out) {
  with_block(wt, [&](auto b) {
    using W = decltype(b);
    if constexpr (is_weight<W>) {
      using A = act_block_t<W>;
      DeviceBuffer dw(w, nblocks * sizeof(W)), da(a, static_cast<size_t>(nr * a_stride) * sizeof(A)),
          o(nblocks * nr * sizeof(float));
      o.poison_floats();
      with_nr(nr, [&](auto n) {
        dot_multi_kernel<W, decltype(n)::value><<<grid_for(nblocks), kThreads>>>(dw.as<const W>(), da.as<const A>(),
                                                                                 nblocks, a_stride, o.as<float>());
      });
      finish();
      o.download(out);
    } else {
      throw std::runtime_error("gpu_quant: not a weight type");
    }
  });
}

void dot_rows(GgmlType wt, const void* w, const void* a, int rows, int nb, float* out) {
  with_block(wt, [&](auto b) {
    using W = decltype(b);
    if constexpr (is_weight<W>) {
      using A = act_block_t<W>;
      const size_t n = static_cast<size_t>(rows) * nb;
      DeviceBuffer dw(w, n * sizeof(W)), da(a, n * sizeof(A)), o(rows * sizeof(float));
      o.poison_floats();
      row_kernel<<<grid_for(rows), kThreads>>>(dw.as<const W>(), da.as<const A>(), rows, nb, o.as<float>());
      finish();
      o.download(out);
    } else {
      throw std::runtime_error("gpu_quant: not a weight type");
    }
  });
}

void dot_rows_multi(GgmlType wt, int nr, const void* w, const void* a, int rows, int nb, int64_t a_stride,
                    float* out) {
  with_block(wt, [&](auto b) {
    using W = decltype(b);
    if constexpr (is_weight<W>) {
      using A = act_block_t<W>;
      DeviceBuffer dw(w, static_cast<size_t>(rows) * nb * sizeof(W)),
          da(a, static_cast<size_t>(nr * a_stride) * sizeof(A)), o(static_cast<size_t>(rows) * nr * sizeof(float));
      o.poison_floats();
      with_nr(nr, [&](auto n) {
        row_multi_kernel<W, decltype(n)::value><<<grid_for(rows), kThreads>>>(dw.as<const W>(), da.as<const A>(), rows,
                                                                              nb, a_stride, o.as<float>());
      });
      finish();
      o.download(out);
    } else {
      throw std::runtime_error("gpu_quant: not a weight type");
    }
  });
}

}  // namespace dsk::test::gpu_quant
