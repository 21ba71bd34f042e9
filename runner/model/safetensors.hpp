// model/safetensors.hpp — a small safetensors reader (mmap), for dsk-convert.
//
// A .safetensors file is an 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "BF16", "shape": [M, K], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the data (offsets relative to the end of the header). Checkpoint::open reads a model
// directory: the files named by model.safetensors.index.json's weight_map, else every *.safetensors
// file in it. Every header is validated (dtype, shape, offsets inside the file, byte count matching
// dtype and shape, no duplicate names across files) before anything is read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace dsk::model::st {

enum class Dtype { F32, F16, BF16, F8_E4M3, F64, I64, I32, I16, I8, U8, BOOL, other };

struct Tensor {
  std::string name;
  std::string dtype_name;  // as in the header
  Dtype dtype = Dtype::other;
  std::vector<int64_t> shape;  // row-major (PyTorch order): the last dim is contiguous
  const uint8_t* data = nullptr;
  size_t n_bytes = 0;
  std::string file;

  int64_t numel() const;
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }  // contiguous dim
  int64_t rows() const { return cols() == 0 ? 0 : numel() / cols(); }  // product of the others
};

size_t dtype_size(Dtype d);  // 0 for other
Dtype dtype_from_name(std::string_view s);

// OCP FP8 E4M3 (e4m3fn: bias 7, no infinities, 0x7f / 0xff NaN), exactly.
float fp8_e4m3_to_float(uint8_t b);

struct Mapping;

class Checkpoint {
 public:
  // A directory (see above) or one .safetensors file.
  static Result<Checkpoint> open(const std::string& path);

  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;
  ~Checkpoint();

  const Tensor* find(const std::string& name) const;
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  const std::vector<std::string>& files() const { return files_; }

 private:
  Checkpoint();
  Result<void> add_file(const std::string& path);
  std::vector<std::unique_ptr<Mapping>> maps_;
  std::vector<std::string> files_;
  std::map<std::string, Tensor> tensors_;
};

// Rows [r0, r0 + n) of a tensor viewed as rows x cols (1-D: one row), as float. F8_E4M3 needs its
// block scale tensor (weight_scale_inv, [ceil(rows/block_rows), ceil(cols/block_cols)], F32 / BF16
// / F16): value = fp8 * scale[r / block_rows][c / block_cols]. Other dtypes ignore `scale`.
Result<void> read_rows_f32(const Tensor& t, int64_t r0, int64_t n, float* out, const Tensor* scale = nullptr,
                           int64_t block_rows = 128, int64_t block_cols = 128);

// Checks that `scale` fits `t` as its block scale (shape and dtype).
Result<void> check_block_scale(const Tensor& t, const Tensor& scale, int64_t block_rows, int64_t block_cols);

}  // namespace dsk::model::st
