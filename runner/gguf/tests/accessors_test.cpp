// Metadata accessors and their errors.
#include <cmath>

#include "gguf/sample.hpp"
#include "gguf_test_util.hpp"

using namespace dsk;
using namespace dsk::gguf;
using namespace dsk::gguf::test;

namespace {

// The sample, read back as "m.gguf".
const Reader& sample_reader() {
  static auto sample = make_sample();
  static auto bytes = *sample->writer.to_bytes();
  static auto reader = Reader::from_memory(bytes, "m.gguf");
  REQUIRE(reader.ok());
  return *reader;
}

}  // namespace

TEST_CASE("accessors: get<T> wants the exact type", "[gguf][accessors]") {
  const Metadata& md = sample_reader().metadata();
  CHECK(*md.get<uint32_t>("deepseek2.block_count") == 61);
  CHECK(*md.get<uint8_t>("sample.u8") == 255);
  CHECK(*md.get<int8_t>("sample.i8") == -128);
  CHECK(*md.get<uint16_t>("sample.u16") == 65535);
  CHECK(*md.get<int16_t>("sample.i16") == -32768);
  CHECK(*md.get<int32_t>("sample.i32") == INT32_MIN);
  CHECK(*md.get<uint64_t>("sample.u64") == UINT64_MAX);
  CHECK(*md.get<int64_t>("sample.i64") == INT64_MIN);
  CHECK(*md.get<float>("sample.f32") == 3.14159274f);
  CHECK(*md.get<double>("sample.f64") == -2.5e-300);
  CHECK(*md.get<bool>("sample.bool_true"));
  CHECK_FALSE(*md.get<bool>("sample.bool_false"));
  CHECK(*md.get<std::string>("general.architecture") == "deepseek2");
  CHECK(*md.get<std::string_view>("sample.string_empty") == "");
  CHECK(md.get<std::string_view>("sample.string_nul")->size() == 9);

  CHECK(md.get<uint32_t>("general.architecture").error().message() ==
        "m.gguf: key 'general.architecture' has type STRING, expected UINT32");
  CHECK(md.get<uint64_t>("deepseek2.block_count").error().message() ==
        "m.gguf: key 'deepseek2.block_count' has type UINT32, expected UINT64");
  CHECK(md.get<std::string>("sample.u8").error().message() == "m.gguf: key 'sample.u8' has type UINT8, expected STRING");
  CHECK(md.get<float>("sample.arr_f32").error().message() ==
        "m.gguf: key 'sample.arr_f32' has type ARRAY, expected FLOAT32");
  CHECK(md.get<uint32_t>("deepseek2.nope").error().message() == "m.gguf: key 'deepseek2.nope' not found");
}

TEST_CASE("accessors: the brief's example error", "[gguf][accessors]") {
  Writer w;
  w.set("deepseek2.block_count", Value::string("61"));
  const auto bytes = *w.to_bytes();
  auto r = parse(bytes, "FILE");
  REQUIRE(r.ok());
  CHECK(r->metadata().get<uint32_t>("deepseek2.block_count").error().message() ==
        "FILE: key 'deepseek2.block_count' has type STRING, expected UINT32");
}

TEST_CASE("accessors: get_int accepts any integer type that fits", "[gguf][accessors]") {
  const Metadata& md = sample_reader().metadata();
  CHECK(*md.get_int<int64_t>("deepseek2.block_count") == 61);
  CHECK(*md.get_int<uint8_t>("deepseek2.block_count") == 61);
  CHECK(*md.get_int<int>("sample.i16") == -32768);
  CHECK(*md.get_int<uint64_t>("sample.u64") == UINT64_MAX);
  CHECK(*md.get_int<int64_t>("sample.i64") == INT64_MIN);
  CHECK(md.get_int<int64_t>("sample.u64").error().message() ==
        "m.gguf: key 'sample.u64' value 18446744073709551615 does not fit in int64");
  CHECK(md.get_int<uint32_t>("sample.i8").error().message() == "m.gguf: key 'sample.i8' value -128 does not fit in uint32");
  CHECK(md.get_int<int16_t>("sample.u16").error().message() ==
        "m.gguf: key 'sample.u16' value 65535 does not fit in int16");
  CHECK(md.get_int<int>("sample.f32").error().message() == "m.gguf: key 'sample.f32' has type FLOAT32, expected an integer");
  CHECK(md.get_int<int>("sample.bool_true").error().message() ==
        "m.gguf: key 'sample.bool_true' has type BOOL, expected an integer");
  CHECK(md.get_int<int>("missing").error().message() == "m.gguf: key 'missing' not found");
}

