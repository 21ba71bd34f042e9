// Split sets NAME-0000k-of-0000N.gguf (llama.cpp gguf-split layout): opening any part opens the
// set, with one metadata and one tensor table; inconsistent sets are errors.
#include <cstring>
#include <filesystem>

#include "gguf/sample.hpp"
#include "gguf_test_util.hpp"

using namespace dsk;
using namespace dsk::gguf;
using namespace dsk::gguf::test;

namespace {

// "t<i>" (built by appending: GCC 12 warns falsely about "t" + std::to_string(i) at -O3).
std::string tname(size_t i) {
  std::string s = "t";
  s += std::to_string(i);
  return s;
}

// Tensors t0..t{n-1} (F32, 8 + i elements) and a little metadata.
struct Model {
  std::vector<std::vector<uint8_t>> data;
  Writer w;
  explicit Model(size_t n) {
    w.set("general.architecture", Value::string("deepseek2"));
    w.set("deepseek2.block_count", Value::scalar<uint32_t>(3));
    for (size_t i = 0; i < n; ++i) data.push_back(sample_bytes(4 * (8 + i), i + 10));
    for (size_t i = 0; i < n; ++i) {
      const uint64_t ne[] = {8 + i};
      w.add_tensor(tname(i), GgmlType::F32, ne, data[i]).value();
    }
  }
};

// One part written by hand: split keys as given (a negative value leaves the key out).
void write_part(const std::string& path, int no, int count, int total, const std::vector<std::string>& names,
                bool with_metadata = false) {
  Writer w;
  if (with_metadata) w.set("general.architecture", Value::string("deepseek2"));
  if (no >= 0) w.set(kKeySplitNo, Value::scalar(static_cast<uint16_t>(no)));
  if (count >= 0) w.set(kKeySplitCount, Value::scalar(static_cast<uint16_t>(count)));
  if (total >= 0) w.set(kKeySplitTensorsCount, Value::scalar(static_cast<int32_t>(total)));
  static const auto bytes = sample_bytes(32, 1);
  const uint64_t ne[] = {8};
  for (const auto& n : names) w.add_tensor(n, GgmlType::F32, ne, bytes).value();
  w.write(path).value();
}

}  // namespace

TEST_CASE("split: a good set opens from any of its parts", "[gguf][split]") {
  TempDir dir;
  Model m(7);
  const std::string prefix = dir.file("model");
  auto paths = m.w.write_split(prefix, 3);
  REQUIRE(paths.ok());
  REQUIRE(paths->size() == 3);
  CHECK((*paths)[0] == prefix + "-00001-of-00003.gguf");
  CHECK((*paths)[2] == prefix + "-00003-of-00003.gguf");
  for (const auto& path : *paths) {
    INFO("opened through " << path);
    auto r = Reader::open(path);
    REQUIRE(r.ok());
    REQUIRE(r->parts().size() == 3);
    CHECK(r->name() == (*paths)[0]);
    // Metadata: the first part's, with the split keys.
    CHECK(*r->metadata().get_string("general.architecture") == "deepseek2");
    CHECK(*r->metadata().get<uint16_t>("split.count") == 3);
    CHECK(*r->metadata().get<int32_t>("split.tensors.count") == 7);
    CHECK_FALSE(r->parts()[1].metadata.contains("general.architecture"));
    // One table in set order; 7 tensors over 3 parts: 2, 2, 3.
    REQUIRE(r->tensors().size() == 7);
    CHECK(r->parts()[0].tensor_count == 2);
    CHECK(r->parts()[1].first_tensor == 2);
    CHECK(r->parts()[2].tensor_count == 3);
    for (size_t i = 0; i < 7; ++i) {
      const Tensor& t = r->tensors()[i];
      CHECK(t.name == tname(i));
      CHECK(t.part == (i < 2 ? 0u : i < 4 ? 1u : 2u));
      const Part& p = r->parts()[t.part];
      CHECK(t.data == p.base + p.data_offset + t.offset);
      CHECK(t.offset + t.n_bytes <= p.size - p.data_offset);
      REQUIRE(t.n_bytes == m.data[i].size());
      CHECK(std::memcmp(t.data, m.data[i].data(), t.n_bytes) == 0);
      CHECK(r->find_tensor(t.name) == &t);
    }
  }
}

