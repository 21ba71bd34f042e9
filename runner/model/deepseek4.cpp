// model/deepseek4.cpp — see deepseek4.hpp.
#include "model/deepseek4.hpp"

#include <cmath>
#include <set>
#include <string>
#include <string_view>

#include "model/tensor_loader.hpp"

namespace dsk::model {

namespace {

constexpr std::string_view kArch = "deepseek4";
std::string key(std::string_view suffix) { return std::string(kArch) + "." + std::string(suffix); }

}  // namespace

Result<Deepseek4Config> deepseek4_config(const gguf::Metadata& md) {
  Deepseek4Config c;
  DSK_TRY_ASSIGN(std::string_view arch, md.get_string("general.architecture"));
  if (arch != kArch) return md.key_error("general.architecture", "is " + gguf::quoted(arch) + ", expected 'deepseek4'");

  auto req = [&](std::string_view k, uint32_t& out) -> Result<void> {
    DSK_TRY_ASSIGN(out, md.get_int<uint32_t>(key(k)));
    if (out == 0) return md.key_error(key(k), "is 0, must be positive");
    return ok();
  };
  auto opt = [&](std::string_view k, uint32_t& out) -> Result<bool> {
    DSK_TRY_ASSIGN(auto v, md.get_int_optional<uint32_t>(key(k)));
    if (v) out = *v;
    return v.has_value();
  };
  auto optf = [&](std::string_view k, float& out) -> Result<bool> {
    DSK_TRY_ASSIGN(auto v, md.get_float_optional(key(k)));
    if (v) {
      if (!std::isfinite(*v)) return md.key_error(key(k), "is not finite");
      out = static_cast<float>(*v);
    }
    return v.has_value();
  };
  auto eps = [&](std::string_view k, float& out, bool required) -> Result<void> {
    bool have = true;
    if (required) {
      DSK_TRY_ASSIGN(double v, md.get_float(key(k)));
      out = static_cast<float>(v);
    } else {
      DSK_TRY_ASSIGN(have, optf(k, out));
    }
    if (have && !(out > 0.0f && out <= 1.0f)) return md.key_error(key(k), "must be in (0, 1]");
    return ok();
  };

  {
    uint32_t n_block = 0;
    DSK_TRY(req("block_count", n_block));
    DSK_TRY(opt("nextn_predict_layers", c.n_nextn));
    if (c.n_nextn >= n_block)
      return md.key_error(key("nextn_predict_layers"), "is " + std::to_string(c.n_nextn) +
                                                         ", must be less than block_count " + std::to_string(n_block));
    c.n_layer = n_block - c.n_nextn;
  }
  DSK_TRY(req("embedding_length", c.n_embd));
  {
    DSK_TRY_ASSIGN(const bool have, opt("vocab_size", c.n_vocab));
    if (have && c.n_vocab == 0) return md.key_error(key("vocab_size"), "is 0, must be positive");
    if (!have) {  // llama.cpp's converter may not write it: the tokenizer's size, else token_embd's rows
      DSK_TRY_ASSIGN(auto toks, md.get_array_optional("tokenizer.ggml.tokens"));
      if (toks) c.n_vocab = static_cast<uint32_t>(toks->size());
    }
  }
  DSK_TRY(opt("context_length", c.n_ctx_train));
  DSK_TRY(req("attention.head_count", c.n_head));
  DSK_TRY(opt("attention.head_count_kv", c.n_head_kv));
  if (c.n_head_kv != 1)
    return md.key_error(key("attention.head_count_kv"),
                        "is " + std::to_string(c.n_head_kv) + ": DeepSeek-V4 attention has one shared KV head");
  DSK_TRY(req("attention.key_length", c.head_dim));
  {
    uint32_t v = 0;
    DSK_TRY(req("attention.value_length", v));
    if (v != c.head_dim)
      return md.key_error(key("attention.value_length"), "is " + std::to_string(v) + ", must equal key_length " +
                                                            std::to_string(c.head_dim) + " (K and V are one vector)");
  }
  DSK_TRY(req("rope.dimension_count", c.n_rot));
  if (c.n_rot % 2 != 0 || c.n_rot > c.head_dim)
    return md.key_error(key("rope.dimension_count"), "is " + std::to_string(c.n_rot) + ", must be even and <= key_length");
  DSK_TRY(req("attention.q_lora_rank", c.q_lora));
  DSK_TRY(req("attention.output_lora_rank", c.o_lora));
  DSK_TRY(req("attention.output_group_count", c.n_out_group));
  if (c.n_head % c.n_out_group != 0)
    return md.key_error(key("attention.output_group_count"),
                        "is " + std::to_string(c.n_out_group) + ", must divide head_count " + std::to_string(c.n_head));
  DSK_TRY(eps("attention.layer_norm_rms_epsilon", c.rms_eps, true));

  // Experts and routing.
  DSK_TRY(req("expert_count", c.n_expert));
  DSK_TRY(req("expert_used_count", c.n_expert_used));
  if (c.n_expert_used > c.n_expert || c.n_expert_used > 16)
    return md.key_error(key("expert_used_count"), "is " + std::to_string(c.n_expert_used) +
                                                     ", must be <= expert_count and <= 16");
  DSK_TRY(req("expert_feed_forward_length", c.n_ff_exp));
  DSK_TRY(opt("expert_shared_count", c.n_expert_shared));
  DSK_TRY(opt("hash_layer_count", c.n_hash_layer));
  if (c.n_hash_layer > c.n_layer)
    return md.key_error(key("hash_layer_count"), "is " + std::to_string(c.n_hash_layer) + ", more than the " +
                                                    std::to_string(c.n_layer) + " main layers");
  {
    // llama.cpp writes its gating enum (its sqrt-softplus value); the known others are not V4's routing.
    DSK_TRY_ASSIGN(auto g, md.get_int_optional<uint32_t>(key("expert_gating_func")));
    if (g && *g >= 1 && *g <= 3)
      return md.key_error(key("expert_gating_func"),
                          "is " + std::to_string(*g) + " (softmax / sigmoid): DeepSeek-V4 routes with sqrt(softplus)");
  }
  DSK_TRY(opt("expert_group_count", c.n_expert_groups));
  DSK_TRY(opt("expert_group_used_count", c.n_group_used));
  if (c.n_expert_groups > 1) {
    if (c.n_expert % c.n_expert_groups != 0)
      return md.key_error(key("expert_group_count"), "does not divide expert_count");
    if (c.n_group_used < 1 || c.n_group_used > c.n_expert_groups)
      return md.key_error(key("expert_group_used_count"), "must be in [1, expert_group_count]");
  }
  DSK_TRY(optf("expert_weights_scale", c.expert_weights_scale));
  if (!(c.expert_weights_scale > 0.0f)) return md.key_error(key("expert_weights_scale"), "must be positive");
  {
    DSK_TRY_ASSIGN(auto norm, md.get_optional<bool>(key("expert_weights_norm")));
    if (norm) c.expert_weights_norm = *norm;
  }

  // Per-layer compression ratios and SwiGLU clamps (arrays may be longer: + the MTP block).
  {
    DSK_TRY_ASSIGN(std::vector<uint32_t> r, md.get_int_array<uint32_t>(key("attention.compress_ratios")));
    if (r.size() < c.n_layer)
      return md.key_error(key("attention.compress_ratios"),
                          "has " + std::to_string(r.size()) + " entries for " + std::to_string(c.n_layer) + " layers");
    r.resize(c.n_layer);
    for (size_t i = 0; i < r.size(); ++i)
      if (r[i] > 65536)
        return md.key_error(key("attention.compress_ratios"),
                            "entry " + std::to_string(i) + " is " + std::to_string(r[i]) +
                                ": supported are 0 (raw window), 4 (CSA) and 1 .. 65536 (HCA)");
    c.compress_ratio = std::move(r);
  }
  {
    DSK_TRY_ASSIGN(std::vector<double> f, md.get_float_array(key("swiglu_clamp_exp")));
    if (f.size() < c.n_layer)
      return md.key_error(key("swiglu_clamp_exp"),
                          "has " + std::to_string(f.size()) + " entries for " + std::to_string(c.n_layer) + " layers");
    for (uint32_t i = 0; i < c.n_layer; ++i) {
      if (!(f[i] > 0.0) || !std::isfinite(f[i]))
        return md.key_error(key("swiglu_clamp_exp"), "entry " + std::to_string(i) + " must be positive and finite");
      c.swiglu_clamp.push_back(static_cast<float>(f[i]));
    }
  }
  bool any_compressed = false, any_csa = false;
  for (uint32_t r : c.compress_ratio) {
    any_compressed = any_compressed || r != 0;
    any_csa = any_csa || r == 4;
  }

  // Attention context: the raw window, the indexer (ratio-4 layers), hyper-connections.
  DSK_TRY(req("attention.sliding_window", c.n_swa));
  if (any_csa) {
    DSK_TRY(req("attention.indexer.head_count", c.n_indexer_head));
    DSK_TRY(req("attention.indexer.key_length", c.indexer_head_dim));
    DSK_TRY(req("attention.indexer.top_k", c.indexer_top_k));
    if (c.n_rot > c.indexer_head_dim)
      return md.key_error(key("attention.indexer.key_length"), "is smaller than rope.dimension_count");
  } else {
    DSK_TRY(opt("attention.indexer.head_count", c.n_indexer_head));
    DSK_TRY(opt("attention.indexer.key_length", c.indexer_head_dim));
    DSK_TRY(opt("attention.indexer.top_k", c.indexer_top_k));
  }
  DSK_TRY(req("hyper_connection.count", c.n_hc));
  DSK_TRY(req("hyper_connection.sinkhorn_iterations", c.sinkhorn_iters));
  DSK_TRY(eps("hyper_connection.epsilon", c.hc_eps, false));

  // RoPE: plain for uncompressed layers, compress_rope_freq_base + YaRN for compressed ones.
  DSK_TRY(optf("rope.freq_base", c.rope_freq_base));
  if (!(c.rope_freq_base > 0.0f)) return md.key_error(key("rope.freq_base"), "must be positive");
  {
    DSK_TRY_ASSIGN(const bool have, optf("attention.compress_rope_freq_base", c.compress_rope_freq_base));
    if (!have && any_compressed)
      return md.key_error(key("attention.compress_rope_freq_base"), "missing: the file has compressed layers");
    if (!(c.compress_rope_freq_base > 0.0f))
      return md.key_error(key("attention.compress_rope_freq_base"), "must be positive");
  }
  DSK_TRY(optf("rope.scaling.factor", c.rope_scaling_factor));
  if (!(c.rope_scaling_factor >= 1.0f)) return md.key_error(key("rope.scaling.factor"), "must be >= 1");
  if (c.rope_scaling_factor > 1.0f) {
    DSK_TRY_ASSIGN(c.n_ctx_orig_yarn, md.get_int<uint64_t>(key("rope.scaling.original_context_length")));
    if (c.n_ctx_orig_yarn == 0) return md.key_error(key("rope.scaling.original_context_length"), "is 0");
  }
  DSK_TRY(optf("rope.scaling.yarn_beta_fast", c.yarn_beta_fast));
  DSK_TRY(optf("rope.scaling.yarn_beta_slow", c.yarn_beta_slow));
  return c;
}

namespace {

// One layer's tensors under `prefix` ("blk.N." or "mtp.0."), shapes from c, kind from ratio / hash.
// The MTP block (mtp = true): exp_probs_b required, never tid2eid or compressors (spec §2.3).
Result<void> load_layer(detail::TensorLoader& L, const Deepseek4Config& c, const std::string& prefix, Deepseek4Layer& l,
                        bool mtp) {
  using detail::Kind;
  const int64_t E = c.n_embd, NV = c.n_vocab, H = c.n_head, D = c.head_dim, HC = c.hc_dim(), NC = c.n_hc_ctrl();
  const int64_t Q = c.q_lora, G = c.n_out_group, OL = c.o_lora, NE = c.n_expert, FF = c.n_ff_exp;
  auto name = [&](const std::string& what) { return prefix + what; };
  auto need = [&](const std::string& what, std::vector<int64_t> ne, Kind kind) {
    return L.need(name(what), std::move(ne), kind);
  };
  DSK_TRY_ASSIGN(l.hc_attn_fn, need("hc_attn_fn.weight", {HC, NC}, Kind::weight));
  DSK_TRY_ASSIGN(l.hc_attn_scale, need("hc_attn_scale.weight", {3}, Kind::f32));
  DSK_TRY_ASSIGN(l.hc_attn_base, need("hc_attn_base.weight", {NC}, Kind::f32));
  DSK_TRY_ASSIGN(l.hc_ffn_fn, need("hc_ffn_fn.weight", {HC, NC}, Kind::weight));
  DSK_TRY_ASSIGN(l.hc_ffn_scale, need("hc_ffn_scale.weight", {3}, Kind::f32));
  DSK_TRY_ASSIGN(l.hc_ffn_base, need("hc_ffn_base.weight", {NC}, Kind::f32));
  DSK_TRY_ASSIGN(l.attn_norm, need("attn_norm.weight", {E}, Kind::f32));
  DSK_TRY_ASSIGN(l.attn_q_a, need("attn_q_a.weight", {E, Q}, Kind::weight));
  DSK_TRY_ASSIGN(l.attn_q_a_norm, need("attn_q_a_norm.weight", {Q}, Kind::f32));
  DSK_TRY_ASSIGN(l.attn_q_b, need("attn_q_b.weight", {Q, H * D}, Kind::weight));
  DSK_TRY_ASSIGN(l.attn_kv, need("attn_kv.weight", {E, D}, Kind::weight));
  DSK_TRY_ASSIGN(l.attn_kv_a_norm, need("attn_kv_a_norm.weight", {D}, Kind::f32));
  DSK_TRY_ASSIGN(l.attn_sinks, need("attn_sinks.weight", {H}, Kind::f32));
  DSK_TRY_ASSIGN(l.attn_output_a, need("attn_output_a.weight", {H * D / G, G * OL}, Kind::weight));
  DSK_TRY_ASSIGN(l.attn_output_b, need("attn_output_b.weight", {G * OL, E}, Kind::weight));
  const std::string comp[] = {"attn_compressor_ape.weight", "attn_compressor_kv.weight", "attn_compressor_gate.weight",
                              "attn_compressor_norm.weight"};
  const std::string idx[] = {"indexer.attn_q_b.weight",        "indexer.proj.weight",
                             "indexer_compressor_ape.weight",  "indexer_compressor_kv.weight",
                             "indexer_compressor_gate.weight", "indexer_compressor_norm.weight"};
  if (l.compress_ratio != 0) {
    const int64_t cw = (l.compress_ratio == 4 ? 2 : 1) * D, ratio = l.compress_ratio;
    DSK_TRY_ASSIGN(l.attn_compressor_ape, need(comp[0], {cw, ratio}, Kind::rows));
    DSK_TRY_ASSIGN(l.attn_compressor_kv, need(comp[1], {E, cw}, Kind::weight));
    DSK_TRY_ASSIGN(l.attn_compressor_gate, need(comp[2], {E, cw}, Kind::weight));
    DSK_TRY_ASSIGN(l.attn_compressor_norm, need(comp[3], {D}, Kind::f32));
  } else {
    const char* why = mtp ? "the MTP block has no compressor" : "the layer's compress ratio is 0";
    for (const std::string& n : comp) DSK_TRY(L.must_not_have(name(n), why));
  }
  if (l.compress_ratio == 4) {
    const int64_t IH = c.n_indexer_head, ID = c.indexer_head_dim, iw = 2 * ID;
    DSK_TRY_ASSIGN(l.indexer_q_b, need(idx[0], {Q, IH * ID}, Kind::weight));
    DSK_TRY_ASSIGN(l.indexer_proj, need(idx[1], {E, IH}, Kind::weight));
    DSK_TRY_ASSIGN(l.indexer_compressor_ape, need(idx[2], {iw, 4}, Kind::rows));
    DSK_TRY_ASSIGN(l.indexer_compressor_kv, need(idx[3], {E, iw}, Kind::weight));
    DSK_TRY_ASSIGN(l.indexer_compressor_gate, need(idx[4], {E, iw}, Kind::weight));
    DSK_TRY_ASSIGN(l.indexer_compressor_norm, need(idx[5], {ID}, Kind::f32));
  } else {
    for (const std::string& n : idx) DSK_TRY(L.must_not_have(name(n), "only ratio-4 (CSA) layers have an indexer"));
  }
  DSK_TRY_ASSIGN(l.ffn_norm, need("ffn_norm.weight", {E}, Kind::f32));
  DSK_TRY_ASSIGN(l.ffn_gate_inp, need("ffn_gate_inp.weight", {E, NE}, Kind::weight));
  if (mtp) {
    DSK_TRY_ASSIGN(l.exp_probs_b, need("exp_probs_b.bias", {NE}, Kind::f32));
  } else {
    DSK_TRY_ASSIGN(l.exp_probs_b, L.maybe(name("exp_probs_b.bias"), {NE}, Kind::f32));
  }
  DSK_TRY_ASSIGN(l.ffn_gate_exps, need("ffn_gate_exps.weight", {E, FF, NE}, Kind::weight));
  DSK_TRY_ASSIGN(l.ffn_up_exps, need("ffn_up_exps.weight", {E, FF, NE}, Kind::weight));
  if (l.ffn_up_exps.type != l.ffn_gate_exps.type)
    return L.err(l.ffn_up_exps.name, "type " + std::string(ggml_type_name(l.ffn_up_exps.type)) +
                                         " differs from ffn_gate_exps' " + std::string(ggml_type_name(l.ffn_gate_exps.type)));
  DSK_TRY_ASSIGN(l.ffn_down_exps, need("ffn_down_exps.weight", {FF, E, NE}, Kind::weight));
  if (c.n_expert_shared > 0) {
    const int64_t FS = FF * c.n_expert_shared;
    DSK_TRY_ASSIGN(l.ffn_gate_shexp, need("ffn_gate_shexp.weight", {E, FS}, Kind::weight));
    DSK_TRY_ASSIGN(l.ffn_up_shexp, need("ffn_up_shexp.weight", {E, FS}, Kind::weight));
    DSK_TRY_ASSIGN(l.ffn_down_shexp, need("ffn_down_shexp.weight", {FS, E}, Kind::weight));
  }
  if (l.hash) {
    DSK_TRY_ASSIGN(l.ffn_gate_tid2eid, need("ffn_gate_tid2eid.weight", {c.n_expert_used, NV}, Kind::i32));
  } else {
    DSK_TRY(L.must_not_have(name("ffn_gate_tid2eid.weight"),
                            mtp ? "the MTP block routes by score" : "the layer is not a hash layer (hash_layer_count)"));
  }
  return ok();
}

Result<Deepseek4Mtp> load_mtp(detail::TensorLoader& L, const Deepseek4Config& c) {
  using detail::Kind;
  Deepseek4Mtp m;
  const int64_t E = c.n_embd;
  DSK_TRY_ASSIGN(m.e_proj, L.need("mtp.0.e_proj.weight", {E, E}, Kind::weight));
  DSK_TRY_ASSIGN(m.h_proj, L.need("mtp.0.h_proj.weight", {E, E}, Kind::weight));
  DSK_TRY_ASSIGN(m.enorm, L.need("mtp.0.enorm.weight", {E}, Kind::f32));
  DSK_TRY_ASSIGN(m.hnorm, L.need("mtp.0.hnorm.weight", {E}, Kind::f32));
  DSK_TRY_ASSIGN(m.norm, L.need("mtp.0.norm.weight", {E}, Kind::f32));
  DSK_TRY_ASSIGN(m.hc_head_fn, L.need("mtp.0.hc_head_fn.weight", {c.hc_dim(), c.n_hc}, Kind::weight));
  DSK_TRY_ASSIGN(m.hc_head_scale, L.need("mtp.0.hc_head_scale.weight", {1}, Kind::f32));
  DSK_TRY_ASSIGN(m.hc_head_base, L.need("mtp.0.hc_head_base.weight", {c.n_hc}, Kind::f32));
  m.block.index = c.n_layer;
  DSK_TRY(load_layer(L, c, "mtp.0.", m.block, true));
  return m;
}

}  // namespace

Result<Deepseek4Model> load_deepseek4(const gguf::Reader& reader) {
  using detail::blk;
  using detail::Kind;
  Deepseek4Model m;
  {
    auto cfg = deepseek4_config(reader.metadata());
    if (!cfg) return std::move(cfg).error();
    m.config = std::move(cfg).value();
  }
  Deepseek4Config& c = m.config;
  detail::TensorLoader L(reader);
  if (c.n_vocab == 0) {  // no vocab_size key and no tokenizer: token_embd's rows
    const gguf::Tensor* t = reader.find_tensor("token_embd.weight");
    if (!t) return Error(reader.name() + ": tensor 'token_embd.weight' not found");
    c.n_vocab = static_cast<uint32_t>(t->ne[1]);
  }
  const int64_t E = c.n_embd, NV = c.n_vocab, HC = c.hc_dim();
  DSK_TRY_ASSIGN(m.token_embd, L.need("token_embd.weight", {E, NV}, Kind::rows));
  DSK_TRY_ASSIGN(m.output_hc_fn, L.need("output_hc_fn.weight", {HC, c.n_hc}, Kind::weight));
  DSK_TRY_ASSIGN(m.output_hc_scale, L.need("output_hc_scale.weight", {1}, Kind::f32));
  DSK_TRY_ASSIGN(m.output_hc_base, L.need("output_hc_base.weight", {c.n_hc}, Kind::f32));
  DSK_TRY_ASSIGN(m.output_norm, L.need("output_norm.weight", {E}, Kind::f32));
  DSK_TRY_ASSIGN(m.output, L.need("output.weight", {E, NV}, Kind::weight));

  m.layers.resize(c.n_layer);
  for (uint32_t il = 0; il < c.n_layer; ++il) {
    Deepseek4Layer& l = m.layers[il];
    l.index = il;
    l.compress_ratio = c.compress_ratio[il];
    l.hash = c.is_hash_layer(il);
    DSK_TRY(load_layer(L, c, "blk." + std::to_string(il) + ".", l, false));
  }
  if (reader.find_tensor("mtp.0.e_proj.weight")) {
    DSK_TRY_ASSIGN(m.mtp, load_mtp(L, c));
  }
  for (const gguf::Tensor& t : reader.tensors()) {
    if (L.used_.count(t.name)) continue;
    const auto b = detail::block_of(t.name);
    if (b && *b >= c.n_layer) {  // llama.cpp's layout: the MTP block(s) after the main layers
      m.nextn.push_back(L.view(t));
      continue;
    }
    m.unused.push_back(t.name);
  }
  return m;
}

Result<Deepseek4Mtp> load_deepseek4_mtp(const gguf::Reader& reader, const Deepseek4Config& config) {
  detail::TensorLoader L(reader);
  if (!reader.find_tensor("mtp.0.e_proj.weight"))
    return Error(reader.name() + ": no MTP block (tensor 'mtp.0.e_proj.weight' not found)");
  return load_mtp(L, config);
}

void set_deepseek4_metadata(gguf::Metadata& md, const Deepseek4Config& c) {
  using gguf::Value;
  auto u32 = [&](std::string_view k, uint32_t v) { md.set(key(k), Value::scalar(v)); };
  auto f32 = [&](std::string_view k, float v) { md.set(key(k), Value::scalar(v)); };
  md.set("general.architecture", Value::string(std::string(kArch)));
  u32("block_count", c.n_layer + c.n_nextn);
  if (c.n_nextn) u32("nextn_predict_layers", c.n_nextn);
  u32("embedding_length", c.n_embd);
  u32("vocab_size", c.n_vocab);
  if (c.n_ctx_train) u32("context_length", c.n_ctx_train);
  u32("attention.head_count", c.n_head);
  u32("attention.head_count_kv", c.n_head_kv);
  u32("attention.key_length", c.head_dim);
  u32("attention.value_length", c.head_dim);
  u32("rope.dimension_count", c.n_rot);
  u32("attention.q_lora_rank", c.q_lora);
  u32("attention.output_lora_rank", c.o_lora);
  u32("attention.output_group_count", c.n_out_group);
  f32("attention.layer_norm_rms_epsilon", c.rms_eps);
  u32("expert_count", c.n_expert);
  u32("expert_used_count", c.n_expert_used);
  u32("expert_feed_forward_length", c.n_ff_exp);
  u32("expert_shared_count", c.n_expert_shared);
  u32("hash_layer_count", c.n_hash_layer);
  if (c.n_expert_groups) {
    u32("expert_group_count", c.n_expert_groups);
    u32("expert_group_used_count", c.n_group_used);
  }
  f32("expert_weights_scale", c.expert_weights_scale);
  md.set(key("expert_weights_norm"), Value::scalar(c.expert_weights_norm));
  md.set(key("attention.compress_ratios"), Value::array(c.compress_ratio));
  md.set(key("swiglu_clamp_exp"), Value::array(c.swiglu_clamp));
  u32("attention.sliding_window", c.n_swa);
  u32("attention.indexer.head_count", c.n_indexer_head);
  u32("attention.indexer.key_length", c.indexer_head_dim);
  u32("attention.indexer.top_k", c.indexer_top_k);
  u32("hyper_connection.count", c.n_hc);
  u32("hyper_connection.sinkhorn_iterations", c.sinkhorn_iters);
  f32("hyper_connection.epsilon", c.hc_eps);
  f32("rope.freq_base", c.rope_freq_base);
  f32("attention.compress_rope_freq_base", c.compress_rope_freq_base);
  f32("rope.scaling.factor", c.rope_scaling_factor);
  md.set(key("rope.scaling.original_context_length"), Value::scalar(c.n_ctx_orig_yarn));
  f32("rope.scaling.yarn_beta_fast", c.yarn_beta_fast);
  f32("rope.scaling.yarn_beta_slow", c.yarn_beta_slow);
}

Deepseek4Config deepseek4_flash_config() {
  Deepseek4Config c;
  c.n_layer = 43;
  c.n_embd = 4096;
  c.n_vocab = 129280;
  c.n_head = 64;
  c.n_head_kv = 1;
  c.head_dim = 512;
  c.n_rot = 64;
  c.q_lora = 1024;
  c.o_lora = 1024;
  c.n_out_group = 8;
  c.n_expert = 256;
  c.n_expert_used = 6;
  c.n_ff_exp = 2048;
  c.n_expert_shared = 1;
  c.n_hash_layer = 3;
  c.n_swa = 128;
  c.n_indexer_head = 64;
  c.indexer_head_dim = 128;
  c.indexer_top_k = 512;
  c.n_hc = 4;
  c.sinkhorn_iters = 20;
  c.hc_eps = 1e-6f;
  c.rms_eps = 1e-6f;
  for (uint32_t il = 0; il < c.n_layer; ++il) c.compress_ratio.push_back(il < 2 ? 0 : (il % 2 == 0 ? 4 : 128));
  c.swiglu_clamp.assign(c.n_layer, 10.0f);
  c.rope_freq_base = 10000.0f;
  c.compress_rope_freq_base = 160000.0f;
  c.rope_scaling_factor = 16.0f;
  c.n_ctx_orig_yarn = 65536;
  c.yarn_beta_fast = 32.0f;
  c.yarn_beta_slow = 1.0f;
  c.expert_weights_scale = 1.5f;
  c.expert_weights_norm = true;
  return c;
}

}  // namespace dsk::model
