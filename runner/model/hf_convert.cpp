// model/hf_convert.cpp — HF DeepSeek V2 / V3 to deepseek2 GGUF (see hf_convert.hpp).
#include "model/hf_convert.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/safetensors.hpp"
#include "model/synth.hpp"

namespace dsk::model {

using json = nlohmann::json;

namespace {

Error cfg_error(const std::string& key, const std::string& what) {
  return Error("config.json: '" + key + "' " + what);
}

// Optional unsigned integer (null counts as absent).
Result<std::optional<uint32_t>> opt_u32(const json& j, const std::string& key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<uint32_t>();
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 0xFFFFFFFFll)
    return cfg_error(key, "must be a non-negative integer");
  return std::optional<uint32_t>(static_cast<uint32_t>(it->get<int64_t>()));
}
Result<uint32_t> req_u32(const json& j, const std::string& key) {
  DSK_TRY_ASSIGN(auto v, opt_u32(j, key));
  if (!v) return cfg_error(key, "not found");
  return *v;
}
Result<std::optional<double>> opt_f(const json& j, const std::string& key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<double>();
  if (!it->is_number()) return cfg_error(key, "must be a number");
  return std::optional<double>(it->get<double>());
}
Result<std::optional<std::string>> opt_s(const json& j, const std::string& key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return cfg_error(key, "must be a string");
  return std::optional<std::string>(it->get<std::string>());
}
Result<std::optional<bool>> opt_b(const json& j, const std::string& key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return cfg_error(key, "must be true or false");
  return std::optional<bool>(it->get<bool>());
}

std::string hf_layer(uint32_t il, const std::string& what) {
  return "model.layers." + std::to_string(il) + "." + what;
}
std::string blk(uint32_t il, const char* what) { return "blk." + std::to_string(il) + "." + what; }

}  // namespace

