// gguf/sample.hpp — a small GGUF exercising every value type, nested arrays, a custom alignment
// and tensors of several types and odd shapes. The interop test checks that gguf-py reads it as
// dsk does; tests and the fuzz seed corpus build on it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "gguf/writer.hpp"

namespace dsk::gguf {

struct Sample {
  Writer writer;
  std::vector<std::unique_ptr<std::vector<uint8_t>>> data;  // tensor bytes the writer points into
};

// Deterministic: the same bytes on every call.
std::unique_ptr<Sample> make_sample();

// Deterministic tensor bytes.
std::vector<uint8_t> sample_bytes(size_t n, uint64_t seed);

}  // namespace dsk::gguf
