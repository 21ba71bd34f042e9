// model/deepseek2.hpp — the deepseek2 family (DeepSeek V2, V2-Lite, V3, R1, Kimi-K2) read from a
// GGUF file: hyperparameters, per-layer tensor views, validation (docs/models.md).
//
//   DSK_TRY_ASSIGN(dsk::gguf::Reader r, dsk::gguf::Reader::open(path));
//   DSK_TRY_ASSIGN(dsk::model::Deepseek2Model m, dsk::model::load_deepseek2(r));
//   // m.layers[i].attn_k_b: per head a [kv_lora rows x d_nope] matrix, whatever the file's layout
//
// The model's tensors point into the Reader's mappings (the Reader must outlive the model) or into
// the model's own storage (derived attn_k_b / attn_v_b); moving either keeps the pointers valid.
// load_deepseek2 checks every key and tensor the forward uses before it returns: a bad file is one
// Error naming the key or tensor and what was expected, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "dsk/quant/types.hpp"
#include "gguf/metadata.hpp"
#include "gguf/reader.hpp"

namespace dsk::model {

// llama.cpp's llama_expert_gating_func_type.
enum class ExpertGating : uint32_t { none = 0, softmax = 1, sigmoid = 2 };

// rope.scaling.type: "none", "linear", "yarn" (llama.cpp's names).
enum class RopeScaling : uint32_t { none = 0, linear = 1, yarn = 2 };

// The two MLA layouts of deepseek2 GGUF files (docs/models.md).
enum class MlaLayout : uint32_t {
  mainline = 0,  // head_count_kv = 1, key_length = kv_lora + rope, *_mla keys, 3-D attn_k_b / attn_v_b
  ik = 1,        // head_count_kv = head_count, key_length = nope + rope, attn_kv_b (+ 2-D attn_k_b / attn_v_b)
};

struct Deepseek2Config {
  // --- as in the file (deepseek2.* keys; defaults are llama.cpp's) ---------------------------------
  uint32_t n_block = 0;          // block_count (includes the nextn_predict_layers MTP blocks, if any)
  uint32_t n_ctx_train = 0;      // context_length
  uint32_t n_embd = 0;           // embedding_length
  uint32_t n_ff = 0;             // feed_forward_length (dense layers); 0 when there are none
  uint32_t n_head = 0;           // attention.head_count
  uint32_t n_head_kv_file = 0;   // attention.head_count_kv as written (1: mainline layout)
  uint32_t key_length_file = 0;  // attention.key_length as written
  uint32_t value_length_file = 0;
  float rms_eps = 1e-6f;         // attention.layer_norm_rms_epsilon
  uint32_t n_rot = 0;            // rope.dimension_count (= d_rope)
  float rope_freq_base = 10000.0f;
  RopeScaling rope_scaling = RopeScaling::linear;  // llama.cpp's default when absent ("linear")
  float rope_scaling_factor = 0.0f;  // rope.scaling.factor (0 = absent: freq_scale 1)
  float rope_freq_scale = 1.0f;      // 1 / factor (1 when the factor is absent or 0)
  uint32_t n_ctx_orig_yarn = 0;      // rope.scaling.original_context_length (default n_ctx_train)
  float yarn_log_mul = 0.0f;         // rope.scaling.yarn_log_multiplier (0.1 * mscale_all_dim)
  float yarn_beta_fast = 32.0f;      // rope.scaling.yarn_beta_fast
  float yarn_beta_slow = 1.0f;       // rope.scaling.yarn_beta_slow
  float yarn_ext_factor = -1.0f;     // rope.scaling.yarn_ext_factor; -1: 1 for yarn, else 0 (llama.cpp's cparams rule)
  float yarn_attn_factor = 1.0f;     // rope.scaling.yarn_attn_factor
  uint32_t n_layer_dense_lead = 0;   // leading_dense_block_count
  uint32_t n_expert = 0;             // expert_count
  uint32_t n_expert_used = 0;        // expert_used_count
  uint32_t n_expert_shared = 0;      // expert_shared_count
  uint32_t n_ff_exp = 0;             // expert_feed_forward_length
  float expert_weights_scale = 1.0f; // expert_weights_scale (absent: 1, no scaling)
  bool expert_weights_norm = false;  // expert_weights_norm
  ExpertGating gating = ExpertGating::softmax;  // expert_gating_func
  bool gating_defaulted = false;     // the key was absent: llama.cpp's rule (sigmoid iff n_block is 47 or 48)
  uint32_t n_expert_groups = 1;      // expert_group_count (1: no group-limited routing)
  uint32_t n_group_used = 1;         // expert_group_used_count
  uint32_t n_vocab = 0;              // vocab_size, else the token list length, else token_embd's rows
  uint32_t nextn_predict_layers = 0; // the last nextn_predict_layers blocks are MTP blocks (kept, not run)

