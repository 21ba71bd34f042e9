// model/tensor_loader.hpp — checked tensor views for the model loaders (deepseek2.cpp,
// deepseek4.cpp): a tensor looked up by name, its shape and type checked, one Error naming it
// otherwise. Internal to dsk::model.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "gguf/reader.hpp"
#include "model/deepseek2.hpp"

namespace dsk::model::detail {

// Row-length granularity of a matmul weight: the dot product's block (32 for F32/F16/BF16).
inline int64_t dot_granule(GgmlType t) {
  const uint32_t be = ggml_type_info(t).block_elems;
  return be == 1 ? 32 : be;
}

enum class Kind {
  weight,  // a matmul weight: computable type, ne[0] a multiple of the dot block
  rows,    // rows looked up (token_embd): computable type
  f32,     // norms, biases: F32
  i32,     // index tables (tid2eid): I32
};

class TensorLoader {
 public:
  explicit TensorLoader(const gguf::Reader& r) : r_(r) {}

  Error err(std::string_view name, const std::string& what) const {
    return Error(r_.name() + ": tensor " + gguf::quoted(name) + ": " + what);
  }

  TensorRef view(const gguf::Tensor& t) {
    TensorRef v;
    v.name = t.name;
    v.type = t.type;
    v.n_dims = static_cast<int>(t.n_dims);
    for (int i = 0; i < 4; ++i) v.ne[i] = static_cast<int64_t>(t.ne[i]);
    v.data = t.data;
    v.n_bytes = static_cast<size_t>(t.n_bytes);
    v.nb1 = static_cast<size_t>(t.n_bytes / static_cast<uint64_t>(v.n_rows()));
    used_.insert(t.name);
    return v;
  }

  Result<void> check_type(const TensorRef& v, Kind kind) const {
    if (kind == Kind::i32) {
      if (v.type != GgmlType::I32) return err(v.name, "type " + std::string(ggml_type_name(v.type)) + ", expected I32");
      return ok();
    }
    if (kind == Kind::f32) {
      if (v.type != GgmlType::F32)
        return err(v.name, "type " + std::string(ggml_type_name(v.type)) + ", expected F32 (norms and biases)");
      return ok();
    }
    if (!is_weight_type(v.type))
      return err(v.name, "type " + std::string(ggml_type_name(v.type)) +
                             " is not supported (dsk computes with F32 F16 BF16 Q8_0 Q4_K Q6_K Q2_K IQ2_XXS)");
    const int64_t be = ggml_type_info(v.type).block_elems;
    if (v.ne[0] % be != 0)
      return err(v.name, "row length " + std::to_string(v.ne[0]) + " is not a multiple of the " +
                             std::string(ggml_type_name(v.type)) + " block size " + std::to_string(be));
    if (kind == Kind::weight && v.ne[0] % dot_granule(v.type) != 0)
      return err(v.name, "row length " + std::to_string(v.ne[0]) + " is not a multiple of " +
                             std::to_string(dot_granule(v.type)) + " (the dot-product block for " +
                             std::string(ggml_type_name(v.type)) + ")");
    return ok();
  }

  static bool same_shape(const TensorRef& v, const std::vector<int64_t>& ne) {
    for (size_t i = 0; i < 4; ++i) {
      const int64_t want = i < ne.size() ? ne[i] : 1;
      if (v.ne[i] != want) return false;
    }
    return true;
  }

  Error shape_error(const TensorRef& v, const std::vector<int64_t>& ne, std::string_view extra = {}) const {
    return err(v.name, "expected " + dims_text(ne.data(), static_cast<int>(ne.size())) + std::string(extra) +
                           ", file has " + dims_text(v.ne, v.n_dims));
  }

  // A tensor that must exist with this shape.
  Result<TensorRef> need(const std::string& name, std::vector<int64_t> ne, Kind kind) {
    const gguf::Tensor* t = r_.find_tensor(name);
    if (!t) {
      return Error(r_.name() + ": tensor " + gguf::quoted(name) + " not found (expected " +
                   dims_text(ne.data(), static_cast<int>(ne.size())) + ")");
    }
    return checked(*t, std::move(ne), kind);
  }
  // Absent: a TensorRef with data == nullptr.
  Result<TensorRef> maybe(const std::string& name, std::vector<int64_t> ne, Kind kind) {
    const gguf::Tensor* t = r_.find_tensor(name);
    if (!t) return TensorRef{};
    return checked(*t, std::move(ne), kind);
  }
  Result<TensorRef> checked(const gguf::Tensor& t, std::vector<int64_t> ne, Kind kind) {
    TensorRef v = view(t);
    if (!same_shape(v, ne)) return shape_error(v, ne);
    DSK_TRY(check_type(v, kind));
    return v;
  }
  // Error if present (a tensor that contradicts the config, e.g. attn_q_a in a file without q_lora_rank).
  Result<void> must_not_have(const std::string& name, const char* why) const {
    if (r_.find_tensor(name)) return err(name, std::string("present, but ") + why);
    return ok();
  }

  const gguf::Reader& r_;
  std::set<std::string, std::less<>> used_;
};

inline std::string blk(uint32_t il, const char* what) { return "blk." + std::to_string(il) + "." + what; }

// "blk.N." prefix -> N; nullopt otherwise.
inline std::optional<uint32_t> block_of(std::string_view name) {
  if (name.substr(0, 4) != "blk.") return std::nullopt;
  uint64_t n = 0;
  size_t i = 4;
  if (i >= name.size() || name[i] < '0' || name[i] > '9') return std::nullopt;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) {
    n = n * 10 + static_cast<uint64_t>(name[i] - '0');
    if (n > 0xFFFFFFFFull) return std::nullopt;
  }
  if (i >= name.size() || name[i] != '.') return std::nullopt;
  return static_cast<uint32_t>(n);
}

}  // namespace dsk::model::detail
