// deepseek4 (model/deepseek4.hpp): the V4-Flash key set round-trips through GGUF metadata, other
// shapes are read as written, every invalid or missing key is one clear error; a tiny file with
// every layer kind (plain, hash, CSA, HCA) loads its tensors, and bad tensors are named.
#include <string>

#include "catch.hpp"
#include "gguf/value.hpp"
#include "model/deepseek4.hpp"
#include "model_test_util.hpp"

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
    CHECK_HAS(error_of(md), "expected 'deepseek4'");
  }
  SECTION("a required key") {
    auto md = flash_md();
    md.erase("deepseek4.attention.q_lora_rank");
    CHECK_HAS(error_of(md), "q_lora_rank");
  }
  SECTION("several KV heads") {
    auto md = flash_md();
    md.set("deepseek4.attention.head_count_kv", gguf::Value::scalar(uint32_t{8}));
    CHECK_HAS(error_of(md), "one shared KV head");
  }
  SECTION("value length differs from key length") {
    auto md = flash_md();
    md.set("deepseek4.attention.value_length", gguf::Value::scalar(uint32_t{128}));
    CHECK_HAS(error_of(md), "must equal key_length");
  }
  SECTION("odd rope dims") {
    auto md = flash_md();
    md.set("deepseek4.rope.dimension_count", gguf::Value::scalar(uint32_t{63}));
    CHECK_HAS(error_of(md), "rope.dimension_count");
  }
  SECTION("output groups do not divide the heads") {
    auto md = flash_md();
    md.set("deepseek4.attention.output_group_count", gguf::Value::scalar(uint32_t{7}));
    CHECK_HAS(error_of(md), "must divide head_count");
  }
  SECTION("too many experts used") {
    auto md = flash_md();
    md.set("deepseek4.expert_used_count", gguf::Value::scalar(uint32_t{17}));
    CHECK_HAS(error_of(md), "expert_used_count");
  }
  SECTION("a compress ratio beyond the compressor's") {
    auto md = flash_md();
    std::vector<uint32_t> r(43, 4);
    r[7] = 70000;
    md.set("deepseek4.attention.compress_ratios", gguf::Value::array(r));
    CHECK_HAS(error_of(md), "entry 7 is 70000");
  }
  SECTION("nextn_predict_layers leaving no main layer") {
    auto md = flash_md();
    md.set("deepseek4.nextn_predict_layers", gguf::Value::scalar(uint32_t{43}));
    CHECK_HAS(error_of(md), "must be less than block_count");
  }
  SECTION("a gating function that is not V4's") {
    auto md = flash_md();
    md.set("deepseek4.expert_gating_func", gguf::Value::scalar(uint32_t{2}));
    CHECK_HAS(error_of(md), "sqrt(softplus)");
  }
  SECTION("short per-layer arrays") {
    auto md = flash_md();
    md.set("deepseek4.swiglu_clamp_exp", gguf::Value::array(std::vector<float>(42, 10.0f)));
    CHECK_HAS(error_of(md), "has 42 entries");
  }
  SECTION("a clamp that is not positive") {
    auto md = flash_md();
    std::vector<float> f(43, 10.0f);
    f[5] = 0.0f;
    md.set("deepseek4.swiglu_clamp_exp", gguf::Value::array(f));
    CHECK_HAS(error_of(md), "entry 5");
  }
  SECTION("compressed layers without their rope base") {
    auto md = flash_md();
    md.erase("deepseek4.attention.compress_rope_freq_base");
    CHECK_HAS(error_of(md), "compress_rope_freq_base");
  }
  SECTION("ratio-4 layers without the indexer") {
    auto md = flash_md();
    md.erase("deepseek4.attention.indexer.top_k");
    CHECK_HAS(error_of(md), "indexer.top_k");
  }
  SECTION("YaRN without its original context") {
    auto md = flash_md();
    md.erase("deepseek4.rope.scaling.original_context_length");
    CHECK_HAS(error_of(md), "original_context_length");
  }
  SECTION("an epsilon out of range") {
    auto md = flash_md();
    md.set("deepseek4.hyper_connection.epsilon", gguf::Value::scalar(2.0f));
    CHECK_HAS(error_of(md), "must be in (0, 1]");
  }
  SECTION("more hash layers than layers") {
    auto md = flash_md();
    md.set("deepseek4.hash_layer_count", gguf::Value::scalar(uint32_t{44}));
    CHECK_HAS(error_of(md), "hash_layer_count");
  }
}

