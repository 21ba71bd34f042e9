// Tokenizer pieces that need no model files: the byte alphabet, UTF-8 streaming, the placeholder
// vocabulary, hand-checked pre-tokenizer splits, errors, and the chat templates.
#include <random>
#include <string>
#include <vector>

#include "catch.hpp"
#include "gguf/reader.hpp"
#include "gguf/writer.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/tokenizer_json.hpp"

using namespace dsk;
using namespace dsk::tok;

namespace {

const std::string kFFFD = "\xEF\xBF\xBD";

Tokenizer placeholder(uint32_t n_vocab, const char* pre = nullptr) {
  gguf::Metadata md = placeholder_tokenizer_metadata(n_vocab);
  if (pre) md.set("tokenizer.ggml.pre", gguf::Value::string(pre));
  auto t = Tokenizer::from_gguf(md);
  REQUIRE(t.ok());
  return std::move(t).value();
}

std::vector<std::string> split(const Tokenizer& t, std::string_view s) { return t.pre_tokenize(s); }

std::string stream_all(const Tokenizer& t, const std::vector<int32_t>& ids, bool check_pieces = true) {
  StreamDecoder d(t);
  std::string out;
  for (int32_t id : ids) {
    std::string piece = d.push(id);
    if (check_pieces) CHECK(sanitize_utf8(piece) == piece);  // every piece is whole, valid UTF-8
    out += piece;
  }
  out += d.flush();
  return out;
}

}  // namespace

TEST_CASE("byte-level alphabet: the GPT-2 bytes <-> unicode map", "[tokenizer]") {
  CHECK(byte_to_codepoint('a') == 'a');
  CHECK(byte_to_codepoint(' ') == 0x120);   // "Ġ"
  CHECK(byte_to_codepoint('\n') == 0x10A);  // "Ċ"
  CHECK(byte_to_codepoint(0) == 0x100);
  CHECK(byte_to_codepoint(0xAD) == 0x143);  // the soft hyphen is not "printable"
  CHECK(byte_to_codepoint(0xA1) == 0xA1);
  for (int b = 0; b < 256; ++b) CHECK(byte_from_codepoint(byte_to_codepoint(static_cast<uint8_t>(b))) == b);
  CHECK(byte_from_codepoint(0x4E00) == -1);
  CHECK(bytes_to_byte_level("hi there\n") == "hi\xC4\xA0there\xC4\x8A");
}

TEST_CASE("utf8: maximal subparts become U+FFFD, incomplete tails are held back", "[tokenizer][utf8]") {
  CHECK(sanitize_utf8("plain") == "plain");
  CHECK(sanitize_utf8("\xC3\xA9") == "\xC3\xA9");
  CHECK(sanitize_utf8("\xFF") == kFFFD);
  CHECK(sanitize_utf8("a\x80" "b") == "a" + kFFFD + "b");
  CHECK(sanitize_utf8("\xE2\x82") == kFFFD);              // truncated at the end: one U+FFFD
  CHECK(sanitize_utf8("\xE2\x82x") == kFFFD + "x");       // truncated in the middle
  CHECK(sanitize_utf8("\xE0\x80\x80") == kFFFD + kFFFD + kFFFD);  // overlong: E0 needs A0..BF
  CHECK(sanitize_utf8("\xED\xA0\x80") == kFFFD + kFFFD + kFFFD);  // a surrogate
  CHECK(sanitize_utf8("\xF4\x90\x80\x80") == kFFFD + kFFFD + kFFFD + kFFFD);  // > U+10FFFF
  CHECK(sanitize_utf8("\xF0\x9F\x98") == kFFFD);
  CHECK(sanitize_utf8("\xC0\xAF") == kFFFD + kFFFD);
  std::string out;
  CHECK(utf8_emit("ab\xF0\x9F\x98", out, false) == 3);
  CHECK(out == "ab");
  out.clear();
  CHECK(utf8_emit("ab\xF0\x9F\x98\x80", out, false) == 0);
  CHECK(out == "ab\xF0\x9F\x98\x80");
}

TEST_CASE("placeholder vocabulary: exact size, specials, byte tokens", "[tokenizer][placeholder]") {
  for (uint32_t n : {259u, 260u, 1000u, 9284u, 9285u, 20000u, 129280u}) {
    const gguf::Metadata md = placeholder_tokenizer_metadata(n);
    const Tokenizer t = placeholder(n);
    CHECK(t.n_vocab() == n);
    CHECK(t.bos() == 0);
    CHECK(t.eos() == 1);
    CHECK(t.pad() == 2);
    CHECK(t.add_bos_default());
    CHECK(t.token_type(0) == TokenType::CONTROL);
    CHECK(t.token_text(3) == "\xC4\xA0");  // byte ' ' first
    CHECK(t.n_merges() == n - 259);
    // The metadata survives a GGUF write and read.
    gguf::Writer w;
    for (const auto& kv : md) w.set(kv.key, kv.value);
    auto bytes = w.to_bytes();
    REQUIRE(bytes.ok());
    auto r = gguf::Reader::from_memory(*bytes, "placeholder.gguf");
    REQUIRE(r.ok());
    auto t2 = Tokenizer::from_gguf(r->metadata());
    REQUIRE(t2.ok());
    CHECK(t2->n_vocab() == n);
  }
}

