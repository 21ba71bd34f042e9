// deepseek4 hyperparameters (model/deepseek4.hpp): the V4-Flash key set round-trips through GGUF
// metadata, other shapes are read as written, and every invalid or missing key is one clear error.
#include <string>

#include "catch.hpp"
#include "gguf/value.hpp"
#include "model/deepseek4.hpp"

using namespace dsk;
using namespace dsk::model;

namespace {

gguf::Metadata flash_md() {
  gguf::Metadata md;
  set_deepseek4_metadata(md, deepseek4_flash_config());
  return md;
}

// The error message of deepseek4_config on md (FAIL when it succeeds).
std::string error_of(const gguf::Metadata& md) {
  auto r = deepseek4_config(md);
  if (r) FAIL("expected an error");
  return r.error().message();
}

bool mentions(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

}  // namespace

TEST_CASE("deepseek4: V4-Flash metadata round-trips", "[model][deepseek4]") {
  const auto r = deepseek4_config(flash_md());
  REQUIRE(r);
  const Deepseek4Config& c = r.value();
  CHECK(c.n_layer == 43);
  CHECK(c.n_embd == 4096);
  CHECK(c.n_head == 64);
  CHECK(c.head_dim == 512);
  CHECK(c.n_rot == 64);
  CHECK(c.n_expert == 256);
  CHECK(c.n_expert_used == 6);
  CHECK(c.n_hash_layer == 3);
  CHECK(c.hc_dim() == 16384);
  CHECK(c.n_hc_ctrl() == 24);
  CHECK(c.compress_ratio.size() == 43);
  CHECK(c.compress_ratio[0] == 0);
  CHECK(c.compress_ratio[1] == 0);
  CHECK(c.is_csa(2));
  CHECK(c.is_hca(3));
  CHECK(c.is_csa(42));
  CHECK(c.is_hash_layer(2));
  CHECK(!c.is_hash_layer(3));
  CHECK(c.swiglu_clamp[10] == 10.0f);
  CHECK(c.compress_rope_freq_base == 160000.0f);
  CHECK(c.rope_scaling_factor == 16.0f);
  CHECK(c.n_ctx_orig_yarn == 65536);
  CHECK(c.expert_weights_scale == 1.5f);
  CHECK(c.expert_weights_norm);
}

TEST_CASE("deepseek4: other shapes come from the metadata, arrays may be longer", "[model][deepseek4]") {
  Deepseek4Config t = deepseek4_flash_config();
  t.n_layer = 5;
  t.n_embd = 256;
  t.n_head = 8;
  t.head_dim = 128;
  t.n_rot = 32;
  t.n_out_group = 2;
  t.n_expert = 384;
  t.n_expert_used = 8;
  t.n_hash_layer = 0;
  t.indexer_head_dim = 64;
  t.compress_ratio = {0, 128, 4, 0, 128, 4};  // 6 entries for 5 layers (+ an MTP block)
  t.swiglu_clamp = {7, 7, 7, 7, 7, 7};
  gguf::Metadata md;
  set_deepseek4_metadata(md, t);
  const auto r = deepseek4_config(md);
  REQUIRE(r);
  CHECK(r.value().n_layer == 5);
  CHECK(r.value().n_expert == 384);
  CHECK(r.value().compress_ratio.size() == 5);
  CHECK(r.value().is_hca(1));
  CHECK(r.value().swiglu_clamp.size() == 5);
  CHECK(r.value().swiglu_clamp[4] == 7.0f);
}

TEST_CASE("deepseek4: invalid or missing keys are named", "[model][deepseek4]") {
  SECTION("architecture") {
    auto md = flash_md();
    md.set("general.architecture", gguf::Value::string("deepseek2"));
    CHECK(mentions(error_of(md), "expected 'deepseek4'"));
  }
  SECTION("a required key") {
    auto md = flash_md();
    md.erase("deepseek4.attention.q_lora_rank");
    CHECK(mentions(error_of(md), "q_lora_rank"));
  }
  SECTION("several KV heads") {
    auto md = flash_md();
    md.set("deepseek4.attention.head_count_kv", gguf::Value::scalar(uint32_t{8}));
    CHECK(mentions(error_of(md), "one shared KV head"));
  }
  SECTION("value length differs from key length") {
    auto md = flash_md();
    md.set("deepseek4.attention.value_length", gguf::Value::scalar(uint32_t{128}));
    CHECK(mentions(error_of(md), "must equal key_length"));
  }
  SECTION("odd rope dims") {
    auto md = flash_md();
    md.set("deepseek4.rope.dimension_count", gguf::Value::scalar(uint32_t{63}));
    CHECK(mentions(error_of(md), "rope.dimension_count"));
  }
  SECTION("output groups do not divide the heads") {
    auto md = flash_md();
    md.set("deepseek4.attention.output_group_count", gguf::Value::scalar(uint32_t{7}));
    CHECK(mentions(error_of(md), "must divide head_count"));
  }
  SECTION("too many experts used") {
    auto md = flash_md();
    md.set("deepseek4.expert_used_count", gguf::Value::scalar(uint32_t{17}));
    CHECK(mentions(error_of(md), "expert_used_count"));
  }
  SECTION("a compress ratio dsk does not know") {
    auto md = flash_md();
    std::vector<uint32_t> r(43, 4);
    r[7] = 16;
    md.set("deepseek4.attention.compress_ratios", gguf::Value::array(r));
    CHECK(mentions(error_of(md), "entry 7 is 16"));
  }
  SECTION("short per-layer arrays") {
    auto md = flash_md();
    md.set("deepseek4.swiglu_clamp_exp", gguf::Value::array(std::vector<float>(42, 10.0f)));
    CHECK(mentions(error_of(md), "has 42 entries"));
  }
  SECTION("a clamp that is not positive") {
    auto md = flash_md();
    std::vector<float> f(43, 10.0f);
    f[5] = 0.0f;
    md.set("deepseek4.swiglu_clamp_exp", gguf::Value::array(f));
    CHECK(mentions(error_of(md), "entry 5"));
  }
  SECTION("compressed layers without their rope base") {
    auto md = flash_md();
    md.erase("deepseek4.attention.compress_rope_freq_base");
    CHECK(mentions(error_of(md), "compress_rope_freq_base"));
  }
  SECTION("ratio-4 layers without the indexer") {
    auto md = flash_md();
    md.erase("deepseek4.attention.indexer.top_k");
    CHECK(mentions(error_of(md), "indexer.top_k"));
  }
  SECTION("YaRN without its original context") {
    auto md = flash_md();
    md.erase("deepseek4.rope.scaling.original_context_length");
    CHECK(mentions(error_of(md), "original_context_length"));
  }
  SECTION("an epsilon out of range") {
    auto md = flash_md();
    md.set("deepseek4.hyper_connection.epsilon", gguf::Value::scalar(2.0f));
    CHECK(mentions(error_of(md), "must be in (0, 1]"));
  }
  SECTION("more hash layers than layers") {
    auto md = flash_md();
    md.set("deepseek4.hash_layer_count", gguf::Value::scalar(uint32_t{44}));
    CHECK(mentions(error_of(md), "hash_layer_count"));
  }
}
