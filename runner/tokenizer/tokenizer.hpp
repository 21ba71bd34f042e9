// tokenizer/tokenizer.hpp — GPT-2-style byte-level BPE from GGUF metadata (tokenizer.ggml.*), and
// a streaming decoder that never splits a UTF-8 character.
//
// The vocabulary, merges and special ids are read from the keys llama.cpp's converter writes
// (tokenizer.ggml.model = "gpt2", .pre, .tokens, .token_type, .merges, .bos_token_id, ...).
// Encoding, as HF tokenizers and llama.cpp do it for the DeepSeek models:
//   1. special tokens (token_type CONTROL or USER_DEFINED) are cut out of the text whole, leftmost
//      longest match first (parse_special = false leaves CONTROL tokens as plain text; USER_DEFINED
//      ones are still matched, as in llama.cpp);
//   2. the rest is pre-tokenized by the regex list of tokenizer.ggml.pre (PCRE2, UTF-8 + UCP; each
//      regex splits every piece further, matches and gaps both kept: HF's Split "Isolated");
//   3. each piece's bytes are mapped to the GPT-2 byte alphabet and merged by BPE rank.
// Invalid UTF-8 in the input is kept byte for byte (the regexes never match it, so it becomes pieces
// of its own): decode(encode(x)) == x for every byte string x. docs/tokenizer.md has the details.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "gguf/metadata.hpp"

namespace dsk::tok {

// llama.cpp's token types (tokenizer.ggml.token_type; gguf-py TokenType).
enum class TokenType : int32_t {
  UNDEFINED = 0,
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
};
const char* token_type_name(TokenType t);

// The pre-tokenizers this tokenizer implements (tokenizer.ggml.pre).
enum class PreType { DEEPSEEK_V3, DEEPSEEK_LLM };
// "deepseek-v3" / "deepseek-llm"; an unknown name is an error naming the supported ones.
Result<PreType> pre_type_from_name(std::string_view name);
const char* pre_type_name(PreType p);
// The regex list of a pre-tokenizer, applied in order (the same as llama.cpp's llama-vocab.cpp and
// the Split steps of the models' tokenizer.json).
std::span<const char* const> pre_type_regexes(PreType p);

namespace detail {
struct Regexes;  // compiled PCRE2 patterns (tokenizer.cpp)
}

class Tokenizer {
 public:
  // From tokenizer.ggml.*: model "gpt2" and a supported .pre are required, .tokens too;
  // .token_type defaults to NORMAL, .merges to none, special ids to "none" (-1).
  static Result<Tokenizer> from_gguf(const gguf::Metadata& md);

  // Token ids of `text`, with bos() first when add_bos (an error when the vocabulary has no BOS).
  // parse_special = false: CONTROL tokens' text is tokenized as plain text.
  // Errors: a byte with no token in the vocabulary (only possible in incomplete vocabularies).
  Result<std::vector<int32_t>> encode(std::string_view text, bool add_bos, bool parse_special = true) const;

  // The text pieces the pre-tokenizer cuts `text` into (no special-token matching): for tests.
  std::vector<std::string> pre_tokenize(std::string_view text) const;

  // The bytes of ids, concatenated (exact: invalid UTF-8 stays as it is; StreamDecoder gives valid
  // UTF-8). NORMAL tokens: byte-level decoded; CONTROL: their text when render_special, else
  // nothing; USER_DEFINED / UNKNOWN: their text; BYTE "<0xNN>": that byte; UNUSED: nothing.
  // Ids outside [0, n_vocab) decode to nothing.
  std::string decode(std::span<const int32_t> ids, bool render_special = true) const;
  // Appends the bytes of one token (rules above).
  void append_token_bytes(int32_t id, std::string& out, bool render_special = true) const;

  uint32_t n_vocab() const { return static_cast<uint32_t>(tokens_.size()); }
  // Precondition for both: 0 <= id < n_vocab().
  const std::string& token_text(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  TokenType token_type(int32_t id) const { return types_[static_cast<size_t>(id)]; }
  bool valid_id(int32_t id) const { return id >= 0 && static_cast<size_t>(id) < tokens_.size(); }
  // The id of a token by its stored text (e.g. "<｜User｜>", "Ġthe"), if any.
  std::optional<int32_t> find_token(std::string_view text) const;

  // Special ids, -1 when the metadata has none.
  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  int32_t pad() const { return pad_; }
  // tokenizer.ggml.add_bos_token (false when absent): what a caller should pass as add_bos for a
  // raw prompt (a rendered chat template already contains the BOS text).
  bool add_bos_default() const { return add_bos_default_; }
  bool is_eog(int32_t id) const { return id == eos_; }

  PreType pre() const { return pre_; }
  size_t n_merges() const { return n_merges_; }
  // tokenizer.chat_template ("" when absent).
  const std::string& chat_template() const { return chat_template_; }

 private:
  Tokenizer() = default;
  void bpe_word(std::string_view word, std::vector<int32_t>& out, std::vector<uint8_t>& missing) const;
  void encode_text(std::string_view text, std::vector<int32_t>& out, std::vector<uint8_t>& missing) const;

  PreType pre_ = PreType::DEEPSEEK_V3;
  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string, int32_t> token_to_id_;
  // (left id << 32 | right id) -> (rank << 32 | merged id)
  std::unordered_map<uint64_t, uint64_t> merges_;
  size_t n_merges_ = 0;
  std::array<int32_t, 256> byte_token_{};  // token of each single byte, -1 if none
  // Special tokens by first byte, longest first: {text, id}.
  std::array<std::vector<std::pair<std::string, int32_t>>, 256> specials_;
  int32_t bos_ = -1, eos_ = -1, pad_ = -1;
  bool add_bos_default_ = false;
  std::string chat_template_;
  std::shared_ptr<const detail::Regexes> regexes_;
};

// Streaming detokenizer: push ids one at a time, get back UTF-8 text that never ends inside a
// character. Bytes of an incomplete character are held back until the next token completes them;
// an invalid sequence becomes U+FFFD (one per maximal invalid subpart, as WHATWG / Unicode §3.9
// recommend); flush() returns what is held back, incomplete bytes replaced by U+FFFD.
// The Tokenizer must outlive the decoder.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool render_special = true)
      : tok_(&tok), render_special_(render_special) {}
  std::string push(int32_t id);
  std::string flush();
  // Bytes held back (an incomplete UTF-8 sequence, at most 3 bytes).
  size_t pending() const { return pending_.size(); }

 private:
  const Tokenizer* tok_;
  bool render_special_;
  std::string pending_;
};

// Valid UTF-8 from arbitrary bytes: a whole-string StreamDecoder (invalid → U+FFFD).
std::string sanitize_utf8(std::string_view bytes);
// Splits `bytes` into the longest prefix that is safe to emit (valid characters, with invalid
// subparts replaced by U+FFFD, appended to `out`) and returns how many trailing bytes form an
// incomplete, so far valid, sequence (0..3). With at_end, those become U+FFFD too and 0 is returned.
size_t utf8_emit(std::string_view bytes, std::string& out, bool at_end);

// The GPT-2 byte-level alphabet: byte b <-> one code point (printable bytes map to themselves).
uint32_t byte_to_codepoint(uint8_t b);
// -1 when cp is not in the alphabet.
int byte_from_codepoint(uint32_t cp);
// "hello world" -> "helloĠworld": each byte as its code point, UTF-8 encoded.
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace dsk::tok
