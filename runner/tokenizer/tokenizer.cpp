// tokenizer/tokenizer.cpp — byte-level BPE, pre-tokenizer regexes (PCRE2), streaming decoder.
#include "tokenizer/tokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstring>
#include <queue>

namespace dsk::tok {

// --- names -----------------------------------------------------------------------------------------

const char* token_type_name(TokenType t) {
  switch (t) {
    case TokenType::UNDEFINED: return "UNDEFINED";
    case TokenType::NORMAL: return "NORMAL";
    case TokenType::UNKNOWN: return "UNKNOWN";
    case TokenType::CONTROL: return "CONTROL";
    case TokenType::USER_DEFINED: return "USER_DEFINED";
    case TokenType::UNUSED: return "UNUSED";
    case TokenType::BYTE: return "BYTE";
  }
  return "?";
}

namespace {

// The regex lists, as llama.cpp's llama-vocab.cpp (llm_tokenizer_bpe) defines them for these pre
// types; the DeepSeek-V3 list is also, character for character, the three Split regexes of
// DeepSeek-V3's tokenizer.json. Non-ASCII characters are written as \u escapes (GCC's execution
// character set is UTF-8), so no editor or copy can normalize them (several characters of the
// deepseek-llm list, e.g. U+1F7D, U+2126, U+212A, have canonical decompositions).
constexpr const char* kDeepseekV3Regexes[] = {
    "\\p{N}{1,3}",
    "[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
};

constexpr const char* kDeepseekLlmRegexes[] = {
    "[\r\n]",
    "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF"
    "\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5"
    "\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA"
    "\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45"
    "\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE"
    "\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC"
    "\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139"
    "\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3"
    "\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06"
    "\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3"
    "\U000104D8-\U000104FB\U00010C80-\U00010CB2\U00010CC0-\U00010CF2\U000118A0-\U000118DF"
    "\U0001E900-\U0001E943]+",
    "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+",
    "\\s+$",
    "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+",
    "\\p{N}+",
};

}  // namespace

Result<PreType> pre_type_from_name(std::string_view name) {
  if (name == "deepseek-v3") return PreType::DEEPSEEK_V3;
  if (name == "deepseek-llm") return PreType::DEEPSEEK_LLM;
  return Error("unsupported tokenizer.ggml.pre " + gguf::quoted(name) +
               " (supported: 'deepseek-v3' (DeepSeek-V3 / R1 / V3.x), 'deepseek-llm' (DeepSeek-V2 / V2-Lite))");
}

const char* pre_type_name(PreType p) { return p == PreType::DEEPSEEK_V3 ? "deepseek-v3" : "deepseek-llm"; }

std::span<const char* const> pre_type_regexes(PreType p) {
  if (p == PreType::DEEPSEEK_V3) return kDeepseekV3Regexes;
  return kDeepseekLlmRegexes;
}

// --- PCRE2 -----------------------------------------------------------------------------------------

namespace detail {
struct Regexes {
  std::vector<pcre2_code*> codes;
  Regexes() = default;
  Regexes(const Regexes&) = delete;
  Regexes& operator=(const Regexes&) = delete;
  ~Regexes() {
    for (pcre2_code* c : codes) pcre2_code_free(c);
  }
};
}  // namespace detail

namespace {

Result<std::shared_ptr<const detail::Regexes>> compile_regexes(PreType pre) {
  auto r = std::make_shared<detail::Regexes>();
  for (const char* pattern : pre_type_regexes(pre)) {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    // UTF + UCP: \p{..}, \s, classes by Unicode properties. MATCH_INVALID_UTF: invalid UTF-8 in the
    // subject is allowed and never matched (it ends up in pieces of its own). DOLLAR_ENDONLY: '$'
    // is the end of the piece only.
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                                     &err, &err_off, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return Error::format("pre-tokenizer '%s': PCRE2 cannot compile regex at offset %zu: %s",
                           pre_type_name(pre), static_cast<size_t>(err_off), reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: the interpreter is used when it fails
    r->codes.push_back(code);
  }
  return std::shared_ptr<const detail::Regexes>(std::move(r));
}

struct MatchData {
  pcre2_match_data* md;
  explicit MatchData(const pcre2_code* code) : md(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(md); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
};

// Splits [0, text.size()) into pieces by one regex after another (HF Split, behavior Isolated):
// each match is a piece, and so is each non-empty gap between matches.
void regex_split(const detail::Regexes& rx, std::string_view text, std::vector<std::pair<size_t, size_t>>& pieces) {
  pieces.clear();
  if (text.empty()) return;
  pieces.emplace_back(0, text.size());
  std::vector<std::pair<size_t, size_t>> next;
  for (const pcre2_code* code : rx.codes) {
    MatchData m(code);
    next.clear();
    for (const auto& [begin, end] : pieces) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + begin);
      const size_t len = end - begin;
      size_t pos = 0, last = 0;
      while (pos <= len) {
        const int rc = pcre2_match(code, subject, len, pos, 0, m.md, nullptr);
        if (rc < 0) break;  // no match (or a match error: the rest stays one piece)
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.md);
        const size_t ms = ov[0], me = ov[1];
        if (me <= ms) {  // empty match (none of the lists has one): step over one character
          pos = ms + 1;
          while (pos < len && (static_cast<uint8_t>(text[begin + pos]) & 0xC0) == 0x80) ++pos;
          continue;
        }
        if (ms > last) next.emplace_back(begin + last, begin + ms);
        next.emplace_back(begin + ms, begin + me);
        last = pos = me;
      }
      if (last < len) next.emplace_back(begin + last, end);
    }
    pieces.swap(next);
  }
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Next code point of (assumed valid) UTF-8 at s[i]; an invalid byte is returned as 0x110000 + byte
// and consumed alone.
uint32_t next_codepoint(std::string_view s, size_t& i) {
  const auto b = static_cast<uint8_t>(s[i]);
  size_t n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    ++i;
    return 0x110000u + b;
  }
  uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1Fu) : n == 3 ? (b & 0x0Fu) : (b & 0x07u);
  for (size_t k = 1; k < n; ++k) {
    const auto c = static_cast<uint8_t>(s[i + k]);
    if ((c & 0xC0) != 0x80) {
      ++i;
      return 0x110000u + b;
    }
    cp = (cp << 6) | (c & 0x3Fu);
  }
  i += n;
  return cp;
}

