// model/synth.hpp — synthetic deepseek2 and deepseek4 models (dsk-mkmodel) and the per-tensor type rules
// shared with dsk-convert (docs/models.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "model/deepseek2.hpp"
#include "model/deepseek4.hpp"
#include "model/gguf_stream.hpp"

namespace dsk::model {

struct NamedShape {
  const char* name;
  const char* description;
};
// tiny, tiny-lite, tiny-384, v2-lite, v3.
const std::vector<NamedShape>& synth_shapes();
// The config of a named shape (finished: derived fields set).
Result<Deepseek2Config> synth_shape(const std::string& name);
// Cuts a config to n_layer main layers (leading dense blocks capped at n_layer; nextn dropped).
Result<void> cut_layers(Deepseek2Config& c, uint32_t n_layer);

struct NamedMix {
  const char* name;
  const char* description;
};
// f32, bf16, q8_0, q4_k, q6_k, 2bit.
const std::vector<NamedMix>& synth_mixes();

// What a tensor is, for the type rules.
enum class Role {
  norm,        // F32 always (norms)
  bias,        // F32 always (exp_probs_b)
  router,      // F32 always (ffn_gate_inp)
  embedding,   // token_embd
  weight,      // any other matmul weight
  exps_gate_up,
  exps_down,
};

// The type a tensor of `role` with row length K gets under `mix` (after fallback for short rows).
// `wanted` receives the type the mix asked for (differs from the result when the row was too short).
Result<GgmlType> mix_type(const std::string& mix, Role role, int64_t K, GgmlType* wanted = nullptr);

// One planned tensor per GGUF tensor of the synthetic model, with seeded random contents: weights
// ~ N(0, 1/fan_in) (Irwin-Hall approximation, deterministic integer-derived arithmetic), token_embd
// ~ N(0, 1), norms 1 + 0.1 N(0,1), exp_probs_b 0.05 N(0,1); IQ2_XXS from random valid blocks with the
// scale set for ~ the same spread. The k_b / v_b of both layouts (and ik's attn_kv_b) come from one
// kv_b matrix per layer, so the two layouts of one seed hold the same attention weights.
// `widened`: "name: TYPE (row K; mix asks TYPE2)" for each tensor stored wider than the mix asked.
Result<std::vector<PlannedTensor>> plan_synthetic(const Deepseek2Config& c, const std::string& mix, MlaLayout layout,
                                                  uint64_t seed, std::vector<std::string>* widened);

// ---- DeepSeek-V4 (general.architecture = deepseek4, ds4's tensor layout) ---------------------------

// v4-tiny, v4-flash.
const std::vector<NamedShape>& synth_v4_shapes();
bool is_v4_shape(const std::string& name);
Result<Deepseek4Config> synth_v4_shape(const std::string& name);
// Keeps the first n_layer layers (compress ratios and clamps cut, hash layers capped, no MTP).
Result<void> cut_v4_layers(Deepseek4Config& c, uint32_t n_layer);

// f32, bf16, q8_0, 2bit (ds4's q2 file), q4_k (ds4's q4 file).
const std::vector<NamedMix>& synth_v4_mixes();

// What a V4 tensor is, for the type rules (ds4's groups, spec §2).
enum class V4Role {
  f32,           // norms, hc / output_hc scale and base, sinks, exp_probs_b: F32 always
  embedding,     // token_embd (ds4: F16)
  hc,            // hc_attn_fn, hc_ffn_fn, output_hc_fn (ds4: F16)
  router,        // ffn_gate_inp (ds4: F16)
  attn,          // attn_q_a, attn_q_b, attn_kv, attn_output_a, attn_output_b (ds4: Q8_0)
  compressor,    // attn_compressor_{ape,kv,gate} (ds4: F16)
  indexer,       // indexer.attn_q_b, indexer.proj, indexer_compressor_{ape,kv,gate} (ds4: F16)
  shared,        // ffn_{gate,up,down}_shexp (ds4: Q8_0)
  exps_gate_up,  // ffn_gate_exps, ffn_up_exps (ds4: IQ2_XXS or Q4_K)
  exps_down,     // ffn_down_exps (ds4: Q2_K or Q4_K)
  output,        // output.weight (ds4: Q8_0)
};
Result<GgmlType> v4_mix_type(const std::string& mix, V4Role role, int64_t K, GgmlType* wanted = nullptr);

// The planned tensors of a synthetic deepseek4 model in ds4's layout (what load_deepseek4 reads), seeded
// as plan_synthetic: weights ~ N(0, 1/fan_in), token_embd N(0, 1), norms 1 + 0.1 N(0,1), hc scales
// 0.5 + 0.1 N(0,1), hc bases / compressor ape 0.5 N(0,1), sinks N(0,1), exp_probs_b 0.05 N(0,1) (score-routed
// layers), tid2eid n_expert_used distinct experts per token (hash layers).
Result<std::vector<PlannedTensor>> plan_synthetic_v4(const Deepseek4Config& c, const std::string& mix, uint64_t seed,
                                                     std::vector<std::string>* widened);

// Deterministic random helpers (exposed for tests).
uint64_t tensor_seed(uint64_t seed, std::string_view name);
void gaussian_row(uint64_t tseed, int64_t row, int64_t K, float scale, float mean, float* out);

}  // namespace dsk::model
