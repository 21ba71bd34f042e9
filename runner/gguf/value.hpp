// gguf/value.hpp — GGUF metadata values: the 13 value types and an owning Value.
//
// A Value is a scalar, a string (bytes, UTF-8 not enforced) or an array. Arrays are homogeneous:
// fixed-size elements are kept packed little-endian in one byte vector (cheap for the 100k-entry
// tokenizer arrays), strings in a vector of strings, and arrays of arrays as a vector of Values
// (each inner array has its own element type, as the format allows).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace dsk::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
inline constexpr uint32_t kValueTypeCount = 13;

// Arrays nested deeper than this are rejected by the reader and the writer.
inline constexpr int kMaxArrayDepth = 8;

constexpr bool is_valid_value_type(uint32_t t) { return t < kValueTypeCount; }
std::string_view value_type_name(ValueType t);  // "UINT32"; "?" for an invalid id
// Bytes of a fixed-size type; 0 for STRING and ARRAY.
constexpr size_t value_type_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    default: return 0;
  }
}
constexpr bool is_integer_type(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64: return true;
    default: return false;
  }
}
constexpr bool is_signed_type(ValueType t) {
  return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 || t == ValueType::INT64;
}
constexpr bool is_float_type(ValueType t) { return t == ValueType::FLOAT32 || t == ValueType::FLOAT64; }

// The C++ type of each fixed-size value type.
template <class T> struct value_type_of;
template <> struct value_type_of<uint8_t> { static constexpr ValueType value = ValueType::UINT8; };
template <> struct value_type_of<int8_t> { static constexpr ValueType value = ValueType::INT8; };
template <> struct value_type_of<uint16_t> { static constexpr ValueType value = ValueType::UINT16; };
template <> struct value_type_of<int16_t> { static constexpr ValueType value = ValueType::INT16; };
template <> struct value_type_of<uint32_t> { static constexpr ValueType value = ValueType::UINT32; };
template <> struct value_type_of<int32_t> { static constexpr ValueType value = ValueType::INT32; };
template <> struct value_type_of<float> { static constexpr ValueType value = ValueType::FLOAT32; };
template <> struct value_type_of<bool> { static constexpr ValueType value = ValueType::BOOL; };
template <> struct value_type_of<uint64_t> { static constexpr ValueType value = ValueType::UINT64; };
template <> struct value_type_of<int64_t> { static constexpr ValueType value = ValueType::INT64; };
template <> struct value_type_of<double> { static constexpr ValueType value = ValueType::FLOAT64; };
template <class T>
concept FixedValue = requires { value_type_of<T>::value; };

// For messages: 'name' with control bytes, quotes and backslashes escaped (\xNN), cut after
// max_bytes, so a hostile key or tensor name cannot break an error line.
std::string quoted(std::string_view name, size_t max_bytes = 200);

class Value {
 public:
  Value() = default;  // UINT8 0

