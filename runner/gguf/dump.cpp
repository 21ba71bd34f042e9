#include "gguf/dump.hpp"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace dsk::gguf {

uint64_t fnv1a64(std::span<const uint8_t> bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return h;
}

namespace {

void appendf(std::string& out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void appendf(std::string& out, const char* fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  const int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  if (n > 0) {
    const size_t at = out.size();
    out.resize(at + static_cast<size_t>(n) + 1);
    std::vsnprintf(out.data() + at, static_cast<size_t>(n) + 1, fmt, ap2);
    out.resize(at + static_cast<size_t>(n));
  }
  va_end(ap2);
}

// A key or tensor name for the text view: control bytes as \xNN, cut after 200 bytes.
std::string printable(std::string_view s) {
  std::string q = quoted(s);
  return q.substr(1, q.size() - 2);
}

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t utf8_len(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;  // no surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if ((b(i + k) & 0xc0) != 0x80) return 0;
  return n;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else if (c == '\t') out += "\\t";
      else if (c == '\r') out += "\\r";
      else if (c < 0x20 || c == 0x7f) appendf(out, "\\u%04x", c);
      else out += static_cast<char>(c);
      ++i;
    } else if (const size_t n = utf8_len(s, i)) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      appendf(out, "\\u%04x", c);  // an invalid byte, as the code point of the same value
      ++i;
    }
  }
  out += '"';
}

// Info style: control bytes escaped, cut after max_bytes.
void append_text_string(std::string& out, std::string_view s, size_t max_bytes = 120) {
  out += '"';
  for (size_t i = 0; i < s.size() && i < max_bytes; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      appendf(out, "\\x%02x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (s.size() > max_bytes) appendf(out, "... (%zu bytes)", s.size());
}

void append_float(std::string& out, double v, bool is_f32, bool json) {
  if (std::isnan(v)) {
    out += json ? "NaN" : "nan";
    return;
  }
  if (std::isinf(v)) {
    out += v < 0 ? (json ? "-Infinity" : "-inf") : (json ? "Infinity" : "inf");
    return;
  }
  const size_t at = out.size();
  appendf(out, is_f32 ? "%.9g" : "%.17g", v);
  // Keep it a float for JSON readers ("-0" would parse as the integer 0).
  if (out.find_first_of(".eE", at) == std::string::npos) out += ".0";
}

void append_scalar(std::string& out, const Value& v, bool json) {
  switch (v.type()) {
    case ValueType::BOOL: out += v.as<bool>() ? "true" : "false"; return;
    case ValueType::FLOAT32: append_float(out, static_cast<double>(v.as<float>()), true, json); return;
    case ValueType::FLOAT64: append_float(out, v.as<double>(), false, json); return;
    case ValueType::STRING:
      if (json) append_json_string(out, v.str());
      else append_text_string(out, v.str());
      return;
    default:
      if (is_signed_type(v.type())) appendf(out, "%" PRId64, v.as_int64());
      else appendf(out, "%" PRIu64, v.as_uint64());
  }
}

std::string dims_text(const Tensor& t) {
  std::string s = "[";
  for (uint32_t d = 0; d < t.n_dims; ++d) appendf(s, d ? ", %" PRIu64 : "%" PRIu64, t.ne[d]);
  return s + "]";
}

std::string type_text(const Value& v) {
  if (!v.is_array()) return std::string(value_type_name(v.type()));
  return "ARRAY[" + std::string(value_type_name(v.elem_type())) + "]";
}

}  // namespace

void append_value_text(std::string& out, const Value& v, size_t max_elems) {
  if (!v.is_array()) {
    append_scalar(out, v, false);
    return;
  }
  out += '[';
  const size_t n = v.size();
  for (size_t i = 0; i < n && i < max_elems; ++i) {
    if (i) out += ", ";
    if (v.elem_type() == ValueType::ARRAY) append_value_text(out, v.arrays()[i], max_elems);
    else append_scalar(out, v.element(i), false);
  }
  if (n > max_elems) appendf(out, ", ... %zu more", n - max_elems);
  out += ']';
}

void append_value_json(std::string& out, const Value& v) {
  if (!v.is_array()) {
    append_scalar(out, v, true);
    return;
  }
  out += "{\"elem_type\": \"";
  out += value_type_name(v.elem_type());
  out += "\", \"values\": [";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    if (v.elem_type() == ValueType::ARRAY) append_value_json(out, v.arrays()[i]);
    else if (v.elem_type() == ValueType::STRING) append_json_string(out, v.strings()[i]);
    else append_scalar(out, v.element(i), true);
  }
  out += "]}";
}

