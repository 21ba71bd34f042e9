// Writer -> Reader round trips: every value type, nested arrays, tensors of many types, custom
// alignment, files and memory; and the writer's own checks.
#include <cstring>

#include "gguf/sample.hpp"
#include "gguf_test_util.hpp"

using namespace dsk;
using namespace dsk::gguf;
using namespace dsk::gguf::test;

namespace {

// The reader's view equals what the writer was given: keys in order with identical values
// (floats by bits), tensors with identical names, types, dims and bytes.
void check_same(const Writer& w, const Sample* sample, const Reader& r) {
  const Metadata& want = w.metadata();
  REQUIRE(r.metadata().size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("key " << want[i].key);
    CHECK(r.metadata()[i].key == want[i].key);
    CHECK(r.metadata()[i].value == want[i].value);
  }
  if (!sample) return;
  REQUIRE(r.tensors().size() == w.tensor_count());
  for (size_t i = 0; i < r.tensors().size(); ++i) {
    const Tensor& t = r.tensors()[i];
    const auto& want_bytes = *sample->data[i];
    INFO("tensor " << t.name);
    REQUIRE(t.n_bytes == want_bytes.size());
    CHECK(std::memcmp(t.data, want_bytes.data(), want_bytes.size()) == 0);
  }
}

}  // namespace

TEST_CASE("round trip: the sample through memory", "[gguf][roundtrip]") {
  auto sample = make_sample();
  auto bytes = sample->writer.to_bytes();
  REQUIRE(bytes.ok());
  auto r = parse(*bytes, "sample.gguf");
  REQUIRE(r.ok());
  check_same(sample->writer, sample.get(), *r);
  CHECK(r->version() == 3);
  REQUIRE(r->parts().size() == 1);
  const Part& p = r->parts()[0];
  CHECK(p.alignment == 64);
  CHECK(p.data_offset % 64 == 0);
  CHECK(p.size == bytes->size());

  const Tensor* q2 = r->find_tensor("blk.0.q2_k.weight");
  REQUIRE(q2);
  CHECK(q2->type == GgmlType::Q2_K);
  CHECK(q2->n_dims == 3);
  CHECK(q2->ne[0] == 512);
  CHECK(q2->ne[1] == 1);
  CHECK(q2->ne[2] == 3);
  CHECK(q2->ne[3] == 1);
  CHECK(q2->n_elements == 1536);
  CHECK(q2->n_bytes == 6 * 84);
  for (const Tensor& t : r->tensors()) {
    CHECK(t.offset % 64 == 0);
    CHECK(static_cast<uint64_t>(t.data - p.base) == p.data_offset + t.offset);
  }
  CHECK(r->find_tensor("nope") == nullptr);
  CHECK(r->tensor("nope").error().message() == "sample.gguf: tensor 'nope' not found");
}

TEST_CASE("round trip: the sample through a file (mmap)", "[gguf][roundtrip]") {
  TempDir dir;
  auto sample = make_sample();
  const std::string path = dir.file("sample.gguf");
  REQUIRE(sample->writer.write(path).ok());
  auto r = Reader::open(path);
  REQUIRE(r.ok());
  check_same(sample->writer, sample.get(), *r);
  CHECK(r->name() == path);
  // The file and the in-memory bytes are the same.
  CHECK(read_file(path) == *sample->writer.to_bytes());
  // Tensor pointers stay valid when the Reader moves.
  const uint8_t* before = r->tensors()[0].data;
  Reader moved = std::move(r).value();
  CHECK(moved.tensors()[0].data == before);
  CHECK(moved.tensors()[0].bytes()[0] == sample->data[0]->at(0));
}

