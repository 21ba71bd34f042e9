// reference/v4_kv_storage.cpp — see reference/v4_kv_storage.hpp.
#include "reference/v4_kv_storage.hpp"

namespace dsk::ref::v4 {

using namespace dsk::v4;

Status kv_store(const KvStoreParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int64_t xs = p.x_stride ? p.x_stride : p.n, ys = p.y_stride ? p.y_stride : p.n;
  for (int64_t t = 0; t < p.T; ++t) {
    const float* x = p.x + t * xs;
    float* y = p.y + t * ys;
    if (p.kind == KvRowKind::attn) kv_attn_row(x, y, p.n, p.n_rope, p.f16);
    else kv_index_row(x, y, p.n, p.f16);
  }
  return Status::Ok();
}

}  // namespace dsk::ref::v4
