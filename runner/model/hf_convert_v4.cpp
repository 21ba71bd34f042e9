// model/hf_convert_v4.cpp — HF DeepSeek-V4 to deepseek4 GGUF (see hf_convert_v4.hpp).
#include "model/hf_convert_v4.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/safetensors.hpp"

namespace dsk::model {

using json = nlohmann::json;

float fp4_e2m1_to_float(uint8_t nib) {
  static constexpr float kMag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  const float m = kMag[nib & 7];
  return (nib & 8) ? -m : m;
}

float e8m0_to_float(uint8_t e) {
  if (e == 0xff) return std::numeric_limits<float>::quiet_NaN();
  // 2^(e-127): e >= 1 is a normal float with exponent field e; e = 0 is 2^-127, the subnormal 0x00400000.
  const uint32_t bits = e == 0 ? 0x00400000u : static_cast<uint32_t>(e) << 23;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {

Error cfg_error(const std::string& key, const std::string& what) {
  return Error("config.json: '" + key + "' " + what);
}

Result<std::optional<int64_t>> opt_int(const json& j, const std::string& key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 0xFFFFFFFFll)
    return cfg_error(key, "must be a non-negative integer");
  return std::optional<int64_t>(it->get<int64_t>());
}
Result<uint32_t> u32(const json& j, const std::string& key, std::optional<uint32_t> def = std::nullopt) {
  DSK_TRY_ASSIGN(auto v, opt_int(j, key));
  if (!v) {
    if (def) return *def;
    return cfg_error(key, "not found");
  }
  return static_cast<uint32_t>(*v);
}
Result<std::optional<double>> opt_f(const json& j, const std::string& key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<double>();
  if (!it->is_number()) return cfg_error(key, "must be a number");
  return std::optional<double>(it->get<double>());
}
Result<double> f64(const json& j, const std::string& key, double def) {
  DSK_TRY_ASSIGN(auto v, opt_f(j, key));
  return v.value_or(def);
}
Result<std::optional<std::string>> opt_s(const json& j, const std::string& key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return cfg_error(key, "must be a string");
  return std::optional<std::string>(it->get<std::string>());
}
const json* opt_obj(const json& j, const std::string& key) {
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? &*it : nullptr;
}

}  // namespace

std::string hf_model_type(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "";
  auto it = j.find("model_type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

Result<Deepseek4Config> hf_deepseek4_config(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error("config.json: not a JSON object");
  DSK_TRY_ASSIGN(auto mt, opt_s(j, "model_type"));
  if (!mt || *mt != "deepseek_v4")
    return cfg_error("model_type", "is " + (mt ? "'" + *mt + "'" : std::string("missing")) + ", expected deepseek_v4");
  Deepseek4Config c;
  // Defaults where a key is absent: transformers' DeepseekV4Config (V4-Flash values).
  DSK_TRY_ASSIGN(c.n_layer, u32(j, "num_hidden_layers"));
  DSK_TRY_ASSIGN(c.n_embd, u32(j, "hidden_size"));
  DSK_TRY_ASSIGN(c.n_vocab, u32(j, "vocab_size"));
  DSK_TRY_ASSIGN(c.n_ctx_train, u32(j, "max_position_embeddings", 0u));
  DSK_TRY_ASSIGN(c.n_head, u32(j, "num_attention_heads"));
  DSK_TRY_ASSIGN(c.n_head_kv, u32(j, "num_key_value_heads", 1u));
  DSK_TRY_ASSIGN(c.head_dim, u32(j, "head_dim"));
  DSK_TRY_ASSIGN(c.q_lora, u32(j, "q_lora_rank"));
  DSK_TRY_ASSIGN(c.o_lora, u32(j, "o_lora_rank"));
  DSK_TRY_ASSIGN(c.n_out_group, u32(j, "o_groups"));
  DSK_TRY_ASSIGN(c.n_expert, u32(j, "n_routed_experts"));
  DSK_TRY_ASSIGN(c.n_expert_used, u32(j, "num_experts_per_tok"));
  DSK_TRY_ASSIGN(c.n_ff_exp, u32(j, "moe_intermediate_size"));
  DSK_TRY_ASSIGN(c.n_expert_shared, u32(j, "n_shared_experts", 1u));
  DSK_TRY_ASSIGN(c.n_swa, u32(j, "sliding_window", 128u));
  DSK_TRY_ASSIGN(c.n_indexer_head, u32(j, "index_n_heads", 64u));
  DSK_TRY_ASSIGN(c.indexer_head_dim, u32(j, "index_head_dim", 128u));
  DSK_TRY_ASSIGN(c.indexer_top_k, u32(j, "index_topk", 512u));
  DSK_TRY_ASSIGN(c.n_hc, u32(j, "hc_mult", 4u));
  DSK_TRY_ASSIGN(c.sinkhorn_iters, u32(j, "hc_sinkhorn_iters", 20u));
  DSK_TRY_ASSIGN(double hc_eps, f64(j, "hc_eps", 1e-6));
  c.hc_eps = static_cast<float>(hc_eps);
  DSK_TRY_ASSIGN(double rms_eps, f64(j, "rms_norm_eps", 1e-6));
  c.rms_eps = static_cast<float>(rms_eps);
  {
    DSK_TRY_ASSIGN(auto sf, opt_s(j, "scoring_func"));
    if (sf && *sf != "sqrtsoftplus")
      return cfg_error("scoring_func", "is '" + *sf + "': dsk's deepseek4 routes with sqrtsoftplus only");
  }
  DSK_TRY_ASSIGN(double rsf, f64(j, "routed_scaling_factor", 1.5));
  c.expert_weights_scale = static_cast<float>(rsf);
  {
    auto it = j.find("norm_topk_prob");
    if (it != j.end() && !it->is_null() && !it->is_boolean()) return cfg_error("norm_topk_prob", "must be true or false");
    c.expert_weights_norm = it == j.end() || it->is_null() ? true : it->get<bool>();
  }
  {
    DSK_TRY_ASSIGN(auto ng, opt_int(j, "n_group"));
    if (ng && *ng > 1) return cfg_error("n_group", "is " + std::to_string(*ng) + ": DeepSeek-V4 has no group-limited routing");
  }
  DSK_TRY_ASSIGN(double limit, f64(j, "swiglu_limit", 10.0));
  c.swiglu_clamp.assign(c.n_layer, static_cast<float>(limit));

  // RoPE dims: qk_rope_head_dim, else partial_rotary_factor (top level or main rope) x head_dim.
  const json* rp = opt_obj(j, "rope_parameters");
  const json* rp_main = rp ? opt_obj(*rp, "main") : nullptr;
  const json* rp_comp = rp ? opt_obj(*rp, "compress") : nullptr;
  {
    DSK_TRY_ASSIGN(auto rd, opt_int(j, "qk_rope_head_dim"));
    DSK_TRY_ASSIGN(auto prf, opt_f(j, "partial_rotary_factor"));
    if (!prf && rp_main) {
      DSK_TRY_ASSIGN(prf, opt_f(*rp_main, "partial_rotary_factor"));
    }
    if (rd) c.n_rot = static_cast<uint32_t>(*rd);
    else if (prf) c.n_rot = static_cast<uint32_t>(static_cast<double>(c.head_dim) * *prf + 0.5);
    else c.n_rot = c.head_dim / 8;  // transformers' default 64 / 512
  }
  // RoPE bases and the compressed layers' YaRN.
  {
    DSK_TRY_ASSIGN(double theta, f64(j, "rope_theta", 10000.0));
    DSK_TRY_ASSIGN(double ctheta, f64(j, "compress_rope_theta", 160000.0));
    if (rp_main) {
      DSK_TRY_ASSIGN(theta, f64(*rp_main, "rope_theta", theta));
      DSK_TRY_ASSIGN(auto mt2, opt_s(*rp_main, "rope_type"));
      if (mt2 && *mt2 != "default")
        return cfg_error("rope_parameters.main.rope_type", "is '" + *mt2 + "': sliding layers use plain RoPE");
    }
    c.rope_freq_base = static_cast<float>(theta);
    // The YaRN parameters: rope_parameters.compress (nested), else flat rope_parameters / rope_scaling.
    const json* y = rp_comp;
    std::string where = "rope_parameters.compress";
    if (!y && rp) y = rp, where = "rope_parameters";
    if (!y) {
      y = opt_obj(j, "rope_scaling");
      where = "rope_scaling";
    }
    if (y) {
      if (y == rp_comp) {
        DSK_TRY_ASSIGN(ctheta, f64(*y, "rope_theta", ctheta));
      }
      DSK_TRY_ASSIGN(auto ty, opt_s(*y, "rope_type"));
      if (!ty) {
        DSK_TRY_ASSIGN(ty, opt_s(*y, "type"));
      }
      const std::string type = ty.value_or("default");
      if (type == "yarn") {
        DSK_TRY_ASSIGN(auto f, opt_f(*y, "factor"));
        if (!f) return cfg_error(where + ".factor", "not found (yarn)");
        c.rope_scaling_factor = static_cast<float>(*f);
        DSK_TRY_ASSIGN(auto orig, opt_int(*y, "original_max_position_embeddings"));
        if (!orig) return cfg_error(where + ".original_max_position_embeddings", "not found (yarn)");
        c.n_ctx_orig_yarn = static_cast<uint64_t>(*orig);
        DSK_TRY_ASSIGN(double bf, f64(*y, "beta_fast", 32.0));
        DSK_TRY_ASSIGN(double bs, f64(*y, "beta_slow", 1.0));
        c.yarn_beta_fast = static_cast<float>(bf);
        c.yarn_beta_slow = static_cast<float>(bs);
        DSK_TRY_ASSIGN(auto af, opt_f(*y, "attention_factor"));
        if (af && *af != 1.0)
          return cfg_error(where + ".attention_factor",
                           "is " + std::to_string(*af) + ": DeepSeek-V4's compressed RoPE has no magnitude scaling (1)");
      } else if (type != "default") {
        return cfg_error(where, "rope type '" + type + "' is not supported (default, yarn)");
      }
    }
    c.compress_rope_freq_base = static_cast<float>(ctheta);
  }

  // Per-layer attention kind: layer_types + compress_rates, or the legacy compress_ratios list.
  {
    uint32_t csa = 4, hca = 128;
    if (const json* cr = opt_obj(j, "compress_rates")) {
      DSK_TRY_ASSIGN(csa, u32(*cr, "compressed_sparse_attention", 4u));
      DSK_TRY_ASSIGN(hca, u32(*cr, "heavily_compressed_attention", 128u));
    }
    DSK_TRY_ASSIGN(csa, u32(j, "compress_rate_csa", csa));
    DSK_TRY_ASSIGN(hca, u32(j, "compress_rate_hca", hca));
    auto lt = j.find("layer_types");
    auto lr = j.find("compress_ratios");
    if (lt != j.end() && !lt->is_null()) {
      if (!lt->is_array() || lt->size() < c.n_layer)
        return cfg_error("layer_types", "must be a list of num_hidden_layers entries");
      for (uint32_t il = 0; il < c.n_layer; ++il) {
        const json& e = (*lt)[il];
        const std::string t = e.is_string() ? e.get<std::string>() : std::string();
        if (t == "sliding_attention") c.compress_ratio.push_back(0);
        else if (t == "compressed_sparse_attention") c.compress_ratio.push_back(csa);
        else if (t == "heavily_compressed_attention") c.compress_ratio.push_back(hca);
        else return cfg_error("layer_types", "entry " + std::to_string(il) + " is not a DeepSeek-V4 attention type");
      }
      // The ds4 layout says which layers have the indexer by the ratio alone (4 = CSA).
      bool any_csa = false, any_hca = false;
      for (uint32_t il = 0; il < c.n_layer; ++il) {
        any_csa = any_csa || (*lt)[il] == "compressed_sparse_attention";
        any_hca = any_hca || (*lt)[il] == "heavily_compressed_attention";
      }
      if (any_csa && csa != 4)
        return cfg_error("compress_rates.compressed_sparse_attention",
                         "is " + std::to_string(csa) + ": the deepseek4 GGUF layout marks CSA layers by ratio 4");
      if (any_hca && (hca == 4 || hca == 0))
        return cfg_error("compress_rates.heavily_compressed_attention",
                         "is " + std::to_string(hca) + ": an HCA ratio must be positive and not 4 (4 means CSA in the deepseek4 GGUF layout)");
    } else if (lr != j.end() && !lr->is_null()) {
      if (!lr->is_array() || lr->size() < c.n_layer)
        return cfg_error("compress_ratios", "must be a list of at least num_hidden_layers entries");
      for (uint32_t il = 0; il < c.n_layer; ++il) {
        if (!(*lr)[il].is_number_unsigned()) return cfg_error("compress_ratios", "entries must be non-negative integers");
        c.compress_ratio.push_back((*lr)[il].get<uint32_t>());
      }
    } else {  // transformers' default: two HCA layers, then CSA / HCA interleaved
      for (uint32_t il = 0; il < c.n_layer; ++il)
        c.compress_ratio.push_back(il < 2 ? hca : ((il - 2) % 2 ? csa : hca));
    }
  }
  // Hash-routed layers: mlp_layer_types (a prefix of hash_moe), else num_hash_layers, else 3.
  {
    auto ml = j.find("mlp_layer_types");
    if (ml != j.end() && !ml->is_null()) {
      if (!ml->is_array() || ml->size() < c.n_layer) return cfg_error("mlp_layer_types", "must be a list of num_hidden_layers entries");
      uint32_t n = 0;
      bool seen_moe = false;
      for (uint32_t il = 0; il < c.n_layer; ++il) {
        const json& e = (*ml)[il];
        if (e == "hash_moe") {
          if (seen_moe)
            return cfg_error("mlp_layer_types", "hash_moe after moe (entry " + std::to_string(il) +
                                                    "): the deepseek4 GGUF layout has the hash layers first");
          ++n;
        } else if (e == "moe") {
          seen_moe = true;
        } else {
          return cfg_error("mlp_layer_types", "entry " + std::to_string(il) + " is not hash_moe or moe");
        }
      }
      c.n_hash_layer = n;
    } else {
      DSK_TRY_ASSIGN(c.n_hash_layer, u32(j, "num_hash_layers", 3u));
      c.n_hash_layer = std::min(c.n_hash_layer, c.n_layer);
    }
  }
  // Everything the loader checks, checked now (one error naming the GGUF key).
  gguf::Metadata md;
  set_deepseek4_metadata(md, c);
  auto chk = deepseek4_config(md);
  if (!chk) return Error("config.json gives an unsupported DeepSeek-V4 shape: " + chk.error().message());
  return c;
}

namespace {

// How one HF tensor is read as float rows.
struct Src {
  enum class Kind { plain, fp8_e8m0, fp8_float, fp4 } kind = Kind::plain;
  const st::Tensor* t = nullptr;
  const st::Tensor* scale = nullptr;
  int64_t K = 0;  // logical row length
};

Result<void> read_rows(const Src& s, int64_t r0, int64_t n, float* out, int64_t br, int64_t bc) {
  switch (s.kind) {
    case Src::Kind::plain:
      return st::read_rows_f32(*s.t, r0, n, out);
    case Src::Kind::fp8_float:
      return st::read_rows_f32(*s.t, r0, n, out, s.scale, br, bc);
    case Src::Kind::fp8_e8m0: {
      const int64_t K = s.K, sc = s.scale->shape[1];
      for (int64_t r = 0; r < n; ++r) {
        const int64_t rr = r0 + r;
        const uint8_t* w = s.t->data + static_cast<size_t>(rr * K);
        const uint8_t* srow = s.scale->data + static_cast<size_t>((rr / br) * sc);
        for (int64_t c = 0; c < K; ++c) out[r * K + c] = st::fp8_e4m3_to_float(w[c]) * e8m0_to_float(srow[c / bc]);
      }
      return ok();
    }
    case Src::Kind::fp4: {
      const int64_t K = s.K, nb = K / 32;
      for (int64_t r = 0; r < n; ++r) {
        const int64_t rr = r0 + r;
        const uint8_t* w = s.t->data + static_cast<size_t>(rr * (K / 2));
        const uint8_t* srow = s.scale->data + static_cast<size_t>(rr * nb);
        for (int64_t j = 0; j < K / 2; ++j) {
          const float sc = e8m0_to_float(srow[(2 * j) / 32]);
          out[r * K + 2 * j] = fp4_e2m1_to_float(static_cast<uint8_t>(w[j] & 0x0f)) * sc;
          out[r * K + 2 * j + 1] = fp4_e2m1_to_float(static_cast<uint8_t>(w[j] >> 4)) * sc;
        }
      }
      return ok();
    }
  }
  return Error("unreachable");
}

std::string dims(const std::vector<int64_t>& v) {
  std::string s;
  for (auto d : v) s += (s.empty() ? "" : ", ") + std::to_string(d);
  return "[" + s + "]";
}

// What a tensor is stored as (its class decides the GGUF type).
enum class Cls {
  f32,     // norms, biases, sinks, HC scale / base, compressor ape: F32
  router,  // ffn_gate_inp: F32
  keep,    // HC fn, compressor / indexer projections: --type when it is a float type, else BF16
  weight,  // projections, experts, embedding, head: --type (K-quant rows not a multiple of 256: Q8_0 / F16)
};

class Converter4 {
 public:
  Converter4(const st::Checkpoint& ck, const Deepseek4Config& c, GgmlType type, Convert4Report& rep, int64_t br,
             int64_t bc, bool official)
      : ck_(ck), c_(c), type_(type), rep_(rep), br_(br), bc_(bc), official_(official) {}

  // The checkpoint name of an official-release name under this checkpoint's naming.
  std::vector<std::string> candidates(const std::string& off) const {
    if (official_) return {off};
    if (off == "embed.weight") return {"model.embed_tokens.weight"};
    if (off == "norm.weight") return {"model.norm.weight"};
    if (off == "head.weight") return {"head.weight", "lm_head.weight"};
    if (off.rfind("hc_head_", 0) == 0) return {"model.hc_head.hc_" + off.substr(8)};
    const std::string kvn = ".attn.kv_norm.weight";
    if (off.size() > kvn.size() && off.compare(off.size() - kvn.size(), kvn.size(), kvn) == 0)
      return {"model." + off, "model." + off.substr(0, off.size() - kvn.size()) + ".attn.norm.weight"};
    return {"model." + off};
  }

  const st::Tensor* lookup(const std::string& off, std::string* found = nullptr) const {
    for (const auto& n : candidates(off)) {
      if (const st::Tensor* t = ck_.find(n)) {
        if (found) *found = n;
        return t;
      }
    }
    return nullptr;
  }
  bool has(const std::string& off) const { return lookup(off) != nullptr; }

  // shape: the HF (row-major) shape [out, in] (or 1-D); the logical shape for FP4.
  Result<Src> src(const std::string& off, const std::vector<int64_t>& shape) {
    std::string name;
    const st::Tensor* t = lookup(off, &name);
    if (!t) {
      std::string tried;
      for (const auto& n : candidates(off)) tried += (tried.empty() ? "'" : ", '") + n + "'";
      return Error(tried + ": not found in the checkpoint");
    }
    used_.insert(name);
    Src s;
    s.t = t;
    s.K = shape.empty() ? 1 : shape.back();
    auto scale_of = [&](std::initializer_list<const char*> suffixes) -> const st::Tensor* {
      const auto pos = name.rfind(".weight");
      const std::string base = pos == std::string::npos ? name : name.substr(0, pos);
      for (const char* suf : suffixes)
        if (const st::Tensor* sc = ck_.find(base + suf)) {
          used_.insert(base + suf);
          return sc;
        }
      return nullptr;
    };
    if ((t->dtype == st::Dtype::I8 || t->dtype == st::Dtype::U8) && shape.size() == 2 && t->shape.size() == 2 &&
        t->shape[0] == shape[0] && t->shape[1] * 2 == shape[1]) {
      // FP4 E2M1, two per byte, with an E8M0 scale per 32 inputs.
      if (shape[1] % 32 != 0) return Error(name + ": FP4 rows of " + std::to_string(shape[1]) + " are not whole 32-blocks");
      s.scale = scale_of({".scale", ".weight_scale_inv", ".weight_scale"});
      if (!s.scale) return Error(name + ": FP4 (" + t->dtype_name + ") without its '.scale'");
      if (s.scale->dtype_name != "F8_E8M0" && s.scale->dtype_name != "U8")
        return Error(s.scale->name + ": dtype " + s.scale->dtype_name + ", expected F8_E8M0 (FP4 block scales)");
      if (s.scale->shape != std::vector<int64_t>{shape[0], shape[1] / 32} || s.scale->n_bytes != static_cast<size_t>(shape[0] * (shape[1] / 32)))
        return Error(s.scale->name + ": shape " + dims(s.scale->shape) + ", expected " + dims({shape[0], shape[1] / 32}));
      s.kind = Src::Kind::fp4;
      rep_.fp4 = true;
      return s;
    }
    if (t->shape != shape)
      return Error(name + ": expected shape " + dims(shape) + ", checkpoint has " + dims(t->shape));
    if (t->dtype == st::Dtype::F8_E4M3) {
      s.scale = scale_of({".scale", ".weight_scale_inv"});
      if (!s.scale) return Error(name + ": F8_E4M3 without its '.scale' / '.weight_scale_inv'");
      const int64_t rows = t->rows(), cols = t->cols();
      const std::vector<int64_t> want = {(rows + br_ - 1) / br_, (cols + bc_ - 1) / bc_};
      if (s.scale->dtype_name == "F8_E8M0" || s.scale->dtype_name == "U8") {
        if (s.scale->shape != want || s.scale->n_bytes != static_cast<size_t>(want[0] * want[1]))
          return Error(s.scale->name + ": shape " + dims(s.scale->shape) + ", expected " + dims(want) + " (" +
                       std::to_string(br_) + "x" + std::to_string(bc_) + " blocks)");
        s.kind = Src::Kind::fp8_e8m0;
      } else {
        DSK_TRY(st::check_block_scale(*t, *s.scale, br_, bc_));
        s.kind = Src::Kind::fp8_float;
      }
      rep_.fp8 = true;
      return s;
    }
    if (t->dtype != st::Dtype::BF16 && t->dtype != st::Dtype::F16 && t->dtype != st::Dtype::F32)
      return Error(name + ": dtype " + t->dtype_name + " is not supported (BF16, F16, F32, F8_E4M3, FP4 experts)");
    return s;
  }

  GgmlType pick(const std::string& gname, Cls cls, int64_t K) {
    if (cls == Cls::f32 || cls == Cls::router) return GgmlType::F32;
    const bool float_type = type_ == GgmlType::F32 || type_ == GgmlType::F16 || type_ == GgmlType::BF16;
    if (cls == Cls::keep) return float_type ? type_ : GgmlType::BF16;
    const GgmlType t = fallback_type(type_, K);
    if (t != type_)
      rep_.widened.push_back(gname + ": " + std::string(ggml_type_name(t)) + " (row " + std::to_string(K) + "; asked " +
                             std::string(ggml_type_name(type_)) + ")");
    return t;
  }

  // One GGUF tensor from one HF tensor (ne = the reversed HF shape).
  Result<void> direct(const std::string& gname, const std::string& off, std::vector<int64_t> shape, Cls cls) {
    DSK_TRY_ASSIGN(Src s, src(off, shape));
    PlannedTensor p;
    p.name = gname;
    for (auto it = shape.rbegin(); it != shape.rend(); ++it) p.ne.push_back(static_cast<uint64_t>(*it));
    p.type = pick(gname, cls, static_cast<int64_t>(p.ne[0]));
    const int64_t br = br_, bc = bc_;
    p.rows = [s, br, bc](int64_t r0, int64_t n, float* out) { return read_rows(s, r0, n, out, br, bc); };
    plan.push_back(std::move(p));
    return ok();
  }

  // Experts stacked to ne [in, out, X] from X tensors [out, in].
  Result<void> stacked(const std::string& gname, const std::string& pre, const char* w, int64_t out_dim, int64_t in_dim) {
    std::vector<Src> srcs;
    for (uint32_t e = 0; e < c_.n_expert; ++e) {
      DSK_TRY_ASSIGN(Src s, src(pre + "ffn.experts." + std::to_string(e) + "." + w + ".weight", {out_dim, in_dim}));
      srcs.push_back(s);
    }
    PlannedTensor p;
    p.name = gname;
    p.ne = {static_cast<uint64_t>(in_dim), static_cast<uint64_t>(out_dim), c_.n_expert};
    p.type = pick(gname, Cls::weight, in_dim);
    const int64_t br = br_, bc = bc_;
    p.rows = [srcs, out_dim, in_dim, br, bc](int64_t r0, int64_t n, float* out) -> Result<void> {
      int64_t r = r0;
      while (r < r0 + n) {
        const int64_t e = r / out_dim, rr = r % out_dim, k = std::min(out_dim - rr, r0 + n - r);
        DSK_TRY(read_rows(srcs[static_cast<size_t>(e)], rr, k, out + (r - r0) * in_dim, br, bc));
        r += k;
      }
      return ok();
    };
    plan.push_back(std::move(p));
    return ok();
  }

  // tid2eid [n_vocab, k] (I64 or I32) -> I32 ne [k, n_vocab]; every id checked.
  Result<void> tid2eid(const std::string& gname, const std::string& off) {
    std::string name;
    const st::Tensor* t = lookup(off, &name);
    if (!t) return Error(off + ": not found in the checkpoint (hash layer)");
    used_.insert(name);
    const int64_t K = c_.n_expert_used, NV = c_.n_vocab;
    if (t->shape != std::vector<int64_t>{NV, K})
      return Error(name + ": expected shape " + dims({NV, K}) + ", checkpoint has " + dims(t->shape));
    if (t->dtype != st::Dtype::I64 && t->dtype != st::Dtype::I32)
      return Error(name + ": dtype " + t->dtype_name + ", expected I64 or I32");
    const size_t es = t->dtype == st::Dtype::I64 ? 8 : 4;
    for (int64_t i = 0; i < NV * K; ++i) {
      int64_t v = 0;
      if (es == 8) {
        std::memcpy(&v, t->data + static_cast<size_t>(i) * 8, 8);
      } else {
        int32_t v32;
        std::memcpy(&v32, t->data + static_cast<size_t>(i) * 4, 4);
        v = v32;
      }
      if (v < 0 || v >= static_cast<int64_t>(c_.n_expert))
        return Error(name + ": token " + std::to_string(i / K) + " names expert " + std::to_string(v) + " (n_routed_experts " +
                     std::to_string(c_.n_expert) + ")");
    }
    PlannedTensor p;
    p.name = gname;
    p.type = GgmlType::I32;
    p.ne = {static_cast<uint64_t>(K), static_cast<uint64_t>(NV)};
    const st::Tensor* tt = t;
    p.raw_rows = [tt, K, es](int64_t r0, int64_t n, uint8_t* out) {
      for (int64_t i = 0; i < n * K; ++i) {
        int64_t v = 0;
        if (es == 8) {
          std::memcpy(&v, tt->data + static_cast<size_t>(r0 * K + i) * 8, 8);
        } else {
          int32_t v32;
          std::memcpy(&v32, tt->data + static_cast<size_t>(r0 * K + i) * 4, 4);
          v = v32;
        }
        const int32_t w = static_cast<int32_t>(v);
        std::memcpy(out + static_cast<size_t>(i) * 4, &w, 4);
      }
    };
    plan.push_back(std::move(p));
    return ok();
  }

  // One block: `pre` the official prefix ("layers.N." or "mtp.0."), `gpre` the GGUF one.
  Result<void> block(const std::string& pre, const std::string& gpre, uint32_t ratio, bool hash, bool mtp) {
    const int64_t E = c_.n_embd, H = c_.n_head, D = c_.head_dim, HC = c_.hc_dim(), NC = c_.n_hc_ctrl();
    const int64_t Q = c_.q_lora, G = c_.n_out_group, OL = c_.o_lora, NE = c_.n_expert, FF = c_.n_ff_exp;
    auto L = [&](const std::string& g, const std::string& h, std::vector<int64_t> shape, Cls cls) {
      return direct(gpre + g, pre + h, std::move(shape), cls);
    };
    for (const char* s : {"attn", "ffn"}) {
      const std::string hs = std::string("hc_") + s + "_";
      DSK_TRY(L(hs + "fn.weight", hs + "fn", {NC, HC}, Cls::keep));
      DSK_TRY(L(hs + "scale.weight", hs + "scale", {3}, Cls::f32));
      DSK_TRY(L(hs + "base.weight", hs + "base", {NC}, Cls::f32));
    }
    DSK_TRY(L("attn_norm.weight", "attn_norm.weight", {E}, Cls::f32));
    DSK_TRY(L("attn_q_a.weight", "attn.wq_a.weight", {Q, E}, Cls::weight));
    DSK_TRY(L("attn_q_a_norm.weight", "attn.q_norm.weight", {Q}, Cls::f32));
    DSK_TRY(L("attn_q_b.weight", "attn.wq_b.weight", {H * D, Q}, Cls::weight));
    DSK_TRY(L("attn_kv.weight", "attn.wkv.weight", {D, E}, Cls::weight));
    DSK_TRY(L("attn_kv_a_norm.weight", "attn.kv_norm.weight", {D}, Cls::f32));
    DSK_TRY(L("attn_sinks.weight", "attn.attn_sink", {H}, Cls::f32));
    DSK_TRY(L("attn_output_a.weight", "attn.wo_a.weight", {G * OL, H * D / G}, Cls::weight));
    DSK_TRY(L("attn_output_b.weight", "attn.wo_b.weight", {E, G * OL}, Cls::weight));
    if (ratio != 0) {
      const int64_t cw = (ratio == 4 ? 2 : 1) * D, R = ratio;
      DSK_TRY(L("attn_compressor_ape.weight", "attn.compressor.ape", {R, cw}, Cls::f32));
      DSK_TRY(L("attn_compressor_kv.weight", "attn.compressor.wkv.weight", {cw, E}, Cls::keep));
      DSK_TRY(L("attn_compressor_gate.weight", "attn.compressor.wgate.weight", {cw, E}, Cls::keep));
      DSK_TRY(L("attn_compressor_norm.weight", "attn.compressor.norm.weight", {D}, Cls::f32));
    }
    if (ratio == 4) {
      const int64_t IH = c_.n_indexer_head, ID = c_.indexer_head_dim;
      DSK_TRY(L("indexer.attn_q_b.weight", "attn.indexer.wq_b.weight", {IH * ID, Q}, Cls::keep));
      DSK_TRY(L("indexer.proj.weight", "attn.indexer.weights_proj.weight", {IH, E}, Cls::keep));
      DSK_TRY(L("indexer_compressor_ape.weight", "attn.indexer.compressor.ape", {4, 2 * ID}, Cls::f32));
      DSK_TRY(L("indexer_compressor_kv.weight", "attn.indexer.compressor.wkv.weight", {2 * ID, E}, Cls::keep));
      DSK_TRY(L("indexer_compressor_gate.weight", "attn.indexer.compressor.wgate.weight", {2 * ID, E}, Cls::keep));
      DSK_TRY(L("indexer_compressor_norm.weight", "attn.indexer.compressor.norm.weight", {ID}, Cls::f32));
    }
    DSK_TRY(L("ffn_norm.weight", "ffn_norm.weight", {E}, Cls::f32));
    DSK_TRY(L("ffn_gate_inp.weight", "ffn.gate.weight", {NE, E}, Cls::router));
    if (mtp || has(pre + "ffn.gate.bias")) DSK_TRY(L("exp_probs_b.bias", "ffn.gate.bias", {NE}, Cls::f32));
    DSK_TRY(stacked(gpre + "ffn_gate_exps.weight", pre, "w1", FF, E));
    DSK_TRY(stacked(gpre + "ffn_up_exps.weight", pre, "w3", FF, E));
    DSK_TRY(stacked(gpre + "ffn_down_exps.weight", pre, "w2", E, FF));
    if (c_.n_expert_shared > 0) {
      const int64_t FS = FF * c_.n_expert_shared;
      DSK_TRY(L("ffn_gate_shexp.weight", "ffn.shared_experts.w1.weight", {FS, E}, Cls::weight));
      DSK_TRY(L("ffn_up_shexp.weight", "ffn.shared_experts.w3.weight", {FS, E}, Cls::weight));
      DSK_TRY(L("ffn_down_shexp.weight", "ffn.shared_experts.w2.weight", {E, FS}, Cls::weight));
    }
    if (hash) DSK_TRY(tid2eid(gpre + "ffn_gate_tid2eid.weight", pre + "ffn.gate.tid2eid"));
    return ok();
  }

  std::vector<PlannedTensor> plan;
  std::set<std::string> used_;

 private:
  const st::Checkpoint& ck_;
  const Deepseek4Config& c_;
  GgmlType type_;
  Convert4Report& rep_;
  int64_t br_, bc_;
  bool official_;
};

}  // namespace

Result<Convert4Report> convert_hf_deepseek4(const ConvertOptions& opt) {
  namespace fs = std::filesystem;
  Convert4Report rep;
  DSK_TRY(check_convert_type(opt.type));
  const fs::path dir(opt.hf_dir);
  DSK_TRY_ASSIGN(const std::string text, read_hf_config(opt.hf_dir));
  DSK_TRY_ASSIGN(rep.config, hf_deepseek4_config(text));
  const Deepseek4Config& c = rep.config;
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
  bool official;
  if (ck.find("embed.weight")) official = true;
  else if (ck.find("model.embed_tokens.weight")) official = false;
  else return Error(opt.hf_dir + ": neither 'embed.weight' (official names) nor 'model.embed_tokens.weight' (transformers' names) found");
  rep.naming = official ? "official" : "transformers";
  Converter4 cv(ck, c, opt.type, rep, br, bc, official);
  const int64_t E = c.n_embd, NV = c.n_vocab, HC = c.hc_dim();
  auto ctx = [](Result<void> r, const std::string& where) -> Result<void> {
    if (!r) return std::move(r).error().context(where);
    return ok();
  };
  DSK_TRY(cv.direct("token_embd.weight", "embed.weight", {NV, E}, Cls::weight));
  for (uint32_t il = 0; il < c.n_layer; ++il)
    DSK_TRY(ctx(cv.block("layers." + std::to_string(il) + ".", "blk." + std::to_string(il) + ".", c.compress_ratio[il],
                         c.is_hash_layer(il), false),
                "layer " + std::to_string(il)));
  DSK_TRY(cv.direct("output_hc_fn.weight", "hc_head_fn", {c.n_hc, HC}, Cls::keep));
  DSK_TRY(cv.direct("output_hc_scale.weight", "hc_head_scale", {1}, Cls::f32));
  DSK_TRY(cv.direct("output_hc_base.weight", "hc_head_base", {c.n_hc}, Cls::f32));
  DSK_TRY(cv.direct("output_norm.weight", "norm.weight", {E}, Cls::f32));
  DSK_TRY(cv.direct("output.weight", "head.weight", {NV, E}, Cls::weight));
  // ds4's MTP block (official names only; transformers does not keep it).
  if (official && ck.find("mtp.0.e_proj.weight")) {
    auto mtp = [&]() -> Result<void> {
      DSK_TRY(cv.direct("mtp.0.e_proj.weight", "mtp.0.e_proj.weight", {E, E}, Cls::weight));
      DSK_TRY(cv.direct("mtp.0.h_proj.weight", "mtp.0.h_proj.weight", {E, E}, Cls::weight));
      for (const char* n : {"enorm", "hnorm", "norm"})
        DSK_TRY(cv.direct(std::string("mtp.0.") + n + ".weight", std::string("mtp.0.") + n + ".weight", {E}, Cls::f32));
      DSK_TRY(cv.direct("mtp.0.hc_head_fn.weight", "mtp.0.hc_head_fn", {c.n_hc, HC}, Cls::keep));
      DSK_TRY(cv.direct("mtp.0.hc_head_scale.weight", "mtp.0.hc_head_scale", {1}, Cls::f32));
      DSK_TRY(cv.direct("mtp.0.hc_head_base.weight", "mtp.0.hc_head_base", {c.n_hc}, Cls::f32));
      return cv.block("mtp.0.", "mtp.0.", 0, false, true);
    };
    DSK_TRY(ctx(mtp(), "MTP block"));
    rep.mtp = true;
  }
  size_t n_other_mtp = 0;
  for (const auto& [name, t] : ck.tensors()) {
    if (cv.used_.count(name)) continue;
    if (name.rfind("mtp.", 0) == 0) {
      ++n_other_mtp;
      continue;
    }
    rep.skipped.push_back(name + " (not used by deepseek4)");
  }
  if (n_other_mtp)
    rep.skipped.insert(rep.skipped.begin(), std::to_string(n_other_mtp) + " MTP tensors (mtp.*) not converted");

  gguf::Metadata md;
  md.set("general.architecture", gguf::Value::string("deepseek4"));
  md.set("general.name", gguf::Value::string(dir.filename().empty() ? dir.parent_path().filename().string()
                                                                     : dir.filename().string()));
  set_deepseek4_metadata(md, c);
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
