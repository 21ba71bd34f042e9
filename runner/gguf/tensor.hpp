// gguf/tensor.hpp — tensor descriptors and the size rule shared by the reader and the writer.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "common/result.hpp"
#include "dsk/quant/types.hpp"

namespace dsk::gguf {

inline constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS

struct Tensor {
  std::string name;
  GgmlType type = GgmlType::F32;
  uint32_t n_dims = 0;
  std::array<uint64_t, kMaxDims> ne{1, 1, 1, 1};  // ne[0] is contiguous (ggml order); unused dims are 1
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  uint32_t part = 0;             // index into Reader::parts()
  uint64_t offset = 0;           // relative to its part's data section, as stored in the file
  const uint8_t* data = nullptr; // into its part's mapping

  std::span<const uint8_t> bytes() const { return {data, static_cast<size_t>(n_bytes)}; }
  const GgmlTypeInfo& type_info() const { return ggml_type_info(type); }
  std::span<const uint64_t> dims() const { return {ne.data(), n_dims}; }
};

// Checks a tensor's type id and dims (1..4 dims, each 1..INT64_MAX, element count within int64,
// ne[0] a whole number of blocks) and returns its size in bytes. Errors carry no name prefix.
Result<uint64_t> tensor_nbytes(uint32_t type_id, std::span<const uint64_t> ne);

}  // namespace dsk::gguf
