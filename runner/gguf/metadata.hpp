// gguf/metadata.hpp — the key/value metadata of a GGUF file, with typed accessors.
//
// Keys keep their file order (for dumping) and are looked up through an index. Accessors return
// dsk::Result and name the source file and the key in their errors:
//     md.get<uint32_t>("deepseek2.block_count")
//       -> "model.gguf: key 'deepseek2.block_count' has type STRING, expected UINT32"
// Three strictness levels:
//   get<T>        exactly the GGUF type of T (uint32_t <-> UINT32, std::string_view <-> STRING, ...)
//   get_int<I>    any integer type whose value fits I (range-checked); get_float: FLOAT32 or FLOAT64
//   *_optional    a missing key gives std::nullopt; a present key of the wrong type is an error.
#pragma once

#include <concepts>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "gguf/value.hpp"

namespace dsk::gguf {

struct KeyValue {
  std::string key;
  Value value;
  uint64_t offset = 0;  // where the key starts in its file (0 when not read from a file)
};

// Integers the range-checked accessors convert to (not bool, not char types).
template <class I>
concept MetaInt = std::integral<I> && !std::same_as<I, bool> && !std::same_as<I, char> &&
                  !std::same_as<I, char8_t> && !std::same_as<I, char16_t> && !std::same_as<I, char32_t> &&
                  !std::same_as<I, wchar_t>;

// "uint16", "int64", ...: the C++ target type in range errors.
template <MetaInt I>
constexpr const char* int_type_name() {
  if constexpr (std::is_signed_v<I>) {
    return sizeof(I) == 1 ? "int8" : sizeof(I) == 2 ? "int16" : sizeof(I) == 4 ? "int32" : "int64";
  } else {
    return sizeof(I) == 1 ? "uint8" : sizeof(I) == 2 ? "uint16" : sizeof(I) == 4 ? "uint32" : "uint64";
  }
}

// Value of an integer scalar if it fits I. The accessors below use it; exposed for code that
// walks values generically (nested arrays).
template <MetaInt I>
std::optional<I> int_value_as(const Value& v) {
  if (is_signed_type(v.type())) {
    const int64_t x = v.as_int64();
    if (std::in_range<I>(x)) return static_cast<I>(x);
  } else if (is_integer_type(v.type())) {
    const uint64_t x = v.as_uint64();
    if (std::in_range<I>(x)) return static_cast<I>(x);
  }
  return std::nullopt;
}
std::string int_value_text(const Value& v);  // "-3", "70000": for messages

class Metadata {
 public:
  Metadata() = default;
  explicit Metadata(std::string source) : source_(std::move(source)) {}

  // Named in every accessor error (the file name; empty: no prefix).
  const std::string& source() const { return source_; }
  void set_source(std::string s) { source_ = std::move(s); }

  // Adds a key; false (and no change) when the key exists.
  bool insert(std::string key, Value value, uint64_t offset = 0);
  // Adds a key, or replaces the value of an existing one in place (its position is kept).
  void set(std::string key, Value value);
  bool erase(std::string_view key);

  size_t size() const { return kvs_.size(); }
  bool empty() const { return kvs_.empty(); }
  const KeyValue& operator[](size_t i) const { return kvs_[i]; }
  std::vector<KeyValue>::const_iterator begin() const { return kvs_.begin(); }
  std::vector<KeyValue>::const_iterator end() const { return kvs_.end(); }

  const Value* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }

