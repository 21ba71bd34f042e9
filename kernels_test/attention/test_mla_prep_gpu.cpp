// GPU mla_prep (dsk/attention/mla_prep_cuda.cuh) == ref::attention::mla_prep by bits: the cache
// rows (normed c_kv, roped k_rope) and q's rotated rope tails, for DeepSeek shapes (kv_lora 512,
// rope 64, 16 / 128 heads), odd sizes (kv_lora 200, rope 16, 3 heads, no weight, no q), padded
// strides, scattered cache rows (several sequences), positions at both ends of the table, NaN /
// inf / ±0 inputs; invalid Params rejected.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "catch.hpp"
#include "compare.hpp"
#include "dsk/rope/rope.hpp"
#include "mla_prep_gpu_kernels.hpp"
#include "reference/attention.hpp"

using namespace dsk;
namespace ga = dsk::test::gpu_attention;

namespace {

struct Case {
  int64_t T, H, d_nope, kv_lora, nd;
  int64_t q_pad = 0, kva_pad = 0, cache_pad = 0;
  bool weight = true, with_q = true, specials = false;
};

uint32_t lcg(uint32_t& s) { return s = s * 1664525u + 1013904223u; }
float uni(uint32_t& s) { return static_cast<float>(lcg(s) >> 8) * (2.0f / 16777216.0f) - 1.0f; }

void run(const Case& c) {
  uint32_t seed = static_cast<uint32_t>(c.T * 131 + c.H * 7 + c.kv_lora + c.nd);
  const int64_t n_pos = 300;
  rope::YarnConfig y;
  y.n_dims = static_cast<int>(c.nd);
  y.n_ctx_orig = 4096;
  y.freq_base = 10000.0f;
  y.freq_scale = 0.25f;
  y.ext_factor = 1.0f;
  y.attn_factor = 1.0f;
  const std::vector<float> table = rope::make_table(y, n_pos);
  const int64_t qh = c.d_nope + c.nd + c.q_pad, qt = c.H * qh;
  const int64_t ks = c.kv_lora + c.nd + c.kva_pad, cs = c.kv_lora + c.nd + c.cache_pad;
  const int64_t n_rows = 4 * c.T + 5;
  std::vector<float> q(static_cast<size_t>(c.T * qt)), kva(static_cast<size_t>(c.T * ks)), w(static_cast<size_t>(c.kv_lora));
  for (float& v : q) v = 3.0f * uni(seed);
  for (float& v : kva) v = 2.0f * uni(seed);
  for (float& v : w) v = 1.0f + 0.1f * uni(seed);
  if (c.specials) {
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    kva[0] = nan;                                           // token 0: c_kv norm NaN
    kva[static_cast<size_t>(ks + c.kv_lora)] = inf;         // token 1: a k_rope pair with inf
    kva[static_cast<size_t>(2 * ks + 1)] = -0.0f;
    q[static_cast<size_t>(c.d_nope)] = nan;                 // token 0 head 0 rope pair NaN
    q[static_cast<size_t>(qt + c.d_nope + 1)] = -inf;
    for (int64_t i = 0; i < c.kv_lora; ++i) kva[static_cast<size_t>(3 * ks + i)] = 0.0f;  // token 3: zero row
  }
  std::vector<int32_t> pos(static_cast<size_t>(c.T)), rows(static_cast<size_t>(c.T));
  for (int64_t t = 0; t < c.T; ++t) {
    pos[static_cast<size_t>(t)] = static_cast<int32_t>(t == 0 ? 0 : t == 1 ? n_pos - 1 : (t * 37) % n_pos);
    rows[static_cast<size_t>(t)] = static_cast<int32_t>((t * 4 + 3) % n_rows);  // scattered, distinct
  }
  std::vector<float> cache(static_cast<size_t>(n_rows * cs), 7.0f);
  attention::MlaPrepParams p;
  p.T = c.T;
  p.q = c.with_q ? q.data() : nullptr;
  p.n_head = c.with_q ? c.H : 0;
  p.q_head_stride = qh;
  p.q_token_stride = qt;
  p.d_nope = c.d_nope;
  p.kva = kva.data();
  p.kva_stride = ks;
  p.kv_lora = c.kv_lora;
  p.kv_norm_w = c.weight ? w.data() : nullptr;
  p.eps = 1e-6f;
  p.table = rope::RopeTable{table.data(), n_pos, static_cast<int>(c.nd)};
  p.pos = pos.data();
  p.cache = cache.data();
  p.cache_row_stride = cs;
  p.cache_row = rows.data();

  std::vector<float> q_ref = q, cache_ref = cache;
  attention::MlaPrepParams r = p;
  r.q = c.with_q ? q_ref.data() : nullptr;
  r.cache = cache_ref.data();
  REQUIRE(ref::attention::mla_prep(r).ok());
  const Status s = ga::mla_prep(p, {q.size(), kva.size(), cache.size()});
  REQUIRE(s.ok());
  INFO("T " << c.T << " H " << c.H << " kv_lora " << c.kv_lora << " nd " << c.nd);
  CHECK(dsk::test::compare_bits(cache, cache_ref).count == 0);
  CHECK(dsk::test::compare_bits(q, q_ref).count == 0);
}

}  // namespace

TEST_CASE("mla_prep: DeepSeek shapes", "[attention][mla_prep][gpu]") {
  run({1, 16, 128, 512, 64});
  run({4, 16, 128, 512, 64});
  run({70, 128, 128, 512, 64});
  run({3, 128, 128, 512, 64, 0, 0, 0, true, true, false});
}

TEST_CASE("mla_prep: odd sizes, padding, no weight, no q", "[attention][mla_prep][gpu]") {
  run({5, 3, 32, 200, 16, 3, 5, 7});
  run({9, 1, 0, 96, 2, 0, 1, 0, false});
  run({6, 4, 64, 1000, 64, 0, 0, 0, true, false});
  run({2, 2, 16, 257, 32, 1, 0, 3});
}

TEST_CASE("mla_prep: NaN / inf / ±0 / zero rows", "[attention][mla_prep][gpu]") {
  run({6, 16, 128, 512, 64, 0, 0, 0, true, true, true});
  run({4, 3, 32, 200, 16, 2, 3, 1, false, true, true});
}

TEST_CASE("mla_prep: invalid Params are errors", "[attention][mla_prep][gpu]") {
  attention::MlaPrepParams p;
  p.T = 1;
  p.kv_lora = 8;
  p.table.n_dims = 3;
  CHECK(attention::validate(p).code == Status::kInvalidArgument);
  p.table.n_dims = 4;
  CHECK(attention::validate(p).code == Status::kInvalidArgument);  // null pointers
}