TEST_CASE("round trip: every scalar type at its limits, and empty containers", "[gguf][roundtrip]") {
  Writer w;
  w.set("u8", Value::scalar<uint8_t>(0));
  w.set("i8", Value::scalar<int8_t>(127));
  w.set("u16", Value::scalar<uint16_t>(1));
  w.set("i16", Value::scalar<int16_t>(-1));
  w.set("u32", Value::scalar<uint32_t>(0));
  w.set("i32", Value::scalar<int32_t>(2147483647));
  w.set("f32", Value::scalar<float>(-1.5f));
  w.set("bool", Value::scalar(false));
  w.set("str", Value::string(std::string(1000, 'z')));
  w.set("u64", Value::scalar<uint64_t>(1ull << 63));
  w.set("i64", Value::scalar<int64_t>(-1));
  w.set("f64", Value::scalar<double>(std::numeric_limits<double>::denorm_min()));
  w.set("empty_strings", Value::string_array({}));
  w.set("empty_arrays", Value::array_of_arrays({}));
  w.set("arrays_of_empty", Value::array_of_arrays({Value::empty_array(ValueType::BOOL)}));
  // Deepest nesting the reader accepts: 8 levels.
  Value deep = Value::array(std::vector<int8_t>{-1});
  for (int level = 2; level <= kMaxArrayDepth; ++level) deep = Value::array_of_arrays({deep});
  w.set("deep", deep);
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  auto r = parse(*bytes);
  REQUIRE(r.ok());
  check_same(w, nullptr, *r);
  CHECK(r->tensors().empty());
}

TEST_CASE("round trip: a file without metadata or tensors", "[gguf][roundtrip]") {
  Writer w;
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  CHECK(bytes->size() == 24);  // the header only: without tensors there is no data section to pad
  auto r = parse(*bytes);
  REQUIRE(r.ok());
  CHECK(r->metadata().empty());
  CHECK(r->tensors().empty());
  // Padding that other writers add is fine too.
  auto padded = *bytes;
  padded.resize(32);
  CHECK(parse(padded).ok());
  // A huge alignment costs nothing without tensors.
  Writer big;
  big.set_alignment(1u << 31);
  CHECK(big.to_bytes()->size() < 100);
}

TEST_CASE("round trip: Metadata::set replaces in place, erase removes", "[gguf][roundtrip]") {
  Writer w;
  w.set("a", Value::scalar<uint32_t>(1));
  w.set("b", Value::scalar<uint32_t>(2));
  w.set("a", Value::string("one"));
  REQUIRE(w.metadata().size() == 2);
  CHECK(w.metadata()[0].key == "a");
  CHECK(w.metadata()[0].value == Value::string("one"));
  CHECK(w.metadata().erase("a"));
  CHECK_FALSE(w.metadata().erase("a"));
  CHECK(w.metadata().size() == 1);
  CHECK(*w.metadata().get<uint32_t>("b") == 2);
  const auto bytes = *w.to_bytes();
  auto r = parse(bytes);
  REQUIRE(r.ok());
  check_same(w, nullptr, *r);
}

TEST_CASE("round trip: GGUF v2 files read like v3", "[gguf][roundtrip]") {
  auto sample = make_sample();
  auto bytes = *sample->writer.to_bytes();
  bytes[4] = 2;  // the version field; v2 and v3 have the same little-endian layout
  auto r = parse(bytes);
  REQUIRE(r.ok());
  CHECK(r->version() == 2);
  check_same(sample->writer, sample.get(), *r);
}

TEST_CASE("round trip: alignment 1 and large alignments", "[gguf][roundtrip]") {
  for (uint32_t al : {1u, 2u, 8u, 32u, 4096u}) {
    INFO("alignment " << al);
    Writer w;
    w.set_alignment(al);
    const auto a = sample_bytes(6, 1), b = sample_bytes(34, 2);
    const uint64_t ne_a[] = {3}, ne_b[] = {32};
    REQUIRE(w.add_tensor("a", GgmlType::F16, ne_a, a).ok());
    REQUIRE(w.add_tensor("b", GgmlType::Q8_0, ne_b, b).ok());
    const auto bytes = *w.to_bytes();
    auto r = parse(bytes);
    REQUIRE(r.ok());
    CHECK(r->parts()[0].alignment == al);
    CHECK(r->tensors()[1].offset % al == 0);
    CHECK(std::memcmp(r->tensors()[1].data, b.data(), b.size()) == 0);
  }
}