TEST_CASE("placeholder vocabulary: any bytes round-trip, merges apply", "[tokenizer][placeholder]") {
  const Tokenizer t = placeholder(20000);
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 300; ++iter) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 256);
    if (iter % 3 == 0)
      for (char& c : s) c = static_cast<char>(0x20 + rng() % 95);  // printable: merges apply
    auto ids = t.encode(s, iter % 2 == 0);
    REQUIRE(ids.ok());
    std::vector<int32_t> v = *ids;
    if (iter % 2 == 0) {
      REQUIRE(!v.empty());
      CHECK(v[0] == t.bos());
      v.erase(v.begin());
    }
    CHECK(t.decode(v) == s);
    CHECK(stream_all(t, v) == sanitize_utf8(s));
  }
  auto ids = t.encode("hello", false);
  REQUIRE(ids.ok());
  // Merges by rank: "el" (lowest), then "lo"; no "h"+"el" merge in this vocabulary.
  CHECK(*ids == std::vector<int32_t>{t.find_token("h").value(), t.find_token("el").value(), t.find_token("lo").value()});
  CHECK(t.decode(*ids) == "hello");
  // Special text is matched whole unless parse_special is off.
  auto sp = t.encode("a<|eos|>b", false);
  REQUIRE(sp.ok());
  CHECK(*sp == std::vector<int32_t>{t.find_token("a").value(), 1, t.find_token("b").value()});
  auto plain = t.encode("a<|eos|>b", false, /*parse_special=*/false);
  REQUIRE(plain.ok());
  CHECK(plain->size() > 3);
  CHECK(t.decode(*plain) == "a<|eos|>b");
  CHECK(t.decode(*sp) == "a<|eos|>b");
  CHECK(t.decode(*sp, /*render_special=*/false) == "ab");
}

TEST_CASE("placeholder vocabulary: small sizes keep a prefix", "[tokenizer][placeholder]") {
  const Tokenizer t = placeholder(100);  // specials + 97 printable bytes: no control bytes
  CHECK(t.n_vocab() == 100);
  CHECK(t.encode("Hi there", false).ok());
  auto bad = t.encode("tab\there", false);
  REQUIRE(!bad.ok());
  CHECK(bad.error().message().find("byte 0x09 has no token") != std::string::npos);
}

TEST_CASE("streaming decoder never splits a character", "[tokenizer][stream]") {
  const Tokenizer t = placeholder(300);  // byte tokens only for multi-byte text
  const std::string text = "é😀中 \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7 ok";
  auto ids = t.encode(text, false);
  REQUIRE(ids.ok());
  CHECK(ids->size() >= text.size() - 4);  // mostly one token per byte
  StreamDecoder d(t);
  std::string out;
  size_t max_pending = 0;
  for (int32_t id : *ids) {
    const std::string piece = d.push(id);
    CHECK(sanitize_utf8(piece) == piece);
    out += piece;
    max_pending = std::max(max_pending, d.pending());
  }
  CHECK(max_pending == 3);  // the first three bytes of the 4-byte emoji were held
  CHECK(d.flush().empty());
  CHECK(out == text);
  // Invalid bytes: replaced as soon as they are known to be invalid; a dangling lead at the end
  // becomes U+FFFD on flush.
  auto bad = t.encode("a\xFF" "b\xE2\x82", false);
  REQUIRE(bad.ok());
  CHECK(t.decode(*bad) == "a\xFF" "b\xE2\x82");  // decode() is exact
  StreamDecoder d2(t);
  std::string o2;
  for (int32_t id : *bad) o2 += d2.push(id);
  CHECK(o2 == "a" + kFFFD + "b");
  CHECK(d2.pending() == 2);
  CHECK(d2.flush() == kFFFD);
  CHECK(d2.pending() == 0);
}

