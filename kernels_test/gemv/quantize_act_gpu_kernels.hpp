// Device side of test_quantize_act_gpu: a host wrapper around dsk::gemv::quantize_act over host
// arrays (copied in and out), with every layout option of QuantizeParams: row strides, rows that
// are only 4-byte aligned, padded output rows, and capture in a CUDA graph. Throws
// std::runtime_error on CUDA errors or a launcher error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dsk/core/status.hpp"
#include "dsk/gemv/quantize_act.hpp"
#include "dsk/quant/quantize.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::test::gpu_quantize_act {

struct QuantizeRun {
  GgmlType type = GgmlType::Q8_K;
  quant::Q8Flavor flavor = quant::Q8Flavor::ggml_ref;
  const float* x = nullptr;  // host: N rows of K floats, x_stride apart (0: K)
  int64_t K = 0;
  int N = 1;
  int64_t x_stride = 0;
  int x_offset = 0;          // the device rows start this many floats past a 256-byte boundary
  size_t y_stride = 0;       // bytes between output rows (0: packed)
  bool graph = false;        // capture the launch in a CUDA graph and replay it
  uint8_t poison = 0xAB;     // every output byte (padding included) holds this before the launch
  // Fused SwiGLU input (QuantizeParams::swiglu): u rows like x, w host routing weights.
  const float* u = nullptr;
  const float* w = nullptr;
  size_t w_count = 0;
  int64_t w_stride = 0;
  int k = 1;
  bool clamp = false;
  float limit = 0.0f;
};

// Returns the output: N rows of y_stride (or the packed row size) bytes, padding included.
std::vector<uint8_t> run_quantize(const QuantizeRun& r);

// Launcher status for p as given, on the null stream (use only for parameters that must be
// rejected or that launch nothing: no device memory is touched).
Status quantize_status(const gemv::QuantizeParams& p);

}  // namespace dsk::test::gpu_quantize_act