namespace {

using dsk::model::test::File;
using dsk::model::test::Item;

// A tiny V4 config: 4 layers (plain+hash, plain, CSA, HCA), every width small but block-aligned.
Deepseek4Config tiny_v4() {
  Deepseek4Config c = deepseek4_flash_config();
  c.n_layer = 4;
  c.n_embd = 256;
  c.n_vocab = 300;
  c.n_head = 4;
  c.head_dim = 64;
  c.n_rot = 16;
  c.q_lora = 64;
  c.o_lora = 32;
  c.n_out_group = 2;
  c.n_expert = 8;
  c.n_expert_used = 2;
  c.n_ff_exp = 256;  // a Q2_K down projection's row
  c.n_expert_shared = 1;
  c.n_hash_layer = 1;
  c.n_swa = 8;
  c.n_indexer_head = 2;
  c.indexer_head_dim = 32;
  c.indexer_top_k = 4;
  c.n_hc = 2;
  c.sinkhorn_iters = 3;
  c.compress_ratio = {0, 0, 4, 128};
  c.swiglu_clamp.assign(4, 10.0f);
  return c;
}

Item tensor(const std::string& name, GgmlType t, std::vector<uint64_t> ne) {
  Item it{name, t, ne, {}};
  uint64_t n = 1;
  for (uint64_t d : ne) n *= d;
  const auto& ti = ggml_type_info(t);
  it.bytes.assign(static_cast<size_t>(n / ti.block_elems * ti.block_bytes), 0);
  for (size_t i = 0; i < it.bytes.size(); ++i) it.bytes[i] = static_cast<uint8_t>(i * 37 % 251);
  if (t == GgmlType::I32)
    for (size_t i = 0; i < it.bytes.size(); i += 4) it.bytes[i] = static_cast<uint8_t>(i / 4 % 8), it.bytes[i + 1] = it.bytes[i + 2] = it.bytes[i + 3] = 0;
  return it;
}

File tiny_v4_file(const Deepseek4Config& c) {
  File f;
  set_deepseek4_metadata(f.md, c);
  const uint64_t E = c.n_embd, NV = c.n_vocab, H = c.n_head, D = c.head_dim, HC = c.hc_dim(), NC = c.n_hc_ctrl();
  const uint64_t Q = c.q_lora, G = c.n_out_group, OL = c.o_lora, NE = c.n_expert, FF = c.n_ff_exp;
  const GgmlType F32 = GgmlType::F32, F16 = GgmlType::F16, Q8 = GgmlType::Q8_0;
  auto add = [&](const std::string& n, GgmlType t, std::vector<uint64_t> ne) { f.items.push_back(tensor(n, t, std::move(ne))); };
  add("token_embd.weight", F16, {E, NV});
  add("output_hc_fn.weight", F16, {HC, c.n_hc});
  add("output_hc_scale.weight", F32, {1});
  add("output_hc_base.weight", F32, {c.n_hc});
  add("output_norm.weight", F32, {E});
  add("output.weight", Q8, {E, NV});
  for (uint32_t il = 0; il < c.n_layer; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    for (const char* s : {"hc_attn_", "hc_ffn_"}) {
      add(b + s + "fn.weight", F16, {HC, NC});
      add(b + s + "scale.weight", F32, {3});
      add(b + s + "base.weight", F32, {NC});
    }
    add(b + "attn_norm.weight", F32, {E});
    add(b + "attn_q_a.weight", Q8, {E, Q});
    add(b + "attn_q_a_norm.weight", F32, {Q});
    add(b + "attn_q_b.weight", Q8, {Q, H * D});
    add(b + "attn_kv.weight", Q8, {E, D});
    add(b + "attn_kv_a_norm.weight", F32, {D});
    add(b + "attn_sinks.weight", F32, {H});
    add(b + "attn_output_a.weight", Q8, {H * D / G, G * OL});
    add(b + "attn_output_b.weight", Q8, {G * OL, E});
    const uint32_t r = c.compress_ratio[il];
    if (r != 0) {
      const uint64_t cw = (r == 4 ? 2 : 1) * D;
      add(b + "attn_compressor_ape.weight", F16, {cw, r});
      add(b + "attn_compressor_kv.weight", F16, {E, cw});
      add(b + "attn_compressor_gate.weight", F16, {E, cw});
      add(b + "attn_compressor_norm.weight", F32, {D});
    }
    if (r == 4) {
      const uint64_t IH = c.n_indexer_head, ID = c.indexer_head_dim;
      add(b + "indexer.attn_q_b.weight", F16, {Q, IH * ID});
      add(b + "indexer.proj.weight", F16, {E, IH});
      add(b + "indexer_compressor_ape.weight", F16, {2 * ID, 4});
      add(b + "indexer_compressor_kv.weight", F16, {E, 2 * ID});
      add(b + "indexer_compressor_gate.weight", F16, {E, 2 * ID});
      add(b + "indexer_compressor_norm.weight", F32, {ID});
    }
    add(b + "ffn_norm.weight", F32, {E});
    add(b + "ffn_gate_inp.weight", F16, {E, NE});
    add(b + "exp_probs_b.bias", F32, {NE});
    add(b + "ffn_gate_exps.weight", GgmlType::IQ2_XXS, {E, FF, NE});
    add(b + "ffn_up_exps.weight", GgmlType::IQ2_XXS, {E, FF, NE});
    add(b + "ffn_down_exps.weight", GgmlType::Q2_K, {FF, E, NE});
    add(b + "ffn_gate_shexp.weight", Q8, {E, FF});
    add(b + "ffn_up_shexp.weight", Q8, {E, FF});
    add(b + "ffn_down_shexp.weight", Q8, {FF, E});
    if (il < c.n_hash_layer) add(b + "ffn_gate_tid2eid.weight", GgmlType::I32, {c.n_expert_used, NV});
  }
  return f;
}

// Loads f; returns the error text, or "" (and the model in *out) on success.
std::string load(const File& f, Deepseek4Model* out = nullptr) {
  static std::vector<std::unique_ptr<gguf::Reader>> keep;  // mappings outlive the returned model
  const std::vector<uint8_t> bytes = f.bytes();
  auto r = gguf::Reader::from_memory(bytes, "v4.gguf");
  if (!r) return "reader: " + r.error().message();
  keep.push_back(std::make_unique<gguf::Reader>(std::move(r).value()));
  auto m = load_deepseek4(*keep.back());
  if (!m) return m.error().message();
  if (out) *out = std::move(m).value();
  return "";
}

}  // namespace

