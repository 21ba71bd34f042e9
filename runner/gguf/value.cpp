#include "gguf/value.hpp"

#include <bit>

namespace dsk::gguf {

// Values are stored and read with memcpy, so the host byte order must be the file's.
static_assert(std::endian::native == std::endian::little, "dsk's GGUF code assumes a little-endian host");

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UINT8: return "UINT8";
    case ValueType::INT8: return "INT8";
    case ValueType::UINT16: return "UINT16";
    case ValueType::INT16: return "INT16";
    case ValueType::UINT32: return "UINT32";
    case ValueType::INT32: return "INT32";
    case ValueType::FLOAT32: return "FLOAT32";
    case ValueType::BOOL: return "BOOL";
    case ValueType::STRING: return "STRING";
    case ValueType::ARRAY: return "ARRAY";
    case ValueType::UINT64: return "UINT64";
    case ValueType::INT64: return "INT64";
    case ValueType::FLOAT64: return "FLOAT64";
  }
  return "?";
}

std::string quoted(std::string_view name, size_t max_bytes) {
  static const char hex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < name.size(); ++i) {
    if (i == max_bytes) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += "'";
  return out;
}

int64_t Value::as_int64() const {
  switch (type_) {
    case ValueType::INT8: return as<int8_t>();
    case ValueType::INT16: return as<int16_t>();
    case ValueType::INT32: return as<int32_t>();
    case ValueType::INT64: return as<int64_t>();
    default: return 0;
  }
}

uint64_t Value::as_uint64() const {
  switch (type_) {
    case ValueType::UINT8: return as<uint8_t>();
    case ValueType::UINT16: return as<uint16_t>();
    case ValueType::UINT32: return as<uint32_t>();
    case ValueType::UINT64: return as<uint64_t>();
    default: return 0;
  }
}

double Value::as_double() const {
  if (type_ == ValueType::FLOAT32) return static_cast<double>(as<float>());
  if (type_ == ValueType::FLOAT64) return as<double>();
  return 0.0;
}

Value Value::element(size_t i) const {
  if (elem_ == ValueType::STRING) return string(strings_[i]);
  if (elem_ == ValueType::ARRAY) return arrays_[i];
  Value r(elem_);
  const size_t n = value_type_size(elem_);
  std::memcpy(&r.scalar_, raw_.data() + i * n, n);
  return r;
}

bool operator==(const Value& a, const Value& b) {
  if (a.type_ != b.type_) return false;
  switch (a.type_) {
    case ValueType::STRING: return a.str_ == b.str_;
    case ValueType::ARRAY:
      if (a.elem_ != b.elem_ || a.count_ != b.count_) return false;
      if (a.elem_ == ValueType::STRING) return a.strings_ == b.strings_;
      if (a.elem_ == ValueType::ARRAY) return a.arrays_ == b.arrays_;
      return a.raw_ == b.raw_;
    default: return a.scalar_ == b.scalar_;
  }
}

}  // namespace dsk::gguf