struct ByteMap {
  std::array<uint32_t, 256> to_cp{};
  std::array<int, 512> from_cp{};  // every code point of the alphabet is < 512
  ByteMap() {
    from_cp.fill(-1);
    uint32_t extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[static_cast<size_t>(b)] = printable ? static_cast<uint32_t>(b) : 256u + extra++;
      from_cp[to_cp[static_cast<size_t>(b)]] = b;
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

}  // namespace

uint32_t byte_to_codepoint(uint8_t b) { return byte_map().to_cp[b]; }
int byte_from_codepoint(uint32_t cp) { return cp < 512 ? byte_map().from_cp[cp] : -1; }
std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(byte_to_codepoint(static_cast<uint8_t>(c)), out);
  return out;
}

// --- loading ---------------------------------------------------------------------------------------

Result<Tokenizer> Tokenizer::from_gguf(const gguf::Metadata& md) {
  Tokenizer t;
  DSK_TRY_ASSIGN(auto model, md.get_string("tokenizer.ggml.model"));
  if (model != "gpt2")
    return md.key_error("tokenizer.ggml.model", "is " + gguf::quoted(model) + ": only 'gpt2' (byte-level BPE) is supported");
  DSK_TRY_ASSIGN(auto pre_name, md.get_string_optional("tokenizer.ggml.pre"));
  if (!pre_name)
    return md.key_error("tokenizer.ggml.pre", "is missing (supported: 'deepseek-v3', 'deepseek-llm')");
  auto pre = pre_type_from_name(*pre_name);
  if (!pre.ok()) return std::move(pre).error().context(md.source());
  t.pre_ = *pre;
  DSK_TRY_ASSIGN(t.regexes_, compile_regexes(t.pre_));

  DSK_TRY_ASSIGN(auto tokens, md.get_string_array("tokenizer.ggml.tokens"));
  if (tokens.empty()) return md.key_error("tokenizer.ggml.tokens", "is empty");
  if (tokens.size() > static_cast<size_t>(INT32_MAX))
    return md.key_error("tokenizer.ggml.tokens", "has more than 2^31-1 tokens");
  const size_t n = tokens.size();
  t.tokens_.reserve(n);
  for (auto s : tokens) t.tokens_.emplace_back(s);

  DSK_TRY_ASSIGN(auto types, md.get_int_array_optional<int32_t>("tokenizer.ggml.token_type"));
  if (types) {
    if (types->size() != n)
      return md.key_error("tokenizer.ggml.token_type", "has " + std::to_string(types->size()) +
                                                           " entries, tokenizer.ggml.tokens has " + std::to_string(n));
    t.types_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const int32_t v = (*types)[i];
      if (v < 0 || v > 6)
        return md.key_error("tokenizer.ggml.token_type",
                            "entry " + std::to_string(i) + " = " + std::to_string(v) + " is not a token type (0..6)");
      t.types_.push_back(static_cast<TokenType>(v));
    }
  } else {
    t.types_.assign(n, TokenType::NORMAL);
  }

  t.token_to_id_.reserve(n);
  for (size_t i = 0; i < n; ++i) t.token_to_id_.emplace(t.tokens_[i], static_cast<int32_t>(i));  // first wins

  for (int b = 0; b < 256; ++b) {
    auto id = t.find_token(bytes_to_byte_level(std::string(1, static_cast<char>(b))));
    t.byte_token_[static_cast<size_t>(b)] = id ? *id : -1;
  }

  DSK_TRY_ASSIGN(auto merges, md.get_string_array_optional("tokenizer.ggml.merges"));
  if (merges) {
    t.merges_.reserve(merges->size());
    uint32_t rank = 0;
    for (size_t i = 0; i < merges->size(); ++i) {
      const std::string_view m = (*merges)[i];
      const size_t sp = m.find(' ', 1);
      if (sp == std::string_view::npos)
        return md.key_error("tokenizer.ggml.merges", "entry " + std::to_string(i) + " " + gguf::quoted(m) +
                                                         " is not two tokens separated by a space");
      const std::string_view a = m.substr(0, sp), b = m.substr(sp + 1);
      const auto ia = t.find_token(a), ib = t.find_token(b);
      const auto iab = t.find_token(std::string(a) + std::string(b));
      // A merge of pieces that are not tokens can never apply to token ids: skipped.
      if (ia && ib && iab) {
        const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(*ia)) << 32) | static_cast<uint32_t>(*ib);
        if (t.merges_.emplace(key, (static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(*iab)).second)
          ++t.n_merges_;
      }
      ++rank;
    }
  }

  auto special_id = [&](const char* key, int32_t& dst) -> Result<void> {
    DSK_TRY_ASSIGN(auto id, md.get_int_optional<int64_t>(key));
    if (!id) return ok();
    if (*id < 0 || static_cast<uint64_t>(*id) >= n)
      return md.key_error(key, "= " + std::to_string(*id) + " is not a token id (n_vocab " + std::to_string(n) + ")");
    dst = static_cast<int32_t>(*id);
    return ok();
  };
  DSK_TRY(special_id("tokenizer.ggml.bos_token_id", t.bos_));
  DSK_TRY(special_id("tokenizer.ggml.eos_token_id", t.eos_));
  DSK_TRY(special_id("tokenizer.ggml.padding_token_id", t.pad_));
  DSK_TRY_ASSIGN(auto add_bos, md.get_optional<bool>("tokenizer.ggml.add_bos_token"));
  t.add_bos_default_ = add_bos.value_or(false);
  DSK_TRY_ASSIGN(auto tmpl, md.get_string_optional("tokenizer.chat_template"));
  if (tmpl) t.chat_template_ = std::string(*tmpl);

  for (size_t i = 0; i < n; ++i) {
    const TokenType ty = t.types_[i];
    if ((ty == TokenType::CONTROL || ty == TokenType::USER_DEFINED || ty == TokenType::UNKNOWN) && !t.tokens_[i].empty())
      t.specials_[static_cast<uint8_t>(t.tokens_[i][0])].emplace_back(t.tokens_[i], static_cast<int32_t>(i));
  }
  for (auto& v : t.specials_)
    std::stable_sort(v.begin(), v.end(), [](const auto& x, const auto& y) { return x.first.size() > y.first.size(); });
  return t;
}

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
  auto it = token_to_id_.find(std::string(text));
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

