// gguf/reader.hpp — reading GGUF files (v2, v3; little-endian), single files and split sets.
//
// Reader::open maps the file read-only and parses and validates all of it up front: header,
// metadata, tensor infos, and every tensor's extent against the file. After that, reading
// metadata and tensor bytes cannot fail or touch memory outside the mapping. A file named
// NAME-0000k-of-0000N.gguf that carries split.count = N opens the whole set: one metadata (the
// first part's) and one tensor table whose data pointers point into each part's mapping.
//
// Errors are dsk::Error values naming the file and the problem, e.g.
//   "m.gguf: offset 1234: key 'tokenizer.ggml.tokens': array of 4294967295 STRING elements needs at
//    least 34359738360 bytes, 52 left"
// The parser never allocates more than a small multiple of the file size (every count is checked
// against the bytes left before anything is reserved) and never reads outside the input.
// docs/gguf.md lists the rules.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "gguf/metadata.hpp"
#include "gguf/tensor.hpp"

namespace dsk::gguf {

inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr char kKeyAlignment[] = "general.alignment";
inline constexpr char kKeySplitNo[] = "split.no";
inline constexpr char kKeySplitCount[] = "split.count";
inline constexpr char kKeySplitTensorsCount[] = "split.tensors.count";

class Mapping;  // a read-only file mapping (reader.cpp)

// One physical file of a GGUF (the only one, or a member of a split set).
struct Part {
  std::string name;           // path, or the name given for an in-memory buffer
  uint32_t version = 0;       // 2 or 3
  uint32_t alignment = 0;     // general.alignment, or 32
  uint64_t size = 0;          // bytes
  uint64_t data_offset = 0;   // start of the data section (aligned)
  Metadata metadata;          // this file's own keys (split parts after the first carry only split.*)
  size_t first_tensor = 0;    // this part's tensors are Reader::tensors()[first_tensor, +tensor_count)
  size_t tensor_count = 0;
  const uint8_t* base = nullptr;
};

// An in-memory file for Reader::from_memory.
struct MemoryFile {
  std::span<const uint8_t> bytes;
  std::string name;
};

class Reader {
 public:
  // Opens a file (and, for a split set, all its parts).
  static Result<Reader> open(const std::string& path);
  // Parses in-memory files; they must outlive the Reader. Several buffers are the parts of a split
  // set in order (part 1 first); one buffer with split.count > 1 is an error.
  static Result<Reader> from_memory(std::span<const uint8_t> bytes, std::string name = "<memory>");
  static Result<Reader> from_memory(std::vector<MemoryFile> files);
  // A temporary buffer would dangle: keep the bytes in a variable.
  static Result<Reader> from_memory(std::vector<uint8_t>&& bytes, std::string name = "<memory>") = delete;

  Reader(Reader&&) noexcept;
  Reader& operator=(Reader&&) noexcept;
  ~Reader();

  const std::string& name() const { return parts_.front().name; }  // the first part's
  const Metadata& metadata() const { return parts_.front().metadata; }
  uint32_t version() const { return parts_.front().version; }
  std::span<const Part> parts() const { return parts_; }

  std::span<const Tensor> tensors() const { return tensors_; }
  const Tensor* find_tensor(std::string_view name) const;
  Result<const Tensor*> tensor(std::string_view name) const;  // error: "FILE: tensor 'x' not found"

 private:
  friend struct ReaderAccess;
  Reader();

  std::vector<std::unique_ptr<Mapping>> maps_;
  std::vector<Part> parts_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
};

// Split-set naming: "DIR/NAME-00002-of-00005.gguf" -> {prefix "DIR/NAME", no 2, count 5}.
struct SplitName {
  std::string prefix;
  uint32_t no = 0;     // 1-based, as in the file name
  uint32_t count = 0;
};
std::optional<SplitName> parse_split_name(std::string_view path);
std::string split_path(std::string_view prefix, uint32_t no, uint32_t count);  // no is 1-based

}  // namespace dsk::gguf
