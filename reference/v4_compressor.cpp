// reference/v4_compressor.cpp — see reference/v4_compressor.hpp.
#include "reference/v4_compressor.hpp"

namespace dsk::ref::v4 {

using namespace dsk::v4;

Status compress(const CompressorParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int64_t R = p.ratio, D = p.head_dim, W = compressor_width(p), S = compressor_state_rows(p);
  const int64_t ks = p.kv_stride ? p.kv_stride : W, gs = p.gate_stride ? p.gate_stride : W;
  const int64_t os = p.out_stride ? p.out_stride : D;
  const size_t ape_row = static_cast<size_t>(W) * row_type_size(p.ape_type);
  const int64_t off = p.overlap ? D : 0;
  int64_t emitted = 0;
  // Token by token in position order: store the token's slot, then pool if it closes a window. At that
  // point the ring holds tokens p-S+1 .. p, which are exactly the candidates (a GPU prefill reads the
  // same values from its inputs for tokens >= p0).
  for (int64_t t = 0; t < p.T; ++t) {
    const int64_t pos = p.p0 + t, slot = pos % S;
    const void* ape = static_cast<const char*>(p.ape) + static_cast<size_t>(pos % R) * ape_row;
    for (int64_t i = 0; i < W; ++i) {
      p.state_kv[slot * W + i] = p.kv[t * ks + i];
      p.state_score[slot * W + i] = fp::add(p.gate[t * gs + i], load(p.ape_type, ape, i));
    }
    if ((pos + 1) % R != 0) continue;
    const int64_t w = (pos + 1) / R - 1;
    const int n_prev = (p.overlap && w >= 1) ? static_cast<int>(R) : 0;
    float* out = p.out + emitted * os;
    for (int64_t j = 0; j < D; ++j)
      out[j] = compressor_pool(n_prev + static_cast<int>(R), [&](int i, float& kv, float& sc) {
        if (i < n_prev) {  // previous window, first half
          const int64_t s = ((w - 1) * R + i) % S;
          kv = p.state_kv[s * W + j];
          sc = p.state_score[s * W + j];
        } else {           // own window, second half (or the only half)
          const int64_t s = (w * R + (i - n_prev)) % S;
          kv = p.state_kv[s * W + off + j];
          sc = p.state_score[s * W + off + j];
        }
      });
    ++emitted;
  }
  return Status::Ok();
}

}  // namespace dsk::ref::v4
