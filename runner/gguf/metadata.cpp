#include "gguf/metadata.hpp"

namespace dsk::gguf {

std::string int_value_text(const Value& v) {
  if (is_signed_type(v.type())) return std::to_string(v.as_int64());
  return std::to_string(v.as_uint64());
}

bool Metadata::insert(std::string key, Value value, uint64_t offset) {
  if (index_.find(key) != index_.end()) return false;
  index_.emplace(key, kvs_.size());
  kvs_.push_back(KeyValue{std::move(key), std::move(value), offset});
  return true;
}

void Metadata::set(std::string key, Value value) {
  if (auto it = index_.find(key); it != index_.end()) {
    kvs_[it->second].value = std::move(value);
    return;
  }
  insert(std::move(key), std::move(value));
}

bool Metadata::erase(std::string_view key) {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  const size_t pos = it->second;
  index_.erase(it);
  kvs_.erase(kvs_.begin() + static_cast<std::ptrdiff_t>(pos));
  for (auto& [k, i] : index_)
    if (i > pos) --i;
  return true;
}

const Value* Metadata::find(std::string_view key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &kvs_[it->second].value;
}

Error Metadata::key_error(std::string_view key, std::string_view what) const {
  return Error("key " + quoted(key) + " " + std::string(what)).context(source_);
}

Result<const Value*> Metadata::lookup(std::string_view key) const {
  if (const Value* v = find(key)) return v;
  return key_error(key, "not found");
}

Result<const Value*> Metadata::lookup_array(std::string_view key) const {
  DSK_TRY_ASSIGN(const Value* v, lookup(key));
  if (!v->is_array()) return type_error(key, *v, "an array");
  return v;
}

Error Metadata::type_error(std::string_view key, const Value& v, std::string_view expected) const {
  return key_error(key, "has type " + std::string(value_type_name(v.type())) + ", expected " + std::string(expected));
}

Error Metadata::elem_type_error(std::string_view key, const Value& v, std::string_view expected) const {
  return key_error(key, "is an array of " + std::string(value_type_name(v.elem_type())) + ", expected an array of " +
                            std::string(expected));
}

Result<double> Metadata::get_float(std::string_view key) const {
  DSK_TRY_ASSIGN(const Value* v, lookup(key));
  if (!v->is_float()) return type_error(key, *v, "FLOAT32 or FLOAT64");
  return v->as_double();
}

Result<std::vector<double>> Metadata::get_float_array(std::string_view key) const {
  DSK_TRY_ASSIGN(const Value* v, lookup_array(key));
  std::vector<double> out;
  out.reserve(v->size());
  if (v->elem_type() == ValueType::FLOAT32) {
    for (size_t i = 0; i < v->size(); ++i) out.push_back(static_cast<double>(v->at<float>(i)));
  } else if (v->elem_type() == ValueType::FLOAT64) {
    for (size_t i = 0; i < v->size(); ++i) out.push_back(v->at<double>(i));
  } else {
    return elem_type_error(key, *v, "FLOAT32 or FLOAT64");
  }
  return out;
}

Result<std::vector<std::string_view>> Metadata::get_string_array(std::string_view key) const {
  DSK_TRY_ASSIGN(const Value* v, lookup_array(key));
  if (v->elem_type() != ValueType::STRING) return elem_type_error(key, *v, "STRING");
  return std::vector<std::string_view>(v->strings().begin(), v->strings().end());
}

}  // namespace dsk::gguf
