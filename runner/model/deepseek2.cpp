// model/deepseek2.cpp — deepseek2 config and tensors from GGUF (docs/models.md).
#include "model/deepseek2.hpp"

#include <cinttypes>
#include <cstring>
#include <optional>
#include <set>
#include <string_view>

#include "gguf/value.hpp"
#include "model/tensor_loader.hpp"
#include "reference/quant.hpp"

namespace dsk::model {

namespace {

using detail::Kind;
using detail::blk;
using detail::block_of;

constexpr const char* kArch = "deepseek2";

std::string k(std::string_view suffix) { return std::string(kArch) + "." + std::string(suffix); }


}  // namespace

bool is_weight_type(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0:
    case GgmlType::Q4_K: case GgmlType::Q6_K: case GgmlType::Q2_K: case GgmlType::IQ2_XXS:
      return true;
    default:
      return false;
  }
}

std::string dims_text(const int64_t* ne, int n_dims) {
  std::string s;
  for (int i = 0; i < n_dims; ++i) {
    if (i) s += " x ";
    s += std::to_string(ne[i]);
  }
  return s;
}

Result<void> finish_config(Deepseek2Config& c) {
  auto bad = [](const char* what) { return Error(std::string("deepseek2 config: ") + what); };
  if (c.n_block == 0) return bad("block_count is 0");
  if (c.nextn_predict_layers >= c.n_block) return bad("nextn_predict_layers must be less than block_count");
  c.n_layer = c.n_block - c.nextn_predict_layers;
  if (c.n_embd == 0 || c.n_head == 0) return bad("embedding_length and head_count must be positive");
  if (c.kv_lora == 0) return bad("kv_lora_rank is 0");
  if (c.d_rope == 0 || c.d_rope % 2 != 0) return bad("rope dimension must be positive and even");
  if (c.d_nope == 0 || c.d_v == 0) return bad("qk_nope and v head dims must be positive");
  c.n_rot = c.d_rope;
  c.d_qk = c.d_nope + c.d_rope;
  c.is_lite = c.q_lora == 0;
  if (c.n_layer_dense_lead > c.n_layer) return bad("leading_dense_block_count exceeds the layer count");
  if (c.n_expert > 0) {
    if (c.n_expert_used == 0 || c.n_expert_used > c.n_expert) return bad("expert_used_count must be 1..expert_count");
    if (c.n_ff_exp == 0) return bad("expert_feed_forward_length is 0");
  }
  if ((c.n_expert == 0 || c.n_layer_dense_lead > 0) && c.n_ff == 0) return bad("feed_forward_length is 0");
  if (c.n_expert_groups == 0) c.n_expert_groups = 1;
  if (c.n_group_used == 0) c.n_group_used = 1;
  if (c.n_expert_groups > 1) {
    if (c.n_expert % c.n_expert_groups != 0) return bad("expert_count is not a multiple of expert_group_count");
    if (c.n_group_used > c.n_expert_groups) return bad("expert_group_used_count exceeds expert_group_count");
    if (static_cast<uint64_t>(c.n_group_used) * (c.n_expert / c.n_expert_groups) < c.n_expert_used)
      return bad("expert_group_used_count groups hold fewer experts than expert_used_count");
  }
  if (c.n_ctx_orig_yarn == 0) c.n_ctx_orig_yarn = c.n_ctx_train;
  c.rope_freq_scale = c.rope_scaling_factor != 0.0f ? 1.0f / c.rope_scaling_factor : 1.0f;
  return ok();
}

