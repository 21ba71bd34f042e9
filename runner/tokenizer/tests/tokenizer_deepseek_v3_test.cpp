// The real DeepSeek-V3 tokenizer: tokenizer.json (decompressed by the test fixture into the build
// directory, with tokenizer_config.json next to it) -> GGUF metadata -> Tokenizer, checked against
// ids from Hugging Face tokenizers: shared/data/deepseek-v3-tokenizer/expected_ids.json and this
// directory's hf_cases.json (deepseek-v3, and the deepseek-llm (V2) pre-tokenizer on the same vocab).
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "gguf/reader.hpp"
#include "gguf/writer.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/tokenizer_json.hpp"

#ifndef DSK_TOK_V3_DIR
#error "DSK_TOK_V3_DIR: the directory with the decompressed tokenizer.json"
#endif

using namespace dsk;
using namespace dsk::tok;
using nlohmann::json;

namespace {

const std::string kDir = DSK_TOK_V3_DIR;

json load_json(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

const gguf::Metadata& v3_metadata() {
  static const gguf::Metadata md = [] {
    auto r = gguf_metadata_from_tokenizer_json(kDir + "/tokenizer.json", "deepseek-v3");
    if (!r.ok()) FAIL(r.error().message());
    return std::move(r).value();
  }();
  return md;
}

const Tokenizer& v3() {
  static const Tokenizer t = [] {
    auto r = Tokenizer::from_gguf(v3_metadata());
    if (!r.ok()) FAIL(r.error().message());
    return std::move(r).value();
  }();
  return t;
}

const Tokenizer& v2_pre() {  // the V3 vocabulary with the deepseek-llm pre-tokenizer
  static const Tokenizer t = [] {
    gguf::Metadata md = v3_metadata();
    md.set("tokenizer.ggml.pre", gguf::Value::string("deepseek-llm"));
    auto r = Tokenizer::from_gguf(md);
    if (!r.ok()) FAIL(r.error().message());
    return std::move(r).value();
  }();
  return t;
}

std::vector<int32_t> ids_of(const json& j) { return j.get<std::vector<int32_t>>(); }

std::string streamed(const Tokenizer& t, const std::vector<int32_t>& ids) {
  StreamDecoder d(t);
  std::string out;
  for (int32_t id : ids) {
    const std::string piece = d.push(id);
    CHECK(sanitize_utf8(piece) == piece);
    out += piece;
  }
  return out + d.flush();
}

}  // namespace

TEST_CASE("deepseek-v3 metadata: the keys llama.cpp's converter writes", "[tokenizer][v3]") {
  const gguf::Metadata& md = v3_metadata();
  CHECK(*md.get_string("tokenizer.ggml.model") == "gpt2");
  CHECK(*md.get_string("tokenizer.ggml.pre") == "deepseek-v3");
  CHECK(md.get_string_array("tokenizer.ggml.tokens")->size() == 128815);
  CHECK(md.get_string_array("tokenizer.ggml.merges")->size() == 127741);
  CHECK(*md.get<uint32_t>("tokenizer.ggml.bos_token_id") == 0);
  CHECK(*md.get<uint32_t>("tokenizer.ggml.eos_token_id") == 1);
  CHECK(*md.get<uint32_t>("tokenizer.ggml.padding_token_id") == 1);
  CHECK(*md.get<bool>("tokenizer.ggml.add_bos_token") == true);
  CHECK(*md.get<bool>("tokenizer.ggml.add_eos_token") == false);
  CHECK(md.get_string("tokenizer.chat_template")->find("<｜Assistant｜>") != std::string::npos);
  const auto types = *md.get_int_array<int32_t>("tokenizer.ggml.token_type");
  CHECK(types[0] == 3);        // <｜begin▁of▁sentence｜>: CONTROL
  CHECK(types[128803] == 3);   // <｜User｜>: not "special" in tokenizer.json, but looks special
  CHECK(types[128805] == 3);   // <|EOT|>
  CHECK(types[1000] == 1);
  const Tokenizer& t = v3();
  CHECK(t.n_vocab() == 128815);
  CHECK(t.n_merges() == 127741);
  CHECK(t.token_text(0) == "<｜begin▁of▁sentence｜>");
  CHECK(t.bos() == 0);
  CHECK(t.eos() == 1);
  CHECK(t.add_bos_default());

  // Padded to the model's vocabulary (DeepSeek-V3: 129280), as the converter does.
  auto padded = gguf_metadata_from_tokenizer_json(kDir + "/tokenizer.json", "deepseek-v3", 129280);
  REQUIRE(padded.ok());
  const auto ptoks = *padded->get_string_array("tokenizer.ggml.tokens");
  const auto ptypes = *padded->get_int_array<int32_t>("tokenizer.ggml.token_type");
  REQUIRE(ptoks.size() == 129280);
  CHECK(ptoks[128815] == "[PAD128815]");
  CHECK(ptypes[128815] == 5);
  CHECK(ptoks[129279] == "[PAD129279]");
  CHECK(!gguf_metadata_from_tokenizer_json(kDir + "/tokenizer.json", "deepseek-v3", 1000).ok());

  // Through a GGUF file and back.
  gguf::Writer w;
  for (const auto& kv : *padded) w.set(kv.key, kv.value);
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  auto reader = gguf::Reader::from_memory(*bytes, "v3-vocab.gguf");
  REQUIRE(reader.ok());
  auto t2 = Tokenizer::from_gguf(reader->metadata());
  REQUIRE(t2.ok());
  CHECK(t2->n_vocab() == 129280);
  CHECK(*t2->encode("Hello world", false) == std::vector<int32_t>{19923, 2058});
  CHECK(t2->decode(std::vector<int32_t>{19923, 129000, 2058}) == "Hello world");  // UNUSED: nothing
}

TEST_CASE("deepseek-v3: expected_ids.json exactly", "[tokenizer][v3]") {
  const json cases = load_json(DSK_TOK_EXPECTED_IDS);
  REQUIRE(cases.size() >= 10);
  for (const auto& c : cases) {
    const std::string text = c["text"].get<std::string>();
    INFO("text: " << text);
    auto ids = v3().encode(text, false);
    REQUIRE(ids.ok());
    CHECK(*ids == ids_of(c["ids"]));
    CHECK(v3().decode(*ids) == c["decoded"].get<std::string>());
    CHECK(streamed(v3(), *ids) == text);
  }
}

TEST_CASE("deepseek-v3 and deepseek-llm: hf_cases.json exactly", "[tokenizer][v3][v2]") {
  const json doc = load_json(DSK_TOK_HF_CASES);
  const json& cases = doc["cases"];
  REQUIRE(cases.size() >= 40);
  for (const auto& c : cases) {
    const std::string text = c["text"].get<std::string>();
    INFO("text: " << text);
    auto a = v3().encode(text, false);
    REQUIRE(a.ok());
    CHECK(*a == ids_of(c["deepseek-v3"]));
    auto b = v2_pre().encode(text, false);
    REQUIRE(b.ok());
    CHECK(*b == ids_of(c["deepseek-llm"]));
    CHECK(v3().decode(*a) == text);
    CHECK(streamed(v3(), *a) == text);
    CHECK(v2_pre().decode(*b) == text);
  }
}

TEST_CASE("deepseek-v3: BOS, parse_special, decode options", "[tokenizer][v3]") {
  const Tokenizer& t = v3();
  CHECK(*t.encode("Hello world", true) == std::vector<int32_t>{0, 19923, 2058});
  CHECK(t.encode("", false)->empty());
  CHECK(*t.encode("", true) == std::vector<int32_t>{0});
  const std::string s = "<｜User｜>hi<｜Assistant｜>";
  const auto with = *t.encode(s, false);
  CHECK(with.front() == 128803);
  CHECK(with.back() == 128804);
  const auto without = *t.encode(s, false, /*parse_special=*/false);
  CHECK(std::find(without.begin(), without.end(), 128803) == without.end());
  CHECK(t.decode(without) == s);
  CHECK(t.decode(with) == s);
  CHECK(t.decode(with, /*render_special=*/false) == "hi");
}

TEST_CASE("deepseek-v3: round trips and streaming", "[tokenizer][v3]") {
  const Tokenizer& t = v3();
  const std::vector<std::string> texts = {
      "The year 2025: 1,234,567.89 €, ¥, ₹ — ‘quotes’ “double” … ellipsis",
      "🧑‍💻 writes 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and 𝟙𝟚𝟛 (math alphanumerics) and 𐍈 (Gothic)",
      "Tiếng Việt có dấu: Hà Nội, Sài Gòn. ภาษาไทย. ქართული. Հայերեն.",
      std::string(300, ' ') + "x" + std::string(200, '\n') + std::string(50, '\t'),
      std::string(2000, '9'),
      "a\xFF" "b\xC3(" "c\xE2\x82" "d\xF0\x9F\x98",  // invalid UTF-8: kept byte for byte by encode/decode
  };
  for (const auto& s : texts) {
    INFO("text: " << s);
    auto ids = t.encode(s, false);
    REQUIRE(ids.ok());
    CHECK(t.decode(*ids) == s);
    CHECK(streamed(t, *ids) == sanitize_utf8(s));
  }
  // A multi-byte character split over several byte-level tokens is only emitted when complete.
  const std::string rare = "\xF0\x90\x8D\x88";  // U+10348: several tokens
  auto ids = *t.encode(rare, false);
  CHECK(ids.size() > 1);
  StreamDecoder d(t);
  for (size_t i = 0; i + 1 < ids.size(); ++i) CHECK(d.push(ids[i]).empty());
  CHECK(d.push(ids.back()) == rare);
  CHECK(d.flush().empty());
}

TEST_CASE("deepseek-v3: the GGUF chat template is recognised and rendered", "[tokenizer][v3][chat]") {
  const Tokenizer& t = v3();
  REQUIRE(!t.chat_template().empty());
  CHECK(*detect_chat_format(t.chat_template()) == ChatFormat::DEEPSEEK_V3);
  const std::vector<ChatMessage> conv = {{"system", "Be brief."}, {"user", "What is 2+2?"}};
  auto text = apply_chat_template(t, conv, true);
  REQUIRE(text.ok());
  CHECK(*text == "<｜begin▁of▁sentence｜>Be brief.<｜User｜>What is 2+2?<｜Assistant｜>");
  auto ids = t.encode(*text, /*add_bos=*/false);
  REQUIRE(ids.ok());
  CHECK(ids->front() == 0);
  CHECK(ids->back() == 128804);
  CHECK(std::count(ids->begin(), ids->end(), 0) == 1);
}