TEST_CASE("deepseek4: a tiny file with every layer kind loads", "[model][deepseek4]") {
  const Deepseek4Config c = tiny_v4();
  Deepseek4Model m;
  REQUIRE(load(tiny_v4_file(c), &m).empty());
  REQUIRE(m.layers.size() == 4);
  CHECK(m.layers[0].hash);
  CHECK(m.layers[0].ffn_gate_tid2eid.present());
  CHECK(!m.layers[1].ffn_gate_tid2eid.present());
  CHECK(!m.layers[1].attn_compressor_kv.present());
  CHECK(m.layers[2].compress_ratio == 4);
  CHECK(m.layers[2].indexer_q_b.present());
  CHECK(m.layers[2].attn_compressor_ape.ne[0] == 128);  // 2 * head_dim for ratio 4
  CHECK(m.layers[3].compress_ratio == 128);
  CHECK(m.layers[3].attn_compressor_kv.present());
  CHECK(!m.layers[3].indexer_q_b.present());
  CHECK(m.layers[3].attn_compressor_ape.ne[0] == 64);
  CHECK(m.layers[3].ffn_gate_exps.type == GgmlType::IQ2_XXS);
  CHECK(m.layers[3].ffn_down_exps.ne[2] == 8);
  CHECK(m.output.type == GgmlType::Q8_0);
  CHECK(m.unused.empty());
}

