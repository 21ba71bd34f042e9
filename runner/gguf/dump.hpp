// gguf/dump.hpp — text and JSON views of a GGUF (dsk-gguf info / json).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "gguf/reader.hpp"

namespace dsk::gguf {

// FNV-1a, 64-bit: the tensor fingerprint in the JSON dump (cheap and easy to recompute in Python).
uint64_t fnv1a64(std::span<const uint8_t> bytes);

// Human-readable: header, every key with type and value (arrays cut to `max_elems` elements,
// strings to 120 bytes), and the tensor table (name, type, dims, part, offset, bytes).
void append_info(std::string& out, const Reader& r, size_t max_elems = 8);

// Machine-readable, complete: every key with its type and full value, every tensor with type,
// dims, part, offset, bytes and the FNV-1a-64 of its bytes. Arrays are {"elem_type", "values"}
// objects (recursively for arrays of arrays). Strings that are not valid UTF-8 have their invalid
// bytes written as \u00XX; FLOAT32/FLOAT64 print exactly (%.9g / %.17g), non-finite values as
// NaN / Infinity / -Infinity (as Python's json module reads them).
void append_json(std::string& out, const Reader& r);

// A value in the info style, e.g. `"deepseek2"`, `61`, `[1, 2, 3, ... 97 more]`.
void append_value_text(std::string& out, const Value& v, size_t max_elems);
// A value in the JSON style.
void append_value_json(std::string& out, const Value& v);

}  // namespace dsk::gguf
