// tokenizer/tokenizer_json.cpp — HF tokenizer.json -> tokenizer.ggml.* metadata; placeholder vocab.
#include "tokenizer/tokenizer_json.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.hpp"

namespace dsk::tok {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

Result<json> read_json(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Error("cannot open " + path.string());
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    return Error(path.string() + ": invalid JSON: " + e.what());
  }
}

// convert_hf_to_gguf.py's does_token_look_special.
bool looks_special(std::string_view t) {
  auto starts = [&](std::string_view p) { return t.size() >= p.size() && t.substr(0, p.size()) == p; };
  auto ends = [&](std::string_view s) { return t.size() >= s.size() && t.substr(t.size() - s.size()) == s; };
  if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
  if (starts("<|") && ends("|>")) return true;
  if (starts("<\xEF\xBD\x9C") && ends("\xEF\xBD\x9C>")) return true;  // "<｜...｜>" (U+FF5C)
  if (starts("<unused") && ends(">")) return true;
  return false;
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

// A tokenizer_config.json special token: a string or {"content": ...}.
std::optional<std::string> token_content(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return std::nullopt;
}

Result<gguf::Metadata> convert(const fs::path& path, std::string_view pre, uint32_t n_vocab) {
  DSK_TRY_ASSIGN(json tj, read_json(path));
  const json* model = tj.contains("model") ? &tj["model"] : nullptr;
  if (!model || !model->is_object()) return Error("no \"model\" object");
  if (model->contains("type") && (*model)["type"] != "BPE")
    return Error("model.type is " + (*model)["type"].dump() + ": only BPE tokenizers are supported");
  if (!model->contains("vocab") || !(*model)["vocab"].is_object()) return Error("model.vocab is not an object");

  // id -> text
  std::map<int64_t, std::string> by_id;
  for (const auto& [text, id] : (*model)["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) return Error("model.vocab[" + text + "] is not a token id");
    by_id[id.get<int64_t>()] = text;
  }
  struct Added {
    bool special;
    bool normalized;
  };
  std::map<int64_t, Added> added;
  std::map<std::string, int64_t> added_by_text;
  if (tj.contains("added_tokens")) {
    for (const auto& a : tj["added_tokens"]) {
      if (!a.contains("id") || !a.contains("content") || !a["id"].is_number_integer() || !a["content"].is_string())
        return Error("added_tokens: an entry without integer \"id\" and string \"content\"");
      const int64_t id = a["id"].get<int64_t>();
      if (id < 0) return Error("added_tokens: negative id");
      by_id[id] = a["content"].get<std::string>();
      added[id] = {a.value("special", false), a.value("normalized", true)};
      added_by_text.emplace(a["content"].get<std::string>(), id);
    }
  }
  if (by_id.empty()) return Error("empty vocabulary");
  const int64_t own = by_id.rbegin()->first + 1;
  if (own > INT32_MAX) return Error("token ids beyond 2^31");
  if (n_vocab != 0 && static_cast<int64_t>(n_vocab) < own)
    return Error::format("n_vocab %u is smaller than the tokenizer's vocabulary (%lld tokens)", n_vocab,
                         static_cast<long long>(own));
  const int64_t n = n_vocab ? static_cast<int64_t>(n_vocab) : own;

  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  tokens.reserve(static_cast<size_t>(n));
  types.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto it = by_id.find(i);
    if (it == by_id.end()) {
      tokens.push_back("[PAD" + std::to_string(i) + "]");
      types.push_back(static_cast<int32_t>(TokenType::UNUSED));
      continue;
    }
    std::string text = it->second;
    auto ad = added.find(i);
    if (ad != added.end()) {
      if (ad->second.special || looks_special(text)) {
        types.push_back(static_cast<int32_t>(TokenType::CONTROL));
      } else {
        text = replace_all(std::move(text), "\xE2\x96\x81", " ");  // as the converter: "▁" -> " "
        types.push_back(static_cast<int32_t>(TokenType::USER_DEFINED));
      }
    } else {
      types.push_back(static_cast<int32_t>(TokenType::NORMAL));
    }
    tokens.push_back(std::move(text));
  }

  std::vector<std::string> merges;
  if (model->contains("merges")) {
    const json& mj = (*model)["merges"];
    if (!mj.is_array()) return Error("model.merges is not an array");
    merges.reserve(mj.size());
    for (size_t i = 0; i < mj.size(); ++i) {
      const json& m = mj[i];
      if (m.is_string()) {
        merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        return Error("model.merges[" + std::to_string(i) + "] is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
  }

  // Special ids: tokenizer_config.json's tokens (looked up among added tokens, then the vocabulary),
  // then config.json's *_token_id for those still unknown.
  const fs::path dir = path.parent_path();
  std::optional<json> cfg;
  if (fs::exists(dir / "tokenizer_config.json")) {
    DSK_TRY_ASSIGN(json c, read_json(dir / "tokenizer_config.json"));
    cfg = std::move(c);
  }
  auto find_id = [&](const std::string& text) -> std::optional<int64_t> {
    if (auto it = added_by_text.find(text); it != added_by_text.end()) return it->second;
    for (const auto& [id, t] : by_id)
      if (t == text) return id;
    return std::nullopt;
  };
  std::optional<int64_t> bos, eos, pad;
  std::optional<bool> add_bos, add_eos;
  std::string chat_template;
  if (cfg) {
    if (auto t = token_content(*cfg, "bos_token")) bos = find_id(*t);
    if (auto t = token_content(*cfg, "eos_token")) eos = find_id(*t);
    if (auto t = token_content(*cfg, "pad_token")) pad = find_id(*t);
    if (cfg->contains("add_bos_token") && (*cfg)["add_bos_token"].is_boolean()) add_bos = (*cfg)["add_bos_token"].get<bool>();
    if (cfg->contains("add_eos_token") && (*cfg)["add_eos_token"].is_boolean()) add_eos = (*cfg)["add_eos_token"].get<bool>();
    if (cfg->contains("chat_template")) {
      const json& ct = (*cfg)["chat_template"];
      if (ct.is_string()) {
        chat_template = ct.get<std::string>();
      } else if (ct.is_array()) {  // [{"name": ..., "template": ...}]: the "default" one
        for (const auto& e : ct)
          if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
            chat_template = e["template"].get<std::string>();
      }
    }
  }
  if (chat_template.empty() && fs::exists(dir / "chat_template.jinja")) {
    std::ifstream f(dir / "chat_template.jinja", std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    chat_template = ss.str();
  }
  if ((!bos || !eos) && fs::exists(dir / "config.json")) {
    DSK_TRY_ASSIGN(json c, read_json(dir / "config.json"));
    auto id_of = [&](const char* key) -> std::optional<int64_t> {
      if (c.contains(key) && c[key].is_number_integer()) return c[key].get<int64_t>();
      return std::nullopt;
    };
    if (!bos) bos = id_of("bos_token_id");
    if (!eos) eos = id_of("eos_token_id");
  }

  gguf::Metadata md;
  md.set("tokenizer.ggml.model", gguf::Value::string("gpt2"));
  md.set("tokenizer.ggml.pre", gguf::Value::string(std::string(pre)));
  md.set("tokenizer.ggml.tokens", gguf::Value::string_array(std::move(tokens)));
  md.set("tokenizer.ggml.token_type", gguf::Value::array(types));
  md.set("tokenizer.ggml.merges", gguf::Value::string_array(std::move(merges)));
  auto set_id = [&](const char* key, const std::optional<int64_t>& id) -> Result<void> {
    if (!id) return ok();
    if (*id < 0 || *id >= n) return Error(std::string(key) + " = " + std::to_string(*id) + " is not a token id");
    md.set(key, gguf::Value::scalar(static_cast<uint32_t>(*id)));
    return ok();
  };
  DSK_TRY(set_id("tokenizer.ggml.bos_token_id", bos));
  DSK_TRY(set_id("tokenizer.ggml.eos_token_id", eos));
  DSK_TRY(set_id("tokenizer.ggml.padding_token_id", pad));
  if (add_bos) md.set("tokenizer.ggml.add_bos_token", gguf::Value::scalar(*add_bos));
  if (add_eos) md.set("tokenizer.ggml.add_eos_token", gguf::Value::scalar(*add_eos));
  if (!chat_template.empty()) md.set("tokenizer.chat_template", gguf::Value::string(std::move(chat_template)));
  return md;
}

}  // namespace

Result<gguf::Metadata> gguf_metadata_from_tokenizer_json(const std::string& tokenizer_json_path, std::string_view pre,
                                                         uint32_t n_vocab) {
  if (auto p = pre_type_from_name(pre); !p.ok()) return std::move(p).error().context(tokenizer_json_path);
  try {
    return convert(tokenizer_json_path, pre, n_vocab).context(tokenizer_json_path);
  } catch (const std::exception& e) {  // nlohmann type errors, filesystem errors, bad_alloc
    return Error(tokenizer_json_path + ": " + e.what());
  }
}

gguf::Metadata placeholder_tokenizer_metadata(uint32_t n_vocab) {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
  tokens.reserve(n_vocab);
  types.reserve(n_vocab);
  auto add = [&](std::string text, TokenType ty) {
    if (tokens.size() >= n_vocab) return false;
    tokens.push_back(std::move(text));
    types.push_back(static_cast<int32_t>(ty));
    return true;
  };
  add("<|bos|>", TokenType::CONTROL);
  add("<|eos|>", TokenType::CONTROL);
  add("<|pad|>", TokenType::CONTROL);
  std::vector<std::string> printable;  // byte-level text of 0x20..0x7E
  for (int b = 0x20; b <= 0x7E; ++b) printable.push_back(bytes_to_byte_level(std::string(1, static_cast<char>(b))));
  for (const auto& p : printable) add(p, TokenType::NORMAL);
  for (int b = 0; b < 256; ++b)
    if (b < 0x20 || b > 0x7E) add(bytes_to_byte_level(std::string(1, static_cast<char>(b))), TokenType::NORMAL);
  // Filler: level k+1 = each level-k token followed by each printable character, in order.
  std::vector<std::string> level = printable;
  while (tokens.size() < n_vocab) {
    std::vector<std::string> next_level;
    for (const auto& left : level) {
      for (const auto& right : printable) {
        if (tokens.size() >= n_vocab) break;
        merges.push_back(left + " " + right);
        next_level.push_back(left + right);
        add(left + right, TokenType::NORMAL);
      }
      if (tokens.size() >= n_vocab) break;
    }
    level = std::move(next_level);
  }
  gguf::Metadata md;
  md.set("tokenizer.ggml.model", gguf::Value::string("gpt2"));
  md.set("tokenizer.ggml.pre", gguf::Value::string("deepseek-v3"));
  md.set("tokenizer.ggml.tokens", gguf::Value::string_array(std::move(tokens)));
  md.set("tokenizer.ggml.token_type", gguf::Value::array(types));
  md.set("tokenizer.ggml.merges", gguf::Value::string_array(std::move(merges)));
  if (n_vocab > 0) md.set("tokenizer.ggml.bos_token_id", gguf::Value::scalar(uint32_t{0}));
  if (n_vocab > 1) md.set("tokenizer.ggml.eos_token_id", gguf::Value::scalar(uint32_t{1}));
  if (n_vocab > 2) md.set("tokenizer.ggml.padding_token_id", gguf::Value::scalar(uint32_t{2}));
  md.set("tokenizer.ggml.add_bos_token", gguf::Value::scalar(true));
  md.set("tokenizer.ggml.add_eos_token", gguf::Value::scalar(false));
  return md;
}

}  // namespace dsk::tok