Result<Deepseek2Config> hf_deepseek_config(const std::string& text, std::string* model_type_out) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error("config.json: not a JSON object");
  DSK_TRY_ASSIGN(auto mt, opt_s(j, "model_type"));
  if (!mt || (*mt != "deepseek_v2" && *mt != "deepseek_v3"))
    return cfg_error("model_type", "is " + (mt ? "'" + *mt + "'" : std::string("missing")) +
                                       ": supported are deepseek_v2 and deepseek_v3");
  if (model_type_out) *model_type_out = *mt;
  Deepseek2Config c;
  DSK_TRY_ASSIGN(c.n_block, req_u32(j, "num_hidden_layers"));
  DSK_TRY_ASSIGN(c.n_embd, req_u32(j, "hidden_size"));
  DSK_TRY_ASSIGN(c.n_ff, req_u32(j, "intermediate_size"));
  DSK_TRY_ASSIGN(c.n_head, req_u32(j, "num_attention_heads"));
  DSK_TRY_ASSIGN(c.kv_lora, req_u32(j, "kv_lora_rank"));
  DSK_TRY_ASSIGN(auto ql, opt_u32(j, "q_lora_rank"));
  c.q_lora = ql.value_or(0);
  DSK_TRY_ASSIGN(c.d_nope, req_u32(j, "qk_nope_head_dim"));
  DSK_TRY_ASSIGN(c.d_rope, req_u32(j, "qk_rope_head_dim"));
  DSK_TRY_ASSIGN(c.d_v, req_u32(j, "v_head_dim"));
  DSK_TRY_ASSIGN(c.n_vocab, req_u32(j, "vocab_size"));
  DSK_TRY_ASSIGN(auto mpe, opt_u32(j, "max_position_embeddings"));
  c.n_ctx_train = mpe.value_or(4096);
  DSK_TRY_ASSIGN(auto eps, opt_f(j, "rms_norm_eps"));
  c.rms_eps = static_cast<float>(eps.value_or(1e-6));
  DSK_TRY_ASSIGN(auto nx, opt_u32(j, "n_routed_experts"));
  c.n_expert = nx.value_or(0);
  if (c.n_expert > 0) {
    DSK_TRY_ASSIGN(c.n_expert_used, req_u32(j, "num_experts_per_tok"));
    DSK_TRY_ASSIGN(c.n_ff_exp, req_u32(j, "moe_intermediate_size"));
    DSK_TRY_ASSIGN(auto ns, opt_u32(j, "n_shared_experts"));
    c.n_expert_shared = ns.value_or(0);
    DSK_TRY_ASSIGN(auto fk, opt_u32(j, "first_k_dense_replace"));
    c.n_layer_dense_lead = fk.value_or(0);
    DSK_TRY_ASSIGN(auto freq, opt_u32(j, "moe_layer_freq"));
    if (freq && *freq != 1)
      return cfg_error("moe_layer_freq", "is " + std::to_string(*freq) + ": only 1 (every layer after the dense ones) is supported");
    DSK_TRY_ASSIGN(auto rsf, opt_f(j, "routed_scaling_factor"));
    c.expert_weights_scale = static_cast<float>(rsf.value_or(1.0));
    DSK_TRY_ASSIGN(auto ntp, opt_b(j, "norm_topk_prob"));
    c.expert_weights_norm = ntp.value_or(false);
    DSK_TRY_ASSIGN(auto sf, opt_s(j, "scoring_func"));
    // transformers' DeepseekV3 config has no scoring_func (V3 routing is always sigmoid).
    const std::string scoring = sf.value_or(*mt == "deepseek_v3" ? "sigmoid" : "softmax");
    if (scoring == "softmax") c.gating = ExpertGating::softmax;
    else if (scoring == "sigmoid") c.gating = ExpertGating::sigmoid;
    else return cfg_error("scoring_func", "is '" + scoring + "': supported are softmax and sigmoid");
    DSK_TRY_ASSIGN(auto ng, opt_u32(j, "n_group"));
    DSK_TRY_ASSIGN(auto tg, opt_u32(j, "topk_group"));
    c.n_expert_groups = ng.value_or(1);
    c.n_group_used = tg.value_or(c.n_expert_groups);
  } else {
    c.n_layer_dense_lead = c.n_block;
  }
  DSK_TRY_ASSIGN(auto nn, opt_u32(j, "num_nextn_predict_layers"));
  (void)nn;  // MTP layers are not converted (reported): nextn_predict_layers is not written
  // RoPE: rope_scaling (released checkpoints) or rope_parameters (newer transformers).
  DSK_TRY_ASSIGN(auto theta, opt_f(j, "rope_theta"));
  c.rope_freq_base = static_cast<float>(theta.value_or(10000.0));
  const json* rs = nullptr;
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    auto it = j.find(key);
    if (it != j.end() && !it->is_null()) {
      if (!it->is_object()) return cfg_error(key, "must be an object");
      rs = &*it;
      break;
    }
  }
  if (rs) {
    DSK_TRY_ASSIGN(auto t2, opt_f(*rs, "rope_theta"));
    if (t2) c.rope_freq_base = static_cast<float>(*t2);
    DSK_TRY_ASSIGN(auto ty, opt_s(*rs, "rope_type"));
    if (!ty) {
      DSK_TRY_ASSIGN(auto ty2, opt_s(*rs, "type"));
      ty = ty2;
    }
    const std::string type = ty.value_or("default");
    if (type == "yarn") {
      c.rope_scaling = RopeScaling::yarn;
      DSK_TRY_ASSIGN(auto f, opt_f(*rs, "factor"));
      if (!f) return cfg_error("rope_scaling.factor", "not found (yarn)");
      c.rope_scaling_factor = static_cast<float>(*f);
      DSK_TRY_ASSIGN(auto orig, opt_u32(*rs, "original_max_position_embeddings"));
      c.n_ctx_orig_yarn = orig.value_or(c.n_ctx_train);
      DSK_TRY_ASSIGN(auto bf, opt_f(*rs, "beta_fast"));
      DSK_TRY_ASSIGN(auto bs, opt_f(*rs, "beta_slow"));
      c.yarn_beta_fast = static_cast<float>(bf.value_or(32.0));
      c.yarn_beta_slow = static_cast<float>(bs.value_or(1.0));
      DSK_TRY_ASSIGN(auto msad, opt_f(*rs, "mscale_all_dim"));
      if (msad) c.yarn_log_mul = static_cast<float>(0.1 * *msad);
    } else if (type == "linear") {
      c.rope_scaling = RopeScaling::linear;
      DSK_TRY_ASSIGN(auto f, opt_f(*rs, "factor"));
      c.rope_scaling_factor = static_cast<float>(f.value_or(1.0));
    } else if (type != "default") {
      return cfg_error("rope_scaling", "type '" + type + "' is not supported (default, linear, yarn)");
    }
  }
  DSK_TRY(finish_config(c));
  return c;
}