  // --- derived ---------------------------------------------------------------------------------------
  MlaLayout layout = MlaLayout::mainline;  // from head_count_kv
  uint32_t n_layer = 0;   // main layers = n_block - nextn_predict_layers
  uint32_t d_nope = 0;    // qk_nope_head_dim
  uint32_t d_rope = 0;    // qk_rope_head_dim (= n_rot)
  uint32_t d_qk = 0;      // d_nope + d_rope (per-head q width)
  uint32_t d_v = 0;       // v_head_dim
  uint32_t kv_lora = 0;   // attention.kv_lora_rank
  uint32_t q_lora = 0;    // attention.q_lora_rank; 0 = absent (V2-Lite style attn_q)
  bool is_lite = false;   // q_lora == 0

  bool is_moe_layer(uint32_t il) const { return n_expert > 0 && il >= n_layer_dense_lead; }
};

// A read-only view of one tensor, in ggml order (ne[0] contiguous). Rows are ne[0] elements,
// nb1 bytes each, packed; matrix i2 of a 3-D tensor starts at data + i2 * ne[1] * nb1.
struct TensorRef {
  std::string name;          // the GGUF name ("blk.3.attn_kv_b.weight"; derived: "blk.3.attn_k_b.weight (derived)")
  GgmlType type = GgmlType::F32;
  int n_dims = 0;            // 0: absent
  int64_t ne[4] = {1, 1, 1, 1};
  const uint8_t* data = nullptr;
  size_t nb1 = 0;            // bytes per row
  size_t n_bytes = 0;

  bool present() const { return data != nullptr; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  const uint8_t* row(int64_t i) const { return data + static_cast<size_t>(i) * nb1; }
  const uint8_t* matrix(int64_t i2) const { return data + static_cast<size_t>(i2 * ne[1]) * nb1; }
};

struct Deepseek2Layer {
  uint32_t index = 0;
  bool is_moe = false;

  // attention
  TensorRef attn_norm;       // F32 [n_embd]
  TensorRef attn_q_a;        // [n_embd, q_lora]            (not lite)
  TensorRef attn_q_a_norm;   // F32 [q_lora]                (not lite)
  TensorRef attn_q_b;        // [q_lora, H * d_qk]          (not lite); per head rows [nope | rope]
  TensorRef attn_q;          // [n_embd, H * d_qk]          (lite only)
  TensorRef attn_kv_a_mqa;   // [n_embd, kv_lora + d_rope]; output [c_kv | k_rope]
  TensorRef attn_kv_a_norm;  // F32 [kv_lora]
  TensorRef attn_kv_b;       // [kv_lora, H * (d_nope + d_v)]; optional (ik layout); per head rows [k_nope | v]
  // Always present, always 3-D: a 2-D ik tensor is viewed as 3-D (same bytes), a missing one is derived
  // from attn_kv_b as F32 (see k_b_derived).
  TensorRef attn_k_b;        // ne [d_nope, kv_lora, H]: head h is a kv_lora x d_nope matrix, W_UK_h^T
  TensorRef attn_v_b;        // ne [kv_lora, d_v, H]:    head h is a d_v x kv_lora matrix,   W_UV_h
  bool k_b_derived = false;  // attn_k_b / attn_v_b computed at load from attn_kv_b (F32, owned by the model)
  bool v_b_derived = false;
  TensorRef attn_output;     // [H * d_v, n_embd]
  TensorRef ffn_norm;        // F32 [n_embd]

