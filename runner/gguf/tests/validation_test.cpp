// Broken files, crafted byte by byte: each rule of docs/gguf.md "Validation" is a test case. Every
// failure must be one error naming the file, the offset and the problem; never a crash, an
// out-of-bounds read (run under ASan by the fuzz smoke test) or a huge allocation.
#include <cstring>
#include <limits>

#include "gguf/sample.hpp"
#include "gguf_test_util.hpp"

using namespace dsk;
using namespace dsk::gguf;
using namespace dsk::gguf::test;

namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

// A file with no keys and the given tensor infos; `data_bytes` of zeros follow the padding.
Bytes with_tensors(const std::vector<std::tuple<std::string, std::vector<uint64_t>, GgmlType, uint64_t>>& infos,
                   size_t data_bytes) {
  Bytes b;
  b.header(infos.size(), 0);
  for (const auto& [name, ne, type, off] : infos) b.tensor_info(name, ne, type, off);
  b.pad_to(32).zeros(data_bytes);
  return b;
}

// One F32 tensor of `n` elements at `offset`, with `data_bytes` of data.
Bytes one_f32(uint64_t n, uint64_t offset, size_t data_bytes) {
  return with_tensors({{"w", {n}, GgmlType::F32, offset}}, data_bytes);
}

}  // namespace

TEST_CASE("validation: not a GGUF file", "[gguf][validation]") {
  CHECK(parse_error(Bytes().raw("\x7f" "ELF").zeros(100).b) == "t.gguf: not a GGUF file (starts with 7f 45 4c 46)");
  CHECK(parse_error(Bytes().raw("gguf").zeros(100).b) == "t.gguf: not a GGUF file (starts with 67 67 75 66)");
}

TEST_CASE("validation: truncated header at every byte", "[gguf][validation]") {
  const auto full = Bytes().header(0, 0).b;
  REQUIRE(full.size() == 24);
  REQUIRE(parse(full).ok());
  for (size_t n = 0; n < full.size(); ++n) {
    INFO("header cut to " << n << " bytes");
    const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    if (n < 4) {
      CHECK(parse_error(cut) == "t.gguf: offset 0: truncated header: need 4 bytes, " + std::to_string(n) + " left");
    } else {
      CHECK_HAS(parse_error(cut), "t.gguf: offset ");
      CHECK_HAS(parse_error(cut), ": truncated header: need ");
    }
  }
}

TEST_CASE("validation: GGUF versions other than 2 and 3", "[gguf][validation]") {
  CHECK(parse_error(Bytes().header(0, 0, 1).b) ==
        "t.gguf: GGUF version 1 is not supported (only versions 2 and 3; re-convert the file)");
  CHECK(parse_error(Bytes().header(0, 0, 0).b) == "t.gguf: unsupported GGUF version 0 (only versions 2 and 3)");
  CHECK(parse_error(Bytes().header(0, 0, 4).b) == "t.gguf: unsupported GGUF version 4 (only versions 2 and 3)");
  CHECK(parse_error(Bytes().header(0, 0, 0x12345).b) == "t.gguf: unsupported GGUF version 74565 (only versions 2 and 3)");
}

TEST_CASE("validation: big-endian files", "[gguf][validation]") {
  // A big-endian v3 file: the version field reads as 0x03000000 here.
  Bytes b;
  b.raw("GGUF").raw(std::string("\0\0\0\3", 4)).raw(std::string(16, '\0'));
  CHECK(parse_error(b.b) == "t.gguf: big-endian GGUF files are not supported (version field 0x03000000)");
}

TEST_CASE("validation: truncated at every byte of a valid file", "[gguf][validation]") {
  auto sample = make_sample();
  const auto full = *sample->writer.to_bytes();
  auto r = parse(full);
  REQUIRE(r.ok());
  uint64_t data_end = 0;  // the end of the last tensor's bytes: only padding follows
  for (const auto& t : r->tensors()) data_end = std::max(data_end, r->parts()[0].data_offset + t.offset + t.n_bytes);
  REQUIRE(data_end < full.size());
  size_t failures = 0;
  for (size_t n = 0; n < full.size(); ++n) {
    const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    auto c = parse(cut);
    if (n < data_end) {
      INFO("cut to " << n << " bytes");
      REQUIRE_FALSE(c.ok());
      const std::string& m = c.error().message();
      REQUIRE(m.rfind("t.gguf: ", 0) == 0);
      REQUIRE(m.find('\n') == std::string::npos);
      ++failures;
    } else {
      INFO("cut to " << n << " bytes (only padding missing)");
      CHECK(c.ok());
    }
  }
  CHECK(failures == data_end);
}