// --- encoding --------------------------------------------------------------------------------------

void Tokenizer::bpe_word(std::string_view word, std::vector<int32_t>& out, std::vector<uint8_t>& missing) const {
  struct Sym {
    int32_t id;
    int prev, next;
  };
  std::vector<Sym> syms;
  syms.reserve(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const int32_t id = byte_token_[static_cast<uint8_t>(word[i])];
    if (id < 0) {
      missing.push_back(static_cast<uint8_t>(word[i]));
      return;
    }
    syms.push_back({id, static_cast<int>(i) - 1, i + 1 < word.size() ? static_cast<int>(i) + 1 : -1});
  }
  if (syms.size() > 1 && !merges_.empty()) {
    struct Cand {
      uint32_t rank;
      int left, right;
      int32_t left_id, right_id, merged;
    };
    // Lowest rank first; equal ranks: leftmost first (HF tokenizers and llama.cpp agree).
    auto later = [](const Cand& x, const Cand& y) { return x.rank != y.rank ? x.rank > y.rank : x.left > y.left; };
    std::priority_queue<Cand, std::vector<Cand>, decltype(later)> queue(later);
    auto add = [&](int l, int r) {
      if (l < 0 || r < 0) return;
      const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(syms[l].id)) << 32) |
                           static_cast<uint32_t>(syms[r].id);
      auto it = merges_.find(key);
      if (it == merges_.end()) return;
      queue.push({static_cast<uint32_t>(it->second >> 32), l, r, syms[l].id, syms[r].id,
                  static_cast<int32_t>(it->second & 0xFFFFFFFFu)});
    };
    for (size_t i = 0; i + 1 < syms.size(); ++i) add(static_cast<int>(i), static_cast<int>(i) + 1);
    while (!queue.empty()) {
      const Cand c = queue.top();
      queue.pop();
      Sym& l = syms[static_cast<size_t>(c.left)];
      Sym& r = syms[static_cast<size_t>(c.right)];
      // Stale: a side was merged since (ids only grow, a removed symbol has id -1).
      if (l.id != c.left_id || r.id != c.right_id || l.next != c.right) continue;
      l.id = c.merged;
      l.next = r.next;
      if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = c.left;
      r.id = -1;
      add(l.prev, c.left);
      add(c.left, l.next);
    }
  }
  for (int i = 0; i >= 0 && !syms.empty(); i = syms[static_cast<size_t>(i)].next) out.push_back(syms[static_cast<size_t>(i)].id);
}

