#include "gguf/reader.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace dsk::gguf {

// ------------------------------------------------------------------------------------------------
// Read-only file mapping.

class Mapping {
 public:
  static Result<std::unique_ptr<Mapping>> open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error::format("%s: cannot open: %s", path.c_str(), std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int e = errno;
      ::close(fd);
      return Error::format("%s: cannot stat: %s", path.c_str(), std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      return Error::format("%s: not a regular file", path.c_str());
    }
    auto m = std::unique_ptr<Mapping>(new Mapping());
    m->size_ = static_cast<uint64_t>(st.st_size);
    if (m->size_ > 0) {  // mmap of 0 bytes fails; an empty file parses as a truncated header
      void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        return Error::format("%s: cannot map %" PRIu64 " bytes: %s", path.c_str(), m->size_, std::strerror(e));
      }
      m->data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);  // the mapping stays valid
    return m;
  }
  ~Mapping() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, static_cast<size_t>(size_)}; }

 private:
  Mapping() = default;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

// ------------------------------------------------------------------------------------------------
// Parser of one file. Every read is bounds-checked. The first failure records an Error and the
// offset of the item that failed and returns false; the callers unwind, each adding its context
// ("key 'x'", "element 3"), so the message reads "offset N: key 'x': element 3: <problem>".

namespace {

// Smallest encodings, used to reject counts that cannot fit in the bytes left before allocating.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;                  // key length, 1-byte key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name length, 1-byte name, n_dims, 1 dim, type, offset

uint64_t min_value_bytes(ValueType t) {
  if (t == ValueType::STRING) return 8;  // length
  if (t == ValueType::ARRAY) return 12;  // element type + count
  return value_type_size(t);
}

struct ParsedPart {
  Part part;
  std::vector<Tensor> tensors;
};

class Parser {
 public:
  explicit Parser(std::span<const uint8_t> buf) : p_(buf.data()), size_(buf.size()) {}

  Result<ParsedPart> parse(std::string name);

 private:
  uint64_t left() const { return size_ - pos_; }

