// libFuzzer target for the GGUF reader (runner/gguf/fuzz/run_fuzz.sh builds and runs it).
//
// The input is parsed from memory as one file; when it holds further "GGUF" magics it is also cut
// there and parsed as a split set. A file that parses is then exercised completely: every accessor
// on every key, every element of every array, every byte of every tensor, both dumps, and a
// write -> read round trip that must reproduce the same metadata and tensor bytes. Any crash,
// sanitizer report or broken invariant (__builtin_trap) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gguf/dump.hpp"
#include "gguf/reader.hpp"
#include "gguf/writer.hpp"

using namespace dsk::gguf;

namespace {

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) __builtin_trap(); \
  } while (0)

uint64_t sink = 0;  // keeps the reads alive

void touch(const Value& v) {
  sink += static_cast<uint64_t>(v.type());
  if (!v.is_array()) {
    if (v.is_string()) sink += v.str().size();
    return;
  }
  FUZZ_CHECK(v.elem_type() == ValueType::STRING ? v.strings().size() == v.size()
             : v.elem_type() == ValueType::ARRAY ? v.arrays().size() == v.size()
                                                 : v.raw().size() == v.size() * value_type_size(v.elem_type()));
  for (size_t i = 0; i < v.size(); ++i) {
    const Value e = v.element(i);
    FUZZ_CHECK(e.type() == v.elem_type());
    touch(e);
  }
}

template <class T>
void try_get(const Metadata& md, const std::string& key) {
  auto r = md.get<T>(key);
  if (!r) sink += r.error().message().size();
  auto o = md.get_optional<T>(key);
  FUZZ_CHECK(o.ok() == r.ok());
}

template <class I>
void try_int(const Metadata& md, const std::string& key) {
  auto r = md.get_int<I>(key);
  if (r) sink += static_cast<uint64_t>(*r);
  auto a = md.get_int_array<I>(key);
  if (a) sink += a->size();
  FUZZ_CHECK(md.get_int_optional<I>(key).ok() == r.ok());
}

void exercise_metadata(const Metadata& md) {
  for (const KeyValue& kv : md) {
    FUZZ_CHECK(md.find(kv.key) == &kv.value);
    touch(kv.value);
    try_get<uint8_t>(md, kv.key);
    try_get<int8_t>(md, kv.key);
    try_get<uint16_t>(md, kv.key);
    try_get<int16_t>(md, kv.key);
    try_get<uint32_t>(md, kv.key);
    try_get<int32_t>(md, kv.key);
    try_get<float>(md, kv.key);
    try_get<bool>(md, kv.key);
    try_get<uint64_t>(md, kv.key);
    try_get<int64_t>(md, kv.key);
    try_get<double>(md, kv.key);
    try_get<std::string>(md, kv.key);
    try_int<uint8_t>(md, kv.key);
    try_int<int16_t>(md, kv.key);
    try_int<uint32_t>(md, kv.key);
    try_int<int64_t>(md, kv.key);
    try_int<uint64_t>(md, kv.key);
    if (auto f = md.get_float(kv.key)) sink += static_cast<uint64_t>(*f != 0);
    if (auto f = md.get_float_array(kv.key)) sink += f->size();
    if (auto s = md.get_string_array(kv.key)) sink += s->size();
    if (auto a = md.get_array(kv.key)) sink += (*a)->size();
    FUZZ_CHECK(md.get_float_optional(kv.key).ok() == md.get_float(kv.key).ok());
    FUZZ_CHECK(md.get_array_optional(kv.key).ok() == kv.value.is_array());
  }
  FUZZ_CHECK(!md.get<uint32_t>("fuzz.no.such.key").ok());
}

void exercise(const Reader& r) {
  for (const Part& p : r.parts()) exercise_metadata(p.metadata);
  for (const Tensor& t : r.tensors()) {
    FUZZ_CHECK(t.part < r.parts().size());
    const Part& p = r.parts()[t.part];
    // Inside its part, after the header.
    FUZZ_CHECK(t.data >= p.base + p.data_offset);
    FUZZ_CHECK(t.data + t.n_bytes <= p.base + p.size);
    FUZZ_CHECK(t.n_dims >= 1 && t.n_dims <= kMaxDims);
    FUZZ_CHECK(r.find_tensor(t.name) == &t);
    sink += fnv1a64(t.bytes());  // reads every byte
  }
  std::string text;
  append_info(text, r);
  append_json(text, r);
  sink += text.size();

  // Round trip: what was read can be written, and reads back the same.
  Writer w;
  for (const KeyValue& kv : r.metadata())
    if (kv.key.rfind("split.", 0) != 0) w.set(kv.key, kv.value);
  for (const Tensor& t : r.tensors()) FUZZ_CHECK(w.add_tensor(t.name, t.type, t.dims(), t.bytes()).ok());
  auto bytes = w.to_bytes();
  FUZZ_CHECK(bytes.ok());
  auto back = Reader::from_memory(*bytes, "roundtrip");
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(back->metadata().size() == w.metadata().size());
  for (size_t i = 0; i < w.metadata().size(); ++i) {
    FUZZ_CHECK(back->metadata()[i].key == w.metadata()[i].key);
    FUZZ_CHECK(back->metadata()[i].value == w.metadata()[i].value);
  }
  FUZZ_CHECK(back->tensors().size() == r.tensors().size());
  for (size_t i = 0; i < r.tensors().size(); ++i) {
    const Tensor& a = r.tensors()[i];
    const Tensor& b = back->tensors()[i];
    FUZZ_CHECK(a.name == b.name && a.type == b.type && a.ne == b.ne && a.n_bytes == b.n_bytes);
    FUZZ_CHECK(std::memcmp(a.data, b.data, a.n_bytes) == 0);
  }
}

void run(const dsk::Result<Reader>& r) {
  if (!r) {
    const std::string& m = r.error().message();
    FUZZ_CHECK(!m.empty() && m.find('\n') == std::string::npos);
    sink += m.size();
    return;
  }
  exercise(*r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run(Reader::from_memory(std::span<const uint8_t>(data, size), "fuzz.gguf"));

  // Cut at every later "GGUF" + version 2/3 and read the pieces as a split set.
  std::vector<MemoryFile> parts;
  size_t start = 0;
  for (size_t i = 1; i + 8 <= size; ++i) {
    if (std::memcmp(data + i, "GGUF", 4) == 0 && (data[i + 4] == 2 || data[i + 4] == 3) && data[i + 5] == 0 &&
        data[i + 6] == 0 && data[i + 7] == 0) {
      parts.push_back({std::span<const uint8_t>(data + start, i - start), "part" + std::to_string(parts.size())});
      start = i;
    }
  }
  if (!parts.empty()) {
    parts.push_back({std::span<const uint8_t>(data + start, size - start), "part" + std::to_string(parts.size())});
    run(Reader::from_memory(std::move(parts)));
  }
  return 0;
}
