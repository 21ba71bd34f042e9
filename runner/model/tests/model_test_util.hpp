// Helpers for the model tests: synthetic deepseek2 files built in memory with gguf::Writer.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "catch.hpp"
#include "temp_dir.hpp"
#include "gguf/reader.hpp"
#include "gguf/writer.hpp"
#include "model/deepseek2.hpp"
#include "model/synth.hpp"
#include "reference/quant.hpp"

namespace dsk::model::test {

// One tensor with its bytes (materialized from a PlannedTensor).
struct Item {
  std::string name;
  GgmlType type;
  std::vector<uint64_t> ne;
  std::vector<uint8_t> bytes;
};

inline std::vector<Item> materialize(const std::vector<PlannedTensor>& plan) {
  std::vector<Item> out;
  for (const auto& p : plan) {
    Item it{p.name, p.type, p.ne, {}};
    const int64_t K = static_cast<int64_t>(p.ne[0]);
    int64_t rows = 1;
    for (size_t d = 1; d < p.ne.size(); ++d) rows *= static_cast<int64_t>(p.ne[d]);
    const size_t rb = ref::row_bytes(p.type, K);
    it.bytes.resize(rb * static_cast<size_t>(rows));
    if (p.raw_rows) {
      p.raw_rows(0, rows, it.bytes.data());
    } else {
      std::vector<float> f(static_cast<size_t>(K * rows));
      REQUIRE(p.rows(0, rows, f.data()).ok());
      for (int64_t r = 0; r < rows; ++r) ref::quantize_row(p.type, f.data() + r * K, it.bytes.data() + r * rb, K);
    }
    out.push_back(std::move(it));
  }
  return out;
}

struct File {
  gguf::Metadata md;
  std::vector<Item> items;

  Item* find(const std::string& name) {
    for (auto& i : items)
      if (i.name == name) return &i;
    return nullptr;
  }
  void remove(const std::string& name) {
    std::erase_if(items, [&](const Item& i) { return i.name == name; });
  }
  // Replace a tensor with zero bytes of another shape / type.
  void reshape(const std::string& name, std::vector<uint64_t> ne, GgmlType type) {
    Item* it = find(name);
    REQUIRE(it != nullptr);
    int64_t rows = 1;
    for (size_t d = 1; d < ne.size(); ++d) rows *= static_cast<int64_t>(ne[d]);
    const auto& ti = ggml_type_info(type);
    it->bytes.assign(static_cast<size_t>(ne[0] / ti.block_elems * ti.block_bytes) * static_cast<size_t>(rows), 0);
    it->ne = std::move(ne);
    it->type = type;
  }
  std::vector<uint8_t> bytes() const {
    gguf::Writer w;
    for (const auto& kv : md) w.set(kv.key, kv.value);
    for (const auto& i : items) REQUIRE(w.add_tensor(i.name, i.type, i.ne, i.bytes).ok());
    auto r = w.to_bytes();
    REQUIRE(r.ok());
    return std::move(r).value();
  }
  gguf::Writer writer() const {
    gguf::Writer w;
    for (const auto& kv : md) w.set(kv.key, kv.value);
    for (const auto& i : items) REQUIRE(w.add_tensor(i.name, i.type, i.ne, i.bytes).ok());
    return w;
  }
};

inline File make_file(const Deepseek2Config& c, MlaLayout layout, const std::string& mix = "f32", uint64_t seed = 7) {
  File f;
  set_deepseek2_metadata(f.md, c, layout);
  auto plan = plan_synthetic(c, mix, layout, seed, nullptr);
  REQUIRE(plan.ok());
  f.items = materialize(*plan);
  return f;
}

inline Deepseek2Config shape(const std::string& name) {
  auto c = synth_shape(name);
  REQUIRE(c.ok());
  return *c;
}

// Loads `f` from memory; returns the error text ("" on success).
inline std::string load_error(const File& f) {
  const std::vector<uint8_t> b = f.bytes();
  auto r = gguf::Reader::from_memory(b, "t.gguf");
  if (!r) return "reader: " + r.error().message();
  auto m = load_deepseek2(*r);
  if (m) {
    FAIL_CHECK("expected a load error, but the model loaded");
    return std::string();
  }
  return m.error().message();
}

// Temp directories named dsk-model-test-<pid>-<n>.
struct TempDir : dsk::test::TempDir {
  TempDir() : dsk::test::TempDir("dsk-model-test") {}
};

inline std::vector<uint8_t> tensor_bytes(const TensorRef& t) { return {t.data, t.data + t.n_bytes}; }

}  // namespace dsk::model::test