TEST_CASE("accessors: get_float accepts FLOAT32 and FLOAT64", "[gguf][accessors]") {
  const Metadata& md = sample_reader().metadata();
  CHECK(*md.get_float("sample.f32") == static_cast<double>(3.14159274f));
  CHECK(*md.get_float("sample.f64") == -2.5e-300);
  CHECK(std::isinf(*md.get_float("sample.f64_inf")));
  CHECK(std::signbit(*md.get_float("sample.f32_neg_zero")));
  CHECK(md.get_float("sample.u32").error().message() ==
        "m.gguf: key 'sample.u32' has type UINT32, expected FLOAT32 or FLOAT64");
}

TEST_CASE("accessors: strings", "[gguf][accessors]") {
  const Metadata& md = sample_reader().metadata();
  CHECK(*md.get_string("general.name") == "dsk sample \xe2\x9c\x93 \xe4\xb8\xad\xe6\x96\x87");
  CHECK(md.get_string("sample.arr_string").error().message() ==
        "m.gguf: key 'sample.arr_string' has type ARRAY, expected STRING");
}

TEST_CASE("accessors: arrays of integers, floats and strings", "[gguf][accessors]") {
  const Metadata& md = sample_reader().metadata();
  CHECK(*md.get_int_array<int64_t>("sample.arr_i8") == std::vector<int64_t>{-128, -1, 0, 127});
  CHECK(*md.get_int_array<uint32_t>("sample.arr_u32") == std::vector<uint32_t>{1, 2, 3, 4294967295u});
  CHECK(md.get_int_array<uint8_t>("sample.arr_u16").error().message() ==
        "m.gguf: key 'sample.arr_u16' element 1 = 65535 does not fit in uint8");
  CHECK(md.get_int_array<int>("sample.arr_f32").error().message() ==
        "m.gguf: key 'sample.arr_f32' is an array of FLOAT32, expected an array of integers");
  CHECK(md.get_int_array<int>("sample.u8").error().message() == "m.gguf: key 'sample.u8' has type UINT8, expected an array");
  CHECK(md.get_int_array<uint32_t>("sample.arr_empty")->empty());

  const auto f = *md.get_float_array("sample.arr_f64");
  CHECK(f == std::vector<double>{1.0 / 3.0, -1e308});
  const auto f32 = *md.get_float_array("sample.arr_f32");
  REQUIRE(f32.size() == 5);
  CHECK(std::isnan(f32[3]));
  CHECK(md.get_float_array("sample.arr_string").error().message() ==
        "m.gguf: key 'sample.arr_string' is an array of STRING, expected an array of FLOAT32 or FLOAT64");

  const auto s = *md.get_string_array("sample.arr_string");
  REQUIRE(s.size() == 5);
  CHECK(s[2] == "\xc3\xbc");
  CHECK(md.get_string_array("sample.tokens")->at(299) == "tok299");
  CHECK(md.get_string_array("sample.arr_u8").error().message() ==
        "m.gguf: key 'sample.arr_u8' is an array of UINT8, expected an array of STRING");
}