void Tokenizer::encode_text(std::string_view text, std::vector<int32_t>& out, std::vector<uint8_t>& missing) const {
  if (text.empty()) return;
  std::vector<std::pair<size_t, size_t>> pieces;
  regex_split(*regexes_, text, pieces);
  for (const auto& [b, e] : pieces) bpe_word(text.substr(b, e - b), out, missing);
}

std::vector<std::string> Tokenizer::pre_tokenize(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> pieces;
  regex_split(*regexes_, text, pieces);
  std::vector<std::string> out;
  out.reserve(pieces.size());
  for (const auto& [b, e] : pieces) out.emplace_back(text.substr(b, e - b));
  return out;
}

Result<std::vector<int32_t>> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  std::vector<uint8_t> missing;
  if (add_bos) {
    if (bos_ < 0) return Error("encode: add_bos requested but the vocabulary has no BOS token");
    out.push_back(bos_);
  }
  size_t start = 0, i = 0;
  while (i < text.size()) {
    const auto& cands = specials_[static_cast<uint8_t>(text[i])];
    const std::pair<std::string, int32_t>* hit = nullptr;
    for (const auto& c : cands) {
      if (!parse_special && types_[static_cast<size_t>(c.second)] != TokenType::USER_DEFINED) continue;
      if (text.compare(i, c.first.size(), c.first) == 0) {
        hit = &c;
        break;
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    encode_text(text.substr(start, i - start), out, missing);
    out.push_back(hit->second);
    i += hit->first.size();
    start = i;
  }
  encode_text(text.substr(start), out, missing);
  if (!missing.empty())
    return Error::format("encode: byte 0x%02X has no token in this vocabulary (%zu byte(s) without one)",
                         static_cast<unsigned>(missing[0]), missing.size());
  return out;
}

// --- decoding --------------------------------------------------------------------------------------

void Tokenizer::append_token_bytes(int32_t id, std::string& out, bool render_special) const {
  if (!valid_id(id)) return;
  const std::string& text = tokens_[static_cast<size_t>(id)];
  switch (types_[static_cast<size_t>(id)]) {
    case TokenType::NORMAL:
    case TokenType::UNDEFINED: {
      for (size_t i = 0; i < text.size();) {
        const uint32_t cp = next_codepoint(text, i);
        const int b = byte_from_codepoint(cp);
        if (b >= 0) {
          out += static_cast<char>(b);
        } else if (cp >= 0x110000u) {
          out += static_cast<char>(cp - 0x110000u);  // an invalid byte in the token text: kept
        } else {
          append_utf8(cp, out);  // outside the byte alphabet: the character itself
        }
      }
      break;
    }
    case TokenType::CONTROL:
      if (render_special) out += text;
      break;
    case TokenType::USER_DEFINED:
    case TokenType::UNKNOWN:
      out += text;
      break;
    case TokenType::BYTE: {
      unsigned v = 0;
      if (text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>' &&
          std::sscanf(text.c_str() + 3, "%2x", &v) == 1)
        out += static_cast<char>(v);
      else
        out += text;
      break;
    }
    case TokenType::UNUSED:
      break;
  }
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) append_token_bytes(id, out, render_special);
  return out;
}

