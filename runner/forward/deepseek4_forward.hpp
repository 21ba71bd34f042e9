// forward/deepseek4_forward.hpp — the DeepSeek-V4 (deepseek4) forward pass on the CPU, first piece
// (issue 7; spec ../shared/specs/deepseek4-architecture.md §4).
//
// The generic ops (embedding, RMSNorm, matmuls) go through backend::CpuOps; the V4-only ops call the
// host references directly (dsk::ref::v4::hc_pre / hc_post / hc_head / sink_attention,
// dsk::ref::rope::apply for the per-head weightless norm + RoPE and its inverse, dsk::ref::router::select
// for sqrt-softplus / hash routing, dsk::ref::moe::moe for the clamped V4 experts): backend::Ops has no
// V4 operations yet, so this forward is host-only and runs on CpuOps only.
//
// Done (spec §4.0-4.5):
//  - embedding copied into the n_hc streams (stream-major state [T, n_hc * n_embd]);
//  - per layer: HC pre (attn) -> attn_norm -> q_a / q_a_norm / q_b, per-head weightless RMSNorm on Q,
//    kv = RMSNorm(attn_kv . n, attn_kv_a_norm), RoPE (plain, rope.freq_base) on the last n_rot dims of
//    every Q head and of kv -> raw KV row stored -> sink attention over the raw sliding window
//    (positions max(0, p - n_swa + 1) .. p) -> inverse RoPE on the output tails -> grouped low-rank
//    output (attn_output_a group by group, each group's activation quantized on its own, then
//    attn_output_b) -> HC post; HC pre (ffn) -> ffn_norm -> router (sqrt-softplus, selection bias
//    exp_probs_b, or tid2eid on hash layers; weights from the unbiased scores, normalized with ds4's
//    floor 6.103515625e-5 when expert_weights_norm, times expert_weights_scale) -> routed experts
//    (clamped SwiGLU, weight before the down projection) + shared expert (clamped) -> HC post;
//  - the output: hc_head collapse -> output_norm -> output.
//  - compressed layers (spec §5, §6, §9): RoPE from the compressed table (compress_rope_freq_base,
//    YaRN with rope.scaling.*, mscale 1); the attention compressor (ratio 4: overlapping, 2*head_dim;
//    ratio 128: head_dim) pools the attn_norm output's projections, its rows get
//    RMSNorm(attn_compressor_norm) and RoPE at the window start; ratio-4 layers also run the indexer
//    compressor (same schedule, indexer_head_dim rows) and the indexer (indexer.attn_q_b . qr_n roped
//    at p, indexer.proj . n) choosing top_k of the visible rows; token at p sees compressed rows
//    c < floor((p+1)/R) (HCA: all, CSA: the indexer's choice), after its raw window, no de-duplication.
//    Compressor states are carried across calls, so any split of the positions gives the same bits.
// KV storage (Deepseek4Options::kv_storage): `exact` keeps every stored row in float32 (the
// transformers port); `official` rounds as the official code and ds4 store them (dsk/v4/kv_storage.hpp):
// raw and compressed attention rows FP8-E4M3 on the non-RoPE dims (blocks of 64) then F16, indexer rows
// Hadamard + FP4-E2M1 (blocks of 32) then F16, indexer queries Hadamard + FP4 — after their RoPE.
// Not yet: the raw rows of every position are kept (n_ctx rows per layer), not a ring of n_swa rows;
// the MTP block.
//
// Every token's result is independent of the batch: one prefill gives the bits of token-by-token
// decode.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/cpu_ops.hpp"
#include "common/result.hpp"
#include "model/deepseek4.hpp"