TEST_CASE("deepseek4: bad tensors are named", "[model][deepseek4]") {
  const Deepseek4Config c = tiny_v4();
  SECTION("missing") {
    File f = tiny_v4_file(c);
    f.remove("blk.2.indexer.proj.weight");
    const std::string e = load(f);
    CHECK_HAS(e, "blk.2.indexer.proj.weight");
    CHECK_HAS(e, "not found");
  }
  SECTION("wrong shape") {
    File f = tiny_v4_file(c);
    f.reshape("blk.1.attn_output_a.weight", {256, 64}, GgmlType::Q8_0);
    CHECK_HAS(load(f), "blk.1.attn_output_a.weight");
  }
  SECTION("a norm that is not F32") {
    File f = tiny_v4_file(c);
    f.reshape("blk.0.attn_sinks.weight", {4}, GgmlType::F16);
    CHECK_HAS(load(f), "expected F32");
  }
  SECTION("tid2eid that is not I32") {
    File f = tiny_v4_file(c);
    f.reshape("blk.0.ffn_gate_tid2eid.weight", {2, 300}, GgmlType::F32);
    CHECK_HAS(load(f), "expected I32");
  }
  SECTION("up and gate experts of different types") {
    File f = tiny_v4_file(c);
    f.reshape("blk.1.ffn_up_exps.weight", {256, 256, 8}, GgmlType::Q2_K);
    CHECK_HAS(load(f), "differs from ffn_gate_exps");
  }
  SECTION("an indexer on an HCA layer") {
    File f = tiny_v4_file(c);
    f.items.push_back(tensor("blk.3.indexer.proj.weight", GgmlType::F16, {256, 2}));
    CHECK_HAS(load(f), "only ratio-4 (CSA) layers have an indexer");
  }
  SECTION("tid2eid on a layer past hash_layer_count") {
    File f = tiny_v4_file(c);
    f.items.push_back(tensor("blk.1.ffn_gate_tid2eid.weight", GgmlType::I32, {2, 300}));
    CHECK_HAS(load(f), "not a hash layer");
  }
}