TEST_CASE("validation: truncated inside the metadata, the tensor infos and the data", "[gguf][validation]") {
  SECTION("inside a key") {
    auto b = Bytes().header(0, 1).u64(100).raw("abc").zeros(3).b;
    CHECK(parse_error(b) == "t.gguf: offset 24: key #0: key length 100 exceeds the 6 bytes left");
  }
  SECTION("inside a value") {
    auto b = Bytes().header(0, 1).key("k", ValueType::UINT64).raw("1234").b;
    CHECK(parse_error(b) == "t.gguf: offset 37: key 'k': truncated UINT64 value: need 8 bytes, 4 left");
  }
  SECTION("before the value type") {
    auto b = Bytes().header(0, 1).str("keyy").u8(1).u8(0).b;
    CHECK(parse_error(b) == "t.gguf: offset 36: key 'keyy': truncated value type: need 4 bytes, 2 left");
  }
  SECTION("inside an array") {
    auto b = Bytes().header(0, 1).key("k", ValueType::ARRAY).u32(4).u64(3).u32(1).u32(2).b;
    CHECK(parse_error(b) ==
          "t.gguf: offset 37: key 'k': array of 3 UINT32 elements cannot fit in the 8 bytes left (each needs at least 4)");
  }
  SECTION("inside a tensor info") {
    auto no_type = Bytes().header(1, 0).str("w").u32(4).u64(4).u64(1).u64(1).u64(1).b;
    CHECK(parse_error(no_type) == "t.gguf: offset 69: tensor 'w': truncated tensor type: need 4 bytes, 0 left");
    auto no_offset = Bytes().header(1, 0).str("w").u32(4).u64(4).u64(1).u64(1).u64(1).u32(0).b;
    CHECK(parse_error(no_offset) ==
          "t.gguf: offset 73: tensor 'w': truncated tensor data offset: need 8 bytes, 0 left");
    auto no_dim = Bytes().header(1, 0).str("w").u32(4).u64(4).u64(1).zeros(4).b;
    CHECK(parse_error(no_dim) == "t.gguf: offset 53: tensor 'w': truncated dimension: need 8 bytes, 4 left");
  }
  SECTION("inside the data") {
    CHECK(parse_error(one_f32(16, 0, 63).b) ==
          "t.gguf: offset 24: tensor 'w': data (offset 0, 64 bytes) extends past the end of the data section (63 bytes "
          "from offset 64)");
  }
}

TEST_CASE("validation: absurd key and tensor counts", "[gguf][validation]") {
  CHECK(parse_error(Bytes().header(0, kU64Max).zeros(100).b) ==
        "t.gguf: offset 16: key count 18446744073709551615 cannot fit in the 100 bytes left (each key needs at least 14)");
  CHECK(parse_error(Bytes().header(kU64Max, 0).zeros(100).b) ==
        "t.gguf: offset 8: tensor count 18446744073709551615 cannot fit in the 100 bytes left (each tensor info needs "
        "at least 33)");
  // Counts that just fit the check, but the items are not there.
  CHECK_HAS(parse_error(Bytes().header(0, 7).zeros(100).b), "t.gguf: offset 24: key #0: empty key name");
}

TEST_CASE("validation: absurd string lengths", "[gguf][validation]") {
  CHECK(parse_error(Bytes().header(0, 1).u64(kU64Max).zeros(20).b) ==
        "t.gguf: offset 24: key #0: key length 18446744073709551615 exceeds the 20 bytes left");
  CHECK(parse_error(Bytes().header(0, 1).key("k", ValueType::STRING).u64(1ull << 40).raw("abc").b) ==
        "t.gguf: offset 37: key 'k': string length 1099511627776 exceeds the 3 bytes left");
  CHECK(parse_error(Bytes().header(1, 0).u64(1ull << 62).zeros(40).b) ==
        "t.gguf: offset 24: tensor #0: tensor name length 4611686018427387904 exceeds the 40 bytes left");
  // A string inside an array.
  auto b = Bytes().header(0, 1).key("k", ValueType::ARRAY).u32(8).u64(2).str("ok").u64(99).b;
  CHECK(parse_error(b) == "t.gguf: offset 59: key 'k': element 1: string length 99 exceeds the 0 bytes left");
}

