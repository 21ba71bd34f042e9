#include "gguf/sample.hpp"

#include <cmath>
#include <limits>
#include <string>

namespace dsk::gguf {

std::vector<uint8_t> sample_bytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> out(n);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (auto& b : out) {  // xorshift64
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<uint8_t>(x >> 32);
  }
  return out;
}

std::unique_ptr<Sample> make_sample() {
  auto s = std::make_unique<Sample>();
  Writer& w = s->writer;
  using V = Value;
  w.set("general.architecture", V::string("deepseek2"));
  w.set("general.name", V::string("dsk sample \xe2\x9c\x93 \xe4\xb8\xad\xe6\x96\x87"));  // "✓ 中文"
  w.set_alignment(64);
  w.set("deepseek2.block_count", V::scalar<uint32_t>(61));
  w.set("deepseek2.rope.freq_base", V::scalar<float>(10000.0f));
  w.set("deepseek2.expert_weights_norm", V::scalar(true));

  w.set("sample.u8", V::scalar<uint8_t>(255));
  w.set("sample.i8", V::scalar<int8_t>(-128));
  w.set("sample.u16", V::scalar<uint16_t>(65535));
  w.set("sample.i16", V::scalar<int16_t>(-32768));
  w.set("sample.u32", V::scalar<uint32_t>(4294967295u));
  w.set("sample.i32", V::scalar<int32_t>(std::numeric_limits<int32_t>::min()));
  w.set("sample.u64", V::scalar<uint64_t>(std::numeric_limits<uint64_t>::max()));
  w.set("sample.i64", V::scalar<int64_t>(std::numeric_limits<int64_t>::min()));
  w.set("sample.f32", V::scalar<float>(3.14159274f));
  w.set("sample.f32_neg_zero", V::scalar<float>(-0.0f));
  w.set("sample.f32_tiny", V::scalar<float>(1e-45f));  // a subnormal
  w.set("sample.f64", V::scalar<double>(-2.5e-300));
  w.set("sample.f64_inf", V::scalar<double>(-std::numeric_limits<double>::infinity()));
  w.set("sample.bool_true", V::scalar(true));
  w.set("sample.bool_false", V::scalar(false));
  w.set("sample.string_empty", V::string(""));
  w.set("sample.string_nul", V::string(std::string("a\0b\n\"q\"\\", 9)));

  w.set("sample.arr_u8", V::array(std::vector<uint8_t>{0, 1, 127, 255}));
  w.set("sample.arr_i8", V::array(std::vector<int8_t>{-128, -1, 0, 127}));
  w.set("sample.arr_u16", V::array(std::vector<uint16_t>{0, 65535}));
  w.set("sample.arr_i16", V::array(std::vector<int16_t>{-32768, 32767, 5}));
  w.set("sample.arr_u32", V::array(std::vector<uint32_t>{1, 2, 3, 4294967295u}));
  w.set("sample.arr_i32", V::array(std::vector<int32_t>{-7, 0, 2147483647}));
  w.set("sample.arr_u64", V::array(std::vector<uint64_t>{0, 18446744073709551615ull}));
  w.set("sample.arr_i64", V::array(std::vector<int64_t>{std::numeric_limits<int64_t>::min(), 42}));
  w.set("sample.arr_f32", V::array(std::vector<float>{0.5f, -0.0f, std::numeric_limits<float>::infinity(),
                                                      std::numeric_limits<float>::quiet_NaN(), 1e-40f}));
  w.set("sample.arr_f64", V::array(std::vector<double>{1.0 / 3.0, -1e308}));
  w.set("sample.arr_bool", V::array(std::vector<bool>{true, false, true}));
  w.set("sample.arr_string", V::string_array({"a", "", "\xc3\xbc", "line\nbreak", "tab\there"}));
  w.set("sample.arr_empty", V::empty_array(ValueType::UINT32));
  w.set("sample.nested_i32", V::array_of_arrays({V::array(std::vector<int32_t>{1, 2, 3}),
                                                 V::array(std::vector<int32_t>{4})}));
  w.set("sample.nested_3", V::array_of_arrays({V::array_of_arrays({V::string_array({"x"})}),
                                               V::array_of_arrays({V::string_array({"y", "z"}),
                                                                   V::empty_array(ValueType::STRING)})}));
  // Inner arrays of different element types: allowed by the format.
  w.set("sample.nested_mixed", V::array_of_arrays({V::array(std::vector<uint8_t>{1}),
                                                   V::array(std::vector<float>{2.5f}),
                                                   V::string_array({"s"})}));
  std::vector<std::string> tokens;
  for (int i = 0; i < 300; ++i) tokens.push_back("tok" + std::to_string(i));
  w.set("sample.tokens", V::string_array(std::move(tokens)));

  struct Spec {
    const char* name;
    GgmlType type;
    std::vector<uint64_t> ne;
  };
  const Spec specs[] = {
      {"token_embd.weight", GgmlType::F32, {7, 3}},
      {"blk.0.attn_norm.weight", GgmlType::F16, {5}},
      {"blk.0.bf16.weight", GgmlType::BF16, {3, 2, 2, 2}},
      {"blk.0.q8_0.weight", GgmlType::Q8_0, {64, 3}},
      {"blk.0.q4_k.weight", GgmlType::Q4_K, {256, 2}},
      {"blk.0.q2_k.weight", GgmlType::Q2_K, {512, 1, 3}},
      {"blk.0.q6_k.weight", GgmlType::Q6_K, {256, 3}},
      {"blk.0.iq2_xxs.weight", GgmlType::IQ2_XXS, {256, 2}},
      {"blk.0.i32", GgmlType::I32, {9}},
  };
  uint64_t seed = 1;
  for (const auto& sp : specs) {
    const uint64_t n = tensor_nbytes(static_cast<uint32_t>(sp.type), sp.ne).value();
    s->data.push_back(std::make_unique<std::vector<uint8_t>>(sample_bytes(static_cast<size_t>(n), seed++)));
    w.add_tensor(sp.name, sp.type, sp.ne, *s->data.back()).value();
  }
  return s;
}

}  // namespace dsk::gguf