TEST_CASE("pre-tokenizer deepseek-v3: hand-checked splits", "[tokenizer][pre]") {
  const Tokenizer t = placeholder(300, "deepseek-v3");
  using V = std::vector<std::string>;
  CHECK(split(t, "Hello world") == V{"Hello", " world"});
  CHECK(split(t, "1234567") == V{"123", "456", "7"});
  CHECK(split(t, "abc12345def") == V{"abc", "123", "45", "def"});
  CHECK(split(t, "你好，世界") == V{"你好", "，", "世界"});
  CHECK(split(t, "日本語のテキスト") == V{"日本語のテキスト"});
  CHECK(split(t, "a  b") == V{"a", " ", " b"});
  CHECK(split(t, "x\n\n\ny") == V{"x", "\n\n\n", "y"});
  CHECK(split(t, "end.  ") == V{"end", ".", "  "});
  CHECK(split(t, "(x):") == V{"(x", "):"});
  CHECK(split(t, "café naïve") == V{"café", " naïve"});
  CHECK(split(t, "e\xCC\x81") == V{"e\xCC\x81"});  // combining mark stays with its letter
  CHECK(split(t, "").empty());
  // Invalid UTF-8 never matches: it stays in pieces of its own.
  CHECK(split(t, "ab\xFF" "cd") == V{"ab", "\xFF", "cd"});
}

TEST_CASE("pre-tokenizer deepseek-llm (V2): hand-checked splits", "[tokenizer][pre]") {
  const Tokenizer t = placeholder(300, "deepseek-llm");
  using V = std::vector<std::string>;
  CHECK(split(t, "Hello world") == V{"Hello", " world"});
  CHECK(split(t, "1234567 89") == V{"1234567", " ", "89"});  // \p{N}+: no 3-digit groups
  CHECK(split(t, "a\nb\r\nc") == V{"a", "\n", "b", "\r", "\n", "c"});
  CHECK(split(t, "Hi, there!") == V{"Hi", ",", " there", "!"});
  CHECK(split(t, "end   ") == V{"end", "   "});
  CHECK(split(t, "你好世界") == V{"你好世界"});
  // Later regexes split the pieces of earlier ones again: "[!-/:-~...]" takes ASCII letters too.
  CHECK(split(t, "\xCE\xA9mega") == V{"\xCE\xA9", "mega"});
  // One letter run across scripts of the letter class (Cyrillic + Greek; U+A640 lies above the
  // wide "\u0800-\u4E00" range of the CJK regex).
  CHECK(split(t, " \xD0\x96\xCE\xB1") == V{" \xD0\x96\xCE\xB1"});
  CHECK(split(t, " \xEA\x99\x80\xCE\xB1") == V{" \xEA\x99\x80\xCE\xB1"});
  // Everything in U+0800..U+4E00 (here U+2126, U+1F7D, U+2103) is cut out by the CJK regex, letter or not.
  CHECK(split(t, " \xE2\x84\xA6\xCE\xB1") == V{" ", "\xE2\x84\xA6", "\xCE\xB1"});
  CHECK(split(t, "\xCE\xB1\xE1\xBD\xBD\xCE\xB1") == V{"\xCE\xB1", "\xE1\xBD\xBD", "\xCE\xB1"});
  CHECK(split(t, " \xE2\x84\x83\xCE\xB1") == V{" ", "\xE2\x84\x83", "\xCE\xB1"});
}

TEST_CASE("tokenizer errors name the problem", "[tokenizer][errors]") {
  gguf::Metadata md = placeholder_tokenizer_metadata(300);
  md.set("tokenizer.ggml.pre", gguf::Value::string("qwen2"));
  md.set_source("m.gguf");
  auto r = Tokenizer::from_gguf(md);
  REQUIRE(!r.ok());
  CHECK(r.error().message().find("'qwen2'") != std::string::npos);
  CHECK(r.error().message().find("deepseek-v3") != std::string::npos);
  CHECK(r.error().message().find("deepseek-llm") != std::string::npos);
  CHECK(r.error().message().rfind("m.gguf", 0) == 0);

  md = placeholder_tokenizer_metadata(300);
  md.set("tokenizer.ggml.model", gguf::Value::string("llama"));
  r = Tokenizer::from_gguf(md);
  REQUIRE(!r.ok());
  CHECK(r.error().message().find("only 'gpt2'") != std::string::npos);

  md = placeholder_tokenizer_metadata(300);
  md.erase("tokenizer.ggml.pre");
  CHECK(!Tokenizer::from_gguf(md).ok());

  md = placeholder_tokenizer_metadata(300);
  md.set("tokenizer.ggml.bos_token_id", gguf::Value::scalar(uint32_t{300}));
  CHECK(!Tokenizer::from_gguf(md).ok());

  md = placeholder_tokenizer_metadata(300);
  md.erase("tokenizer.ggml.bos_token_id");
  const Tokenizer t = *Tokenizer::from_gguf(md);
  CHECK(t.bos() == -1);
  CHECK(!t.encode("x", true).ok());
  CHECK(t.encode("x", false).ok());

  auto j = gguf_metadata_from_tokenizer_json("/nonexistent/tokenizer.json", "deepseek-v3");
  CHECK(!j.ok());
  auto j2 = gguf_metadata_from_tokenizer_json("/nonexistent/tokenizer.json", "gpt-4o");
  REQUIRE(!j2.ok());
  CHECK(j2.error().message().find("'gpt-4o'") != std::string::npos);
}

