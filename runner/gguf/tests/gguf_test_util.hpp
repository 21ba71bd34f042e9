// Helpers for the GGUF tests: a byte builder for hand-made (often broken) files, temp dirs.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "catch.hpp"
#include "temp_dir.hpp"
#include "gguf/reader.hpp"
#include "gguf/writer.hpp"

namespace dsk::gguf::test {

// Little-endian GGUF bytes, field by field.
struct Bytes {
  std::vector<uint8_t> b;

  template <class T>
  Bytes& put(T v) {
    const size_t at = b.size();
    b.resize(at + sizeof(T));
    std::memcpy(b.data() + at, &v, sizeof(T));
    return *this;
  }
  Bytes& u8(uint8_t v) { return put(v); }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& raw(std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& str(std::string_view s) { return u64(s.size()).raw(s); }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
  }
  // A key with a value type id; the payload follows.
  Bytes& key(std::string_view k, ValueType t) { return str(k).u32(static_cast<uint32_t>(t)); }
  Bytes& tensor_info(std::string_view name, std::vector<uint64_t> ne, GgmlType type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (auto d : ne) u64(d);
    return u32(static_cast<uint32_t>(type)).u64(offset);
  }
  Bytes& pad_to(size_t alignment) {
    while (b.size() % alignment) b.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
  size_t size() const { return b.size(); }
};

// The Reader points into `bytes`, which must outlive it (hence no temporaries).
inline Result<Reader> parse(const std::vector<uint8_t>& bytes, std::string name = "t.gguf") {
  return Reader::from_memory(bytes, std::move(name));
}
Result<Reader> parse(std::vector<uint8_t>&& bytes, std::string name = "t.gguf") = delete;

// Whether `bytes` parse (temporaries are fine: the Reader does not escape).
inline bool parses(const std::vector<uint8_t>& bytes) { return Reader::from_memory(bytes, "t.gguf").ok(); }

// The error of a file that must fail to parse.
inline std::string parse_error(const std::vector<uint8_t>& bytes, std::string name = "t.gguf") {
  auto r = parse(bytes, std::move(name));
  if (r.ok()) {
    FAIL_CHECK("expected a parse error, but the file parsed");
    return std::string();
  }
  return r.error().message();
}

// Temp directories named dsk-gguf-test-<pid>-<n>.
struct TempDir : dsk::test::TempDir {
  TempDir() : dsk::test::TempDir("dsk-gguf-test") {}
};

inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  if (!bytes.empty()) REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
  REQUIRE(std::fclose(f) == 0);
}

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::vector<uint8_t> out;
  FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  uint8_t buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

}  // namespace dsk::gguf::test