TEST_CASE("deepseek4: other ratios, llama.cpp's keys, the MTP block", "[model][deepseek4]") {
  SECTION("HCA ratio 16 (the transformers oracle's) and ratio 1") {
    Deepseek4Config c = tiny_v4();
    c.compress_ratio = {0, 1, 4, 16};
    Deepseek4Model m;
    REQUIRE(load(tiny_v4_file(c), &m).empty());
    CHECK(m.config.is_hca(3));
    CHECK(m.config.is_hca(1));
    CHECK(m.layers[3].attn_compressor_ape.ne[1] == 16);
    CHECK(m.layers[1].attn_compressor_ape.ne[1] == 1);
    CHECK(!m.layers[3].indexer_q_b.present());
  }
  SECTION("no vocab_size key: the tokenizer's size, else token_embd's rows") {
    File f = tiny_v4_file(tiny_v4());
    f.md.erase("deepseek4.vocab_size");
    Deepseek4Model m;
    REQUIRE(load(f, &m).empty());
    CHECK(m.config.n_vocab == 300);
    const auto r = deepseek4_config(f.md);
    REQUIRE(r);
    CHECK(r.value().n_vocab == 0);
  }
  SECTION("llama.cpp's layout: block_count counts the MTP block (nextn_predict_layers), extra keys") {
    Deepseek4Config c = tiny_v4();
    c.compress_ratio.push_back(0);  // llama.cpp's arrays cover every block
    c.swiglu_clamp.push_back(10.0f);
    File f = tiny_v4_file(c);
    f.md.set("deepseek4.block_count", gguf::Value::scalar(uint32_t{5}));
    f.md.set("deepseek4.nextn_predict_layers", gguf::Value::scalar(uint32_t{1}));
    f.md.set("deepseek4.swiglu_clamp_shexp", gguf::Value::array(std::vector<float>(5, 10.0f)));
    f.md.set("deepseek4.expert_gating_func", gguf::Value::scalar(uint32_t{4}));
    f.items.push_back(tensor("blk.4.nextn.eh_proj.weight", GgmlType::F16, {512, 256}));
    f.items.push_back(tensor("blk.4.attn_norm.weight", GgmlType::F32, {256}));
    Deepseek4Model m;
    REQUIRE(load(f, &m).empty());
    CHECK(m.config.n_layer == 4);
    CHECK(m.config.n_nextn == 1);
    CHECK(m.layers.size() == 4);
    CHECK(m.nextn.size() == 2);
    CHECK(m.unused.empty());
  }
  SECTION("ds4's mtp.0.* block loads and is checked") {
    const Deepseek4Config c = tiny_v4();
    File f = tiny_v4_file(c);
    const uint64_t E = c.n_embd, HC = c.hc_dim(), NC = c.n_hc_ctrl(), H = c.n_head, D = c.head_dim, Q = c.q_lora;
    const uint64_t G = c.n_out_group, OL = c.o_lora, NE = c.n_expert, FF = c.n_ff_exp;
    auto add = [&](const std::string& n, GgmlType t, std::vector<uint64_t> ne) {
      f.items.push_back(tensor("mtp.0." + n, t, std::move(ne)));
    };
    const GgmlType F32 = GgmlType::F32, F16 = GgmlType::F16, Q8 = GgmlType::Q8_0;
    add("e_proj.weight", Q8, {E, E});
    add("h_proj.weight", Q8, {E, E});
    add("enorm.weight", F32, {E});
    add("hnorm.weight", F32, {E});
    add("norm.weight", F32, {E});
    add("hc_head_fn.weight", F32, {HC, c.n_hc});
    add("hc_head_scale.weight", F32, {1});
    add("hc_head_base.weight", F32, {c.n_hc});
    for (const char* s : {"hc_attn_", "hc_ffn_"}) {
      add(std::string(s) + "fn.weight", F16, {HC, NC});
      add(std::string(s) + "scale.weight", F32, {3});
      add(std::string(s) + "base.weight", F32, {NC});
    }
    add("attn_norm.weight", F32, {E});
    add("attn_q_a.weight", Q8, {E, Q});
    add("attn_q_a_norm.weight", F32, {Q});
    add("attn_q_b.weight", Q8, {Q, H * D});
    add("attn_kv.weight", Q8, {E, D});
    add("attn_kv_a_norm.weight", F32, {D});
    add("attn_sinks.weight", F32, {H});
    add("attn_output_a.weight", Q8, {H * D / G, G * OL});
    add("attn_output_b.weight", Q8, {G * OL, E});
    add("ffn_norm.weight", F32, {E});
    add("ffn_gate_inp.weight", F32, {E, NE});
    add("ffn_gate_exps.weight", GgmlType::Q4_K, {E, FF, NE});
    add("ffn_up_exps.weight", GgmlType::Q4_K, {E, FF, NE});
    add("ffn_down_exps.weight", GgmlType::Q4_K, {FF, E, NE});
    add("ffn_gate_shexp.weight", Q8, {E, FF});
    add("ffn_up_shexp.weight", Q8, {E, FF});
    add("ffn_down_shexp.weight", Q8, {FF, E});
    SECTION("complete") {
      add("exp_probs_b.bias", F32, {NE});
      Deepseek4Model m;
      REQUIRE(load(f, &m).empty());
      CHECK(m.mtp.present());
      CHECK(m.mtp.block.exp_probs_b.present());
      CHECK(m.mtp.hc_head_fn.type == GgmlType::F32);
      CHECK(m.unused.empty());
    }
    SECTION("exp_probs_b is required in the MTP block") {
      const std::string e = load(f);
      CHECK_HAS(e, "mtp.0.exp_probs_b.bias");
      CHECK_HAS(e, "not found");
    }
  }
}
