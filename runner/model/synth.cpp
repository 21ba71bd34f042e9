// model/synth.cpp — synthetic deepseek2 and deepseek4 models (see synth.hpp).
#include "model/synth.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "dsk/core/half.hpp"
#include "dsk/quant/blocks.hpp"
#include "dsk/quant/quantize.hpp"

namespace dsk::model {

namespace {

Deepseek2Config tiny_base() {
  Deepseek2Config c;
  c.n_block = 4;
  c.n_ctx_train = 4096;
  c.n_embd = 256;
  c.n_ff = 512;
  c.n_head = 8;
  c.q_lora = 96;
  c.kv_lora = 64;
  c.d_nope = 32;
  c.d_rope = 16;
  c.d_v = 32;
  c.rms_eps = 1e-6f;
  c.rope_freq_base = 10000.0f;
  c.n_layer_dense_lead = 1;
  c.n_expert = 32;
  c.n_expert_used = 6;
  c.n_expert_shared = 1;
  c.n_ff_exp = 256;
  c.expert_weights_scale = 2.5f;
  c.expert_weights_norm = true;
  c.gating = ExpertGating::sigmoid;
  c.n_vocab = 512;
  return c;
}

void set_yarn(Deepseek2Config& c, float factor, uint32_t orig, float log_mul) {
  c.rope_scaling = RopeScaling::yarn;
  c.rope_scaling_factor = factor;
  c.n_ctx_orig_yarn = orig;
  c.yarn_log_mul = log_mul;
}

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string blk(uint32_t il, const char* what) { return "blk." + std::to_string(il) + "." + what; }

}  // namespace

const std::vector<NamedShape>& synth_shapes() {
  static const std::vector<NamedShape> v = {
      {"tiny", "256 wide, 4 layers (1 dense), 8 heads, q_lora 96, kv_lora 64, nope 32, rope 16, v 32, n_ff 512, "
               "32 experts top-6 (n_ff_exp 256), 1 shared, sigmoid + bias, scale 2.5, vocab 512 (the oracle files)"},
      {"tiny-lite", "tiny without q-LoRA (attn_q), softmax gating, no bias, 2 shared experts, scale 1 (V2-Lite style)"},
      {"tiny-384", "tiny with 384 experts top-8 in 8 groups keep 4, YaRN factor 40 (original 256) (Kimi-K2 style)"},
      {"v2-lite", "DeepSeek-V2-Lite: 2048 wide, 27 layers (1 dense), 16 heads, no q-LoRA, kv_lora 512, 64 experts "
                  "top-6 (1408), 2 shared, softmax, vocab 102400, YaRN 40"},
      {"v3", "DeepSeek-V3/R1: 7168 wide, 61 layers (3 dense), 128 heads, q_lora 1536, kv_lora 512, 256 experts "
             "top-8 (2048) in 8 groups keep 4, 1 shared, sigmoid + bias, scale 2.5, vocab 129280, YaRN 40"},
  };
  return v;
}

Result<Deepseek2Config> synth_shape(const std::string& name) {
  Deepseek2Config c;
  if (name == "tiny") {
    c = tiny_base();
  } else if (name == "tiny-lite") {
    c = tiny_base();
    c.q_lora = 0;
    c.gating = ExpertGating::softmax;
    c.n_expert_shared = 2;
    c.expert_weights_scale = 1.0f;
    c.expert_weights_norm = false;
  } else if (name == "tiny-384") {
    c = tiny_base();
    c.n_expert = 384;
    c.n_expert_used = 8;
    c.n_expert_groups = 8;
    c.n_group_used = 4;
    c.n_ctx_train = 10240;
    set_yarn(c, 40.0f, 256, 0.1f);
  } else if (name == "v2-lite") {
    c.n_block = 27;
    c.n_ctx_train = 163840;
    c.n_embd = 2048;
    c.n_ff = 10944;
    c.n_head = 16;
    c.q_lora = 0;
    c.kv_lora = 512;
    c.d_nope = 128;
    c.d_rope = 64;
    c.d_v = 128;
    c.rms_eps = 1e-6f;
    c.n_layer_dense_lead = 1;
    c.n_expert = 64;
    c.n_expert_used = 6;
    c.n_expert_shared = 2;
    c.n_ff_exp = 1408;
    c.expert_weights_scale = 1.0f;
    c.expert_weights_norm = false;
    c.gating = ExpertGating::softmax;
    c.n_vocab = 102400;
    set_yarn(c, 40.0f, 4096, 0.0707f);
  } else if (name == "v3") {
    c.n_block = 61;
    c.n_ctx_train = 163840;
    c.n_embd = 7168;
    c.n_ff = 18432;
    c.n_head = 128;
    c.q_lora = 1536;
    c.kv_lora = 512;
    c.d_nope = 128;
    c.d_rope = 64;
    c.d_v = 128;
    c.rms_eps = 1e-6f;
    c.n_layer_dense_lead = 3;
    c.n_expert = 256;
    c.n_expert_used = 8;
    c.n_expert_shared = 1;
    c.n_ff_exp = 2048;
    c.expert_weights_scale = 2.5f;
    c.expert_weights_norm = true;
    c.gating = ExpertGating::sigmoid;
    c.n_expert_groups = 8;
    c.n_group_used = 4;
    c.n_vocab = 129280;
    set_yarn(c, 40.0f, 4096, 0.1f);
  } else {
    return Error("unknown shape '" + name + "' (see --help)");
  }
  DSK_TRY(finish_config(c));
  return c;
}

Result<void> cut_layers(Deepseek2Config& c, uint32_t n_layer) {
  if (n_layer == 0) return Error("--layers must be at least 1");
  c.n_block = n_layer;
  c.nextn_predict_layers = 0;
  if (c.n_layer_dense_lead > n_layer) c.n_layer_dense_lead = n_layer;
  return finish_config(c);
}

const std::vector<NamedMix>& synth_mixes() {
  static const std::vector<NamedMix> v = {
      {"f32", "every weight F32"},
      {"bf16", "weights BF16"},
      {"q8_0", "weights Q8_0"},
      {"q4_k", "weights Q4_K (rows not a multiple of 256: Q8_0)"},
      {"q6_k", "weights Q6_K (rows not a multiple of 256: Q8_0)"},
      {"2bit", "expert gate/up IQ2_XXS, expert down Q2_K, everything else Q8_0 (rows not a multiple of 256: "
               "Q8_0)"},
  };
  return v;
}

Result<GgmlType> mix_type(const std::string& mix, Role role, int64_t K, GgmlType* wanted) {
  GgmlType w;
  if (role == Role::norm || role == Role::bias || role == Role::router) {
    w = GgmlType::F32;
  } else if (mix == "f32") {
    w = GgmlType::F32;
  } else if (mix == "bf16") {
    w = GgmlType::BF16;
  } else if (mix == "f16") {
    w = GgmlType::F16;
  } else if (mix == "q8_0") {
    w = GgmlType::Q8_0;
  } else if (mix == "q4_k") {
    w = GgmlType::Q4_K;
  } else if (mix == "q6_k") {
    w = GgmlType::Q6_K;
  } else if (mix == "q2_k") {
    w = GgmlType::Q2_K;
  } else if (mix == "2bit") {
    w = role == Role::exps_gate_up ? GgmlType::IQ2_XXS : role == Role::exps_down ? GgmlType::Q2_K : GgmlType::Q8_0;
  } else {
    return Error("unknown mix '" + mix + "' (see --help)");
  }
  if (wanted) *wanted = w;
  return fallback_type(w, K);
}

uint64_t tensor_seed(uint64_t seed, std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a-64
  for (unsigned char ch : name) {
    h ^= ch;
    h *= 0x100000001b3ull;
  }
  return mix64(seed * 0x9e3779b97f4a7c15ull ^ h);
}

// N(0,1) approximated by the Irwin-Hall sum of four uniforms (16 bits each from one 64-bit draw),
// scaled to unit variance: integer-derived, so the bits do not depend on the math library.
void gaussian_row(uint64_t tseed, int64_t row, int64_t K, float scale, float mean, float* out) {
  uint64_t state = mix64(tseed ^ (static_cast<uint64_t>(row) * 0xd1b54a32d192ed03ull));
  constexpr float kNorm = 1.7320508f / 65536.0f;  // sqrt(3) * 2^-16: sum of 4 U(0,1) has variance 1/3
  for (int64_t i = 0; i < K; ++i) {
    const uint64_t r = quant::splitmix64(state);
    const int32_t s = static_cast<int32_t>(r & 0xFFFF) + static_cast<int32_t>((r >> 16) & 0xFFFF) +
                      static_cast<int32_t>((r >> 32) & 0xFFFF) + static_cast<int32_t>(r >> 48) - 2 * 65535;
    out[i] = mean + scale * (static_cast<float>(s) * kNorm);
  }
}

Result<std::vector<PlannedTensor>> plan_synthetic(const Deepseek2Config& c, const std::string& mix, MlaLayout layout,
                                                  uint64_t seed, std::vector<std::string>* widened) {
  std::vector<PlannedTensor> plan;
  auto add = [&](std::string name, std::vector<uint64_t> ne, Role role, float scale, float mean) -> Result<void> {
    GgmlType wanted{};
    DSK_TRY_ASSIGN(GgmlType t, mix_type(mix, role, static_cast<int64_t>(ne[0]), &wanted));
    if (t != wanted && widened)
      widened->push_back(name + ": " + std::string(ggml_type_name(t)) + " (row " + std::to_string(ne[0]) +
                         "; the mix asks " + std::string(ggml_type_name(wanted)) + ")");
    PlannedTensor p;
    p.name = name;
    p.type = t;
    p.ne = std::move(ne);
    const uint64_t ts = tensor_seed(seed, name);
    if (t == GgmlType::IQ2_XXS) {
      const int64_t K = static_cast<int64_t>(p.ne[0]);
      // Random valid blocks, d replaced by a positive scale giving values of about `scale` spread
      // (|value| ~ d * (0.5 + ls) / 4 * grid, on average ~ 50 d).
      p.raw_rows = [ts, K, scale](int64_t r0, int64_t n, uint8_t* out) {
        const int64_t nb = K / 256;
        for (int64_t r = 0; r < n; ++r) {
          uint64_t state = mix64(ts ^ (static_cast<uint64_t>(r0 + r) * 0xd1b54a32d192ed03ull));
          for (int64_t b = 0; b < nb; ++b) {
            quant::block_iq2_xxs blk = quant::iq2_xxs_random_block(state);
            const uint64_t u = quant::splitmix64(state);
            const float f = 0.75f + 0.5f * static_cast<float>(u >> 40) / 16777216.0f;
            blk.d = f16::from_float(scale / 50.0f * f);
            std::memcpy(out + static_cast<size_t>(r * nb + b) * sizeof blk, &blk, sizeof blk);
          }
        }
      };
    } else {
      const int64_t K = static_cast<int64_t>(p.ne[0]);
      p.rows = [ts, K, scale, mean](int64_t r0, int64_t n, float* out) -> Result<void> {
        for (int64_t r = 0; r < n; ++r) gaussian_row(ts, r0 + r, K, scale, mean, out + r * K);
        return ok();
      };
    }
    plan.push_back(std::move(p));
    return ok();
  };
  auto inv_sqrt = [](uint64_t fan_in) { return 1.0f / std::sqrt(static_cast<float>(fan_in)); };

  const uint64_t E = c.n_embd, H = c.n_head, N = c.d_nope, V = c.d_v, C = c.kv_lora, R = c.d_rope, Q = c.q_lora,
                 X = c.n_expert, FX = c.n_ff_exp, F = c.n_ff, NV = c.n_vocab;
  DSK_TRY(add("token_embd.weight", {E, NV}, Role::embedding, 1.0f, 0.0f));
  for (uint32_t il = 0; il < c.n_layer; ++il) {
    DSK_TRY(add(blk(il, "attn_norm.weight"), {E}, Role::norm, 0.1f, 1.0f));
    if (c.is_lite) {
      DSK_TRY(add(blk(il, "attn_q.weight"), {E, H * (N + R)}, Role::weight, inv_sqrt(E), 0.0f));
    } else {
      DSK_TRY(add(blk(il, "attn_q_a.weight"), {E, Q}, Role::weight, inv_sqrt(E), 0.0f));
      DSK_TRY(add(blk(il, "attn_q_a_norm.weight"), {Q}, Role::norm, 0.1f, 1.0f));
      DSK_TRY(add(blk(il, "attn_q_b.weight"), {Q, H * (N + R)}, Role::weight, inv_sqrt(Q), 0.0f));
    }
    DSK_TRY(add(blk(il, "attn_kv_a_mqa.weight"), {E, C + R}, Role::weight, inv_sqrt(E), 0.0f));
    DSK_TRY(add(blk(il, "attn_kv_a_norm.weight"), {C}, Role::norm, 0.1f, 1.0f));
    // One kv_b per layer (rows H*(N+V) of length C): ik writes it, both layouts derive k_b / v_b from it.
    const std::string kvb_name = blk(il, "attn_kv_b.weight");
    const uint64_t kvs = tensor_seed(seed, kvb_name);
    const float kv_scale = inv_sqrt(C);
    if (layout == MlaLayout::ik) DSK_TRY(add(kvb_name, {C, H * (N + V)}, Role::weight, kv_scale, 0.0f));
    {
      // k_b: ne [N, C, H]; row h*C + c holds W_UK_h[0..N)[c].
      const size_t at = plan.size();
      if (layout == MlaLayout::ik) {
        DSK_TRY(add(blk(il, "attn_k_b.weight"), {N, C * H}, Role::weight, 0.0f, 0.0f));
        DSK_TRY(add(blk(il, "attn_v_b.weight"), {C, V * H}, Role::weight, 0.0f, 0.0f));
      } else {
        DSK_TRY(add(blk(il, "attn_k_b.weight"), {N, C, H}, Role::weight, 0.0f, 0.0f));
        DSK_TRY(add(blk(il, "attn_v_b.weight"), {C, V, H}, Role::weight, 0.0f, 0.0f));
      }
      const int64_t n_ = static_cast<int64_t>(N), v_ = static_cast<int64_t>(V), c_ = static_cast<int64_t>(C);
      plan[at].rows = [kvs, n_, v_, c_, kv_scale](int64_t r0, int64_t n, float* out) -> Result<void> {
        std::vector<float> head(static_cast<size_t>(n_ * c_));
        int64_t cur = -1;
        for (int64_t r = r0; r < r0 + n; ++r) {
          const int64_t h = r / c_, cc = r % c_;
          if (h != cur) {
            for (int64_t i = 0; i < n_; ++i)
              gaussian_row(kvs, h * (n_ + v_) + i, c_, kv_scale, 0.0f, head.data() + i * c_);
            cur = h;
          }
          for (int64_t i = 0; i < n_; ++i) out[(r - r0) * n_ + i] = head[static_cast<size_t>(i * c_ + cc)];
        }
        return ok();
      };
      plan[at + 1].rows = [kvs, n_, v_, c_, kv_scale](int64_t r0, int64_t n, float* out) -> Result<void> {
        for (int64_t r = r0; r < r0 + n; ++r) {
          const int64_t h = r / v_, j = r % v_;
          gaussian_row(kvs, h * (n_ + v_) + n_ + j, c_, kv_scale, 0.0f, out + (r - r0) * c_);
        }
        return ok();
      };
    }
    DSK_TRY(add(blk(il, "attn_output.weight"), {H * V, E}, Role::weight, inv_sqrt(H * V), 0.0f));
    DSK_TRY(add(blk(il, "ffn_norm.weight"), {E}, Role::norm, 0.1f, 1.0f));
    if (!c.is_moe_layer(il)) {
      DSK_TRY(add(blk(il, "ffn_gate.weight"), {E, F}, Role::weight, inv_sqrt(E), 0.0f));
      DSK_TRY(add(blk(il, "ffn_up.weight"), {E, F}, Role::weight, inv_sqrt(E), 0.0f));
      DSK_TRY(add(blk(il, "ffn_down.weight"), {F, E}, Role::weight, inv_sqrt(F), 0.0f));
    } else {
      DSK_TRY(add(blk(il, "ffn_gate_inp.weight"), {E, X}, Role::router, inv_sqrt(E), 0.0f));
      if (c.gating == ExpertGating::sigmoid) DSK_TRY(add(blk(il, "exp_probs_b.bias"), {X}, Role::bias, 0.05f, 0.0f));
      DSK_TRY(add(blk(il, "ffn_gate_exps.weight"), {E, FX, X}, Role::exps_gate_up, inv_sqrt(E), 0.0f));
      DSK_TRY(add(blk(il, "ffn_up_exps.weight"), {E, FX, X}, Role::exps_gate_up, inv_sqrt(E), 0.0f));
      DSK_TRY(add(blk(il, "ffn_down_exps.weight"), {FX, E, X}, Role::exps_down, inv_sqrt(FX), 0.0f));
      if (c.n_expert_shared > 0) {
        const uint64_t FS = FX * c.n_expert_shared;
        DSK_TRY(add(blk(il, "ffn_gate_shexp.weight"), {E, FS}, Role::weight, inv_sqrt(E), 0.0f));
        DSK_TRY(add(blk(il, "ffn_up_shexp.weight"), {E, FS}, Role::weight, inv_sqrt(E), 0.0f));
        DSK_TRY(add(blk(il, "ffn_down_shexp.weight"), {FS, E}, Role::weight, inv_sqrt(FS), 0.0f));
      }
    }
  }
  DSK_TRY(add("output_norm.weight", {E}, Role::norm, 0.1f, 1.0f));
  DSK_TRY(add("output.weight", {E, NV}, Role::weight, inv_sqrt(E), 0.0f));
  return plan;
}

// ---- DeepSeek-V4 -------------------------------------------------------------------------------------

const std::vector<NamedShape>& synth_v4_shapes() {
  static const std::vector<NamedShape> v = {
      {"v4-tiny", "DeepSeek-V4 tiny (dsv4-tiny's structure): 256 wide, 6 layers with compress ratios 0 0 4 16 4 16 "
                  "(3 hash layers), 8 heads of 64 (rope 16), q_lora 96, 2 output groups of rank 64, 16 experts "
                  "top-6 (n_ff_exp 256), 1 shared, window 16, indexer 4 heads x 32 top-8, 4 hyper-connections, "
                  "YaRN 4 (original 256), vocab 512"},
      {"v4-flash", "DeepSeek-V4-Flash (ds4's file): 4096 wide, 43 layers (ratios 0 0 4 128 4 128 ... 4; 3 hash), "
                   "64 heads of 512 (rope 64), q_lora 1024, 8 output groups of rank 1024, 256 experts top-6 "
                   "(2048), 1 shared, window 128, indexer 64 x 128 top-512, 4 hyper-connections, YaRN 16, "
                   "vocab 129280"},
  };
  return v;
}

bool is_v4_shape(const std::string& name) {
  for (const auto& s : synth_v4_shapes())
    if (name == s.name) return true;
  return false;
}

Result<Deepseek4Config> synth_v4_shape(const std::string& name) {
  Deepseek4Config c = deepseek4_flash_config();
  if (name == "v4-flash") {
    c.n_ctx_train = 1048576;
    return c;
  }
  if (name != "v4-tiny") return Error("unknown shape '" + name + "' (see --help)");
  c.n_layer = 6;
  c.n_embd = 256;
  c.n_vocab = 512;
  c.n_ctx_train = 4096;
  c.n_head = 8;
  c.head_dim = 64;
  c.n_rot = 16;
  c.q_lora = 96;
  c.o_lora = 64;
  c.n_out_group = 2;
  c.n_expert = 16;
  c.n_expert_used = 6;
  c.n_ff_exp = 256;  // a whole K-quant block: the 2bit mix's experts are IQ2_XXS / Q2_K
  c.n_expert_shared = 1;
  c.n_hash_layer = 3;
  c.n_swa = 16;
  c.n_indexer_head = 4;
  c.indexer_head_dim = 32;
  c.indexer_top_k = 8;
  c.compress_ratio = {0, 0, 4, 16, 4, 16};
  c.swiglu_clamp.assign(6, 10.0f);
  c.rope_scaling_factor = 4.0f;
  c.n_ctx_orig_yarn = 256;
  return c;
}

Result<void> cut_v4_layers(Deepseek4Config& c, uint32_t n_layer) {
  if (n_layer == 0) return Error("--layers must be at least 1");
  if (n_layer > c.n_layer)
    return Error("--layers " + std::to_string(n_layer) + ": the shape has " + std::to_string(c.n_layer) + " layers");
  c.n_layer = n_layer;
  c.n_nextn = 0;
  c.compress_ratio.resize(n_layer);
  c.swiglu_clamp.resize(n_layer);
  c.n_hash_layer = std::min(c.n_hash_layer, n_layer);
  return ok();
}

const std::vector<NamedMix>& synth_v4_mixes() {
  static const std::vector<NamedMix> v = {
      {"f32", "every weight F32"},
      {"bf16", "every weight BF16"},
      {"q8_0", "ds4's layout with Q8_0 experts: attention, shared experts, experts, output Q8_0; token_embd, "
               "hyper-connections, router, compressor, indexer F16"},
      {"2bit", "ds4's q2 file: expert gate/up IQ2_XXS, expert down Q2_K, the rest as q8_0"},
      {"q4_k", "ds4's q4 file: experts Q4_K, the rest as q8_0"},
  };
  return v;
}

Result<GgmlType> v4_mix_type(const std::string& mix, V4Role role, int64_t K, GgmlType* wanted) {
  GgmlType w;
  if (role == V4Role::f32 || mix == "f32") {
    w = GgmlType::F32;
  } else if (mix == "bf16") {
    w = GgmlType::BF16;
  } else if (mix == "q8_0" || mix == "2bit" || mix == "q4_k") {
    switch (role) {
      case V4Role::embedding: case V4Role::hc: case V4Role::router: case V4Role::compressor: case V4Role::indexer:
        w = GgmlType::F16;
        break;
      case V4Role::exps_gate_up:
        w = mix == "2bit" ? GgmlType::IQ2_XXS : mix == "q4_k" ? GgmlType::Q4_K : GgmlType::Q8_0;
        break;
      case V4Role::exps_down:
        w = mix == "2bit" ? GgmlType::Q2_K : mix == "q4_k" ? GgmlType::Q4_K : GgmlType::Q8_0;
        break;
      default:
        w = GgmlType::Q8_0;
    }
  } else {
    return Error("unknown mix '" + mix + "' for a deepseek4 shape (see --help)");
  }
  if (wanted) *wanted = w;
  return fallback_type(w, K);
}

Result<std::vector<PlannedTensor>> plan_synthetic_v4(const Deepseek4Config& c, const std::string& mix, uint64_t seed,
                                                     std::vector<std::string>* widened) {
  std::vector<PlannedTensor> plan;
  auto add = [&](std::string name, std::vector<uint64_t> ne, V4Role role, float scale, float mean) -> Result<void> {
    GgmlType wanted{};
    DSK_TRY_ASSIGN(GgmlType t, v4_mix_type(mix, role, static_cast<int64_t>(ne[0]), &wanted));
    if (t != wanted && widened)
      widened->push_back(name + ": " + std::string(ggml_type_name(t)) + " (row " + std::to_string(ne[0]) +
                         "; the mix asks " + std::string(ggml_type_name(wanted)) + ")");
    PlannedTensor p;
    p.name = name;
    p.type = t;
    p.ne = std::move(ne);
    const uint64_t ts = tensor_seed(seed, name);
    const int64_t K = static_cast<int64_t>(p.ne[0]);
    if (t == GgmlType::IQ2_XXS) {
      p.raw_rows = [ts, K, scale](int64_t r0, int64_t n, uint8_t* out) {  // as plan_synthetic
        const int64_t nb = K / 256;
        for (int64_t r = 0; r < n; ++r) {
          uint64_t state = mix64(ts ^ (static_cast<uint64_t>(r0 + r) * 0xd1b54a32d192ed03ull));
          for (int64_t b = 0; b < nb; ++b) {
            quant::block_iq2_xxs blk = quant::iq2_xxs_random_block(state);
            const uint64_t u = quant::splitmix64(state);
            const float f = 0.75f + 0.5f * static_cast<float>(u >> 40) / 16777216.0f;
            blk.d = f16::from_float(scale / 50.0f * f);
            std::memcpy(out + static_cast<size_t>(r * nb + b) * sizeof blk, &blk, sizeof blk);
          }
        }
      };
    } else {
      p.rows = [ts, K, scale, mean](int64_t r0, int64_t n, float* out) -> Result<void> {
        for (int64_t r = 0; r < n; ++r) gaussian_row(ts, r0 + r, K, scale, mean, out + r * K);
        return ok();
      };
    }
    plan.push_back(std::move(p));
    return ok();
  };
  auto inv_sqrt = [](uint64_t fan_in) { return 1.0f / std::sqrt(static_cast<float>(fan_in)); };
  using R = V4Role;
  const uint64_t E = c.n_embd, NV = c.n_vocab, H = c.n_head, D = c.head_dim, HC = c.hc_dim(), NC = c.n_hc_ctrl();
  const uint64_t Q = c.q_lora, G = c.n_out_group, OL = c.o_lora, NE = c.n_expert, FF = c.n_ff_exp;
  const uint64_t FS = FF * c.n_expert_shared, K = c.n_expert_used;

  DSK_TRY(add("token_embd.weight", {E, NV}, R::embedding, 1.0f, 0.0f));
  DSK_TRY(add("output_hc_fn.weight", {HC, c.n_hc}, R::hc, inv_sqrt(HC), 0.0f));
  DSK_TRY(add("output_hc_scale.weight", {1}, R::f32, 0.1f, 0.5f));
  DSK_TRY(add("output_hc_base.weight", {c.n_hc}, R::f32, 0.5f, 0.0f));
  DSK_TRY(add("output_norm.weight", {E}, R::f32, 0.1f, 1.0f));
  DSK_TRY(add("output.weight", {E, NV}, R::output, inv_sqrt(E), 0.0f));
  for (uint32_t il = 0; il < c.n_layer; ++il) {
    for (const char* s : {"hc_attn_", "hc_ffn_"}) {
      DSK_TRY(add(blk(il, (std::string(s) + "fn.weight").c_str()), {HC, NC}, R::hc, inv_sqrt(HC), 0.0f));
      DSK_TRY(add(blk(il, (std::string(s) + "scale.weight").c_str()), {3}, R::f32, 0.1f, 0.5f));
      DSK_TRY(add(blk(il, (std::string(s) + "base.weight").c_str()), {NC}, R::f32, 0.5f, 0.0f));
    }
    DSK_TRY(add(blk(il, "attn_norm.weight"), {E}, R::f32, 0.1f, 1.0f));
    DSK_TRY(add(blk(il, "attn_q_a.weight"), {E, Q}, R::attn, inv_sqrt(E), 0.0f));
    DSK_TRY(add(blk(il, "attn_q_a_norm.weight"), {Q}, R::f32, 0.1f, 1.0f));
    DSK_TRY(add(blk(il, "attn_q_b.weight"), {Q, H * D}, R::attn, inv_sqrt(Q), 0.0f));
    DSK_TRY(add(blk(il, "attn_kv.weight"), {E, D}, R::attn, inv_sqrt(E), 0.0f));
    DSK_TRY(add(blk(il, "attn_kv_a_norm.weight"), {D}, R::f32, 0.1f, 1.0f));
    DSK_TRY(add(blk(il, "attn_sinks.weight"), {H}, R::f32, 1.0f, 0.0f));
    DSK_TRY(add(blk(il, "attn_output_a.weight"), {H * D / G, G * OL}, R::attn, inv_sqrt(H * D / G), 0.0f));
    DSK_TRY(add(blk(il, "attn_output_b.weight"), {G * OL, E}, R::attn, inv_sqrt(G * OL), 0.0f));
    const uint32_t ratio = c.compress_ratio[il];
    if (ratio != 0) {
      const uint64_t cw = (ratio == 4 ? 2 : 1) * D;
      DSK_TRY(add(blk(il, "attn_compressor_ape.weight"), {cw, ratio}, R::compressor, 0.5f, 0.0f));
      DSK_TRY(add(blk(il, "attn_compressor_kv.weight"), {E, cw}, R::compressor, inv_sqrt(E), 0.0f));
      DSK_TRY(add(blk(il, "attn_compressor_gate.weight"), {E, cw}, R::compressor, inv_sqrt(E), 0.0f));
      DSK_TRY(add(blk(il, "attn_compressor_norm.weight"), {D}, R::f32, 0.1f, 1.0f));
    }
    if (ratio == 4) {
      const uint64_t IH = c.n_indexer_head, ID = c.indexer_head_dim;
      DSK_TRY(add(blk(il, "indexer.attn_q_b.weight"), {Q, IH * ID}, R::indexer, inv_sqrt(Q), 0.0f));
      DSK_TRY(add(blk(il, "indexer.proj.weight"), {E, IH}, R::indexer, inv_sqrt(E), 0.0f));
      DSK_TRY(add(blk(il, "indexer_compressor_ape.weight"), {2 * ID, 4}, R::indexer, 0.5f, 0.0f));
      DSK_TRY(add(blk(il, "indexer_compressor_kv.weight"), {E, 2 * ID}, R::indexer, inv_sqrt(E), 0.0f));
      DSK_TRY(add(blk(il, "indexer_compressor_gate.weight"), {E, 2 * ID}, R::indexer, inv_sqrt(E), 0.0f));
      DSK_TRY(add(blk(il, "indexer_compressor_norm.weight"), {ID}, R::f32, 0.1f, 1.0f));
    }
    DSK_TRY(add(blk(il, "ffn_norm.weight"), {E}, R::f32, 0.1f, 1.0f));
    DSK_TRY(add(blk(il, "ffn_gate_inp.weight"), {E, NE}, R::router, inv_sqrt(E), 0.0f));
    if (!c.is_hash_layer(il)) DSK_TRY(add(blk(il, "exp_probs_b.bias"), {NE}, R::f32, 0.05f, 0.0f));
    DSK_TRY(add(blk(il, "ffn_gate_exps.weight"), {E, FF, NE}, R::exps_gate_up, inv_sqrt(E), 0.0f));
    DSK_TRY(add(blk(il, "ffn_up_exps.weight"), {E, FF, NE}, R::exps_gate_up, inv_sqrt(E), 0.0f));
    DSK_TRY(add(blk(il, "ffn_down_exps.weight"), {FF, E, NE}, R::exps_down, inv_sqrt(FF), 0.0f));
    if (c.n_expert_shared > 0) {
      DSK_TRY(add(blk(il, "ffn_gate_shexp.weight"), {E, FS}, R::shared, inv_sqrt(E), 0.0f));
      DSK_TRY(add(blk(il, "ffn_up_shexp.weight"), {E, FS}, R::shared, inv_sqrt(E), 0.0f));
      DSK_TRY(add(blk(il, "ffn_down_shexp.weight"), {FS, E}, R::shared, inv_sqrt(FS), 0.0f));
    }
    if (c.is_hash_layer(il)) {
      // tid2eid [n_expert_used, n_vocab] I32: per token, n_expert_used distinct experts drawn from its own stream.
      PlannedTensor p;
      p.name = blk(il, "ffn_gate_tid2eid.weight");
      p.type = GgmlType::I32;
      p.ne = {K, NV};
      const uint64_t ts = tensor_seed(seed, p.name), ne_ = NE, k_ = K;
      p.raw_rows = [ts, ne_, k_](int64_t r0, int64_t n, uint8_t* out) {
        std::vector<int32_t> ids(static_cast<size_t>(k_));
        for (int64_t r = 0; r < n; ++r) {
          uint64_t state = mix64(ts ^ (static_cast<uint64_t>(r0 + r) * 0xd1b54a32d192ed03ull));
          for (uint64_t j = 0; j < k_; ++j) {
            int32_t e;
            do e = static_cast<int32_t>(quant::splitmix64(state) % ne_);
            while (std::find(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(j), e) != ids.begin() + static_cast<std::ptrdiff_t>(j));
            ids[j] = e;
          }
          std::memcpy(out + static_cast<size_t>(r) * k_ * 4, ids.data(), static_cast<size_t>(k_) * 4);
        }
      };
      plan.push_back(std::move(p));
    }
  }
  return plan;
}

}  // namespace dsk::model
