// model/deepseek4.hpp — the DeepSeek-V4 family (general.architecture = deepseek4: V4-Flash, V4-Pro
// shapes) read from GGUF metadata, in the key set ds4 publishes (../shared/specs/deepseek4-architecture.md
// §1-2; docs/models.md): hyperparameters and per-layer tensor views, validated. The forward pass and
// the KV storage options of issue 7 build on this.
//
//   DSK_TRY_ASSIGN(dsk::gguf::Reader r, dsk::gguf::Reader::open(path));
//   DSK_TRY_ASSIGN(dsk::model::Deepseek4Model m, dsk::model::load_deepseek4(r));
//
// Everything comes from metadata, nothing from a hard-coded shape: a missing or inconsistent key or
// tensor is one Error naming it and what was expected. The tensors point into the Reader's
// mappings (the Reader must outlive the model).
#pragma once

#include <cstdint>
#include <vector>

#include "common/result.hpp"
#include "gguf/metadata.hpp"
#include "gguf/reader.hpp"
#include "model/deepseek2.hpp"  // TensorRef

namespace dsk::model {

struct Deepseek4Config {
  // --- as in the file (deepseek4.* keys) ------------------------------------------------------------
  uint32_t n_layer = 0;           // main layers: block_count - nextn_predict_layers (llama.cpp's layout
                                  // counts its MTP block in block_count; ds4's MTP lives in its own file)
  uint32_t n_nextn = 0;           // nextn_predict_layers (llama.cpp's layout): blocks n_layer.. are MTP
  uint32_t n_embd = 0;            // embedding_length
  uint32_t n_vocab = 0;           // vocab_size (absent: tokenizer.ggml.tokens' length, else token_embd's rows)
  uint32_t n_ctx_train = 0;       // context_length (optional, informational)
  uint32_t n_head = 0;            // attention.head_count (query heads)
  uint32_t n_head_kv = 1;         // attention.head_count_kv (one shared KV head)
  uint32_t head_dim = 0;          // attention.key_length (= value_length: K and V are one vector)
  uint32_t n_rot = 0;             // rope.dimension_count: RoPE on the last n_rot dims of a head
  uint32_t q_lora = 0;            // attention.q_lora_rank
  uint32_t o_lora = 0;            // attention.output_lora_rank (per output group)
  uint32_t n_out_group = 0;       // attention.output_group_count
  uint32_t n_expert = 0;          // expert_count
  uint32_t n_expert_used = 0;     // expert_used_count
  uint32_t n_ff_exp = 0;          // expert_feed_forward_length (routed and shared experts)
  uint32_t n_expert_shared = 0;   // expert_shared_count
  uint32_t n_hash_layer = 0;      // hash_layer_count: layers 0 .. n_hash_layer-1 route by tid2eid
  uint32_t n_expert_groups = 0;   // expert_group_count (0: no group-limited routing)
  uint32_t n_group_used = 0;      // expert_group_used_count
  uint32_t n_swa = 0;             // attention.sliding_window (raw rows every layer keeps)
  uint32_t n_indexer_head = 0;    // attention.indexer.head_count
  uint32_t indexer_head_dim = 0;  // attention.indexer.key_length
  uint32_t indexer_top_k = 0;     // attention.indexer.top_k
  uint32_t n_hc = 0;              // hyper_connection.count (residual streams)
  uint32_t sinkhorn_iters = 0;    // hyper_connection.sinkhorn_iterations
  float hc_eps = 1e-6f;           // hyper_connection.epsilon
  float rms_eps = 1e-6f;          // attention.layer_norm_rms_epsilon (every RMSNorm)
  std::vector<uint32_t> compress_ratio;  // attention.compress_ratios, first n_layer entries: 0 (raw window
                                         // only), 4 (CSA: overlapping compressor + indexer) or any other
                                         // ratio 1..65536 (HCA: compressor, no indexer; ds4: 128)
  std::vector<float> swiglu_clamp;       // swiglu_clamp_exp, first n_layer entries (> 0)
  float rope_freq_base = 10000.0f;           // rope.freq_base (uncompressed layers, MTP)
  float compress_rope_freq_base = 10000.0f;  // attention.compress_rope_freq_base (compressed layers)
  float rope_scaling_factor = 1.0f;          // rope.scaling.factor (YaRN, compressed layers; 1: none)
  uint64_t n_ctx_orig_yarn = 0;              // rope.scaling.original_context_length
  float yarn_beta_fast = 32.0f;              // rope.scaling.yarn_beta_fast
  float yarn_beta_slow = 1.0f;               // rope.scaling.yarn_beta_slow
  float expert_weights_scale = 1.0f;         // expert_weights_scale
  bool expert_weights_norm = false;          // expert_weights_norm

