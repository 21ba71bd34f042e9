#include "gguf/writer.hpp"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "gguf/reader.hpp"

namespace dsk::gguf {

namespace {

constexpr uint32_t kWriteVersion = 3;

template <class T>
void put(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}
void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

// An array's payload: element type, count, elements. `depth` counts this array (top level: 1).
Result<void> encode_array(const Value& v, int depth, std::vector<uint8_t>& out) {
  if (depth > kMaxArrayDepth) return Error::format("arrays nested deeper than %d levels", kMaxArrayDepth);
  const ValueType elem = v.elem_type();
  if (!is_valid_value_type(static_cast<uint32_t>(elem)))
    return Error::format("invalid array element type %" PRIu32, static_cast<uint32_t>(elem));
  put<uint32_t>(out, static_cast<uint32_t>(elem));
  put<uint64_t>(out, v.size());
  if (elem == ValueType::STRING) {
    for (const auto& s : v.strings()) put_string(out, s);
  } else if (elem == ValueType::ARRAY) {
    for (size_t i = 0; i < v.arrays().size(); ++i) {
      const Value& e = v.arrays()[i];
      if (!e.is_array()) return Error::format("element %zu of an array of arrays is a %s", i, value_type_name(e.type()).data());
      auto r = encode_array(e, depth + 1, out);
      if (!r) return std::move(r).context("element " + std::to_string(i));
    }
  } else {
    out.insert(out.end(), v.raw().begin(), v.raw().end());
  }
  return ok();
}

Result<void> encode_payload(const Value& v, std::vector<uint8_t>& out) {
  put<uint32_t>(out, static_cast<uint32_t>(v.type()));
  switch (v.type()) {
    case ValueType::STRING: put_string(out, v.str()); return ok();
    case ValueType::ARRAY: return encode_array(v, 1, out);
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: put(out, v.as<uint8_t>()); return ok();
    case ValueType::UINT16: case ValueType::INT16: put(out, v.as<uint16_t>()); return ok();
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: put(out, v.as<uint32_t>()); return ok();
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: put(out, v.as<uint64_t>()); return ok();
  }
  return Error::format("invalid value type %" PRIu32, static_cast<uint32_t>(v.type()));
}

Result<uint32_t> alignment_of(const Metadata& md) {
  const Value* a = md.find(kKeyAlignment);
  if (!a) return kDefaultAlignment;
  if (a->type() != ValueType::UINT32)
    return md.key_error(kKeyAlignment, "has type " + std::string(value_type_name(a->type())) + ", expected UINT32");
  const uint32_t al = a->as<uint32_t>();
  if (al == 0 || (al & (al - 1)) != 0)
    return md.key_error(kKeyAlignment, "is " + std::to_string(al) + ", must be a nonzero power of two");
  return al;
}

uint64_t align_up(uint64_t x, uint32_t a) { return (x + a - 1) / a * a; }

}  // namespace

Result<std::vector<uint8_t>> encode_value(const Value& v) {
  std::vector<uint8_t> out;
  DSK_TRY(encode_payload(v, out));
  return out;
}

namespace detail {
// Where the bytes go: a file or a vector. Tracks the position for padding.
class Sink {
 public:
  virtual ~Sink() = default;
  Result<void> write(const void* p, size_t n) {
    pos_ += n;
    return do_write(p, n);
  }
  Result<void> write(const std::vector<uint8_t>& v) { return write(v.data(), v.size()); }
  Result<void> pad(uint32_t alignment) {
    static const uint8_t zeros[64] = {};
    uint64_t n = align_up(pos_, alignment) - pos_;
    while (n > 0) {
      const size_t k = n < sizeof zeros ? static_cast<size_t>(n) : sizeof zeros;
      DSK_TRY(write(zeros, k));
      n -= k;
    }
    return ok();
  }

 protected:
  virtual Result<void> do_write(const void* p, size_t n) = 0;

 private:
  uint64_t pos_ = 0;
};
}  // namespace detail

namespace {

class VectorSink final : public detail::Sink {
 public:
  std::vector<uint8_t> bytes;

 protected:
  Result<void> do_write(const void* p, size_t n) override {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
    return ok();
  }
};

class FileSink final : public detail::Sink {
 public:
  explicit FileSink(std::string path) : path_(std::move(path)) {}
  ~FileSink() override {
    if (f_) std::fclose(f_);
  }
  Result<void> open() {
    f_ = std::fopen(path_.c_str(), "wb");
    if (!f_) return Error::format("%s: cannot create: %s", path_.c_str(), std::strerror(errno));
    return ok();
  }
  Result<void> close() {
    FILE* f = f_;
    f_ = nullptr;
    if (std::fclose(f) != 0) return Error::format("%s: write failed: %s", path_.c_str(), std::strerror(errno));
    return ok();
  }

 protected:
  Result<void> do_write(const void* p, size_t n) override {
    if (n > 0 && std::fwrite(p, 1, n, f_) != n)
      return Error::format("%s: write failed: %s", path_.c_str(), std::strerror(errno));
    return ok();
  }