  // dense FFN (!is_moe)
  TensorRef ffn_gate, ffn_up;  // [n_embd, n_ff]
  TensorRef ffn_down;          // [n_ff, n_embd]

  // MoE (is_moe)
  TensorRef ffn_gate_inp;      // router [n_embd, n_expert] (any computable type; F32 in practice)
  TensorRef exp_probs_b;       // F32 [n_expert], optional (selection bias, V3)
  TensorRef ffn_gate_exps, ffn_up_exps;  // [n_embd, n_ff_exp, n_expert]
  TensorRef ffn_down_exps;               // [n_ff_exp, n_embd, n_expert]
  TensorRef ffn_gate_shexp, ffn_up_shexp;  // [n_embd, n_ff_exp * n_expert_shared]; absent when no shared experts
  TensorRef ffn_down_shexp;                // [n_ff_exp * n_expert_shared, n_embd]
};

struct Deepseek2Model {
  Deepseek2Config config;
  TensorRef token_embd;   // [n_embd, n_vocab] (rows are looked up, not multiplied)
  TensorRef output_norm;  // F32 [n_embd]
  TensorRef output;       // [n_embd, n_vocab]; a file without output.weight uses token_embd (tied)
  bool output_tied = false;
  std::vector<Deepseek2Layer> layers;  // config.n_layer main layers

  // Every tensor of the MTP blocks (blk.N.* for N >= n_layer, including blk.N.nextn.*), by name.
  std::map<std::string, TensorRef> nextn;
  // Tensors of the file that nothing above uses (reported by tools, not an error).
  std::vector<std::string> unused;

  // Storage of derived tensors (F32); TensorRef::data points into it.
  std::vector<std::unique_ptr<std::vector<float>>> owned;
};

// True for the types dsk computes with (F32 F16 BF16 Q8_0 Q4_K Q6_K Q2_K IQ2_XXS).
bool is_weight_type(GgmlType t);

// Hyperparameters from general.architecture = deepseek2 metadata (no tensors needed, except that
// n_vocab falls back to 0 when neither vocab_size nor the token list is present).
Result<Deepseek2Config> deepseek2_config(const gguf::Metadata& md);

// Config + tensors, validated (see the header comment).
Result<Deepseek2Model> load_deepseek2(const gguf::Reader& reader);

// Writes the deepseek2.* keys (and general.architecture) of `c` in the given layout, as llama.cpp's
// converters do: mainline writes head_count_kv 1, key_length kv_lora + rope, value_length kv_lora and
// the *_mla keys; ik writes head_count_kv = head_count, key_length nope + rope, value_length d_v.
// Fields at their defaults are still written, except rope scaling (only when not none/linear-1) and
// expert groups (only when n_expert_groups > 1), nextn_predict_layers (only when > 0) and q_lora_rank
// (only when not lite).
void set_deepseek2_metadata(gguf::Metadata& md, const Deepseek2Config& c, MlaLayout layout);

// Expected logical shapes (ggml order), for tools writing files.
struct Deepseek2Shapes {
  static std::vector<uint64_t> k_b(const Deepseek2Config& c) { return {c.d_nope, c.kv_lora, c.n_head}; }
  static std::vector<uint64_t> v_b(const Deepseek2Config& c) { return {c.kv_lora, c.d_v, c.n_head}; }
};

// Fills the derived fields (layout, n_layer, d_*, is_lite) from the file-level ones after a tool has
// set them by hand; returns an error for inconsistent values.
Result<void> finish_config(Deepseek2Config& c);

// "256 x 512 x 32"
std::string dims_text(const int64_t* ne, int n_dims);

}  // namespace dsk::model