  // --- derived ---------------------------------------------------------------------------------------
  uint32_t hc_dim() const { return n_hc * n_embd; }                       // the mHC state width
  uint32_t n_hc_ctrl() const { return 2 * n_hc + n_hc * n_hc; }           // pre, post, comb values
  bool is_hash_layer(uint32_t il) const { return il < n_hash_layer; }
  bool is_csa(uint32_t il) const { return compress_ratio[il] == 4; }      // compressed + indexer
  bool is_hca(uint32_t il) const { return compress_ratio[il] != 0 && compress_ratio[il] != 4; }  // no indexer
};

// One layer's tensors (ggml order; spec §2.2). Absent ones have data == nullptr.
struct Deepseek4Layer {
  uint32_t index = 0;
  uint32_t compress_ratio = 0;  // 0, 4 (CSA: compressor + indexer) or another ratio (HCA: compressor)
  bool hash = false;            // experts from tid2eid
  // hyper-connections around attention and the FFN: fn [hc_dim, n_hc_ctrl], scale F32 [3], base F32 [n_hc_ctrl]
  TensorRef hc_attn_fn, hc_attn_scale, hc_attn_base;
  TensorRef hc_ffn_fn, hc_ffn_scale, hc_ffn_base;
  // attention
  TensorRef attn_norm;       // F32 [n_embd]
  TensorRef attn_q_a;        // [n_embd, q_lora]
  TensorRef attn_q_a_norm;   // F32 [q_lora]
  TensorRef attn_q_b;        // [q_lora, n_head * head_dim]
  TensorRef attn_kv;         // [n_embd, head_dim] (the shared K = V row)
  TensorRef attn_kv_a_norm;  // F32 [head_dim]
  TensorRef attn_sinks;      // F32 [n_head]
  TensorRef attn_output_a;   // [n_head * head_dim / n_out_group, n_out_group * o_lora]
  TensorRef attn_output_b;   // [n_out_group * o_lora, n_embd]
  // compressor (ratio != 0), cw = (ratio == 4 ? 2 : 1) * head_dim
  TensorRef attn_compressor_ape;   // [cw, ratio]
  TensorRef attn_compressor_kv;    // [n_embd, cw]
  TensorRef attn_compressor_gate;  // [n_embd, cw]
  TensorRef attn_compressor_norm;  // F32 [head_dim]
  // indexer (ratio 4), iw = 2 * indexer_head_dim
  TensorRef indexer_q_b;              // [q_lora, n_indexer_head * indexer_head_dim]
  TensorRef indexer_proj;             // [n_embd, n_indexer_head]
  TensorRef indexer_compressor_ape;   // [iw, 4]
  TensorRef indexer_compressor_kv;    // [n_embd, iw]
  TensorRef indexer_compressor_gate;  // [n_embd, iw]
  TensorRef indexer_compressor_norm;  // F32 [indexer_head_dim]
  // FFN
  TensorRef ffn_norm;        // F32 [n_embd]
  TensorRef ffn_gate_inp;    // router [n_embd, n_expert]
  TensorRef exp_probs_b;     // F32 [n_expert], optional (selection bias)
  TensorRef ffn_gate_exps, ffn_up_exps;  // [n_embd, n_ff_exp, n_expert] (same type)
  TensorRef ffn_down_exps;               // [n_ff_exp, n_embd, n_expert]
  TensorRef ffn_gate_shexp, ffn_up_shexp;  // [n_embd, n_ff_exp * n_expert_shared] (when shared experts)
  TensorRef ffn_down_shexp;                // [n_ff_exp * n_expert_shared, n_embd]
  TensorRef ffn_gate_tid2eid;              // I32 [n_expert_used, n_vocab] (hash layers)
};

// ds4's MTP block (spec §2.3): `mtp.0.*` tensors, in the MTP GGUF ds4 publishes or in the main file.
// Loaded and checked, not used yet (no speculative decoding).
struct Deepseek4Mtp {
  TensorRef e_proj, h_proj;             // [n_embd, n_embd]
  TensorRef enorm, hnorm, norm;         // F32 [n_embd]
  TensorRef hc_head_fn;                 // [hc_dim, n_hc]
  TensorRef hc_head_scale;              // F32 [1]
  TensorRef hc_head_base;               // F32 [n_hc]
  Deepseek4Layer block;                 // a raw-window layer (ratio 0, no tid2eid, exp_probs_b required)
  bool present() const { return e_proj.present(); }
};

struct Deepseek4Model {
  Deepseek4Config config;
  TensorRef token_embd;       // [n_embd, n_vocab] (rows looked up)
  TensorRef output_hc_fn;     // [hc_dim, n_hc]
  TensorRef output_hc_scale;  // F32 [1]
  TensorRef output_hc_base;   // F32 [n_hc]
  TensorRef output_norm;      // F32 [n_embd]
  TensorRef output;           // [n_embd, n_vocab] (not tied to the embedding)
  std::vector<Deepseek4Layer> layers;
  Deepseek4Mtp mtp;                 // ds4's mtp.0.* (when the file has them)
  std::vector<TensorRef> nextn;     // llama.cpp's layout: blocks >= n_layer (its MTP), by name, unchecked
  std::vector<std::string> unused;  // tensors of the file nothing above uses (not an error)
};

// Hyperparameters from general.architecture = deepseek4 metadata, validated.
Result<Deepseek4Config> deepseek4_config(const gguf::Metadata& md);

// Config + tensors (ds4's layout), every shape and type checked: one Error naming the tensor.
Result<Deepseek4Model> load_deepseek4(const gguf::Reader& reader);

// ds4's separate MTP GGUF (spec §2.3): its mtp.0.* tensors checked against the main model's config.
Result<Deepseek4Mtp> load_deepseek4_mtp(const gguf::Reader& reader, const Deepseek4Config& config);

// Writes the deepseek4.* keys (and general.architecture) of `c`, as ds4's files carry them (tools,
// tests). n_ctx_train, n_expert_groups / n_group_used are written only when nonzero.
void set_deepseek4_metadata(gguf::Metadata& md, const Deepseek4Config& c);

// DeepSeek-V4-Flash as ds4 publishes it (spec §1), for tools and tests.
Deepseek4Config deepseek4_flash_config();

}  // namespace dsk::model