TEST_CASE("split: parts may hold no tensors", "[gguf][split]") {
  TempDir dir;
  Model m(2);
  auto paths = m.w.write_split(dir.file("m"), 4);
  REQUIRE(paths.ok());
  auto r = Reader::open((*paths)[3]);
  REQUIRE(r.ok());
  CHECK(r->tensors().size() == 2);
  CHECK(r->parts()[0].tensor_count == 0);  // like gguf-split --no-tensor-first-split
  // A set of one.
  auto one = m.w.write_split(dir.file("one"), 1);
  REQUIRE(one.ok());
  auto r1 = Reader::open((*one)[0]);
  REQUIRE(r1.ok());
  CHECK(r1->parts().size() == 1);
  CHECK(r1->tensors().size() == 2);
}

TEST_CASE("split: a missing part", "[gguf][split]") {
  TempDir dir;
  Model m(3);
  auto paths = *m.w.write_split(dir.file("m"), 3);
  std::filesystem::remove(paths[1]);
  CHECK(Reader::open(paths[0]).error().message() ==
        "split set part 2 of 3: " + paths[1] + ": cannot open: No such file or directory");
  CHECK(Reader::open(paths[2]).error().message() ==
        "split set part 2 of 3: " + paths[1] + ": cannot open: No such file or directory");
}

TEST_CASE("split: mismatched split.count", "[gguf][split]") {
  TempDir dir;
  Model m(3);
  auto paths = *m.w.write_split(dir.file("m"), 3);
  write_part(paths[2], 2, 4, 3, {"t2"});
  CHECK(Reader::open(paths[0]).error().message() == paths[2] + ": split.count is 4, but the set has 3 parts");
  // Opened through the odd part itself, its name and its keys disagree.
  CHECK(Reader::open(paths[2]).error().message() ==
        paths[2] + ": the file name says part 3 of 3, but split.no/split.count say part 3 of 4");
}

TEST_CASE("split: a part without split keys, or with the wrong split.no", "[gguf][split]") {
  TempDir dir;
  Model m(3);
  auto paths = *m.w.write_split(dir.file("m"), 3);
  SECTION("no split.count") {
    write_part(paths[1], -1, -1, -1, {"t1"});
    CHECK(Reader::open(paths[0]).error().message() == paths[1] + ": part 2 of a 3-part split set has no split.count");
  }
  SECTION("wrong split.no") {
    write_part(paths[1], 2, 3, 3, {"t1"});
    CHECK(Reader::open(paths[0]).error().message() == paths[1] + ": split.no is 2, expected 1 (part 2 of 3)");
  }
  SECTION("split.no not below split.count") {
    write_part(paths[1], 3, 3, 3, {"t1"});
    CHECK(Reader::open(paths[0]).error().message() == paths[1] + ": key 'split.no' is 3, but split.count is 3");
  }
  SECTION("split.count of 0") {
    write_part(paths[1], 0, 0, 3, {"t1"});
    CHECK(Reader::open(paths[0]).error().message() == paths[1] + ": key 'split.count' is 0");
  }
  SECTION("split keys of the wrong type") {
    Writer w;
    w.set(kKeySplitNo, Value::scalar<uint16_t>(1));
    w.set(kKeySplitCount, Value::string("3"));
    w.write(paths[1]).value();
    CHECK(Reader::open(paths[0]).error().message() == paths[1] + ": key 'split.count' has type STRING, expected an integer");
  }
}

TEST_CASE("split: duplicate tensor across parts", "[gguf][split]") {
  TempDir dir;
  Model m(3);
  auto paths = *m.w.write_split(dir.file("m"), 3);
  write_part(paths[2], 2, 3, 3, {"t0"});
  CHECK(Reader::open(paths[0]).error().message() == paths[2] + ": tensor 't0' is also in part 1 (" + paths[0] + ")");
}