TEST_CASE("accessors: nested arrays, generically", "[gguf][accessors]") {
  const Metadata& md = sample_reader().metadata();
  const Value* v = *md.get_array("sample.nested_3");
  REQUIRE(v->elem_type() == ValueType::ARRAY);
  REQUIRE(v->size() == 2);
  const Value& second = v->arrays()[1];
  REQUIRE(second.size() == 2);
  CHECK(second.arrays()[0].strings() == std::vector<std::string>{"y", "z"});
  CHECK(second.arrays()[1].elem_type() == ValueType::STRING);
  CHECK(second.arrays()[1].size() == 0);
  const Value* mixed = *md.get_array("sample.nested_mixed");
  CHECK(mixed->arrays()[0].at<uint8_t>(0) == 1);
  CHECK(mixed->arrays()[1].at<float>(0) == 2.5f);
  CHECK(mixed->arrays()[2].strings()[0] == "s");
  const Value* ints = *md.get_array("sample.nested_i32");
  CHECK(int_value_as<int>(ints->arrays()[0].element(2)) == 3);
  CHECK(md.get_array("sample.u8").error().message() == "m.gguf: key 'sample.u8' has type UINT8, expected an array");
  CHECK(md.get_int_array<int>("sample.nested_i32").error().message() ==
        "m.gguf: key 'sample.nested_i32' is an array of ARRAY, expected an array of integers");
}

TEST_CASE("accessors: optional variants", "[gguf][accessors]") {
  const Metadata& md = sample_reader().metadata();
  CHECK(*md.get_optional<uint32_t>("deepseek2.block_count") == std::optional<uint32_t>(61));
  CHECK_FALSE(md.get_optional<uint32_t>("missing")->has_value());
  CHECK(md.get_optional<uint32_t>("general.name").error().message() ==
        "m.gguf: key 'general.name' has type STRING, expected UINT32");
  CHECK(**md.get_int_optional<int>("sample.u16") == 65535);
  CHECK_FALSE(md.get_int_optional<int>("missing")->has_value());
  CHECK(md.get_int_optional<int8_t>("sample.u16").error().message() ==
        "m.gguf: key 'sample.u16' value 65535 does not fit in int8");
  CHECK(**md.get_float_optional("sample.f64") == -2.5e-300);
  CHECK_FALSE(md.get_float_optional("missing")->has_value());
  CHECK(**md.get_string_optional("general.architecture") == "deepseek2");
  CHECK_FALSE(md.get_string_optional("missing")->has_value());
  CHECK((*md.get_int_array_optional<int>("sample.arr_i32"))->size() == 3);
  CHECK_FALSE(md.get_int_array_optional<int>("missing")->has_value());
  CHECK((*md.get_float_array_optional("sample.arr_f64"))->size() == 2);
  CHECK((*md.get_string_array_optional("sample.arr_string"))->size() == 5);
  CHECK_FALSE(md.get_string_array_optional("missing")->has_value());
  CHECK(*md.get_array_optional("missing") == nullptr);
  CHECK((*md.get_array_optional("sample.nested_i32"))->size() == 2);
  CHECK(md.get_array_optional("sample.u8").error().message() ==
        "m.gguf: key 'sample.u8' has type UINT8, expected an array");
}

TEST_CASE("accessors: iteration in file order, with types and offsets", "[gguf][accessors]") {
  const Metadata& md = sample_reader().metadata();
  REQUIRE(md.size() == 40);
  CHECK(md[0].key == "general.architecture");
  CHECK(md[0].offset == 24);
  uint64_t prev = 0;
  size_t arrays = 0;
  for (const KeyValue& kv : md) {
    CHECK(kv.offset >= prev);
    prev = kv.offset;
    CHECK(md.find(kv.key) == &kv.value);
    if (kv.value.is_array()) ++arrays;
  }
  CHECK(arrays == 17);
  CHECK(md.contains("sample.tokens"));
  CHECK_FALSE(md.contains("sample.token"));
  CHECK(md.source() == "m.gguf");
}

TEST_CASE("accessors: without a source name, errors have no prefix", "[gguf][accessors]") {
  Metadata md;
  md.set("k", Value::scalar<int8_t>(-1));
  CHECK(md.get_int<uint8_t>("k").error().message() == "key 'k' value -1 does not fit in uint8");
  CHECK_FALSE(md.insert("k", Value()));
}