TEST_CASE("validation: absurd array counts", "[gguf][validation]") {
  auto arr = [](ValueType elem, uint64_t count) {
    return Bytes().header(0, 1).key("k", ValueType::ARRAY).u32(static_cast<uint32_t>(elem)).u64(count).zeros(64).b;
  };
  CHECK(parse_error(arr(ValueType::UINT64, 1ull << 61)) ==
        "t.gguf: offset 37: key 'k': array of 2305843009213693952 UINT64 elements cannot fit in the 64 bytes left (each "
        "needs at least 8)");
  CHECK(parse_error(arr(ValueType::UINT8, 65)) ==
        "t.gguf: offset 37: key 'k': array of 65 UINT8 elements cannot fit in the 64 bytes left (each needs at least 1)");
  CHECK(parse_error(arr(ValueType::STRING, kU64Max)) ==
        "t.gguf: offset 37: key 'k': array of 18446744073709551615 STRING elements cannot fit in the 64 bytes left "
        "(each needs at least 8)");
  CHECK(parse_error(arr(ValueType::ARRAY, 6)) ==
        "t.gguf: offset 37: key 'k': array of 6 ARRAY elements cannot fit in the 64 bytes left (each needs at least "
        "12)");
  CHECK(parses(arr(ValueType::UINT8, 64)));
  // An inner array's count is checked against what is left at its position.
  auto nested = Bytes().header(0, 1).key("k", ValueType::ARRAY).u32(9).u64(1).u32(6).u64(kU64Max / 2).b;
  CHECK(parse_error(nested) ==
        "t.gguf: offset 49: key 'k': element 0: array of 9223372036854775807 FLOAT32 elements cannot fit in the 0 "
        "bytes left (each needs at least 4)");
}

TEST_CASE("validation: unknown value types", "[gguf][validation]") {
  CHECK(parse_error(Bytes().header(0, 1).str("k").u32(13).zeros(8).b) ==
        "t.gguf: offset 33: key 'k': unknown value type 13");
  CHECK(parse_error(Bytes().header(0, 1).key("k", ValueType::ARRAY).u32(0xffffffffu).u64(0).b) ==
        "t.gguf: offset 37: key 'k': unknown array element type 4294967295");
}

TEST_CASE("validation: invalid BOOL values", "[gguf][validation]") {
  CHECK(parse_error(Bytes().header(0, 1).key("k", ValueType::BOOL).u8(2).b) ==
        "t.gguf: offset 37: key 'k': invalid BOOL value 2 (must be 0 or 1)");
  CHECK(parse_error(Bytes().header(0, 1).key("k", ValueType::ARRAY).u32(7).u64(3).u8(1).u8(0).u8(0xff).b) ==
        "t.gguf: offset 51: key 'k': element 2: invalid BOOL value 255 (must be 0 or 1)");
  CHECK(parses(Bytes().header(0, 1).key("k", ValueType::BOOL).u8(1).b));
}

TEST_CASE("validation: arrays nested deeper than 8 levels", "[gguf][validation]") {
  auto nest = [](int levels) {
    Bytes b;
    b.header(0, 1).key("k", ValueType::ARRAY);
    for (int i = 1; i < levels; ++i) b.u32(9).u64(1);
    b.u32(0).u64(1).u8(7);
    return b.b;
  };
  CHECK(parses(nest(8)));
  CHECK_HAS(parse_error(nest(9)), "t.gguf: offset 133: key 'k': element 0: element 0: element 0: element 0: element 0: "
                                  "element 0: element 0: element 0: arrays nested deeper than 8 levels");
  // Very deep nesting stops at the cap (no stack exhaustion).
  CHECK_HAS(parse_error(nest(100000)), "arrays nested deeper than 8 levels");
}

TEST_CASE("validation: duplicate keys", "[gguf][validation]") {
  auto b = Bytes().header(0, 2).key("dup", ValueType::UINT8).u8(1).key("dup", ValueType::STRING).str("x").b;
  CHECK(parse_error(b) == "t.gguf: offset 40: key 'dup': duplicate key (first at offset 24)");
}

TEST_CASE("validation: empty key and tensor names", "[gguf][validation]") {
  CHECK(parse_error(Bytes().header(0, 1).key("", ValueType::UINT8).u8(1).zeros(1).b) ==
        "t.gguf: offset 24: key #0: empty key name");
  CHECK(parse_error(with_tensors({{"", {4}, GgmlType::F32, 0}}, 16).b) ==
        "t.gguf: offset 24: tensor #0: empty tensor name");
}