TEST_CASE("writer: rejects what the reader would reject", "[gguf][writer]") {
  Writer w;
  const auto data = sample_bytes(64, 3);
  const uint64_t ne16[] = {16};
  SECTION("wrong byte count") {
    const uint64_t ne[] = {15};
    CHECK(w.add_tensor("t", GgmlType::F32, ne, data).error().message() ==
          "tensor 't': 64 bytes given, its type and dims need 60");
  }
  SECTION("duplicate tensor") {
    REQUIRE(w.add_tensor("t", GgmlType::F32, ne16, data).ok());
    CHECK(w.add_tensor("t", GgmlType::F32, ne16, data).error().message() == "tensor 't': duplicate tensor name");
  }
  SECTION("empty name") { CHECK(w.add_tensor("", GgmlType::F32, ne16, data).error().message() == "empty tensor name"); }
  SECTION("unknown type") {
    CHECK(w.add_tensor("t", static_cast<GgmlType>(4), ne16, data).error().message() == "tensor 't': unknown ggml type 4");
  }
  SECTION("block multiple") {
    const uint64_t ne[] = {16, 2};
    CHECK(w.add_tensor("t", GgmlType::Q8_0, ne, data).error().message() ==
          "tensor 't': dimension 0 (16) is not a multiple of the Q8_0 block size 32");
  }
  SECTION("too many dims") {
    const uint64_t ne[] = {1, 1, 1, 1, 16};
    CHECK(w.add_tensor("t", GgmlType::F32, ne, data).error().message() == "tensor 't': n_dims is 5, must be 1..4");
  }
  SECTION("bad alignment") {
    w.set_alignment(48);
    CHECK(w.to_bytes().error().message() == "key 'general.alignment' is 48, must be a nonzero power of two");
    w.set("general.alignment", Value::scalar<uint64_t>(32));
    CHECK(w.to_bytes().error().message() == "key 'general.alignment' has type UINT64, expected UINT32");
  }
  SECTION("arrays nested too deep") {
    Value deep = Value::array(std::vector<int8_t>{1});
    for (int level = 2; level <= kMaxArrayDepth + 1; ++level) deep = Value::array_of_arrays({deep});
    w.set("deep", deep);
    CHECK(w.to_bytes().error().message() ==
          "key 'deep': element 0: element 0: element 0: element 0: element 0: element 0: element 0: element 0: "
          "arrays nested deeper than 8 levels");
  }
  SECTION("an array of arrays holding a scalar") {
    w.set("bad", Value::array_of_arrays({Value::scalar<uint8_t>(1)}));
    CHECK(w.to_bytes().error().message() == "key 'bad': element 0 of an array of arrays is a UINT8");
  }
  SECTION("unwritable path") {
    CHECK_HAS(w.write("/nonexistent-dir/x.gguf").error().message(), "/nonexistent-dir/x.gguf: cannot create: ");
  }
}

TEST_CASE("encode_value: the wire format of values", "[gguf][writer]") {
  CHECK(*encode_value(Value::scalar<uint16_t>(0x0102)) == std::vector<uint8_t>{2, 0, 0, 0, 0x02, 0x01});
  CHECK(*encode_value(Value::scalar(true)) == std::vector<uint8_t>{7, 0, 0, 0, 1});
  CHECK(*encode_value(Value::string("hi")) == std::vector<uint8_t>{8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 'h', 'i'});
  CHECK(*encode_value(Value::array(std::vector<int8_t>{-1})) ==
        std::vector<uint8_t>{9, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xff});
  CHECK(*encode_value(Value::array_of_arrays({Value::empty_array(ValueType::STRING)})) ==
        std::vector<uint8_t>{9, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("Value: element access and equality", "[gguf][value]") {
  const Value a = Value::array(std::vector<float>{1.0f, -0.0f});
  CHECK(a.size() == 2);
  CHECK(a.at<float>(0) == 1.0f);
  CHECK(a.element(1) == Value::scalar(-0.0f));
  CHECK_FALSE(a.element(1) == Value::scalar(0.0f));  // by bits
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(Value::scalar(nan) == Value::scalar(nan));
  CHECK_FALSE(Value::scalar<uint32_t>(1) == Value::scalar<int32_t>(1));  // types differ
  const Value s = Value::string_array({"x", "y"});
  CHECK(s.element(1) == Value::string("y"));
  const Value n = Value::array_of_arrays({a, s});
  CHECK(n.element(1) == s);
  CHECK(Value::scalar<int8_t>(-5).as_int64() == -5);
  CHECK(Value::scalar<uint16_t>(65535).as_uint64() == 65535);
  CHECK(Value::scalar<float>(0.5f).as_double() == 0.5);
  CHECK(value_type_name(ValueType::FLOAT64) == "FLOAT64");
  CHECK(value_type_name(static_cast<ValueType>(99)) == "?");
  CHECK(quoted("a'b\n") == "'a\\x27b\\x0a'");
}