Result<Deepseek2Config> deepseek2_config(const gguf::Metadata& md) {
  Deepseek2Config c;
  DSK_TRY_ASSIGN(std::string_view arch, md.get_string("general.architecture"));
  if (arch != kArch)
    return md.key_error("general.architecture", "is " + gguf::quoted(arch) + ", expected 'deepseek2'");

  auto req = [&](std::string_view key, uint32_t& out) -> Result<void> {
    DSK_TRY_ASSIGN(out, md.get_int<uint32_t>(k(key)));
    return ok();
  };
  auto opt = [&](std::string_view key, uint32_t& out) -> Result<bool> {
    DSK_TRY_ASSIGN(auto v, md.get_int_optional<uint32_t>(k(key)));
    if (v) out = *v;
    return v.has_value();
  };
  auto optf = [&](std::string_view key, float& out) -> Result<bool> {
    DSK_TRY_ASSIGN(auto v, md.get_float_optional(k(key)));
    if (v) out = static_cast<float>(*v);
    return v.has_value();
  };
  auto positive = [&](std::string_view key, uint32_t v) -> Result<void> {
    if (v == 0) return md.key_error(k(key), "is 0, must be positive");
    return ok();
  };

  DSK_TRY(req("block_count", c.n_block));
  DSK_TRY(positive("block_count", c.n_block));
  DSK_TRY(req("context_length", c.n_ctx_train));
  DSK_TRY(req("embedding_length", c.n_embd));
  DSK_TRY(positive("embedding_length", c.n_embd));
  DSK_TRY(req("feed_forward_length", c.n_ff));
  DSK_TRY(req("attention.head_count", c.n_head));
  DSK_TRY(positive("attention.head_count", c.n_head));
  c.n_head_kv_file = c.n_head;
  DSK_TRY(opt("attention.head_count_kv", c.n_head_kv_file));
  DSK_TRY(req("attention.key_length", c.key_length_file));
  DSK_TRY(req("attention.value_length", c.value_length_file));
  DSK_TRY(req("attention.kv_lora_rank", c.kv_lora));
  DSK_TRY(positive("attention.kv_lora_rank", c.kv_lora));
  DSK_TRY_ASSIGN(const bool has_q_lora, opt("attention.q_lora_rank", c.q_lora));
  if (has_q_lora && c.q_lora == 0) return md.key_error(k("attention.q_lora_rank"), "is 0 (omit the key for no q-LoRA)");
  {
    DSK_TRY_ASSIGN(double eps, md.get_float(k("attention.layer_norm_rms_epsilon")));
    if (!(eps > 0.0) || eps > 1.0) return md.key_error(k("attention.layer_norm_rms_epsilon"), "must be in (0, 1]");
    c.rms_eps = static_cast<float>(eps);
  }
  DSK_TRY(req("rope.dimension_count", c.n_rot));
  if (c.n_rot == 0 || c.n_rot % 2 != 0)
    return md.key_error(k("rope.dimension_count"), "is " + std::to_string(c.n_rot) + ", must be positive and even");
  DSK_TRY(optf("rope.freq_base", c.rope_freq_base));
  if (!(c.rope_freq_base > 0.0f)) return md.key_error(k("rope.freq_base"), "must be positive");

  // RoPE scaling (llama.cpp: type default "linear", factor 0 = none, original context = n_ctx_train).
  {
    DSK_TRY_ASSIGN(auto type, md.get_string_optional(k("rope.scaling.type")));
    if (type) {
      if (*type == "none") c.rope_scaling = RopeScaling::none;
      else if (*type == "linear") c.rope_scaling = RopeScaling::linear;
      else if (*type == "yarn") c.rope_scaling = RopeScaling::yarn;
      else
        return md.key_error(k("rope.scaling.type"), "is " + gguf::quoted(*type) +
                                                        ": supported are 'none', 'linear', 'yarn'");
    }
    DSK_TRY(optf("rope.scaling.factor", c.rope_scaling_factor));
    if (c.rope_scaling_factor < 0.0f || !(c.rope_scaling_factor == c.rope_scaling_factor))
      return md.key_error(k("rope.scaling.factor"), "must be >= 0");
    if (c.rope_scaling == RopeScaling::yarn && !(c.rope_scaling_factor >= 1.0f))
      return md.key_error(k("rope.scaling.factor"), "must be >= 1 with yarn scaling");
    DSK_TRY(opt("rope.scaling.original_context_length", c.n_ctx_orig_yarn));
    DSK_TRY(optf("rope.scaling.yarn_log_multiplier", c.yarn_log_mul));
    DSK_TRY(optf("rope.scaling.yarn_beta_fast", c.yarn_beta_fast));
    DSK_TRY(optf("rope.scaling.yarn_beta_slow", c.yarn_beta_slow));
    DSK_TRY(optf("rope.scaling.yarn_ext_factor", c.yarn_ext_factor));
    DSK_TRY(optf("rope.scaling.yarn_attn_factor", c.yarn_attn_factor));
  }

  // MoE.
  DSK_TRY(opt("leading_dense_block_count", c.n_layer_dense_lead));
  DSK_TRY(opt("expert_count", c.n_expert));
  if (c.n_expert > 0) {
    DSK_TRY(req("expert_used_count", c.n_expert_used));
    DSK_TRY(req("expert_feed_forward_length", c.n_ff_exp));
    DSK_TRY(positive("expert_feed_forward_length", c.n_ff_exp));
    if (c.n_expert_used == 0 || c.n_expert_used > c.n_expert)
      return md.key_error(k("expert_used_count"),
                          "is " + std::to_string(c.n_expert_used) + ", must be 1.." + std::to_string(c.n_expert));
    DSK_TRY(opt("expert_shared_count", c.n_expert_shared));
  } else {
    DSK_TRY(opt("expert_used_count", c.n_expert_used));
    DSK_TRY(opt("expert_feed_forward_length", c.n_ff_exp));
    DSK_TRY(opt("expert_shared_count", c.n_expert_shared));
  }
  DSK_TRY(optf("expert_weights_scale", c.expert_weights_scale));
  if (c.expert_weights_scale == 0.0f) c.expert_weights_scale = 1.0f;  // llama.cpp: 0 = no scaling
  {
    DSK_TRY_ASSIGN(auto norm, md.get_optional<bool>(k("expert_weights_norm")));
    if (norm) c.expert_weights_norm = *norm;
  }
  {
    uint32_t g = 0;
    DSK_TRY_ASSIGN(const bool has, opt("expert_gating_func", g));
    if (!has || g == 0) {
      c.gating_defaulted = true;
      c.gating = (c.n_block == 47 || c.n_block == 48) ? ExpertGating::sigmoid : ExpertGating::softmax;
    } else if (g == 1 || g == 2) {
      c.gating = static_cast<ExpertGating>(g);
    } else {
      return md.key_error(k("expert_gating_func"),
                          "is " + std::to_string(g) + ": supported are 1 (softmax) and 2 (sigmoid)");
    }
  }
  DSK_TRY(opt("expert_group_count", c.n_expert_groups));
  DSK_TRY(opt("expert_group_used_count", c.n_group_used));
  DSK_TRY(opt("nextn_predict_layers", c.nextn_predict_layers));
  if (c.nextn_predict_layers >= c.n_block)
    return md.key_error(k("nextn_predict_layers"), "is " + std::to_string(c.nextn_predict_layers) +
                                                       ", must be less than block_count " + std::to_string(c.n_block));

  // Vocabulary size: vocab_size, else the token list.
  {
    DSK_TRY_ASSIGN(auto vs, md.get_int_optional<uint32_t>(k("vocab_size")));
    const gguf::Value* tokens = md.find("tokenizer.ggml.tokens");
    if (tokens && !tokens->is_array())
      return md.key_error("tokenizer.ggml.tokens", "is not an array");
    if (vs) {
      c.n_vocab = *vs;
      if (tokens && tokens->size() != *vs)
        return md.key_error("tokenizer.ggml.tokens", "has " + std::to_string(tokens->size()) +
                                                         " entries, but " + k("vocab_size") + " is " +
                                                         std::to_string(*vs));
    } else if (tokens) {
      c.n_vocab = static_cast<uint32_t>(tokens->size());
    }
  }

  // MLA layout.
  uint32_t klm = 0, vlm = 0;
  DSK_TRY_ASSIGN(const bool has_klm, opt("attention.key_length_mla", klm));
  DSK_TRY_ASSIGN(const bool has_vlm, opt("attention.value_length_mla", vlm));
  if (has_klm != has_vlm)
    return md.key_error(k(has_klm ? "attention.value_length_mla" : "attention.key_length_mla"),
                        "not found (the *_mla keys come in pairs)");
  const bool mainline = c.n_head_kv_file == 1 && (c.n_head > 1 || has_klm);
  c.d_rope = c.n_rot;
  if (mainline) {
    c.layout = MlaLayout::mainline;
    if (!has_klm)
      return md.key_error(k("attention.key_length_mla"),
                          "not found (head_count_kv = 1: mainline MLA layout needs key_length_mla / value_length_mla)");
    if (c.key_length_file != c.kv_lora + c.n_rot)
      return md.key_error(k("attention.key_length"),
                          "is " + std::to_string(c.key_length_file) + ", expected kv_lora_rank + rope = " +
                              std::to_string(c.kv_lora + c.n_rot) + " (head_count_kv = 1, mainline layout)");
    if (c.value_length_file != c.kv_lora)
      return md.key_error(k("attention.value_length"), "is " + std::to_string(c.value_length_file) +
                                                           ", expected kv_lora_rank = " + std::to_string(c.kv_lora) +
                                                           " (head_count_kv = 1, mainline layout)");
    if (klm <= c.n_rot)
      return md.key_error(k("attention.key_length_mla"),
                          "is " + std::to_string(klm) + ", must exceed rope.dimension_count " + std::to_string(c.n_rot));
    c.d_nope = klm - c.n_rot;
    c.d_v = vlm;
  } else if (c.n_head_kv_file == c.n_head) {
    c.layout = MlaLayout::ik;
    if (c.key_length_file <= c.n_rot)
      return md.key_error(k("attention.key_length"), "is " + std::to_string(c.key_length_file) +
                                                         ", must exceed rope.dimension_count " + std::to_string(c.n_rot));
    c.d_nope = c.key_length_file - c.n_rot;
    c.d_v = c.value_length_file;
    if (has_klm && (klm != c.key_length_file || vlm != c.value_length_file))
      return md.key_error(k("attention.key_length_mla"), "disagrees with attention.key_length / value_length");
  } else {
    return md.key_error(k("attention.head_count_kv"),
                        "is " + std::to_string(c.n_head_kv_file) + ", expected 1 (mainline MLA layout) or head_count " +
                            std::to_string(c.n_head) + " (ik layout)");
  }
  if (c.d_v == 0) return md.key_error(k("attention.value_length"), "gives a value head size of 0");

  auto r = finish_config(c);
  if (!r) return std::move(r).error().context(md.source());
  return c;
}