TEST_CASE("validation: general.alignment", "[gguf][validation]") {
  auto with_alignment = [](ValueType t, uint64_t v) {
    Bytes b;
    b.header(0, 1).key("general.alignment", t);
    if (t == ValueType::UINT64) b.u64(v);
    else b.u32(static_cast<uint32_t>(v));
    return b.b;
  };
  CHECK(parse_error(with_alignment(ValueType::UINT32, 0)) ==
        "t.gguf: key 'general.alignment' is 0, must be a nonzero power of two");
  CHECK(parse_error(with_alignment(ValueType::UINT32, 48)) ==
        "t.gguf: key 'general.alignment' is 48, must be a nonzero power of two");
  CHECK(parse_error(with_alignment(ValueType::INT32, 32)) ==
        "t.gguf: key 'general.alignment' has type INT32, expected UINT32");
  CHECK(parse_error(with_alignment(ValueType::UINT64, 32)) ==
        "t.gguf: key 'general.alignment' has type UINT64, expected UINT32");
  const auto big = with_alignment(ValueType::UINT32, 1u << 31);
  auto ok = parse(big);
  REQUIRE(ok.ok());
  CHECK(ok->parts()[0].alignment == 1u << 31);
}

TEST_CASE("validation: n_dims outside 1..4", "[gguf][validation]") {
  CHECK(parse_error(with_tensors({{"w", {}, GgmlType::F32, 0}}, 32).b) ==
        "t.gguf: offset 33: tensor 'w': n_dims is 0, must be 1..4");
  CHECK(parse_error(with_tensors({{"w", {1, 1, 1, 1, 1}, GgmlType::F32, 0}}, 32).b) ==
        "t.gguf: offset 33: tensor 'w': n_dims is 5, must be 1..4");
  CHECK(parses(with_tensors({{"w", {2, 1, 3, 1}, GgmlType::F32, 0}}, 32).b));
}

TEST_CASE("validation: zero, negative (as int64) and overflowing dims", "[gguf][validation]") {
  CHECK(parse_error(with_tensors({{"w", {4, 0}, GgmlType::F32, 0}}, 32).b) ==
        "t.gguf: offset 24: tensor 'w': dimension 1 is 0");
  CHECK(parse_error(with_tensors({{"w", {1ull << 63}, GgmlType::F32, 0}}, 32).b) ==
        "t.gguf: offset 24: tensor 'w': dimension 0 is 9223372036854775808, more than INT64_MAX");
  CHECK(parse_error(with_tensors({{"w", {1ull << 32, 1ull << 31}, GgmlType::F32, 0}}, 32).b) ==
        "t.gguf: offset 24: tensor 'w': element count overflows int64 at dimension 1");
  CHECK(parse_error(with_tensors({{"w", {1ull << 20, 1ull << 20, 1ull << 20, 1ull << 20}, GgmlType::F32, 0}}, 32).b) ==
        "t.gguf: offset 24: tensor 'w': element count overflows int64 at dimension 3");
  // Within int64, but the byte size overflows uint64 (2^61 elements of 8 bytes).
  CHECK(parse_error(with_tensors({{"w", {1ull << 61}, GgmlType::I64, 0}}, 32).b) ==
        "t.gguf: offset 24: tensor 'w': byte size of 2305843009213693952 I64 elements overflows uint64");
  // Large but representable: rejected by the bounds check, not by arithmetic.
  CHECK_HAS(parse_error(with_tensors({{"w", {1ull << 40, 1ull << 20}, GgmlType::F32, 0}}, 32).b),
            "extends past the end of the data section");
}

TEST_CASE("validation: unknown tensor types", "[gguf][validation]") {
  CHECK(parse_error(with_tensors({{"w", {32}, static_cast<GgmlType>(4), 0}}, 64).b) ==
        "t.gguf: offset 24: tensor 'w': unknown ggml type 4");
  CHECK(parse_error(with_tensors({{"w", {32}, static_cast<GgmlType>(1000), 0}}, 64).b) ==
        "t.gguf: offset 24: tensor 'w': unknown ggml type 1000");
}