size_t utf8_emit(std::string_view s, std::string& out, bool at_end) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      out += static_cast<char>(b);
      ++i;
      continue;
    }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      out += kReplacement;  // 0x80..0xC1, 0xF5..0xFF never start a character
      ++i;
      continue;
    }
    size_t k = 1;
    bool bad = false;
    for (; k <= need; ++k) {
      if (i + k >= n) break;
      const auto c = static_cast<uint8_t>(s[i + k]);
      const uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
      if (c < l || c > h) {
        bad = true;
        break;
      }
    }
    if (bad) {  // the maximal subpart s[i, i+k) becomes one U+FFFD
      out += kReplacement;
      i += k;
      continue;
    }
    if (k <= need) {  // ran out of bytes: an incomplete sequence at the end
      if (!at_end) return n - i;
      out += kReplacement;
      return 0;
    }
    out.append(s.data() + i, need + 1);
    i += need + 1;
  }
  return 0;
}

std::string sanitize_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  utf8_emit(bytes, out, true);
  return out;
}

std::string StreamDecoder::push(int32_t id) {
  tok_->append_token_bytes(id, pending_, render_special_);
  std::string out;
  const size_t held = utf8_emit(pending_, out, false);
  pending_.erase(0, pending_.size() - held);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  utf8_emit(pending_, out, true);
  pending_.clear();
  return out;
}

}  // namespace dsk::tok