// ------------------------------------------------------------------------------------------------
// Tensors

namespace {


// attn_k_b / attn_v_b from attn_kv_b (F32): kv_b ne [kv_lora, H*(nope+v)], head h rows
// [h*(nope+v), h*(nope+v)+nope) = W_UK_h (nope x kv_lora), the next d_v rows = W_UV_h (d_v x kv_lora).
//   k_b[h][c][n] = W_UK_h[n][c]  (ne [d_nope, kv_lora, H]: the transpose of W_UK_h)
//   v_b[h][j][c] = W_UV_h[j][c]  (ne [kv_lora, d_v, H])
void derive_kv(const Deepseek2Config& c, const TensorRef& kv_b, std::vector<float>& k_b, std::vector<float>& v_b) {
  const int64_t H = c.n_head, N = c.d_nope, V = c.d_v, C = c.kv_lora;
  k_b.assign(static_cast<size_t>(H * C * N), 0.0f);
  v_b.assign(static_cast<size_t>(H * V * C), 0.0f);
  std::vector<float> row(static_cast<size_t>(C));
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t i = 0; i < N + V; ++i) {
      ref::dequantize_row(kv_b.type, kv_b.row(h * (N + V) + i), row.data(), C);
      if (i < N) {
        for (int64_t cc = 0; cc < C; ++cc) k_b[static_cast<size_t>((h * C + cc) * N + i)] = row[static_cast<size_t>(cc)];
      } else {
        std::memcpy(&v_b[static_cast<size_t>((h * V + (i - N)) * C)], row.data(), static_cast<size_t>(C) * sizeof(float));
      }
    }
  }
}

