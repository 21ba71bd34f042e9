// model/gguf_stream.hpp — writing a GGUF file tensor by tensor, for model-sized outputs.
//
// gguf::Writer needs every tensor's bytes alive until write(); a synthetic or converted model of
// hundreds of GB cannot be held. write_gguf_streamed writes the same format (GGUF v3, metadata in
// order, tensor infos, each tensor padded to general.alignment, default 32) from a plan: each tensor
// is produced in chunks of rows (float rows quantized to the tensor's type, or raw bytes), so memory
// stays at a few chunks whatever the model size. The output is written to OUT.tmp and renamed;
// missing parent directories are created.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "dsk/quant/types.hpp"
#include "gguf/metadata.hpp"

namespace dsk::model {

struct PlannedTensor {
  std::string name;
  GgmlType type = GgmlType::F32;  // F32 F16 BF16 Q8_0 Q4_K Q6_K Q2_K (quantized from float rows), or any with raw_rows
  std::vector<uint64_t> ne;       // ggml order
  // Rows [row0, row0 + n) as float (row length ne[0]; rows counted over ne[1] * ne[2] * ne[3]). May be
  // called from several threads at once for disjoint ranges.
  std::function<Result<void>(int64_t row0, int64_t n, float* out)> rows;
  // If set, used instead of `rows`: the rows' bytes in `type` directly (IQ2_XXS random blocks).
  std::function<void(int64_t row0, int64_t n, uint8_t* out)> raw_rows;
  // No contents: the tensor's bytes are a hole of the file (they read as zeros and take no disk
  // space). dsk-bench --synthetic writes such files; its backend makes the weights on the GPU.
  bool hole = false;
};

// Called after each tensor: index, count, the tensor, bytes written so far.
using StreamProgress = std::function<void(size_t i, size_t n, const PlannedTensor& t, uint64_t bytes)>;

// Writes md (general.alignment honoured if present) and the planned tensors. threads = 0: the
// hardware concurrency.
Result<void> write_gguf_streamed(const std::string& path, const gguf::Metadata& md,
                                 const std::vector<PlannedTensor>& plan, const StreamProgress& progress = {},
                                 unsigned threads = 0);

// The type a row of length K is stored in when `want` is asked for: `want` when K is a multiple of
// its block (always for F32/F16/BF16); else Q8_0 when K % 32 == 0; else F16.
GgmlType fallback_type(GgmlType want, int64_t K);

}  // namespace dsk::model
