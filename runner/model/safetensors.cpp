// model/safetensors.cpp — safetensors reading (see safetensors.hpp).
#include "model/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "dsk/core/half.hpp"

namespace dsk::model::st {

using json = nlohmann::json;

struct Mapping {
  const uint8_t* p = nullptr;
  size_t n = 0;
  ~Mapping() {
    if (p && n) munmap(const_cast<uint8_t*>(p), n);
  }
};

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t dtype_size(Dtype d) {
  switch (d) {
    case Dtype::F64: case Dtype::I64: return 8;
    case Dtype::F32: case Dtype::I32: return 4;
    case Dtype::F16: case Dtype::BF16: case Dtype::I16: return 2;
    case Dtype::F8_E4M3: case Dtype::I8: case Dtype::U8: case Dtype::BOOL: return 1;
    default: return 0;
  }
}

Dtype dtype_from_name(std::string_view s) {
  if (s == "F32") return Dtype::F32;
  if (s == "F16") return Dtype::F16;
  if (s == "BF16") return Dtype::BF16;
  if (s == "F8_E4M3") return Dtype::F8_E4M3;
  if (s == "F64") return Dtype::F64;
  if (s == "I64") return Dtype::I64;
  if (s == "I32") return Dtype::I32;
  if (s == "I16") return Dtype::I16;
  if (s == "I8") return Dtype::I8;
  if (s == "U8") return Dtype::U8;
  if (s == "BOOL") return Dtype::BOOL;
  return Dtype::other;
}

float fp8_e4m3_to_float(uint8_t b) {
  const bool neg = (b & 0x80u) != 0;
  const int e = (b >> 3) & 0xF, m = b & 7;
  float v;
  if (e == 0xF && m == 7) {
    v = std::numeric_limits<float>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(static_cast<float>(m), -9);  // m/8 * 2^-6
  } else {
    v = std::ldexp(static_cast<float>(8 + m), e - 10);  // (1 + m/8) * 2^(e-7)
  }
  return neg ? -v : v;
}

Checkpoint::Checkpoint() = default;
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;
Checkpoint::~Checkpoint() = default;

const Tensor* Checkpoint::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Result<void> Checkpoint::add_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(path + ": cannot open: " + std::strerror(errno));
  struct stat sb {};
  if (fstat(fd, &sb) != 0) {
    const int e = errno;
    ::close(fd);
    return Error(path + ": cannot stat: " + std::strerror(e));
  }
  const size_t size = static_cast<size_t>(sb.st_size);
  auto map = std::make_unique<Mapping>();
  if (size > 0) {
    void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      return Error(path + ": cannot map: " + std::strerror(e));
    }
    map->p = static_cast<const uint8_t*>(p);
    map->n = size;
  }
  ::close(fd);
  auto bad = [&](const std::string& what) { return Error(path + ": " + what); };
  if (size < 8) return bad("too short for a safetensors header");
  uint64_t hlen = 0;
  std::memcpy(&hlen, map->p, 8);
  if (hlen > size - 8) return bad("header length " + std::to_string(hlen) + " exceeds the file");
  const uint8_t* hb = map->p + 8;
  json h = json::parse(hb, hb + hlen, nullptr, /*allow_exceptions=*/false);
  if (h.is_discarded() || !h.is_object()) return bad("header is not a JSON object");
  const uint8_t* data = hb + hlen;
  const uint64_t data_size = size - 8 - hlen;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string& name = it.key();
    const json& e = it.value();
    auto tbad = [&](const std::string& what) { return bad("tensor '" + name + "': " + what); };
    if (!e.is_object()) return tbad("entry is not an object");
    auto dt = e.find("dtype");
    auto sh = e.find("shape");
    auto off = e.find("data_offsets");
    if (dt == e.end() || !dt->is_string()) return tbad("no dtype");
    if (sh == e.end() || !sh->is_array()) return tbad("no shape");
    if (off == e.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      return tbad("data_offsets must be two unsigned integers");
    Tensor t;
    t.name = name;
    t.file = path;
    t.dtype_name = dt->get<std::string>();
    t.dtype = dtype_from_name(t.dtype_name);
    uint64_t numel = 1;
    for (const json& d : *sh) {
      if (!d.is_number_unsigned()) return tbad("shape entries must be unsigned integers");
      const uint64_t v = d.get<uint64_t>();
      if (v > (uint64_t{1} << 40) || (v && numel > (uint64_t{1} << 62) / v)) return tbad("shape too large");
      numel *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    const uint64_t b = (*off)[0].get<uint64_t>(), en = (*off)[1].get<uint64_t>();
    if (b > en || en > data_size)
      return tbad("data_offsets [" + std::to_string(b) + ", " + std::to_string(en) + "] outside the data (" +
                  std::to_string(data_size) + " bytes)");
    const size_t es = dtype_size(t.dtype);
    if (es && numel * es != en - b)
      return tbad(std::to_string(en - b) + " bytes, its dtype and shape need " + std::to_string(numel * es));
    t.data = data + b;
    t.n_bytes = static_cast<size_t>(en - b);
    if (tensors_.count(name)) return tbad("also in " + tensors_[name].file);
    tensors_.emplace(name, std::move(t));
  }
  files_.push_back(path);
  maps_.push_back(std::move(map));
  return ok();
}

