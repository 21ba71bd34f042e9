// tokenizer/tokenizer_json.hpp — tokenizer metadata for GGUF files we write: from a Hugging Face
// tokenizer.json, or a placeholder byte-level vocabulary for synthetic models.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "gguf/metadata.hpp"

namespace dsk::tok {

// Reads a Hugging Face tokenizer.json (a BPE model: model.vocab, model.merges as "a b" strings or
// ["a", "b"] pairs, added_tokens) and, when present next to it, tokenizer_config.json (bos_token,
// eos_token, pad_token, add_bos_token, add_eos_token, chat_template), chat_template.jinja and
// config.json (bos/eos_token_id as a fallback), into the keys llama.cpp's converter writes:
//   tokenizer.ggml.model = "gpt2", .pre = pre, .tokens, .token_type, .merges, .bos_token_id,
//   .eos_token_id, .padding_token_id (when known), .add_bos_token, .add_eos_token (when given),
//   tokenizer.chat_template (when given).
// Token types as convert_hf_to_gguf.py assigns them: vocabulary entries NORMAL; added tokens
// CONTROL when "special" or when they look special ("<|...|>", "<｜...｜>", ...), else USER_DEFINED.
// pre must be a supported pre-tokenizer ("deepseek-v3", "deepseek-llm"). n_vocab: the model's
// vocabulary size when larger than the tokenizer's (padded embeddings); ids without a token become
// "[PAD{id}]" of type UNUSED. 0: the tokenizer's own size (highest id + 1).
Result<gguf::Metadata> gguf_metadata_from_tokenizer_json(const std::string& tokenizer_json_path, std::string_view pre,
                                                         uint32_t n_vocab = 0);

// A byte-level placeholder vocabulary of exactly n_vocab tokens for synthetic models, with
// tokenizer.ggml.pre = "deepseek-v3":
//   0 "<|bos|>", 1 "<|eos|>", 2 "<|pad|>" (CONTROL; the bos/eos/padding ids),
//   3..258 the 256 byte tokens (printable ASCII first, then the other bytes in order),
//   259.. NORMAL tokens made by merges (pairs of printable ASCII characters, then longer ones),
// so any byte string encodes and decodes back exactly. n_vocab < 259 keeps a prefix of that list
// (then only the bytes that still have a token can be encoded).
gguf::Metadata placeholder_tokenizer_metadata(uint32_t n_vocab);

}  // namespace dsk::tok