TEST_CASE("split: split.tensors.count must match the parts", "[gguf][split]") {
  TempDir dir;
  Model m(3);
  auto paths = *m.w.write_split(dir.file("m"), 3);
  SECTION("more tensors than listed") {
    write_part(paths[2], 2, 3, 3, {"t2", "extra"});
    CHECK(Reader::open(paths[0]).error().message() ==
          paths[0] + ": split.tensors.count is 3, but the parts hold 4 tensors");
  }
  SECTION("parts disagree") {
    write_part(paths[2], 2, 3, 5, {"t2"});
    CHECK(Reader::open(paths[0]).error().message() ==
          paths[2] + ": split.tensors.count is 5, but the first part says 3");
  }
  SECTION("missing in the first part") {
    write_part(paths[0], 0, 3, -1, {"t0"}, true);
    CHECK(Reader::open(paths[0]).error().message() == paths[0] + ": split set without split.tensors.count in its first part");
  }
  SECTION("a single file's split.tensors.count is checked too") {
    write_part(dir.file("single.gguf"), 0, 1, 2, {"a"});
    CHECK(Reader::open(dir.file("single.gguf")).error().message() ==
          dir.file("single.gguf") + ": split.tensors.count is 2, but the file holds 1 tensors");
  }
}

TEST_CASE("split: file names that do not locate the set", "[gguf][split]") {
  TempDir dir;
  Model m(3);
  auto paths = *m.w.write_split(dir.file("m"), 3);
  std::filesystem::copy_file(paths[0], dir.file("renamed.gguf"));
  CHECK(Reader::open(dir.file("renamed.gguf")).error().message() ==
        dir.file("renamed.gguf") +
            ": split.count is 3, but the file name does not end in -00001-of-00003.gguf, so the other parts cannot be "
            "found");
  std::filesystem::copy_file(paths[0], dir.file("x-00002-of-00003.gguf"));
  CHECK(Reader::open(dir.file("x-00002-of-00003.gguf")).error().message() ==
        dir.file("x-00002-of-00003.gguf") +
            ": the file name says part 2 of 3, but split.no/split.count say part 1 of 3");
  // A single file whose name looks like a part is just a file.
  write_part(dir.file("y-00001-of-00002.gguf"), -1, -1, -1, {"a"});
  auto r = Reader::open(dir.file("y-00001-of-00002.gguf"));
  REQUIRE(r.ok());
  CHECK(r->parts().size() == 1);
}

TEST_CASE("split: in-memory parts", "[gguf][split]") {
  TempDir dir;
  Model m(5);
  auto paths = *m.w.write_split(dir.file("m"), 2);
  const auto a = read_file(paths[0]), b = read_file(paths[1]);
  auto r = Reader::from_memory({{a, "a"}, {b, "b"}});
  REQUIRE(r.ok());
  CHECK(r->tensors().size() == 5);
  CHECK(r->tensors()[4].part == 1);
  CHECK(Reader::from_memory(a, "a").error().message() == "a: split.count is 2, but only this part was given");
  CHECK(Reader::from_memory({{b, "b"}, {a, "a"}}).error().message() == "b: split.no is 1, expected 0 (part 1 of 2)");
  CHECK(Reader::from_memory({{a, "a"}, {b, "b"}, {b, "c"}}).error().message() ==
        "a: split.count is 2, but the set has 3 parts");
  CHECK(Reader::from_memory(std::vector<MemoryFile>{}).error().message() == "no GGUF files given");
}

TEST_CASE("split: part names", "[gguf][split]") {
  CHECK(split_path("dir/DeepSeek-V3-Q2_K", 1, 5) == "dir/DeepSeek-V3-Q2_K-00001-of-00005.gguf");
  auto n = parse_split_name("dir/DeepSeek-V3-Q2_K-00002-of-00005.gguf");
  REQUIRE(n);
  CHECK(n->prefix == "dir/DeepSeek-V3-Q2_K");
  CHECK(n->no == 2);
  CHECK(n->count == 5);
  CHECK_FALSE(parse_split_name("model.gguf"));
  CHECK_FALSE(parse_split_name("-00001-of-00005.gguf"));  // no prefix
  CHECK_FALSE(parse_split_name("m-00006-of-00005.gguf"));
  CHECK_FALSE(parse_split_name("m-00000-of-00005.gguf"));
  CHECK_FALSE(parse_split_name("m-0000a-of-00005.gguf"));
  CHECK_FALSE(parse_split_name("m-00001_of-00005.gguf"));
  CHECK_FALSE(parse_split_name("m-00001-of-00005.bin"));
}