  bool fail(uint64_t at, Error e) {
    fail_offset_ = at;
    err_ = std::move(e);
    return false;
  }
  bool unwind(std::string_view ctx) {
    err_.add_context(ctx);
    return false;
  }
  bool need(uint64_t n, const char* what) {
    if (n <= left()) return true;
    return fail(pos_, Error::format("truncated %s: need %" PRIu64 " bytes, %" PRIu64 " left", what, n, left()));
  }
  template <class T>
  bool read(T& out, const char* what) {
    if (!need(sizeof(T), what)) return false;
    std::memcpy(&out, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  template <class T>
  bool read_scalar(Value& out, const char* what) {
    T v;
    if (!read(v, what)) return false;
    out = Value::scalar(v);
    return true;
  }
  bool read_string(std::string& out, const char* what);
  bool read_value(ValueType t, int depth, Value& out);
  bool read_array(int depth, Value& out);
  bool read_kv(Metadata& md, uint64_t index);
  bool read_tensor_info(ParsedPart& pp, uint64_t index, std::vector<uint64_t>& info_at,
                        std::map<std::string, uint64_t, std::less<>>& seen);
  bool check_tensor_data(ParsedPart& pp, const std::vector<uint64_t>& info_at);

  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t fail_offset_ = 0;
  Error err_{std::string()};
};

bool Parser::read_string(std::string& out, const char* what) {
  const uint64_t at = pos_;
  uint64_t len = 0;
  if (!read(len, what)) return false;
  if (len > left())
    return fail(at, Error::format("%s length %" PRIu64 " exceeds the %" PRIu64 " bytes left", what, len, left()));
  out.assign(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
  pos_ += len;
  return true;
}

bool Parser::read_value(ValueType t, int depth, Value& out) {
  switch (t) {
    case ValueType::UINT8: return read_scalar<uint8_t>(out, "UINT8 value");
    case ValueType::INT8: return read_scalar<int8_t>(out, "INT8 value");
    case ValueType::UINT16: return read_scalar<uint16_t>(out, "UINT16 value");
    case ValueType::INT16: return read_scalar<int16_t>(out, "INT16 value");
    case ValueType::UINT32: return read_scalar<uint32_t>(out, "UINT32 value");
    case ValueType::INT32: return read_scalar<int32_t>(out, "INT32 value");
    case ValueType::FLOAT32: return read_scalar<float>(out, "FLOAT32 value");
    case ValueType::UINT64: return read_scalar<uint64_t>(out, "UINT64 value");
    case ValueType::INT64: return read_scalar<int64_t>(out, "INT64 value");
    case ValueType::FLOAT64: return read_scalar<double>(out, "FLOAT64 value");
    case ValueType::BOOL: {
      const uint64_t at = pos_;
      uint8_t v = 0;
      if (!read(v, "BOOL value")) return false;
      if (v > 1) return fail(at, Error::format("invalid BOOL value %u (must be 0 or 1)", v));
      out = Value::scalar(v != 0);
      return true;
    }
    case ValueType::STRING: {
      std::string s;
      if (!read_string(s, "string")) return false;
      out = Value::string(std::move(s));
      return true;
    }
    case ValueType::ARRAY: return read_array(depth + 1, out);
  }
  return fail(pos_, Error::format("unknown value type %" PRIu32, static_cast<uint32_t>(t)));  // not reached
}

// `depth` counts this array: a top-level array is 1.
bool Parser::read_array(int depth, Value& out) {
  const uint64_t at = pos_;
  if (depth > kMaxArrayDepth) return fail(at, Error::format("arrays nested deeper than %d levels", kMaxArrayDepth));
  uint32_t et = 0;
  uint64_t count = 0;
  if (!read(et, "array element type")) return false;
  if (!is_valid_value_type(et)) return fail(at, Error::format("unknown array element type %" PRIu32, et));
  if (!read(count, "array length")) return false;
  const auto elem = static_cast<ValueType>(et);
  const uint64_t min = min_value_bytes(elem);
  if (count > left() / min)
    return fail(at, Error::format("array of %" PRIu64 " %s elements cannot fit in the %" PRIu64
                                  " bytes left (each needs at least %" PRIu64 ")",
                                  count, value_type_name(elem).data(), left(), min));
  if (const uint64_t n = value_type_size(elem)) {  // fixed-size elements: one copy
    const uint8_t* src = p_ + pos_;
    if (elem == ValueType::BOOL) {
      for (uint64_t i = 0; i < count; ++i)
        if (src[i] > 1)
          return fail(pos_ + i, Error::format("element %" PRIu64 ": invalid BOOL value %u (must be 0 or 1)", i, src[i]));
    }
    out = Value::array_from_raw(elem, std::vector<uint8_t>(src, src + count * n));
    pos_ += count * n;
    return true;
  }
  if (elem == ValueType::STRING) {
    std::vector<std::string> strs(static_cast<size_t>(count));
    for (uint64_t i = 0; i < count; ++i)
      if (!read_string(strs[i], "string")) return unwind("element " + std::to_string(i));
    out = Value::string_array(std::move(strs));
    return true;
  }
  std::vector<Value> arrs(static_cast<size_t>(count));  // elem == ARRAY
  for (uint64_t i = 0; i < count; ++i)
    if (!read_array(depth + 1, arrs[i])) return unwind("element " + std::to_string(i));
  out = Value::array_of_arrays(std::move(arrs));
  return true;
}

bool Parser::read_kv(Metadata& md, uint64_t index) {
  const uint64_t at = pos_;
  std::string key;
  if (!read_string(key, "key")) return unwind("key #" + std::to_string(index));
  if (key.empty()) return fail(at, Error::format("key #%" PRIu64 ": empty key name", index));
  const std::string ctx = "key " + quoted(key);
  const uint64_t type_at = pos_;
  uint32_t type = 0;
  if (!read(type, "value type")) return unwind(ctx);
  if (!is_valid_value_type(type)) {
    fail(type_at, Error::format("unknown value type %" PRIu32, type));
    return unwind(ctx);
  }
  Value v;
  if (!read_value(static_cast<ValueType>(type), 0, v)) return unwind(ctx);
  if (md.contains(key)) {
    uint64_t first = 0;
    for (const auto& kv : md)
      if (kv.key == key) first = kv.offset;
    fail(at, Error::format("duplicate key (first at offset %" PRIu64 ")", first));
    return unwind(ctx);
  }
  md.insert(std::move(key), std::move(v), at);
  return true;
}

bool Parser::read_tensor_info(ParsedPart& pp, uint64_t index, std::vector<uint64_t>& info_at,
                              std::map<std::string, uint64_t, std::less<>>& seen) {
  const uint64_t at = pos_;
  Tensor t;
  if (!read_string(t.name, "tensor name")) return unwind("tensor #" + std::to_string(index));
  if (t.name.empty()) return fail(at, Error::format("tensor #%" PRIu64 ": empty tensor name", index));
  const std::string ctx = "tensor " + quoted(t.name);
  const uint64_t dims_at = pos_;
  if (!read(t.n_dims, "n_dims")) return unwind(ctx);
  if (t.n_dims == 0 || t.n_dims > kMaxDims) {
    fail(dims_at, Error::format("n_dims is %" PRIu32 ", must be 1..%" PRIu32, t.n_dims, kMaxDims));
    return unwind(ctx);
  }
  for (uint32_t d = 0; d < t.n_dims; ++d)
    if (!read(t.ne[d], "dimension")) return unwind(ctx);
  uint32_t type = 0;
  if (!read(type, "tensor type")) return unwind(ctx);
  if (!read(t.offset, "tensor data offset")) return unwind(ctx);
  auto nbytes = tensor_nbytes(type, t.dims());
  if (!nbytes) {
    fail(at, std::move(nbytes).error());
    return unwind(ctx);
  }
  t.type = static_cast<GgmlType>(type);
  t.n_bytes = *nbytes;
  t.n_elements = t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3];
  if (auto it = seen.find(t.name); it != seen.end()) {
    fail(at, Error::format("duplicate tensor name (first at offset %" PRIu64 ")", it->second));
    return unwind(ctx);
  }
  seen.emplace(t.name, at);
  info_at.push_back(at);
  pp.tensors.push_back(std::move(t));
  return true;
}

// Needs the alignment and data_offset: every tensor aligned, inside the file, and no overlaps.
bool Parser::check_tensor_data(ParsedPart& pp, const std::vector<uint64_t>& info_at) {
  const Part& part = pp.part;
  if (pp.tensors.empty()) return true;
  if (part.data_offset > size_)
    return fail(part.data_offset, Error::format("truncated: the data section starts at offset %" PRIu64
                                                " but the file is %" PRIu64 " bytes",
                                                part.data_offset, size_));
  const uint64_t data_size = size_ - part.data_offset;
  std::vector<size_t> order(pp.tensors.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
    Tensor& t = pp.tensors[i];
    const std::string ctx = "tensor " + quoted(t.name);
    if (t.offset % part.alignment != 0) {
      fail(info_at[i], Error::format("data offset %" PRIu64 " is not a multiple of the alignment %" PRIu32, t.offset,
                                     part.alignment));
      return unwind(ctx);
    }
    if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
      fail(info_at[i], Error::format("data (offset %" PRIu64 ", %" PRIu64 " bytes) extends past the end of the "
                                     "data section (%" PRIu64 " bytes from offset %" PRIu64 ")",
                                     t.offset, t.n_bytes, data_size, part.data_offset));
      return unwind(ctx);
    }
    t.data = p_ + part.data_offset + t.offset;
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return pp.tensors[a].offset < pp.tensors[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const Tensor& a = pp.tensors[order[k - 1]];
    const Tensor& b = pp.tensors[order[k]];
    if (a.offset + a.n_bytes > b.offset) {  // no overflow: both are within the file
      fail(info_at[order[k]], Error::format("data (offset %" PRIu64 ") overlaps tensor %s (offset %" PRIu64
                                            ", %" PRIu64 " bytes)",
                                            b.offset, quoted(a.name).c_str(), a.offset, a.n_bytes));
      return unwind("tensor " + quoted(b.name));
    }
  }
  return true;
}

Result<ParsedPart> Parser::parse(std::string name) {
  ParsedPart pp;
  Part& part = pp.part;
  part.name = name;
  part.size = size_;
  part.base = p_;
  part.metadata.set_source(name);
  auto error = [&] { return Error("offset " + std::to_string(fail_offset_) + ": " + err_.message()).context(name); };

  // Header: magic, version, tensor count, key count.
  if (!need(4, "header")) return error();
  if (std::memcmp(p_, "GGUF", 4) != 0)
    return Error::format("not a GGUF file (starts with %02x %02x %02x %02x)", p_[0], p_[1], p_[2], p_[3]).context(name);
  pos_ = 4;
  if (!read(part.version, "header")) return error();
  if ((part.version & 0xffffu) == 0 && part.version != 0)  // the version's bytes are swapped
    return Error::format("big-endian GGUF files are not supported (version field 0x%08" PRIx32 ")", part.version)
        .context(name);
  if (part.version == 1)
    return Error("GGUF version 1 is not supported (only versions 2 and 3; re-convert the file)").context(name);
  if (part.version != 2 && part.version != 3)
    return Error::format("unsupported GGUF version %" PRIu32 " (only versions 2 and 3)", part.version).context(name);
  uint64_t n_tensors = 0, n_kv = 0;
  if (!read(n_tensors, "header") || !read(n_kv, "header")) return error();
  if (n_kv > left() / kMinKvBytes) {
    fail(16, Error::format("key count %" PRIu64 " cannot fit in the %" PRIu64 " bytes left (each key needs at least %"
                           PRIu64 ")", n_kv, left(), kMinKvBytes));
    return error();
  }
  if (n_tensors > left() / kMinTensorInfoBytes) {
    fail(8, Error::format("tensor count %" PRIu64 " cannot fit in the %" PRIu64 " bytes left (each tensor info needs "
                          "at least %" PRIu64 ")", n_tensors, left(), kMinTensorInfoBytes));
    return error();
  }

  for (uint64_t i = 0; i < n_kv; ++i)
    if (!read_kv(part.metadata, i)) return error();

  part.alignment = kDefaultAlignment;
  if (const Value* a = part.metadata.find(kKeyAlignment)) {
    if (a->type() != ValueType::UINT32)
      return part.metadata.key_error(kKeyAlignment, "has type " + std::string(value_type_name(a->type())) +
                                                        ", expected UINT32");
    const uint32_t al = a->as<uint32_t>();
    if (al == 0 || (al & (al - 1)) != 0)
      return part.metadata.key_error(kKeyAlignment, "is " + std::to_string(al) + ", must be a nonzero power of two");
    part.alignment = al;
  }

  std::vector<uint64_t> info_at;
  std::map<std::string, uint64_t, std::less<>> seen;
  pp.tensors.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i)
    if (!read_tensor_info(pp, i, info_at, seen)) return error();

  // The data section starts at the next multiple of the alignment (no overflow: pos_ <= size_).
  part.data_offset = (pos_ + part.alignment - 1) / part.alignment * part.alignment;
  if (!check_tensor_data(pp, info_at)) return error();
  part.tensor_count = pp.tensors.size();
  return pp;
}

struct SplitInfo {
  uint32_t count = 1;  // split.count, 1 when absent
  uint32_t no = 0;     // split.no (0-based), 0 when absent
  std::optional<uint64_t> tensors;
};

Result<SplitInfo> split_info(const Metadata& md) {
  SplitInfo s;
  DSK_TRY_ASSIGN(auto count, md.get_int_optional<uint16_t>(kKeySplitCount));
  DSK_TRY_ASSIGN(auto no, md.get_int_optional<uint16_t>(kKeySplitNo));
  DSK_TRY_ASSIGN(s.tensors, md.get_int_optional<uint64_t>(kKeySplitTensorsCount));
  if (count) {
    if (*count == 0) return md.key_error(kKeySplitCount, "is 0");
    s.count = *count;
  }
  if (no) {
    if (*no >= s.count)
      return md.key_error(kKeySplitNo, "is " + std::to_string(*no) + ", but split.count is " + std::to_string(s.count));
    s.no = *no;
  }
  return s;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Split names.

std::optional<SplitName> parse_split_name(std::string_view path) {
  // NAME-00001-of-00005.gguf: the suffix is exactly 20 characters.
  constexpr std::string_view kSuffix = ".gguf";
  if (path.size() < 20 + 1 || path.substr(path.size() - kSuffix.size()) != kSuffix) return std::nullopt;
  const std::string_view tail = path.substr(path.size() - 20, 15);  // "-00001-of-00005"
  auto digits = [](std::string_view s, uint32_t& out) {
    out = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + static_cast<uint32_t>(c - '0');
    }
    return true;
  };
  SplitName n;
  if (tail[0] != '-' || tail.substr(6, 4) != "-of-" || !digits(tail.substr(1, 5), n.no) ||
      !digits(tail.substr(10, 5), n.count))
    return std::nullopt;
  if (n.no == 0 || n.count == 0 || n.no > n.count) return std::nullopt;
  n.prefix = std::string(path.substr(0, path.size() - 20));
  return n;
}

std::string split_path(std::string_view prefix, uint32_t no, uint32_t count) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%05" PRIu32 "-of-%05" PRIu32 ".gguf", no, count);
  return std::string(prefix) + buf;
}

// ------------------------------------------------------------------------------------------------
// Reader.

Reader::Reader() = default;
Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&&) noexcept = default;
Reader::~Reader() = default;

