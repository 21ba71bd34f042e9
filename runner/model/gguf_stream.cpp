// model/gguf_stream.cpp — streamed GGUF writing (see gguf_stream.hpp).
#include "model/gguf_stream.hpp"

#include <cerrno>
#include <cinttypes>
#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <thread>

#include "gguf/tensor.hpp"
#include "gguf/value.hpp"
#include "gguf/writer.hpp"
#include "reference/quant.hpp"

namespace dsk::model {

namespace {

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

bool quantizable(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0:
    case GgmlType::Q4_K: case GgmlType::Q6_K: case GgmlType::Q2_K:
      return true;
    default:
      return false;
  }
}

class File {
 public:
  explicit File(std::string path) : path_(std::move(path)) {}
  ~File() {
    if (f_) std::fclose(f_);
  }
  Result<void> open() {
    f_ = std::fopen(path_.c_str(), "wb");
    if (!f_) return Error(path_ + ": cannot create: " + std::strerror(errno));
    return ok();
  }
  Result<void> write(const void* p, size_t n) {
    if (n > 0 && std::fwrite(p, 1, n, f_) != n) return Error(path_ + ": write failed: " + std::strerror(errno));
    pos_ += n;
    return ok();
  }
  // Skips n bytes (a hole; the file is extended by close()).
  Result<void> skip(uint64_t n) {
    if (n > 0 && fseeko(f_, static_cast<off_t>(n), SEEK_CUR) != 0) return Error(path_ + ": seek failed: " + std::strerror(errno));
    pos_ += n;
    return ok();
  }
  Result<void> pad(uint64_t alignment) {
    static const uint8_t zeros[256] = {};
    uint64_t n = align_up(pos_, alignment) - pos_;
    while (n > 0) {
      const size_t k = n < sizeof zeros ? static_cast<size_t>(n) : sizeof zeros;
      DSK_TRY(write(zeros, k));
      n -= k;
    }
    return ok();
  }
  Result<void> close() {
    // A trailing hole: the file must still be pos_ bytes long.
    if (std::fflush(f_) != 0 || ftruncate(fileno(f_), static_cast<off_t>(pos_)) != 0)
      return Error(path_ + ": write failed: " + std::strerror(errno));
    const int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) return Error(path_ + ": close failed: " + std::strerror(errno));
    return ok();
  }
  uint64_t pos() const { return pos_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  uint64_t pos_ = 0;
};

}  // namespace

GgmlType fallback_type(GgmlType want, int64_t K) {
  const int64_t be = ggml_type_info(want).block_elems;
  if (K % be == 0) return want;
  if (K % 32 == 0) return GgmlType::Q8_0;
  return GgmlType::F16;
}

Result<void> write_gguf_streamed(const std::string& path, const gguf::Metadata& md,
                                 const std::vector<PlannedTensor>& plan, const StreamProgress& progress,
                                 unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  // Header, metadata, tensor infos: the gguf writer's encoding.
  std::vector<uint64_t> sizes;
  std::vector<gguf::TensorInfoOut> infos;
  for (const PlannedTensor& t : plan) {
    auto nb = gguf::tensor_nbytes(static_cast<uint32_t>(t.type), t.ne);
    if (!nb) return std::move(nb).error().context("tensor " + gguf::quoted(t.name));
    if (!t.hole && !t.raw_rows && !quantizable(t.type))
      return Error("tensor " + gguf::quoted(t.name) + ": no quantizer for " + std::string(ggml_type_name(t.type)));
    sizes.push_back(*nb);
    infos.push_back({t.name, t.type, t.ne, *nb});
  }
  uint32_t alignment = 0;
  DSK_TRY_ASSIGN(const std::vector<uint8_t> head, gguf::encode_preamble(md, infos, &alignment));

  {
    // Missing parent directories are created.
    std::error_code ec;
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  }
  const std::string tmp = path + ".tmp";
  File f(tmp);
  DSK_TRY(f.open());
  DSK_TRY(f.write(head.data(), head.size()));
  if (!plan.empty()) DSK_TRY(f.pad(alignment));

  std::vector<float> fbuf;
  std::vector<uint8_t> qbuf;
  for (size_t ti = 0; ti < plan.size(); ++ti) {
    const PlannedTensor& t = plan[ti];
    if (t.hole) {
      DSK_TRY(f.skip(sizes[ti]));
      DSK_TRY(f.pad(alignment));
      if (progress) progress(ti, plan.size(), t, f.pos());
      continue;
    }
    const int64_t K = static_cast<int64_t>(t.ne[0]);
    int64_t n_rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) n_rows *= static_cast<int64_t>(t.ne[d]);
    const size_t rb = static_cast<size_t>(sizes[ti] / static_cast<uint64_t>(n_rows));
    // Chunks of about 8M elements (at least one row).
    const int64_t chunk = std::max<int64_t>(1, (int64_t{8} << 20) / std::max<int64_t>(K, 1));
    for (int64_t r0 = 0; r0 < n_rows; r0 += chunk) {
      const int64_t n = std::min(chunk, n_rows - r0);
      qbuf.resize(static_cast<size_t>(n) * rb);
      if (t.raw_rows) {
        t.raw_rows(r0, n, qbuf.data());
      } else {
        fbuf.resize(static_cast<size_t>(n * K));
        // Split the chunk over threads: produce + quantize each part.
        const unsigned nt = static_cast<unsigned>(std::min<int64_t>(threads, n));
        std::vector<Result<void>> res(nt);
        std::vector<std::string> exc(nt);
        auto work = [&](unsigned w) {
          const int64_t a = n * w / nt, b = n * (w + 1) / nt;
          if (a == b) return;
          res[w] = t.rows(r0 + a, b - a, fbuf.data() + a * K);
          if (!res[w]) return;
          try {
            for (int64_t i = a; i < b; ++i)
              ref::quantize_row(t.type, fbuf.data() + i * K, qbuf.data() + static_cast<size_t>(i) * rb, K);
          } catch (const std::exception& e) {
            exc[w] = e.what();
          }
        };
        if (nt <= 1) {
          work(0);
        } else {
          std::vector<std::thread> pool;
          for (unsigned w = 1; w < nt; ++w) pool.emplace_back(work, w);
          work(0);
          for (auto& th : pool) th.join();
        }
        for (unsigned w = 0; w < nt; ++w) {
          if (!res[w]) return std::move(res[w]).error().context("tensor " + gguf::quoted(t.name));
          if (!exc[w].empty()) return Error("tensor " + gguf::quoted(t.name) + ": " + exc[w]);
        }
      }
      DSK_TRY(f.write(qbuf.data(), qbuf.size()));
    }
    DSK_TRY(f.pad(alignment));
    if (progress) progress(ti, plan.size(), t, f.pos());
  }
  DSK_TRY(f.close());
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return Error(path + ": cannot rename " + tmp + ": " + std::strerror(errno));
  return ok();
}

}  // namespace dsk::model