// Expected strings derived by hand from the Jinja in DeepSeek-V3's tokenizer_config.json and
// DeepSeek-V2-Chat's template.
TEST_CASE("chat templates: deepseek3 and deepseek2", "[tokenizer][chat]") {
  const std::string B = "<｜begin▁of▁sentence｜>", E = "<｜end▁of▁sentence｜>";
  const std::vector<ChatMessage> conv = {
      {"system", "You are helpful."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "2+2?"}};
  auto v3 = render_chat(ChatFormat::DEEPSEEK_V3, conv, true);
  REQUIRE(v3.ok());
  CHECK(*v3 == B + "You are helpful.<｜User｜>Hi<｜Assistant｜>Hello!" + E + "<｜User｜>2+2?<｜Assistant｜>");
  CHECK(*render_chat(ChatFormat::DEEPSEEK_V3, conv, false) ==
        B + "You are helpful.<｜User｜>Hi<｜Assistant｜>Hello!" + E + "<｜User｜>2+2?");
  // Several system messages are joined by a blank line and put first, wherever they are.
  const std::vector<ChatMessage> sys2 = {{"user", "a"}, {"system", "S1"}, {"system", "S2"}};
  CHECK(*render_chat(ChatFormat::DEEPSEEK_V3, sys2, true) == B + "S1\n\nS2<｜User｜>a<｜Assistant｜>");
  // Tool outputs.
  const std::vector<ChatMessage> tools = {{"user", "q"}, {"tool", "r1"}, {"tool", "r2"}, {"assistant", "done"},
                                          {"tool", "r3"}};
  CHECK(*render_chat(ChatFormat::DEEPSEEK_V3, tools, true) ==
        B + "<｜User｜>q<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>r1<｜tool▁output▁end｜>"
            "\n<｜tool▁output▁begin｜>r2<｜tool▁output▁end｜><｜tool▁outputs▁end｜>done" + E +
            "\n<｜tool▁output▁begin｜>r3<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");
  CHECK(*render_chat(ChatFormat::DEEPSEEK_V3, std::vector<ChatMessage>{}, true) == B + "<｜Assistant｜>");

  auto v2 = render_chat(ChatFormat::DEEPSEEK_V2, conv, true);
  REQUIRE(v2.ok());
  CHECK(*v2 == B + "You are helpful.\n\nUser: Hi\n\nAssistant: Hello!" + E + "User: 2+2?\n\nAssistant:");

  const std::vector<ChatMessage> bad = {{"narrator", "x"}};
  auto e = render_chat(ChatFormat::DEEPSEEK_V3, bad, true);
  REQUIRE(!e.ok());
  CHECK(e.error().message().find("'narrator'") != std::string::npos);
  CHECK(!render_chat(ChatFormat::DEEPSEEK_V2, tools, true).ok());  // no tool role in V2

  CHECK(*chat_format_from_name("deepseek3") == ChatFormat::DEEPSEEK_V3);
  CHECK(*chat_format_from_name("deepseek2") == ChatFormat::DEEPSEEK_V2);
  CHECK(!chat_format_from_name("chatml").ok());
  const std::string v2_jinja =
      "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
      "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
      "{{ 'User: ' + message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}"
      "{{ 'Assistant: ' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}"
      "{{ message['content'] + '\\n\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}"
      "{{ 'Assistant:' }}{% endif %}";
  CHECK(*detect_chat_format(v2_jinja) == ChatFormat::DEEPSEEK_V2);
  auto unk = detect_chat_format("{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}");
  REQUIRE(!unk.ok());
  CHECK(unk.error().message().find("deepseek3") != std::string::npos);

  // apply_chat_template: no template in the GGUF -> deepseek3 with the tokenizer's BOS / EOS text.
  const Tokenizer t = placeholder(300);
  CHECK(*apply_chat_template(t, conv, true) ==
        "<|bos|>You are helpful.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜>");
  CHECK(*apply_chat_template(t, conv, true, ChatFormat::DEEPSEEK_V2) ==
        "<|bos|>You are helpful.\n\nUser: Hi\n\nAssistant: Hello!<|eos|>User: 2+2?\n\nAssistant:");
  gguf::Metadata md = placeholder_tokenizer_metadata(300);
  md.set("tokenizer.chat_template", gguf::Value::string("{{ chatml }}"));
  CHECK(!apply_chat_template(*Tokenizer::from_gguf(md), conv, true).ok());
  md.set("tokenizer.chat_template", gguf::Value::string(v2_jinja));
  CHECK(apply_chat_template(*Tokenizer::from_gguf(md), conv, true)->rfind("<|bos|>You are helpful.\n\nUser:", 0) == 0);
}
