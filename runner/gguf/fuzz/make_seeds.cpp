// Writes the fuzz seed corpus (committed under runner/gguf/fuzz/corpus/). Rebuild and rerun it
// after changing the sample or the format rules:
//   g++ -std=c++20 -Iinclude -Irunner runner/gguf/fuzz/make_seeds.cpp
//       runner/gguf/{dump,metadata,reader,sample,tensor,value,writer}.cpp -o /tmp/make_seeds
//   /tmp/make_seeds runner/gguf/fuzz/corpus
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gguf/reader.hpp"
#include "gguf/sample.hpp"
#include "gguf/writer.hpp"

using namespace dsk::gguf;
using Bytes = std::vector<uint8_t>;

namespace {

std::string dir;

void save(const std::string& name, const Bytes& b) {
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(b.data(), 1, b.size(), f) != b.size() || std::fclose(f) != 0) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

Bytes bytes_of(const Writer& w) { return w.to_bytes().value(); }

template <class T>
void put(Bytes& b, T v) {
  const size_t at = b.size();
  b.resize(at + sizeof v);
  std::memcpy(b.data() + at, &v, sizeof v);
}
void put_str(Bytes& b, const std::string& s) {
  put<uint64_t>(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}
Bytes header(uint64_t n_tensors, uint64_t n_kv) {
  Bytes b = {'G', 'G', 'U', 'F'};
  put<uint32_t>(b, 3);
  put<uint64_t>(b, n_tensors);
  put<uint64_t>(b, n_kv);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 1;
  }
  dir = argv[1];
  auto sample = make_sample();
  const Bytes full = bytes_of(sample->writer);

  // Valid files.
  save("valid_sample.gguf", full);
  save("valid_header_only.gguf", header(0, 0));
  {
    Writer w;
    w.set("general.architecture", Value::string("deepseek2"));
    static const auto d = sample_bytes(16, 1);
    const uint64_t ne[] = {4};
    w.add_tensor("w", dsk::GgmlType::F32, ne, d).value();
    save("valid_one_tensor.gguf", bytes_of(w));
  }
  {
    Writer w;  // alignment 1, several quantized types, 4-d shapes
    w.set_alignment(1);
    static std::vector<Bytes> data;
    const struct { const char* name; dsk::GgmlType t; std::vector<uint64_t> ne; } specs[] = {
        {"a", dsk::GgmlType::Q8_0, {32, 1, 1, 2}}, {"b", dsk::GgmlType::Q4_K, {256}},
        {"c", dsk::GgmlType::IQ2_XXS, {256}},      {"d", dsk::GgmlType::BF16, {1, 3}},
        {"e", dsk::GgmlType::I8, {3}},             {"f", dsk::GgmlType::MXFP4, {32}}};
    for (const auto& s : specs) {
      data.push_back(sample_bytes(tensor_nbytes(static_cast<uint32_t>(s.t), s.ne).value(), data.size()));
      w.add_tensor(s.name, s.t, s.ne, data.back()).value();
    }
    save("valid_align1_quant.gguf", bytes_of(w));
  }
  {
    Writer w;  // every scalar type once and the deepest nesting allowed
    w.set("u8", Value::scalar<uint8_t>(1));
    w.set("i8", Value::scalar<int8_t>(-1));
    w.set("u16", Value::scalar<uint16_t>(2));
    w.set("i16", Value::scalar<int16_t>(-2));
    w.set("u32", Value::scalar<uint32_t>(3));
    w.set("i32", Value::scalar<int32_t>(-3));
    w.set("f32", Value::scalar<float>(0.25f));
    w.set("b", Value::scalar(true));
    w.set("s", Value::string("str"));
    w.set("u64", Value::scalar<uint64_t>(4));
    w.set("i64", Value::scalar<int64_t>(-4));
    w.set("f64", Value::scalar<double>(0.5));
    Value deep = Value::array(std::vector<uint16_t>{7, 8});
    for (int level = 2; level <= kMaxArrayDepth; ++level) deep = Value::array_of_arrays({deep, Value::empty_array(ValueType::BOOL)});
    w.set("deep", deep);
    save("valid_scalars_deep.gguf", bytes_of(w));
  }
  {
    Bytes v2 = bytes_of(sample->writer);
    v2[4] = 2;
    save("valid_v2.gguf", v2);
  }
  {
    // A 3-part split set, concatenated: the fuzzer cuts inputs at each "GGUF" magic.
    Writer w;
    w.set("general.architecture", Value::string("deepseek2"));
    static std::vector<Bytes> data;
    for (int i = 0; i < 4; ++i) {
      data.push_back(sample_bytes(64, static_cast<uint64_t>(i)));
      const uint64_t ne[] = {32};
      w.add_tensor("t" + std::to_string(i), dsk::GgmlType::F16, ne, data.back()).value();
    }
    const std::string tmp = dir + "/.split_tmp";
    auto paths = w.write_split(tmp, 3).value();
    if (auto r = Reader::open(paths[1]); !r) {  // sanity: the set reads
      std::fprintf(stderr, "%s\n", r.error().message().c_str());
      return 1;
    }
    Bytes cat;
    for (const auto& p : paths) {
      FILE* f = std::fopen(p.c_str(), "rb");
      int c;
      while ((c = std::fgetc(f)) != EOF) cat.push_back(static_cast<uint8_t>(c));
      std::fclose(f);
      std::remove(p.c_str());
    }
    save("valid_split3_concat.gguf", cat);
  }

  // Broken files, one rule each.
  save("bad_truncated_kv.gguf", Bytes(full.begin(), full.begin() + 700));
  save("bad_truncated_infos.gguf", Bytes(full.begin(), full.end() - 2600));
  {
    Bytes b = header(0, 1);
    put_str(b, "k");
    put<uint32_t>(b, 7);
    b.push_back(2);
    save("bad_bool.gguf", b);
  }
  {
    Bytes b = header(0, 2);
    for (int i = 0; i < 2; ++i) {
      put_str(b, "dup");
      put<uint32_t>(b, 0);
      b.push_back(1);
    }
    save("bad_duplicate_key.gguf", b);
  }
  {
    Bytes b = header(2, 0);
    for (const char* n : {"a", "b"}) {
      put_str(b, n);
      put<uint32_t>(b, 1);
      put<uint64_t>(b, 16);
      put<uint32_t>(b, 0);
      put<uint64_t>(b, 0);  // both at 0: overlap
    }
    b.resize(256, 0);
    save("bad_overlap.gguf", b);
  }
  {
    Bytes b = header(1, 0);
    put_str(b, "w");
    put<uint32_t>(b, 2);
    put<uint64_t>(b, 100);  // not a multiple of the Q4_K block
    put<uint64_t>(b, 2);
    put<uint32_t>(b, 12);
    put<uint64_t>(b, 8);  // misaligned too
    b.resize(1024, 0);
    save("bad_q4k_shape.gguf", b);
  }
  {
    Bytes b = header(0, 1);
    put_str(b, "arr");
    put<uint32_t>(b, 9);
    put<uint32_t>(b, 8);
    put<uint64_t>(b, 1ull << 40);  // absurd string count
    b.resize(64, 0);
    save("bad_array_count.gguf", b);
  }
  std::printf("seeds written to %s\n", dir.c_str());
  return 0;
}
