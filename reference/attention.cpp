// reference/attention.cpp — see reference/attention.hpp.
#include "reference/attention.hpp"

#include <vector>

#include "dsk/core/math.hpp"
#include "dsk/moe/moe.hpp"
#include "reference/norm.hpp"
#include "reference/quant.hpp"
#include "reference/rope.hpp"

namespace dsk::ref::attention {

using namespace dsk::attention;

namespace {
bool k_ok(GgmlType w, int64_t K) {
  return K % ref::dot_block_elems(w) == 0 && K % ref::block_elems(ref::activation_type(w)) == 0;
}
}  // namespace

Status mla(const MlaParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  if (!moe::weight_type_supported(p.k_b_type) || !moe::weight_type_supported(p.v_b_type))
    return Status::Unsupported("mla: k_b / v_b type");
  if (!k_ok(p.k_b_type, p.d_nope)) return Status::Invalid("mla: d_nope not a multiple of k_b's block");
  if (!k_ok(p.v_b_type, p.kv_lora)) return Status::Invalid("mla: kv_lora not a multiple of v_b's block");

  const int64_t H = p.n_head, D = p.rope_dims + p.kv_lora;
  const int64_t qh = p.q_head_stride ? p.q_head_stride : p.d_nope + p.rope_dims;
  const int64_t qt = p.q_token_stride ? p.q_token_stride : qh * H;
  const int64_t os = p.out_stride ? p.out_stride : H * p.d_v;
  const size_t crb = p.cache_row_bytes ? p.cache_row_bytes : ref::row_bytes(p.cache_type, D);
  const size_t kb_row = ref::row_bytes(p.k_b_type, p.d_nope), vb_row = ref::row_bytes(p.v_b_type, p.kv_lora);
  const GgmlType ka = ref::activation_type(p.k_b_type), va = ref::activation_type(p.v_b_type);
  const char* cache = static_cast<const char*>(p.cache);
  const int64_t n_ctx = p.p0 + p.T;

  // Every cache row widened exactly and zero-padded to Dp, a multiple of the 32-element dot block
  // (K rows), and its c_kv part (what the kernel reads as V).
  const int64_t Dp = (D + 31) / 32 * 32;
  std::vector<float> v(static_cast<size_t>(n_ctx) * p.kv_lora), kr(static_cast<size_t>(n_ctx) * Dp, 0.0f);
  for (int64_t j = 0; j < n_ctx; ++j) {
    float* row = kr.data() + j * Dp;
    ref::dequantize_row(p.cache_type, cache + j * crb, row, D);
    for (int64_t d = 0; d < p.kv_lora; ++d) v[j * p.kv_lora + d] = row[p.rope_dims + d];
  }

  std::vector<uint8_t> qa(ref::row_bytes(ka, p.d_nope)), oa(ref::row_bytes(va, p.kv_lora));
  std::vector<float> qhat(Dp, 0.0f), s, o(p.kv_lora), O(p.kv_lora), oc(p.kv_lora), mc, lc;
  for (int64_t t = 0; t < p.T; ++t) {
    const int64_t pos = p.p0 + t, n = pos + 1, nc = (n + kChunk - 1) / kChunk;
    s.resize(n);
    for (int64_t h = 0; h < H; ++h) {
      const float* qv = p.q + t * qt + h * qh;
      // 1-2. Q^ = [q_rope | W_UK^T q_nope]
      ref::quantize_row(ka, qv, qa.data(), p.d_nope, p.flavor);
      ref::gemv(p.k_b_type, static_cast<const char*>(p.k_b) + static_cast<size_t>(h * p.kv_lora) * kb_row, p.kv_lora,
                qa.data(), p.d_nope, qhat.data() + p.rope_dims, kb_row);
      for (int64_t d = 0; d < p.rope_dims; ++d) qhat[d] = qv[p.d_nope + d];
      // 3. scores
      for (int64_t j = 0; j < n; ++j)
        s[j] = fp::mul(p.kq_scale, ref::dot_row(GgmlType::F32, kr.data() + j * Dp, qhat.data(), Dp));
      // 4. chunks, then the merge in chunk order
      mc.assign(nc, 0.0f);
      lc.assign(nc, 0.0f);
      std::vector<float> ocs(static_cast<size_t>(nc) * p.kv_lora);
      for (int64_t c = 0; c < nc; ++c) {
        const int64_t j0 = c * kChunk, j1 = (c + 1) * kChunk < n ? (c + 1) * kChunk : n;
        float m = fp::from_bits(0xff800000u);
        for (int64_t j = j0; j < j1; ++j) m = fp::max_num(m, s[j]);
        float l = 0.0f;
        for (float& a : oc) a = 0.0f;
        for (int64_t j = j0; j < j1; ++j) {
          const float e = math::exp(fp::sub(s[j], m));
          l = fp::add(l, e);
          const float* vj = v.data() + j * p.kv_lora;
          for (int64_t d = 0; d < p.kv_lora; ++d) oc[d] = fp::fma(e, vj[d], oc[d]);
        }
        mc[c] = m;
        lc[c] = l;
        for (int64_t d = 0; d < p.kv_lora; ++d) ocs[c * p.kv_lora + d] = oc[d];
      }
      float M = fp::from_bits(0xff800000u);
      for (int64_t c = 0; c < nc; ++c) M = fp::max_num(M, mc[c]);
      float L = 0.0f;
      for (float& a : O) a = 0.0f;
      for (int64_t c = 0; c < nc; ++c) {
        const float f = math::exp(fp::sub(mc[c], M));
        L = fp::fma(f, lc[c], L);
        for (int64_t d = 0; d < p.kv_lora; ++d) O[d] = fp::fma(f, ocs[c * p.kv_lora + d], O[d]);
      }
      for (int64_t d = 0; d < p.kv_lora; ++d) o[d] = fp::div(O[d], L);
      // 5. out_h = W_UV o
      ref::quantize_row(va, o.data(), oa.data(), p.kv_lora, p.flavor);
      ref::gemv(p.v_b_type, static_cast<const char*>(p.v_b) + static_cast<size_t>(h * p.d_v) * vb_row, p.d_v, oa.data(),
                p.kv_lora, p.out + t * os + h * p.d_v, vb_row);
    }
  }
  return Status::Ok();
}

Status mla_prep(const MlaPrepParams& p) {
  if (Status s = validate(p); !s.ok()) return s;
  const int64_t nd = p.table.n_dims;
  const int64_t cs = p.cache_row_stride ? p.cache_row_stride : p.kv_lora + nd;
  for (int64_t t = 0; t < p.T; ++t) {
    float* row = p.cache + static_cast<int64_t>(p.cache_row[t]) * cs;
    const float* kr = p.kva + t * p.kva_stride;
    dsk::norm::RmsNormParams n;
    n.x = kr;
    n.w = p.kv_norm_w;
    n.y = row + nd;
    n.T = 1;
    n.n = p.kv_lora;
    n.eps = p.eps;
    if (Status s = ref::norm::rms_norm(n); !s.ok()) return s;
    dsk::rope::Params k;
    k.x = kr + p.kv_lora;
    k.y = row;
    k.pos = p.pos + t;
    k.table = p.table;
    k.T = 1;
    k.head_dim = nd;
    k.rope_dims = nd;
    if (Status s = ref::rope::apply(k); !s.ok()) return s;
    if (p.n_head == 0) continue;
    dsk::rope::Params q;
    q.x = q.y = p.q + t * p.q_token_stride;
    q.pos = p.pos + t;
    q.table = p.table;
    q.T = 1;
    q.n_head = p.n_head;
    q.head_dim = p.d_nope + nd;
    q.x_head_stride = q.y_head_stride = p.q_head_stride;
    q.x_token_stride = q.y_token_stride = p.q_token_stride;
    q.rope_offset = p.d_nope;
    q.rope_dims = nd;
    if (Status s = ref::rope::apply(q); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace dsk::ref::attention