TEST_CASE("validation: rows that are not a whole number of blocks", "[gguf][validation]") {
  CHECK(parse_error(with_tensors({{"w", {100, 2}, GgmlType::Q4_K, 0}}, 4096).b) ==
        "t.gguf: offset 24: tensor 'w': dimension 0 (100) is not a multiple of the Q4_K block size 256");
  CHECK(parse_error(with_tensors({{"w", {48}, GgmlType::Q8_0, 0}}, 64).b) ==
        "t.gguf: offset 24: tensor 'w': dimension 0 (48) is not a multiple of the Q8_0 block size 32");
}

TEST_CASE("validation: duplicate tensor names", "[gguf][validation]") {
  auto b = with_tensors({{"w", {4}, GgmlType::F32, 0}, {"w", {4}, GgmlType::F32, 32}}, 64);
  CHECK(parse_error(b.b) == "t.gguf: offset 57: tensor 'w': duplicate tensor name (first at offset 24)");
}

TEST_CASE("validation: tensor data out of bounds", "[gguf][validation]") {
  CHECK(parse_error(one_f32(4, 32, 32).b) ==
        "t.gguf: offset 24: tensor 'w': data (offset 32, 16 bytes) extends past the end of the data section (32 bytes "
        "from offset 64)");
  // Offsets near 2^64 must not wrap around.
  CHECK(parse_error(one_f32(4, kU64Max - 31, 64).b).find("extends past the end") != std::string::npos);
  CHECK_HAS(parse_error(one_f32(4, 1ull << 63, 64).b), "data (offset 9223372036854775808, 16 bytes) extends past");
  CHECK(parses(one_f32(4, 32, 48).b));
}

TEST_CASE("validation: misaligned tensor offsets", "[gguf][validation]") {
  CHECK(parse_error(one_f32(4, 16, 64).b) ==
        "t.gguf: offset 24: tensor 'w': data offset 16 is not a multiple of the alignment 32");
}

TEST_CASE("validation: overlapping tensor data", "[gguf][validation]") {
  auto b = with_tensors({{"a", {16}, GgmlType::F32, 0}, {"b", {4}, GgmlType::F32, 32}}, 128);
  CHECK(parse_error(b.b) ==
        "t.gguf: offset 57: tensor 'b': data (offset 32) overlaps tensor 'a' (offset 0, 64 bytes)");
  // Same offset, listed in the other order.
  auto c = with_tensors({{"a", {4}, GgmlType::F32, 0}, {"b", {4}, GgmlType::F32, 0}}, 128);
  CHECK_HAS(parse_error(c.b), "overlaps tensor");
  // Touching is fine.
  CHECK(parses(with_tensors({{"a", {8}, GgmlType::F32, 0}, {"b", {4}, GgmlType::F32, 32}}, 64).b));
}

TEST_CASE("validation: the data section starts past the end of the file", "[gguf][validation]") {
  Bytes b;
  b.header(1, 0).tensor_info("w", {1}, GgmlType::F32, 0);  // 57 bytes; the data would start at 64
  CHECK(parse_error(b.b) ==
        "t.gguf: offset 64: truncated: the data section starts at offset 64 but the file is 57 bytes");
}

TEST_CASE("validation: hostile names are escaped in messages", "[gguf][validation]") {
  auto b = Bytes().header(0, 1).key("a'\n\x01z", ValueType::BOOL).u8(9).b;
  CHECK(parse_error(b) == "t.gguf: offset 41: key 'a\\x27\\x0a\\x01z': invalid BOOL value 9 (must be 0 or 1)");
  const std::string long_name(1000, 'n');
  auto c = Bytes().header(0, 1).key(long_name, ValueType::BOOL).u8(9).b;
  CHECK(parse_error(c).size() < 400);
}

TEST_CASE("validation: Reader::open errors", "[gguf][validation]") {
  TempDir dir;
  CHECK(Reader::open(dir.file("missing.gguf")).error().message() ==
        dir.file("missing.gguf") + ": cannot open: No such file or directory");
  CHECK(Reader::open(dir.path().string()).error().message() == dir.path().string() + ": not a regular file");
  write_file(dir.file("empty.gguf"), {});
  CHECK(Reader::open(dir.file("empty.gguf")).error().message() ==
        dir.file("empty.gguf") + ": offset 0: truncated header: need 4 bytes, 0 left");
  write_file(dir.file("bad.gguf"), Bytes().header(0, 1).key("k", ValueType::BOOL).u8(3).b);
  CHECK(Reader::open(dir.file("bad.gguf")).error().message() ==
        dir.file("bad.gguf") + ": offset 37: key 'k': invalid BOOL value 3 (must be 0 or 1)");
}