TensorRef owned_ref(std::string name, const std::vector<float>& v, std::vector<int64_t> ne) {
  TensorRef t;
  t.name = std::move(name);
  t.type = GgmlType::F32;
  t.n_dims = static_cast<int>(ne.size());
  for (size_t i = 0; i < ne.size(); ++i) t.ne[i] = ne[i];
  t.data = reinterpret_cast<const uint8_t*>(v.data());
  t.nb1 = static_cast<size_t>(ne[0]) * sizeof(float);
  t.n_bytes = v.size() * sizeof(float);
  return t;
}


}  // namespace

Result<Deepseek2Model> load_deepseek2(const gguf::Reader& reader) {
  Deepseek2Model m;
  {
    auto cfg = deepseek2_config(reader.metadata());
    if (!cfg) return std::move(cfg).error();
    m.config = std::move(cfg).value();
  }
  Deepseek2Config& c = m.config;
  detail::TensorLoader L(reader);
  const int64_t E = c.n_embd, H = c.n_head;

  // Global tensors. n_vocab from token_embd when no key gave it.
  {
    const gguf::Tensor* te = reader.find_tensor("token_embd.weight");
    if (!te) return Error(reader.name() + ": tensor 'token_embd.weight' not found");
    if (c.n_vocab == 0) {
      if (te->ne[1] > 0xFFFFFFFFull) return L.err("token_embd.weight", "too many rows");
      c.n_vocab = static_cast<uint32_t>(te->ne[1]);
    }
  }
  const int64_t NV = c.n_vocab;
  DSK_TRY_ASSIGN(m.token_embd, L.need("token_embd.weight", {E, NV}, Kind::rows));
  DSK_TRY_ASSIGN(m.output_norm, L.need("output_norm.weight", {E}, Kind::f32));
  DSK_TRY_ASSIGN(m.output, L.maybe("output.weight", {E, NV}, Kind::weight));
  if (!m.output.present()) {
    DSK_TRY(L.check_type(m.token_embd, Kind::weight));
    m.output = m.token_embd;
    m.output_tied = true;
  }

  const int64_t Q = c.q_lora, C = c.kv_lora, R = c.d_rope, N = c.d_nope, V = c.d_v, DQK = c.d_qk;
  m.layers.resize(c.n_layer);
  for (uint32_t il = 0; il < c.n_layer; ++il) {
    Deepseek2Layer& l = m.layers[il];
    l.index = il;
    l.is_moe = c.is_moe_layer(il);
    DSK_TRY_ASSIGN(l.attn_norm, L.need(blk(il, "attn_norm.weight"), {E}, Kind::f32));
    if (c.is_lite) {
      DSK_TRY(L.must_not_have(blk(il, "attn_q_a.weight"), "the file has no attention.q_lora_rank"));
      DSK_TRY_ASSIGN(l.attn_q, L.need(blk(il, "attn_q.weight"), {E, H * DQK}, Kind::weight));
    } else {
      DSK_TRY(L.must_not_have(blk(il, "attn_q.weight"), "the file has attention.q_lora_rank (q-LoRA)"));
      DSK_TRY_ASSIGN(l.attn_q_a, L.need(blk(il, "attn_q_a.weight"), {E, Q}, Kind::weight));
      DSK_TRY_ASSIGN(l.attn_q_a_norm, L.need(blk(il, "attn_q_a_norm.weight"), {Q}, Kind::f32));
      DSK_TRY_ASSIGN(l.attn_q_b, L.need(blk(il, "attn_q_b.weight"), {Q, H * DQK}, Kind::weight));
    }
    DSK_TRY_ASSIGN(l.attn_kv_a_mqa, L.need(blk(il, "attn_kv_a_mqa.weight"), {E, C + R}, Kind::weight));
    DSK_TRY_ASSIGN(l.attn_kv_a_norm, L.need(blk(il, "attn_kv_a_norm.weight"), {C}, Kind::f32));
    DSK_TRY_ASSIGN(l.attn_kv_b, L.maybe(blk(il, "attn_kv_b.weight"), {C, H * (N + V)}, Kind::weight));

    // attn_k_b / attn_v_b: 3-D (mainline), 2-D (ik; viewed as 3-D), or derived from attn_kv_b.
    const std::vector<int64_t> kb3{N, C, H}, kb2{N, C * H}, vb3{C, V, H}, vb2{C, V * H};
    for (int which = 0; which < 2; ++which) {
      const std::string name = blk(il, which == 0 ? "attn_k_b.weight" : "attn_v_b.weight");
      const auto& s3 = which == 0 ? kb3 : vb3;
      const auto& s2 = which == 0 ? kb2 : vb2;
      TensorRef& dst = which == 0 ? l.attn_k_b : l.attn_v_b;
      const gguf::Tensor* t = reader.find_tensor(name);
      if (!t) continue;
      TensorRef v = L.view(*t);
      if (detail::TensorLoader::same_shape(v, s2) && v.n_dims == 2) {
        v.n_dims = 3;
        v.ne[0] = s3[0];
        v.ne[1] = s3[1];
        v.ne[2] = s3[2];
      } else if (!detail::TensorLoader::same_shape(v, s3)) {
        return L.shape_error(v, s3, " (or " + dims_text(s2.data(), 2) + ", ik's 2-D form)");
      }
      DSK_TRY(L.check_type(v, Kind::weight));
      dst = v;
    }
    if (l.attn_k_b.present() != l.attn_v_b.present()) {
      const std::string missing = blk(il, l.attn_k_b.present() ? "attn_v_b.weight" : "attn_k_b.weight");
      return L.err(missing, "not found (attn_k_b and attn_v_b come in pairs)");
    }
    if (!l.attn_k_b.present()) {
      if (!l.attn_kv_b.present())
        return Error(reader.name() + ": layer " + std::to_string(il) +
                     ": no attention up-projection: neither attn_k_b/attn_v_b nor attn_kv_b is present");
      if (N % 32 != 0)
        return L.err(l.attn_kv_b.name, "cannot derive attn_k_b: qk_nope head dim " + std::to_string(N) +
                                           " is not a multiple of 32");
      auto kb = std::make_unique<std::vector<float>>();
      auto vb = std::make_unique<std::vector<float>>();
      derive_kv(c, l.attn_kv_b, *kb, *vb);
      l.attn_k_b = owned_ref(blk(il, "attn_k_b.weight (derived)"), *kb, kb3);
      l.attn_v_b = owned_ref(blk(il, "attn_v_b.weight (derived)"), *vb, vb3);
      l.k_b_derived = l.v_b_derived = true;
      m.owned.push_back(std::move(kb));
      m.owned.push_back(std::move(vb));
    }
    DSK_TRY_ASSIGN(l.attn_output, L.need(blk(il, "attn_output.weight"), {H * V, E}, Kind::weight));
    DSK_TRY_ASSIGN(l.ffn_norm, L.need(blk(il, "ffn_norm.weight"), {E}, Kind::f32));

    if (!l.is_moe) {
      const int64_t F = c.n_ff;
      DSK_TRY(L.must_not_have(blk(il, "ffn_gate_inp.weight"), "the layer is dense (leading_dense_block_count)"));
      DSK_TRY_ASSIGN(l.ffn_gate, L.need(blk(il, "ffn_gate.weight"), {E, F}, Kind::weight));
      DSK_TRY_ASSIGN(l.ffn_up, L.need(blk(il, "ffn_up.weight"), {E, F}, Kind::weight));
      DSK_TRY_ASSIGN(l.ffn_down, L.need(blk(il, "ffn_down.weight"), {F, E}, Kind::weight));
    } else {
      const int64_t X = c.n_expert, FX = c.n_ff_exp, FS = static_cast<int64_t>(c.n_ff_exp) * c.n_expert_shared;
      DSK_TRY(L.must_not_have(blk(il, "ffn_gate.weight"), "the layer is a MoE layer (leading_dense_block_count)"));
      DSK_TRY_ASSIGN(l.ffn_gate_inp, L.need(blk(il, "ffn_gate_inp.weight"), {E, X}, Kind::weight));
      DSK_TRY_ASSIGN(l.exp_probs_b, L.maybe(blk(il, "exp_probs_b.bias"), {X}, Kind::f32));
      DSK_TRY_ASSIGN(l.ffn_gate_exps, L.need(blk(il, "ffn_gate_exps.weight"), {E, FX, X}, Kind::weight));
      DSK_TRY_ASSIGN(l.ffn_up_exps, L.need(blk(il, "ffn_up_exps.weight"), {E, FX, X}, Kind::weight));
      DSK_TRY_ASSIGN(l.ffn_down_exps, L.need(blk(il, "ffn_down_exps.weight"), {FX, E, X}, Kind::weight));
      if (c.n_expert_shared > 0) {
        DSK_TRY_ASSIGN(l.ffn_gate_shexp, L.need(blk(il, "ffn_gate_shexp.weight"), {E, FS}, Kind::weight));
        DSK_TRY_ASSIGN(l.ffn_up_shexp, L.need(blk(il, "ffn_up_shexp.weight"), {E, FS}, Kind::weight));
        DSK_TRY_ASSIGN(l.ffn_down_shexp, L.need(blk(il, "ffn_down_shexp.weight"), {FS, E}, Kind::weight));
      } else {
        DSK_TRY(L.must_not_have(blk(il, "ffn_gate_shexp.weight"), "expert_shared_count is 0"));
      }
    }
  }

  // MTP blocks and leftovers.
  for (const gguf::Tensor& t : reader.tensors()) {
    if (L.used_.count(t.name)) continue;
    const auto b = block_of(t.name);
    if ((b && *b >= c.n_layer) || t.name.find(".nextn.") != std::string::npos) {
      m.nextn.emplace(t.name, L.view(t));
    } else {
      m.unused.push_back(t.name);
    }
  }
  return m;
}

