// gguf/writer.hpp — writing GGUF v3 (little-endian) files and split sets, for tools and tests.
//
// Metadata is kept in insertion order (Metadata::set replaces in place). Tensors are added with a
// span of their bytes, which must stay alive until the write; the write streams header, metadata,
// tensor infos, then each tensor padded to the alignment (general.alignment, default 32). The
// writer checks what the reader would reject (unknown type, bad dims, wrong byte count, duplicate
// names, arrays nested too deep, a bad general.alignment), so it only writes files dsk can read.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "gguf/metadata.hpp"
#include "gguf/tensor.hpp"

namespace dsk::gguf {

namespace detail {
class Sink;  // where a write goes (writer.cpp)
}

class Writer {
 public:
  Writer() = default;

  Metadata& metadata() { return md_; }
  const Metadata& metadata() const { return md_; }
  void set(std::string key, Value value) { md_.set(std::move(key), std::move(value)); }
  void set_alignment(uint32_t alignment);  // stored as general.alignment (UINT32)

  // ne in ggml order (ne[0] contiguous). `data` must outlive write()/to_bytes().
  Result<void> add_tensor(std::string name, GgmlType type, std::span<const uint64_t> ne,
                          std::span<const uint8_t> data);
  size_t tensor_count() const { return tensors_.size(); }

  Result<void> write(const std::string& path) const;
  Result<std::vector<uint8_t>> to_bytes() const;

  // A split set PREFIX-00001-of-0000N.gguf ... as llama.cpp's gguf-split writes it: the first part
  // holds all metadata, every part holds split.no (UINT16, 0-based), split.count (UINT16) and
  // split.tensors.count (INT32) and its share of the tensors (in order, as even as possible by
  // count; parts may hold none). Returns the part paths.
  Result<std::vector<std::string>> write_split(const std::string& prefix, uint32_t n_parts) const;

 private:
  struct PendingTensor {
    std::string name;
    GgmlType type;
    std::vector<uint64_t> ne;
    std::span<const uint8_t> data;
  };
  Result<void> write_to(detail::Sink& sink, const Metadata& md, size_t first, size_t count) const;

  Metadata md_;
  std::vector<PendingTensor> tensors_;
};

// One tensor of encode_preamble: its name, type, dims (ggml order) and byte size.
struct TensorInfoOut {
  std::string_view name;
  GgmlType type;
  std::span<const uint64_t> ne;
  uint64_t n_bytes;
};

// The bytes before the data section of a GGUF v3 file: header, metadata (in order), and the tensor
// infos with each offset aligned to general.alignment (default 32), which *alignment receives. The
// data section follows after padding to that alignment. Writer uses it; so do tools that stream
// tensor data too large to hold (model/gguf_stream).
Result<std::vector<uint8_t>> encode_preamble(const Metadata& md, std::span<const TensorInfoOut> tensors,
                                             uint32_t* alignment);

// The bytes of one metadata value as written after its key (type id, then the payload). Exposed
// for tests that craft files by hand.
Result<std::vector<uint8_t>> encode_value(const Value& v);

}  // namespace dsk::gguf