namespace dsk::forward {

// How stored KV rows are kept (issue 7). `official`: as the official inference code and ds4 store them
// (FP8-E4M3 on the non-RoPE dims of attention rows, F16 raw rows, Hadamard + FP4 indexer rows); `exact`:
// every stored value in float32, as the transformers port computes (its oracle is compared this way).
enum class KvStorage { official, exact };

// Which rows the indexer keeps when scores tie at its top-k boundary. `lower_index`: ds4's rule (spec
// §6; batch-independent). `torch_cpu`: what transformers' full forward picks on the CPU — torch.topk
// (std::nth_element, or std::partial_sort when k * 64 <= the row) over a row of `indexer_torch_row`
// scores with the rows not yet visible at -inf (0: the rows that exist after the call, which is the
// port's row for a prompt run in one call). Exact ties are common in tiny random models (few indexer
// heads: every ReLU'd dot 0); this exists only to compare with that oracle.
enum class IndexerTies { lower_index, torch_cpu };

struct Deepseek4Options {
  int64_t n_ctx = 4096;
  KvStorage kv_storage = KvStorage::official;
  IndexerTies indexer_ties = IndexerTies::lower_index;
  int64_t indexer_torch_row = 0;
};

class Deepseek4Forward {
 public:
  Deepseek4Forward(const model::Deepseek4Model& m, backend::CpuOps& ops, Deepseek4Options o);

  // Allocates the caches and builds the RoPE tables.
  Result<void> init();

  // Runs `tokens` at positions pos0 .. pos0 + T - 1 (the cache must hold positions < pos0).
  // logits: all T rows when all_logits, else the last row only, [rows, n_vocab].
  Result<void> eval(std::span<const int32_t> tokens, int64_t pos0, bool all_logits, std::vector<float>& logits);

  int64_t n_ctx() const { return opt_.n_ctx; }
  int32_t n_vocab() const { return static_cast<int32_t>(m_.config.n_vocab); }

 private:
  Result<void> attention(const model::Deepseek4Layer& L, const float* a, int64_t T, int64_t pos0, float* out);
  Result<void> ffn(const model::Deepseek4Layer& L, const float* b, std::span<const int32_t> tokens, float* out);
  Result<void> layer(const model::Deepseek4Layer& L, float* x, std::span<const int32_t> tokens, int64_t pos0);

  // What a layer keeps between calls (all float32: KV storage `exact`).
  struct LayerCache {
    std::vector<float> raw;                  // [n_ctx, head_dim]: position p's row at p
    std::vector<float> comp;                 // [n_ctx / R, head_dim]: window w's row at w (ratio != 0)
    std::vector<float> comp_state_kv, comp_state_sc;  // the compressor's ring (v4::CompressorParams)
    std::vector<float> index;                // [n_ctx / 4, indexer_head_dim] (ratio 4)
    std::vector<float> index_state_kv, index_state_sc;
  };

  // The compressor over positions pos0 .. pos0+T-1 of one layer: pools, then RMSNorm(norm) and RoPE at
  // each emitted window's start, appended to rows (window w at row w).
  Result<void> compress(const model::Deepseek4Layer& L, const float* n, int64_t T, int64_t pos0, bool indexer,
                        LayerCache& lc);
  // KV storage `official` (dsk/v4/kv_storage.hpp) on T rows of n in place; nothing for `exact`.
  Result<void> store_round(float* x, int64_t T, int64_t n, bool index, bool f16) const;
  void torch_topk(const float* scores, int64_t stride, const int32_t* n_vis, int64_t T, int64_t K, int64_t n_rows,
                  int32_t* idx, int32_t* count) const;
  Result<void> rope(float* x, int64_t T, const int32_t* pos, int64_t n_head, int64_t head_dim, bool compressed,
                    bool inverse, bool head_norm);

  const model::Deepseek4Model& m_;
  backend::CpuOps& ops_;
  Deepseek4Options opt_;
  std::vector<float> rope_plain_;  // cos/sin of positions 0 .. n_ctx-1: uncompressed layers (rope.freq_base)
  std::vector<float> rope_comp_;   // compressed layers: compress_rope_freq_base + YaRN
  std::vector<LayerCache> cache_;
};

}  // namespace dsk::forward
