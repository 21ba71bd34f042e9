// model/synth.hpp — synthetic deepseek2 models (dsk-mkmodel) and the per-tensor type rules shared
// with dsk-convert (docs/models.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "model/deepseek2.hpp"
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

// Deterministic random helpers (exposed for tests).
uint64_t tensor_seed(uint64_t seed, std::string_view name);
void gaussian_row(uint64_t tseed, int64_t row, int64_t K, float scale, float mean, float* out);

}  // namespace dsk::model
