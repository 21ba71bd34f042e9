// Device side of test_gemv_gpu: host wrappers around dsk::gemv::launch and dsk::gemv::quantize_act
// over host arrays (copied in and out; outputs poisoned on the device before each launch), so the
// Catch2 test is ordinary C++. Throw std::runtime_error on CUDA errors or a launcher error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dsk/core/status.hpp"
#include "dsk/gemv/gemv.hpp"
#include "dsk/gemv/quantize_act.hpp"
#include "dsk/quant/quantize.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::test::gpu_gemv {

struct GemvRun {
  GgmlType wtype = GgmlType::F32;
  int64_t M = 0, K = 0;
  int N = 1;
  const void* w = nullptr;   // host, w_bytes
  size_t w_bytes = 0;
  size_t w_row_stride = 0;   // 0: packed
  const void* x = nullptr;   // host, x_bytes (N rows x_stride apart)
  size_t x_bytes = 0;
  size_t x_stride = 0;       // 0: packed
  int64_t y_stride = 0;      // 0: M
  bool graph = false;        // capture the launch in a CUDA graph and replay it
};

// Returns y: N * (y_stride ? y_stride : M) floats (poisoned before the launch).
std::vector<float> run_gemv(const GemvRun& r);

// Launcher status for p as given (device pointers are not dereferenced by a failing validation;
// use only for shapes that must be rejected).
Status gemv_status(const gemv::Params& p);

// N rows of K floats (x, packed) -> Q8_0 / Q8_K rows on the GPU; returns the bytes (packed rows).
std::vector<uint8_t> run_quantize(GgmlType t, quant::Q8Flavor flavor, const float* x, int64_t K, int N);

// GPU quantization then GPU GEMV, activations never leaving the device: y (N * M floats).
std::vector<float> run_quantize_then_gemv(GgmlType wtype, quant::Q8Flavor flavor, const void* w, size_t w_bytes,
                                          const float* x, int64_t M, int64_t K, int N);

Status quantize_status(const gemv::QuantizeParams& p);

// Sets the launch knobs (copy stages, bytes per unit, warps per CTA; performance only, results
// must not change) for the following launches; set_knobs(0, 0, 0) restores the defaults.
void set_knobs(int stages, int unit_bytes, int max_warps);

}  // namespace dsk::test::gpu_gemv