  template <FixedValue T>
  static Value scalar(T v) {
    Value r(value_type_of<T>::value);
    if constexpr (std::is_same_v<T, bool>) {
      r.scalar_ = v ? 1 : 0;
    } else {
      std::memcpy(&r.scalar_, &v, sizeof(T));
    }
    return r;
  }
  static Value string(std::string s) {
    Value r(ValueType::STRING);
    r.str_ = std::move(s);
    return r;
  }
  template <FixedValue T>
  static Value array(std::span<const T> elems) {
    Value r(ValueType::ARRAY);
    r.elem_ = value_type_of<T>::value;
    r.count_ = elems.size();
    r.raw_.resize(elems.size() * sizeof(T));
    for (size_t i = 0; i < elems.size(); ++i) {
      if constexpr (std::is_same_v<T, bool>) {
        r.raw_[i] = elems[i] ? 1 : 0;
      } else {
        std::memcpy(r.raw_.data() + i * sizeof(T), &elems[i], sizeof(T));
      }
    }
    return r;
  }
  template <FixedValue T>
  static Value array(const std::vector<T>& elems) {
    if constexpr (std::is_same_v<T, bool>) {  // std::vector<bool> has no contiguous storage
      Value r(ValueType::ARRAY);
      r.elem_ = ValueType::BOOL;
      r.count_ = elems.size();
      for (bool b : elems) r.raw_.push_back(b ? 1 : 0);
      return r;
    } else {
      return array(std::span<const T>(elems));
    }
  }
  static Value string_array(std::vector<std::string> elems) {
    Value r(ValueType::ARRAY);
    r.elem_ = ValueType::STRING;
    r.count_ = elems.size();
    r.strings_ = std::move(elems);
    return r;
  }
  // An array whose elements are arrays (each one an ARRAY Value; others are a precondition
  // violation, checked by the writer).
  static Value array_of_arrays(std::vector<Value> elems) {
    Value r(ValueType::ARRAY);
    r.elem_ = ValueType::ARRAY;
    r.count_ = elems.size();
    r.arrays_ = std::move(elems);
    return r;
  }
  static Value empty_array(ValueType elem) {
    Value r(ValueType::ARRAY);
    r.elem_ = elem;
    return r;
  }
  // Fixed-size elements from packed little-endian bytes (the reader's fast path). The caller has
  // checked the element type is fixed-size, and raw.size() == count * its size.
  static Value array_from_raw(ValueType elem, std::vector<uint8_t> raw) {
    Value r(ValueType::ARRAY);
    r.elem_ = elem;
    r.count_ = raw.size() / value_type_size(elem);
    r.raw_ = std::move(raw);
    return r;
  }

  ValueType type() const { return type_; }
  bool is_array() const { return type_ == ValueType::ARRAY; }
  bool is_string() const { return type_ == ValueType::STRING; }
  bool is_integer() const { return is_integer_type(type_); }
  bool is_float() const { return is_float_type(type_); }

  // Scalar of exactly type T (precondition: type() == value_type_of<T>).
  template <FixedValue T>
  T as() const {
    if constexpr (std::is_same_v<T, bool>) {
      return scalar_ != 0;
    } else {
      T v;
      std::memcpy(&v, &scalar_, sizeof(T));
      return v;
    }
  }
  const std::string& str() const { return str_; }  // STRING

  // Integer scalars widened: the sign decides which one is meaningful.
  int64_t as_int64() const;    // precondition: signed integer type
  uint64_t as_uint64() const;  // precondition: unsigned integer type
  double as_double() const;    // precondition: FLOAT32 or FLOAT64

  // Arrays.
  ValueType elem_type() const { return elem_; }
  size_t size() const { return count_; }
  // Element i of a fixed-size element type T (precondition: elem_type() == value_type_of<T>).
  template <FixedValue T>
  T at(size_t i) const {
    if constexpr (std::is_same_v<T, bool>) {
      return raw_[i] != 0;
    } else {
      T v;
      std::memcpy(&v, raw_.data() + i * sizeof(T), sizeof(T));
      return v;
    }
  }
  std::span<const uint8_t> raw() const { return raw_; }              // fixed-size elements, packed LE
  const std::vector<std::string>& strings() const { return strings_; }  // elem_type() == STRING
  const std::vector<Value>& arrays() const { return arrays_; }          // elem_type() == ARRAY
  Value element(size_t i) const;  // any element as a Value (precondition: i < size())

  // Equal types and contents; floats are compared by their bits (so NaN == NaN, -0 != +0).
  friend bool operator==(const Value& a, const Value& b);

 private:
  explicit Value(ValueType t) : type_(t) {}

  ValueType type_ = ValueType::UINT8;
  ValueType elem_ = ValueType::UINT8;
  uint64_t scalar_ = 0;  // a fixed-size scalar's little-endian bytes, zero-extended
  uint64_t count_ = 0;
  std::string str_;
  std::vector<uint8_t> raw_;
  std::vector<std::string> strings_;
  std::vector<Value> arrays_;
};

}  // namespace dsk::gguf