  // --- exact type ---------------------------------------------------------------------------------
  // T: uint8_t ... double, bool (the fixed-size types), std::string or std::string_view (STRING).
  template <class T>
  Result<T> get(std::string_view key) const {
    DSK_TRY_ASSIGN(const Value* v, lookup(key));
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
      if (!v->is_string()) return type_error(key, *v, "STRING");
      return T(v->str());
    } else {
      static_assert(FixedValue<T>, "get<T>: T must be a GGUF scalar type or a string");
      if (v->type() != value_type_of<T>::value)
        return type_error(key, *v, value_type_name(value_type_of<T>::value));
      return v->as<T>();
    }
  }
  template <class T>
  Result<std::optional<T>> get_optional(std::string_view key) const {
    return optional_of(key, [&] { return get<T>(key); });
  }

  // --- any integer type, range-checked into I -------------------------------------------------------
  template <MetaInt I>
  Result<I> get_int(std::string_view key) const {
    DSK_TRY_ASSIGN(const Value* v, lookup(key));
    if (!v->is_integer()) return type_error(key, *v, "an integer");
    if (auto x = int_value_as<I>(*v)) return *x;
    return key_error(key, "value " + int_value_text(*v) + " does not fit in " + int_type_name<I>());
  }
  template <MetaInt I>
  Result<std::optional<I>> get_int_optional(std::string_view key) const {
    return optional_of(key, [&] { return get_int<I>(key); });
  }

  // --- FLOAT32 or FLOAT64 -------------------------------------------------------------------------
  Result<double> get_float(std::string_view key) const;
  Result<std::optional<double>> get_float_optional(std::string_view key) const {
    return optional_of(key, [&] { return get_float(key); });
  }

  // --- STRING (a view into this Metadata) --------------------------------------------------------
  Result<std::string_view> get_string(std::string_view key) const { return get<std::string_view>(key); }
  Result<std::optional<std::string_view>> get_string_optional(std::string_view key) const {
    return get_optional<std::string_view>(key);
  }

  // --- arrays ---------------------------------------------------------------------------------------
  // An array of any integer type, every element range-checked into I.
  template <MetaInt I>
  Result<std::vector<I>> get_int_array(std::string_view key) const {
    DSK_TRY_ASSIGN(const Value* v, lookup_array(key));
    if (!is_integer_type(v->elem_type())) return elem_type_error(key, *v, "integers");
    std::vector<I> out;
    out.reserve(v->size());
    for (size_t i = 0; i < v->size(); ++i) {
      const Value e = v->element(i);
      const auto x = int_value_as<I>(e);
      if (!x)
        return key_error(key, "element " + std::to_string(i) + " = " + int_value_text(e) + " does not fit in " +
                                  int_type_name<I>());
      out.push_back(*x);
    }
    return out;
  }
  template <MetaInt I>
  Result<std::optional<std::vector<I>>> get_int_array_optional(std::string_view key) const {
    return optional_of(key, [&] { return get_int_array<I>(key); });
  }
  // An array of FLOAT32 or FLOAT64.
  Result<std::vector<double>> get_float_array(std::string_view key) const;
  Result<std::optional<std::vector<double>>> get_float_array_optional(std::string_view key) const {
    return optional_of(key, [&] { return get_float_array(key); });
  }
  // An array of STRING (views into this Metadata).
  Result<std::vector<std::string_view>> get_string_array(std::string_view key) const;
  Result<std::optional<std::vector<std::string_view>>> get_string_array_optional(std::string_view key) const {
    return optional_of(key, [&] { return get_string_array(key); });
  }
  // Any array, for generic access (arrays of arrays: Value::arrays()).
  Result<const Value*> get_array(std::string_view key) const { return lookup_array(key); }
  // nullptr when the key is missing.
  Result<const Value*> get_array_optional(std::string_view key) const {
    if (!contains(key)) return static_cast<const Value*>(nullptr);
    return lookup_array(key);
  }

  // "SOURCE: key 'K' <what>" (SOURCE omitted when empty).
  Error key_error(std::string_view key, std::string_view what) const;

 private:
  Result<const Value*> lookup(std::string_view key) const;
  Result<const Value*> lookup_array(std::string_view key) const;
  Error type_error(std::string_view key, const Value& v, std::string_view expected) const;
  Error elem_type_error(std::string_view key, const Value& v, std::string_view expected) const;

  template <class F>
  auto optional_of(std::string_view key, F&& get) const -> Result<std::optional<typename decltype(get())::value_type>> {
    using T = typename decltype(get())::value_type;
    if (!contains(key)) return std::optional<T>();
    auto r = get();
    if (!r) return std::move(r).error();
    return std::optional<T>(std::move(r).value());
  }

  std::string source_;
  std::vector<KeyValue> kvs_;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace dsk::gguf