const Tensor* Reader::find_tensor(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Result<const Tensor*> Reader::tensor(std::string_view name) const {
  if (const Tensor* t = find_tensor(name)) return t;
  return Error("tensor " + quoted(name) + " not found").context(this->name());
}

// Builds a Reader from parsed parts (in set order) and the mappings that keep them alive.
struct ReaderAccess {
  static Result<Reader> assemble(std::vector<ParsedPart> parsed, std::vector<std::unique_ptr<Mapping>> maps);
};

Result<Reader> Reader::from_memory(std::span<const uint8_t> bytes, std::string name) {
  std::vector<MemoryFile> files;
  files.push_back({bytes, std::move(name)});
  return from_memory(std::move(files));
}

Result<Reader> Reader::from_memory(std::vector<MemoryFile> files) {
  if (files.empty()) return Error("no GGUF files given");
  std::vector<ParsedPart> parsed;
  for (auto& f : files) {
    DSK_TRY_ASSIGN(auto pp, Parser(f.bytes).parse(std::move(f.name)));
    parsed.push_back(std::move(pp));
  }
  return ReaderAccess::assemble(std::move(parsed), {});
}

Result<Reader> Reader::open(const std::string& path) {
  std::vector<std::unique_ptr<Mapping>> maps;
  std::vector<ParsedPart> parsed;
  DSK_TRY_ASSIGN(auto first_map, Mapping::open(path));
  DSK_TRY_ASSIGN(auto first, Parser(first_map->bytes()).parse(path));
  DSK_TRY_ASSIGN(SplitInfo info, split_info(first.part.metadata));
  if (info.count == 1) {
    parsed.push_back(std::move(first));
    maps.push_back(std::move(first_map));
    return ReaderAccess::assemble(std::move(parsed), std::move(maps));
  }
  // A split set: find the other parts by name.
  const auto sn = parse_split_name(path);
  if (!sn)
    return Error::format("split.count is %" PRIu32 ", but the file name does not end in -%05" PRIu32 "-of-%05" PRIu32
                         ".gguf, so the other parts cannot be found",
                         info.count, info.no + 1, info.count)
        .context(path);
  if (sn->count != info.count || sn->no != info.no + 1)
    return Error::format("the file name says part %" PRIu32 " of %" PRIu32 ", but split.no/split.count say part %" PRIu32
                         " of %" PRIu32,
                         sn->no, sn->count, info.no + 1, info.count)
        .context(path);
  for (uint32_t i = 1; i <= info.count; ++i) {
    if (i == sn->no) {
      parsed.push_back(std::move(first));
      maps.push_back(std::move(first_map));
      continue;
    }
    const std::string p = split_path(sn->prefix, i, info.count);
    auto m = Mapping::open(p);
    if (!m)
      return std::move(m).error().context("split set part " + std::to_string(i) + " of " + std::to_string(info.count));
    DSK_TRY_ASSIGN(auto pp, Parser((*m)->bytes()).parse(p));
    parsed.push_back(std::move(pp));
    maps.push_back(std::move(*m));
  }
  return ReaderAccess::assemble(std::move(parsed), std::move(maps));
}

Result<Reader> ReaderAccess::assemble(std::vector<ParsedPart> parsed, std::vector<std::unique_ptr<Mapping>> maps) {
  Reader r;
  r.maps_ = std::move(maps);
  const auto n = static_cast<uint32_t>(parsed.size());
  std::vector<std::string> names;
  std::vector<SplitInfo> infos;
  for (const auto& pp : parsed) {
    DSK_TRY_ASSIGN(SplitInfo info, split_info(pp.part.metadata));
    infos.push_back(info);
    names.push_back(pp.part.name);
  }

  // Split consistency: split.count is the number of parts, split.no the position in the set.
  const std::string& first_name = names[0];
  if (n == 1 && infos[0].count > 1)
    return Error::format("split.count is %" PRIu32 ", but only this part was given", infos[0].count).context(first_name);
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const std::string& name = names[i];
    if (n > 1 && !parsed[i].part.metadata.contains(kKeySplitCount))
      return Error::format("part %" PRIu32 " of a %" PRIu32 "-part split set has no split.count", i + 1, n).context(name);
    if (infos[i].count != n)
      return Error::format("split.count is %" PRIu32 ", but the set has %" PRIu32 " parts", infos[i].count, n)
          .context(name);
    if (infos[i].no != i)
      return Error::format("split.no is %" PRIu32 ", expected %" PRIu32 " (part %" PRIu32 " of %" PRIu32 ")",
                           infos[i].no, i, i + 1, n)
          .context(name);
    total += parsed[i].tensors.size();
  }
  if (n > 1) {
    if (!infos[0].tensors)
      return Error("split set without split.tensors.count in its first part").context(first_name);
    for (uint32_t i = 1; i < n; ++i)
      if (infos[i].tensors && *infos[i].tensors != *infos[0].tensors)
        return Error::format("split.tensors.count is %" PRIu64 ", but the first part says %" PRIu64,
                             *infos[i].tensors, *infos[0].tensors)
            .context(names[i]);
  }
  if (infos[0].tensors && *infos[0].tensors != total)
    return Error::format("split.tensors.count is %" PRIu64 ", but the %s %" PRIu64 " tensors", *infos[0].tensors,
                         n > 1 ? "parts hold" : "file holds", total)
        .context(first_name);

  // One tensor table; names are unique across the set.
  r.tensors_.reserve(static_cast<size_t>(total));
  for (uint32_t i = 0; i < n; ++i) {
    Part& part = parsed[i].part;
    part.first_tensor = r.tensors_.size();
    for (Tensor& t : parsed[i].tensors) {
      t.part = i;
      if (auto it = r.index_.find(t.name); it != r.index_.end())
        return Error("tensor " + quoted(t.name) + " is also in part " +
                     std::to_string(r.tensors_[it->second].part + 1) + " (" + names[r.tensors_[it->second].part] +
                     ")")
            .context(names[i]);
      r.index_.emplace(t.name, r.tensors_.size());
      r.tensors_.push_back(std::move(t));
    }
    r.parts_.push_back(std::move(part));
  }
  return r;
}

}  // namespace dsk::gguf