Result<Checkpoint> Checkpoint::open(const std::string& path) {
  namespace fs = std::filesystem;
  Checkpoint c;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    DSK_TRY(c.add_file(path));
    return c;
  }
  const fs::path dir(path);
  std::vector<std::string> files;
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index, ec)) {
    std::ifstream in(index);
    std::stringstream ss;
    ss << in.rdbuf();
    json j = json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      return Error(index.string() + ": no weight_map object");
    std::set<std::string> names;
    for (auto& [k, v] : j["weight_map"].items()) {
      if (!v.is_string()) return Error(index.string() + ": weight_map['" + k + "'] is not a string");
      names.insert(v.get<std::string>());
    }
    for (const auto& n : names) files.push_back((dir / n).string());
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
  }
  if (files.empty()) return Error(path + ": no *.safetensors files");
  for (const auto& f : files) DSK_TRY(c.add_file(f));
  return c;
}

namespace {

float load_elem(const Tensor& t, size_t i) {
  const uint8_t* p = t.data;
  switch (t.dtype) {
    case Dtype::F32: {
      float v;
      std::memcpy(&v, p + 4 * i, 4);
      return v;
    }
    case Dtype::F16: {
      uint16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      return f16_bits_to_f32(v);
    }
    case Dtype::BF16: {
      uint16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      return bf16_bits_to_f32(v);
    }
    case Dtype::F8_E4M3:
      return fp8_e4m3_to_float(p[i]);
    case Dtype::F64: {
      double v;
      std::memcpy(&v, p + 8 * i, 8);
      return static_cast<float>(v);
    }
    default:
      return 0.0f;
  }
}

bool float_dtype(Dtype d) {
  return d == Dtype::F32 || d == Dtype::F16 || d == Dtype::BF16 || d == Dtype::F8_E4M3 || d == Dtype::F64;
}

}  // namespace

Result<void> check_block_scale(const Tensor& t, const Tensor& scale, int64_t block_rows, int64_t block_cols) {
  if (scale.dtype != Dtype::F32 && scale.dtype != Dtype::BF16 && scale.dtype != Dtype::F16)
    return Error("'" + scale.name + "': dtype " + scale.dtype_name + ", expected F32, BF16 or F16");
  const int64_t er = (t.rows() + block_rows - 1) / block_rows, ecn = (t.cols() + block_cols - 1) / block_cols;
  if (scale.shape.size() != 2 || scale.shape[0] != er || scale.shape[1] != ecn)
    return Error("'" + scale.name + "': shape must be [" + std::to_string(er) + ", " + std::to_string(ecn) +
                 "] for the " + std::to_string(block_rows) + "x" + std::to_string(block_cols) + " blocks of '" +
                 t.name + "'");
  return ok();
}

Result<void> read_rows_f32(const Tensor& t, int64_t r0, int64_t n, float* out, const Tensor* scale,
                           int64_t block_rows, int64_t block_cols) {
  if (!float_dtype(t.dtype)) return Error("'" + t.name + "': dtype " + t.dtype_name + " is not a float type");
  if (r0 < 0 || n < 0 || r0 + n > t.rows()) return Error("'" + t.name + "': row range out of bounds");
  const int64_t K = t.cols();
  if (t.dtype == Dtype::F8_E4M3) {
    if (!scale) return Error("'" + t.name + "': F8_E4M3 without its weight_scale_inv");
    DSK_TRY(check_block_scale(t, *scale, block_rows, block_cols));
    const int64_t sc = scale->shape[1];
    for (int64_t r = 0; r < n; ++r) {
      const int64_t rr = r0 + r;
      for (int64_t c = 0; c < K; ++c) {
        const float s = load_elem(*scale, static_cast<size_t>((rr / block_rows) * sc + c / block_cols));
        out[r * K + c] = fp8_e4m3_to_float(t.data[static_cast<size_t>(rr * K + c)]) * s;
      }
    }
    return ok();
  }
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < K; ++c) out[r * K + c] = load_elem(t, static_cast<size_t>((r0 + r) * K + c));
  return ok();
}

}  // namespace dsk::model::st