namespace {

// Source access for one GGUF tensor.
struct Src {
  const st::Tensor* t = nullptr;
  const st::Tensor* scale = nullptr;
};

class Converter {
 public:
  Converter(const st::Checkpoint& ck, const Deepseek2Config& c, GgmlType type, ConvertReport& rep, int64_t br,
            int64_t bc)
      : ck_(ck), c_(c), type_(type), rep_(rep), br_(br), bc_(bc) {}

  Result<Src> src(const std::string& name, std::vector<int64_t> shape) {
    const st::Tensor* t = ck_.find(name);
    if (!t) return Error(name + ": not found in the checkpoint");
    used_.insert(name);
    if (t->shape != shape) {
      std::string want, have;
      for (auto d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      for (auto d : t->shape) have += (have.empty() ? "" : ", ") + std::to_string(d);
      return Error(name + ": expected shape [" + want + "], checkpoint has [" + have + "]");
    }
    Src s{t, nullptr};
    if (t->dtype == st::Dtype::F8_E4M3) {
      std::string sn = name;
      const auto pos = sn.rfind(".weight");
      sn = pos == std::string::npos ? sn + "_scale_inv" : sn.substr(0, pos) + ".weight_scale_inv";
      s.scale = ck_.find(sn);
      if (!s.scale) return Error(name + ": F8_E4M3 without " + sn);
      used_.insert(sn);
      DSK_TRY(st::check_block_scale(*t, *s.scale, br_, bc_));
      rep_.fp8 = true;
    } else if (t->dtype != st::Dtype::BF16 && t->dtype != st::Dtype::F16 && t->dtype != st::Dtype::F32) {
      return Error(name + ": dtype " + t->dtype_name + " is not supported (BF16, F16, F32, F8_E4M3)");
    }
    return s;
  }

  GgmlType pick(const std::string& name, Role role, int64_t K) {
    if (role == Role::norm || role == Role::bias || role == Role::router) return GgmlType::F32;
    const GgmlType t = fallback_type(type_, K);
    if (t != type_)
      rep_.widened.push_back(name + ": " + std::string(ggml_type_name(t)) + " (row " + std::to_string(K) +
                             "; asked " + std::string(ggml_type_name(type_)) + ")");
    return t;
  }

  // A GGUF tensor straight from one HF tensor (ne = reversed shape).
  Result<void> direct(const std::string& gname, const std::string& hname, std::vector<int64_t> hshape, Role role) {
    DSK_TRY_ASSIGN(Src s, src(hname, hshape));
    PlannedTensor p;
    p.name = gname;
    for (auto it = hshape.rbegin(); it != hshape.rend(); ++it) p.ne.push_back(static_cast<uint64_t>(*it));
    p.type = pick(gname, role, static_cast<int64_t>(p.ne[0]));
    const int64_t br = br_, bc = bc_;
    p.rows = [s, br, bc](int64_t r0, int64_t n, float* out) { return st::read_rows_f32(*s.t, r0, n, out, s.scale, br, bc); };
    plan.push_back(std::move(p));
    return ok();
  }

  // Experts stacked to 3-D: ne [in, out, X] from X tensors [out, in].
  Result<void> stacked(const std::string& gname, uint32_t il, const std::string& proj, int64_t out_dim, int64_t in_dim) {
    std::vector<Src> srcs;
    for (uint32_t e = 0; e < c_.n_expert; ++e) {
      DSK_TRY_ASSIGN(Src s, src(hf_layer(il, "mlp.experts." + std::to_string(e) + "." + proj + ".weight"), {out_dim, in_dim}));
      srcs.push_back(s);
    }
    PlannedTensor p;
    p.name = gname;
    p.ne = {static_cast<uint64_t>(in_dim), static_cast<uint64_t>(out_dim), c_.n_expert};
    p.type = pick(gname, proj == "down_proj" ? Role::exps_down : Role::exps_gate_up, in_dim);
    const int64_t br = br_, bc = bc_;
    p.rows = [srcs, out_dim, in_dim, br, bc](int64_t r0, int64_t n, float* out) -> Result<void> {
      int64_t r = r0;
      while (r < r0 + n) {
        const int64_t e = r / out_dim, rr = r % out_dim;
        const int64_t k = std::min(out_dim - rr, r0 + n - r);
        const Src& s = srcs[static_cast<size_t>(e)];
        DSK_TRY(st::read_rows_f32(*s.t, rr, k, out + (r - r0) * in_dim, s.scale, br, bc));
        r += k;
      }
      return ok();
    };
    plan.push_back(std::move(p));
    return ok();
  }

  // attn_k_b [N, C, H] and attn_v_b [C, V, H] from kv_b_proj [H*(N+V), C].
  Result<void> k_v_b(uint32_t il) {
    const int64_t H = c_.n_head, N = c_.d_nope, V = c_.d_v, C = c_.kv_lora;
    DSK_TRY_ASSIGN(Src s, src(hf_layer(il, "self_attn.kv_b_proj.weight"), {H * (N + V), C}));
    const int64_t br = br_, bc = bc_;
    {
      PlannedTensor p;
      p.name = blk(il, "attn_k_b.weight");
      p.ne = {static_cast<uint64_t>(N), static_cast<uint64_t>(C), static_cast<uint64_t>(H)};
      p.type = pick(p.name, Role::weight, N);
      p.rows = [s, N, V, C, br, bc](int64_t r0, int64_t n, float* out) -> Result<void> {
        std::vector<float> head(static_cast<size_t>(N * C));
        int64_t cur = -1;
        for (int64_t r = r0; r < r0 + n; ++r) {
          const int64_t h = r / C, cc = r % C;
          if (h != cur) {
            DSK_TRY(st::read_rows_f32(*s.t, h * (N + V), N, head.data(), s.scale, br, bc));
            cur = h;
          }
          for (int64_t i = 0; i < N; ++i) out[(r - r0) * N + i] = head[static_cast<size_t>(i * C + cc)];
        }
        return ok();
      };
      plan.push_back(std::move(p));
    }
    {
      PlannedTensor p;
      p.name = blk(il, "attn_v_b.weight");
      p.ne = {static_cast<uint64_t>(C), static_cast<uint64_t>(V), static_cast<uint64_t>(H)};
      p.type = pick(p.name, Role::weight, C);
      p.rows = [s, N, V, C, br, bc](int64_t r0, int64_t n, float* out) -> Result<void> {
        for (int64_t r = r0; r < r0 + n; ++r) {
          const int64_t h = r / V, j = r % V;
          DSK_TRY(st::read_rows_f32(*s.t, h * (N + V) + N + j, 1, out + (r - r0) * C, s.scale, br, bc));
        }
        return ok();
      };
      plan.push_back(std::move(p));
    }
    return ok();
  }

  std::vector<PlannedTensor> plan;
  std::set<std::string> used_;

 private:
  const st::Checkpoint& ck_;
  const Deepseek2Config& c_;
  GgmlType type_;
  ConvertReport& rep_;
  int64_t br_, bc_;
};

}  // namespace

Result<void> check_convert_type(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0: case GgmlType::Q4_K:
    case GgmlType::Q6_K: case GgmlType::Q2_K:
      return {};
    default:
      return Error("output type " + std::string(ggml_type_name(t)) + " is not supported");
  }
}