void append_info(std::string& out, const Reader& r, size_t max_elems) {
  const auto parts = r.parts();
  const Part& p0 = parts.front();
  appendf(out, "%s: GGUF v%" PRIu32 ", ", p0.name.c_str(), p0.version);
  if (parts.size() > 1) appendf(out, "split set of %zu parts, ", parts.size());
  appendf(out, "%zu keys, %zu tensors\n", r.metadata().size(), r.tensors().size());
  for (size_t i = 0; i < parts.size(); ++i) {
    const Part& p = parts[i];
    appendf(out, "  part %zu: %s: %" PRIu64 " bytes, alignment %" PRIu32 ", data at offset %" PRIu64 ", %zu tensors\n",
            i + 1, p.name.c_str(), p.size, p.alignment, p.data_offset, p.tensor_count);
  }
  out += "metadata:\n";
  for (const auto& kv : r.metadata()) {
    out += "  ";
    out += printable(kv.key);
    out += " = ";
    out += type_text(kv.value);
    if (kv.value.is_array()) appendf(out, " (%zu)", kv.value.size());
    out += ' ';
    append_value_text(out, kv.value, max_elems);
    out += '\n';
  }
  out += "tensors:\n";
  size_t w = 4;
  for (const auto& t : r.tensors()) w = std::max(w, std::min<size_t>(printable(t.name).size(), 48));
  appendf(out, "  %-*s %-8s %-28s %4s %14s %14s\n", static_cast<int>(w), "name", "type", "dims", "part", "offset",
          "bytes");
  for (const auto& t : r.tensors()) {
    const auto tn = t.type_info().name;
    appendf(out, "  %-*s %-8.*s %-28s %4" PRIu32 " %14" PRIu64 " %14" PRIu64 "\n", static_cast<int>(w), printable(t.name).c_str(),
            static_cast<int>(tn.size()), tn.data(), dims_text(t).c_str(), t.part + 1, t.offset, t.n_bytes);
  }
}

void append_json(std::string& out, const Reader& r) {
  out += "{\n  \"file\": ";
  append_json_string(out, r.name());
  appendf(out, ",\n  \"version\": %" PRIu32 ",\n  \"parts\": [", r.version());
  const auto parts = r.parts();
  for (size_t i = 0; i < parts.size(); ++i) {
    const Part& p = parts[i];
    out += i ? ",\n    {\"name\": " : "\n    {\"name\": ";
    append_json_string(out, p.name);
    appendf(out, ", \"version\": %" PRIu32 ", \"alignment\": %" PRIu32 ", \"size\": %" PRIu64
                 ", \"data_offset\": %" PRIu64 ", \"tensors\": %zu}",
            p.version, p.alignment, p.size, p.data_offset, p.tensor_count);
  }
  out += "\n  ],\n  \"metadata\": [";
  bool first = true;
  for (const auto& kv : r.metadata()) {
    out += first ? "\n    {\"key\": " : ",\n    {\"key\": ";
    first = false;
    append_json_string(out, kv.key);
    out += ", \"type\": \"";
    out += value_type_name(kv.value.type());
    out += "\", \"value\": ";
    append_value_json(out, kv.value);
    out += '}';
  }
  out += "\n  ],\n  \"tensors\": [";
  first = true;
  for (const auto& t : r.tensors()) {
    out += first ? "\n    {\"name\": " : ",\n    {\"name\": ";
    first = false;
    append_json_string(out, t.name);
    const auto tn = t.type_info().name;
    appendf(out, ", \"type\": \"%.*s\", \"type_id\": %" PRIu32 ", \"dims\": %s, \"part\": %" PRIu32
                 ", \"offset\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"fnv1a64\": \"%016" PRIx64 "\"}",
            static_cast<int>(tn.size()), tn.data(), static_cast<uint32_t>(t.type), dims_text(t).c_str(), t.part,
            t.offset, t.n_bytes, fnv1a64(t.bytes()));
  }
  out += "\n  ]\n}\n";
}

}  // namespace dsk::gguf
