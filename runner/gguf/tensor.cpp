#include "gguf/tensor.hpp"

#include <cinttypes>
#include <limits>

namespace dsk::gguf {

Result<uint64_t> tensor_nbytes(uint32_t type_id, std::span<const uint64_t> ne) {
  const GgmlTypeInfo* info = ggml_type_info(type_id);
  if (!info) return Error::format("unknown ggml type %" PRIu32, type_id);
  if (ne.empty() || ne.size() > kMaxDims)
    return Error::format("n_dims is %zu, must be 1..%" PRIu32, ne.size(), kMaxDims);
  // ggml keeps dims and the element count in int64_t.
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t n = 1;
  for (size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] == 0) return Error::format("dimension %zu is 0", i);
    if (ne[i] > kMax) return Error::format("dimension %zu is %" PRIu64 ", more than INT64_MAX", i, ne[i]);
    if (__builtin_mul_overflow(n, ne[i], &n) || n > kMax)
      return Error::format("element count overflows int64 at dimension %zu", i);
  }
  if (ne[0] % info->block_elems != 0)
    return Error::format("dimension 0 (%" PRIu64 ") is not a multiple of the %.*s block size %" PRIu32, ne[0],
                         static_cast<int>(info->name.size()), info->name.data(), info->block_elems);
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n / info->block_elems, uint64_t{info->block_bytes}, &bytes))
    return Error::format("byte size of %" PRIu64 " %.*s elements overflows uint64", n,
                         static_cast<int>(info->name.size()), info->name.data());
  return bytes;
}

}  // namespace dsk::gguf
