// model/synth.cpp — synthetic deepseek2 models (see synth.hpp).
#include "model/synth.hpp"

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

}  // namespace dsk::model