 private:
  std::string path_;
  FILE* f_ = nullptr;
};

}  // namespace

void Writer::set_alignment(uint32_t alignment) { md_.set(kKeyAlignment, Value::scalar(alignment)); }

Result<void> Writer::add_tensor(std::string name, GgmlType type, std::span<const uint64_t> ne,
                                std::span<const uint8_t> data) {
  const std::string ctx = "tensor " + quoted(name);
  if (name.empty()) return Error("empty tensor name");
  for (const auto& t : tensors_)
    if (t.name == name) return Error("duplicate tensor name").context(ctx);
  auto nbytes = tensor_nbytes(static_cast<uint32_t>(type), ne);
  if (!nbytes) return std::move(nbytes).error().context(ctx);
  if (*nbytes != data.size())
    return Error::format("%zu bytes given, its type and dims need %" PRIu64, data.size(), *nbytes).context(ctx);
  tensors_.push_back({std::move(name), type, std::vector<uint64_t>(ne.begin(), ne.end()), data});
  return ok();
}

Result<std::vector<uint8_t>> encode_preamble(const Metadata& md, std::span<const TensorInfoOut> tensors,
                                             uint32_t* alignment_out) {
  DSK_TRY_ASSIGN(const uint32_t alignment, alignment_of(md));
  std::vector<uint8_t> buf;
  put<uint32_t>(buf, 0x46554747u);  // "GGUF"
  put<uint32_t>(buf, kWriteVersion);
  put<uint64_t>(buf, tensors.size());
  put<uint64_t>(buf, md.size());
  for (const auto& kv : md) {
    if (kv.key.empty()) return Error("empty key name");
    put_string(buf, kv.key);
    auto r = encode_payload(kv.value, buf);
    if (!r) return std::move(r).error().context("key " + quoted(kv.key));
  }
  uint64_t offset = 0;
  for (const TensorInfoOut& t : tensors) {
    put_string(buf, t.name);
    put<uint32_t>(buf, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) put<uint64_t>(buf, d);
    put<uint32_t>(buf, static_cast<uint32_t>(t.type));
    put<uint64_t>(buf, offset);
    offset = align_up(offset + t.n_bytes, alignment);
  }
  if (alignment_out) *alignment_out = alignment;
  return buf;
}

Result<void> Writer::write_to(detail::Sink& sink, const Metadata& md, size_t first, size_t count) const {
  std::vector<TensorInfoOut> infos;
  for (size_t i = first; i < first + count; ++i)
    infos.push_back({tensors_[i].name, tensors_[i].type, tensors_[i].ne, tensors_[i].data.size()});
  uint32_t alignment = 0;
  DSK_TRY_ASSIGN(const std::vector<uint8_t> buf, encode_preamble(md, infos, &alignment));
  DSK_TRY(sink.write(buf));
  // No tensors, no data section: nothing to pad (and a huge general.alignment costs nothing).
  if (count > 0) DSK_TRY(sink.pad(alignment));
  for (size_t i = first; i < first + count; ++i) {
    DSK_TRY(sink.write(tensors_[i].data.data(), tensors_[i].data.size()));
    DSK_TRY(sink.pad(alignment));
  }
  return ok();
}

Result<void> Writer::write(const std::string& path) const {
  FileSink sink(path);
  DSK_TRY(sink.open());
  auto r = write_to(sink, md_, 0, tensors_.size());
  if (!r) return std::move(r).context(path);
  return sink.close();
}

Result<std::vector<uint8_t>> Writer::to_bytes() const {
  VectorSink sink;
  DSK_TRY(write_to(sink, md_, 0, tensors_.size()));
  return std::move(sink.bytes);
}

Result<std::vector<std::string>> Writer::write_split(const std::string& prefix, uint32_t n_parts) const {
  if (n_parts == 0 || n_parts > 65535) return Error::format("cannot split into %" PRIu32 " parts", n_parts);
  if (tensors_.size() > static_cast<size_t>(INT32_MAX)) return Error("too many tensors for split.tensors.count");
  std::vector<std::string> paths;
  const size_t total = tensors_.size();
  for (uint32_t i = 0; i < n_parts; ++i) {
    Metadata md;
    if (i == 0) {
      md = md_;
    } else if (const Value* a = md_.find(kKeyAlignment)) {
      md.set(kKeyAlignment, *a);  // every part's data section uses the same alignment
    }
    md.set(kKeySplitNo, Value::scalar(static_cast<uint16_t>(i)));
    md.set(kKeySplitCount, Value::scalar(static_cast<uint16_t>(n_parts)));
    md.set(kKeySplitTensorsCount, Value::scalar(static_cast<int32_t>(total)));
    const size_t first = total * i / n_parts, last = total * (i + 1) / n_parts;
    const std::string path = split_path(prefix, i + 1, n_parts);
    FileSink sink(path);
    DSK_TRY(sink.open());
    auto r = write_to(sink, md, first, last - first);
    if (!r) return std::move(r).error().context(path);
    DSK_TRY(sink.close());
    paths.push_back(path);
  }
  return paths;
}

}  // namespace dsk::gguf