Result<std::string> read_hf_config(const std::string& hf_dir) {
  const std::filesystem::path f = std::filesystem::path(hf_dir) / "config.json";
  std::ifstream in(f);
  if (!in) return Error(f.string() + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<ConvertReport> convert_hf_deepseek(const ConvertOptions& opt) {
  namespace fs = std::filesystem;
  ConvertReport rep;
  DSK_TRY(check_convert_type(opt.type));
  const fs::path dir(opt.hf_dir);
  DSK_TRY_ASSIGN(const std::string text, read_hf_config(opt.hf_dir));
  DSK_TRY_ASSIGN(rep.config, hf_deepseek_config(text, &rep.model_type));
  const Deepseek2Config& c = rep.config;
  // FP8 block size (quantization_config.weight_block_size; default 128 x 128).
  int64_t br = 128, bc = 128;
  {
    json j = json::parse(text, nullptr, false);
    auto qc = j.find("quantization_config");
    if (qc != j.end() && qc->is_object()) {
      auto wbs = qc->find("weight_block_size");
      if (wbs != qc->end()) {
        if (!wbs->is_array() || wbs->size() != 2 || !(*wbs)[0].is_number_unsigned() || !(*wbs)[1].is_number_unsigned() ||
            (*wbs)[0].get<int64_t>() == 0 || (*wbs)[1].get<int64_t>() == 0)
          return cfg_error("quantization_config.weight_block_size", "must be two positive integers");
        br = (*wbs)[0].get<int64_t>();
        bc = (*wbs)[1].get<int64_t>();
      }
    }
  }
  DSK_TRY_ASSIGN(st::Checkpoint ck, st::Checkpoint::open(opt.hf_dir));
  Converter cv(ck, c, opt.type, rep, br, bc);
  const int64_t E = c.n_embd, H = c.n_head, N = c.d_nope, R = c.d_rope, V = c.d_v, C = c.kv_lora, Q = c.q_lora,
                X = c.n_expert, FX = c.n_ff_exp, F = c.n_ff, NV = c.n_vocab;
  auto ctx = [](Result<void> r, const std::string& where) -> Result<void> {
    if (!r) return std::move(r).error().context(where);
    return ok();
  };
  DSK_TRY(cv.direct("token_embd.weight", "model.embed_tokens.weight", {NV, E}, Role::embedding));
  for (uint32_t il = 0; il < c.n_layer; ++il) {
    const std::string where = "layer " + std::to_string(il);
    auto L = [&](const char* g, const std::string& h, std::vector<int64_t> shape, Role role) {
      return ctx(cv.direct(blk(il, g), hf_layer(il, h), std::move(shape), role), where);
    };
    DSK_TRY(L("attn_norm.weight", "input_layernorm.weight", {E}, Role::norm));
    if (c.is_lite) {
      DSK_TRY(L("attn_q.weight", "self_attn.q_proj.weight", {H * (N + R), E}, Role::weight));
    } else {
      DSK_TRY(L("attn_q_a.weight", "self_attn.q_a_proj.weight", {Q, E}, Role::weight));
      DSK_TRY(L("attn_q_a_norm.weight", "self_attn.q_a_layernorm.weight", {Q}, Role::norm));
      DSK_TRY(L("attn_q_b.weight", "self_attn.q_b_proj.weight", {H * (N + R), Q}, Role::weight));
    }
    DSK_TRY(L("attn_kv_a_mqa.weight", "self_attn.kv_a_proj_with_mqa.weight", {C + R, E}, Role::weight));
    DSK_TRY(L("attn_kv_a_norm.weight", "self_attn.kv_a_layernorm.weight", {C}, Role::norm));
    DSK_TRY(ctx(cv.k_v_b(il), where));
    DSK_TRY(L("attn_output.weight", "self_attn.o_proj.weight", {E, H * V}, Role::weight));
    DSK_TRY(L("ffn_norm.weight", "post_attention_layernorm.weight", {E}, Role::norm));
    if (!c.is_moe_layer(il)) {
      DSK_TRY(L("ffn_gate.weight", "mlp.gate_proj.weight", {F, E}, Role::weight));
      DSK_TRY(L("ffn_up.weight", "mlp.up_proj.weight", {F, E}, Role::weight));
      DSK_TRY(L("ffn_down.weight", "mlp.down_proj.weight", {E, F}, Role::weight));
    } else {
      DSK_TRY(L("ffn_gate_inp.weight", "mlp.gate.weight", {X, E}, Role::router));
      if (ck.find(hf_layer(il, "mlp.gate.e_score_correction_bias")))
        DSK_TRY(L("exp_probs_b.bias", "mlp.gate.e_score_correction_bias", {X}, Role::bias));
      DSK_TRY(ctx(cv.stacked(blk(il, "ffn_gate_exps.weight"), il, "gate_proj", FX, E), where));
      DSK_TRY(ctx(cv.stacked(blk(il, "ffn_up_exps.weight"), il, "up_proj", FX, E), where));
      DSK_TRY(ctx(cv.stacked(blk(il, "ffn_down_exps.weight"), il, "down_proj", E, FX), where));
      if (c.n_expert_shared > 0) {
        const int64_t FS = FX * c.n_expert_shared;
        DSK_TRY(L("ffn_gate_shexp.weight", "mlp.shared_experts.gate_proj.weight", {FS, E}, Role::weight));
        DSK_TRY(L("ffn_up_shexp.weight", "mlp.shared_experts.up_proj.weight", {FS, E}, Role::weight));
        DSK_TRY(L("ffn_down_shexp.weight", "mlp.shared_experts.down_proj.weight", {E, FS}, Role::weight));
      }
    }
  }
  DSK_TRY(cv.direct("output_norm.weight", "model.norm.weight", {E}, Role::norm));
  if (ck.find("lm_head.weight")) {
    DSK_TRY(cv.direct("output.weight", "lm_head.weight", {NV, E}, Role::weight));
  }  // else tied: the loader uses token_embd

  // What was not converted.
  size_t mtp = 0;
  for (const auto& [name, t] : ck.tensors()) {
    if (cv.used_.count(name)) continue;
    const std::string pre = "model.layers.";
    if (name.rfind(pre, 0) == 0) {
      const uint32_t il = static_cast<uint32_t>(std::strtoul(name.c_str() + pre.size(), nullptr, 10));
      if (il >= c.n_block) {
        ++mtp;
        continue;
      }
    }
    rep.skipped.push_back(name + " (not used by deepseek2)");
  }
  if (mtp) rep.skipped.insert(rep.skipped.begin(), std::to_string(mtp) + " tensors of MTP layers (index >= num_hidden_layers) not converted");

  gguf::Metadata md;
  md.set("general.architecture", gguf::Value::string("deepseek2"));
  md.set("general.name", gguf::Value::string(dir.filename().empty() ? dir.parent_path().filename().string()
                                                                     : dir.filename().string()));
  set_deepseek2_metadata(md, c, MlaLayout::mainline);
  for (const auto& kv : opt.tokenizer) md.set(kv.key, kv.value);
  rep.n_tensors = cv.plan.size();
  for (const auto& p : cv.plan) {
    const auto& ti = ggml_type_info(p.type);
    uint64_t n = p.ne[0] / ti.block_elems * ti.block_bytes;
    for (size_t d = 1; d < p.ne.size(); ++d) n *= p.ne[d];
    rep.n_bytes += n;
  }
  DSK_TRY(write_gguf_streamed(opt.out, md, cv.plan, opt.progress, opt.threads));
  return rep;
}

}  // namespace dsk::model