// ------------------------------------------------------------------------------------------------

void set_deepseek2_metadata(gguf::Metadata& md, const Deepseek2Config& c, MlaLayout layout) {
  using gguf::Value;
  auto u32 = [&](std::string_view key, uint32_t v) { md.set(k(key), Value::scalar(v)); };
  auto f32 = [&](std::string_view key, float v) { md.set(k(key), Value::scalar(v)); };
  md.set("general.architecture", Value::string(kArch));
  u32("block_count", c.n_block);
  u32("context_length", c.n_ctx_train);
  u32("embedding_length", c.n_embd);
  u32("feed_forward_length", c.n_ff);
  u32("attention.head_count", c.n_head);
  if (layout == MlaLayout::mainline) {
    u32("attention.head_count_kv", 1);
    u32("attention.key_length", c.kv_lora + c.d_rope);
    u32("attention.value_length", c.kv_lora);
    u32("attention.key_length_mla", c.d_nope + c.d_rope);
    u32("attention.value_length_mla", c.d_v);
  } else {
    u32("attention.head_count_kv", c.n_head);
    u32("attention.key_length", c.d_nope + c.d_rope);
    u32("attention.value_length", c.d_v);
  }
  f32("rope.freq_base", c.rope_freq_base);
  f32("attention.layer_norm_rms_epsilon", c.rms_eps);
  u32("expert_count", c.n_expert);
  u32("expert_used_count", c.n_expert_used);
  u32("leading_dense_block_count", c.n_layer_dense_lead);
  u32("vocab_size", c.n_vocab);
  if (c.q_lora > 0) u32("attention.q_lora_rank", c.q_lora);
  u32("attention.kv_lora_rank", c.kv_lora);
  u32("expert_feed_forward_length", c.n_ff_exp);
  u32("expert_shared_count", c.n_expert_shared);
  f32("expert_weights_scale", c.expert_weights_scale);
  md.set(k("expert_weights_norm"), Value::scalar(c.expert_weights_norm));
  u32("expert_gating_func", static_cast<uint32_t>(c.gating));
  if (c.n_expert_groups > 1) {
    u32("expert_group_count", c.n_expert_groups);
    u32("expert_group_used_count", c.n_group_used);
  }
  if (c.nextn_predict_layers > 0) u32("nextn_predict_layers", c.nextn_predict_layers);
  u32("rope.dimension_count", c.d_rope);
  if (c.rope_scaling == RopeScaling::yarn ||
      (c.rope_scaling == RopeScaling::linear && c.rope_scaling_factor != 0.0f && c.rope_scaling_factor != 1.0f)) {
    md.set(k("rope.scaling.type"), Value::string(c.rope_scaling == RopeScaling::yarn ? "yarn" : "linear"));
    f32("rope.scaling.factor", c.rope_scaling_factor);
    u32("rope.scaling.original_context_length", c.n_ctx_orig_yarn ? c.n_ctx_orig_yarn : c.n_ctx_train);
    if (c.rope_scaling == RopeScaling::yarn) {
      f32("rope.scaling.yarn_log_multiplier", c.yarn_log_mul);
      if (c.yarn_beta_fast != 32.0f) f32("rope.scaling.yarn_beta_fast", c.yarn_beta_fast);
      if (c.yarn_beta_slow != 1.0f) f32("rope.scaling.yarn_beta_slow", c.yarn_beta_slow);
    }
  }
}

}  // namespace dsk::model
