// deepseek2 loading: both MLA layouts, derived k_b / v_b, MTP blocks, split sets, every validation
// error.
#include <cstring>

#include "model_test_util.hpp"

using namespace dsk;
using namespace dsk::model;
using namespace dsk::model::test;

namespace {

Deepseek2Model load_ok(const std::vector<uint8_t>& bytes, const gguf::Reader*& keep) {
  static std::vector<std::unique_ptr<gguf::Reader>> readers;  // keep mappings alive for the test
  auto r = gguf::Reader::from_memory(bytes, "t.gguf");
  if (!r) FAIL(r.error().message());
  readers.push_back(std::make_unique<gguf::Reader>(std::move(r).value()));
  keep = readers.back().get();
  auto m = load_deepseek2(*keep);
  if (!m) FAIL(m.error().message());
  return std::move(m).value();
}

}  // namespace

TEST_CASE("tiny mainline file loads with its config", "[model]") {
  const auto c = shape("tiny");
  const File f = make_file(c, MlaLayout::mainline);
  const auto bytes = f.bytes();
  const gguf::Reader* r = nullptr;
  const Deepseek2Model m = load_ok(bytes, r);
  const Deepseek2Config& mc = m.config;
  CHECK(mc.layout == MlaLayout::mainline);
  CHECK(mc.n_head_kv_file == 1);
  CHECK(mc.key_length_file == 64 + 16);
  CHECK(mc.value_length_file == 64);
  CHECK(mc.n_layer == 4);
  CHECK(mc.n_embd == 256);
  CHECK(mc.d_nope == 32);
  CHECK(mc.d_rope == 16);
  CHECK(mc.d_qk == 48);
  CHECK(mc.d_v == 32);
  CHECK(mc.kv_lora == 64);
  CHECK(mc.q_lora == 96);
  CHECK(!mc.is_lite);
  CHECK(mc.n_expert == 32);
  CHECK(mc.n_expert_used == 6);
  CHECK(mc.n_expert_shared == 1);
  CHECK(mc.gating == ExpertGating::sigmoid);
  CHECK(!mc.gating_defaulted);
  CHECK(mc.expert_weights_scale == 2.5f);
  CHECK(mc.expert_weights_norm);
  CHECK(mc.n_vocab == 512);
  CHECK(mc.rope_scaling == RopeScaling::linear);
  CHECK(mc.rope_freq_scale == 1.0f);
  CHECK(mc.n_ctx_orig_yarn == 4096);
  REQUIRE(m.layers.size() == 4);
  CHECK(!m.layers[0].is_moe);
  CHECK(m.layers[0].ffn_gate.present());
  CHECK(m.layers[1].is_moe);
  CHECK(m.layers[1].exp_probs_b.present());
  CHECK(m.layers[1].ffn_gate_exps.ne[2] == 32);
  CHECK(m.layers[2].attn_k_b.n_dims == 3);
  CHECK(m.layers[2].attn_k_b.ne[0] == 32);
  CHECK(m.layers[2].attn_k_b.ne[1] == 64);
  CHECK(m.layers[2].attn_k_b.ne[2] == 8);
  CHECK(m.layers[2].attn_v_b.ne[0] == 64);
  CHECK(m.layers[2].attn_v_b.ne[1] == 32);
  CHECK(!m.layers[2].k_b_derived);
  CHECK(!m.layers[2].attn_kv_b.present());
  CHECK(m.layers[3].attn_output.nb1 == 256 * 4);
  CHECK(!m.output_tied);
  CHECK(m.nextn.empty());
  CHECK(m.unused.empty());
}

TEST_CASE("ik and mainline layouts give identical k_b / v_b bytes", "[model]") {
  for (const char* mix : {"f32", "q8_0", "bf16"}) {
    INFO("mix " << mix);
    const auto c = shape("tiny");
    const auto a = make_file(c, MlaLayout::mainline, mix).bytes();
    const auto b = make_file(c, MlaLayout::ik, mix).bytes();
    const gguf::Reader *ra = nullptr, *rb = nullptr;
    const Deepseek2Model ma = load_ok(a, ra), mb = load_ok(b, rb);
    CHECK(mb.config.layout == MlaLayout::ik);
    CHECK(mb.config.n_head_kv_file == 8);
    CHECK(mb.config.key_length_file == 48);
    CHECK(mb.config.d_nope == 32);
    CHECK(mb.config.d_v == 32);
    for (size_t il = 0; il < 4; ++il) {
      const auto& la = ma.layers[il];
      const auto& lb = mb.layers[il];
      CHECK(lb.attn_kv_b.present());
      CHECK(lb.attn_k_b.n_dims == 3);  // the 2-D ik tensor viewed as 3-D
      CHECK(lb.attn_k_b.ne[2] == 8);
      CHECK(lb.attn_v_b.ne[1] == 32);
      CHECK(la.attn_k_b.type == lb.attn_k_b.type);
      CHECK(tensor_bytes(la.attn_k_b) == tensor_bytes(lb.attn_k_b));
      CHECK(tensor_bytes(la.attn_v_b) == tensor_bytes(lb.attn_v_b));
    }
  }
}

TEST_CASE("a kv_b-only file derives k_b / v_b as F32 transposed slices", "[model]") {
  for (const char* mix : {"f32", "q8_0"}) {
    INFO("mix " << mix);
    const auto c = shape("tiny");
    File f = make_file(c, MlaLayout::ik, mix);
    for (uint32_t il = 0; il < 4; ++il) {
      f.remove("blk." + std::to_string(il) + ".attn_k_b.weight");
      f.remove("blk." + std::to_string(il) + ".attn_v_b.weight");
    }
    const auto bytes = f.bytes();
    const gguf::Reader* r = nullptr;
    const Deepseek2Model m = load_ok(bytes, r);
    const int64_t H = 8, N = 32, V = 32, C = 64;
    for (const auto& l : m.layers) {
      REQUIRE(l.k_b_derived);
      REQUIRE(l.v_b_derived);
      CHECK(l.attn_k_b.type == GgmlType::F32);
      CHECK(l.attn_k_b.nb1 == N * 4);
      CHECK(l.attn_v_b.nb1 == C * 4);
      // Dequantized kv_b, then the slices.
      std::vector<float> kv(static_cast<size_t>(H * (N + V) * C));
      for (int64_t i = 0; i < H * (N + V); ++i) ref::dequantize_row(l.attn_kv_b.type, l.attn_kv_b.row(i), &kv[i * C], C);
      const float* kb = reinterpret_cast<const float*>(l.attn_k_b.data);
      const float* vb = reinterpret_cast<const float*>(l.attn_v_b.data);
      bool k_ok = true, v_ok = true;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t cc = 0; cc < C; ++cc)
          for (int64_t n = 0; n < N; ++n)
            k_ok &= std::memcmp(&kb[(h * C + cc) * N + n], &kv[(h * (N + V) + n) * C + cc], 4) == 0;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t j = 0; j < V; ++j)
          for (int64_t cc = 0; cc < C; ++cc)
            v_ok &= std::memcmp(&vb[(h * V + j) * C + cc], &kv[(h * (N + V) + N + j) * C + cc], 4) == 0;
      CHECK(k_ok);
      CHECK(v_ok);
    }
    if (std::string(mix) == "f32") {
      // Same floats as the mainline f32 file's k_b / v_b (one kv_b matrix per seed).
      const auto a = make_file(c, MlaLayout::mainline, "f32").bytes();
      const gguf::Reader* ra = nullptr;
      const Deepseek2Model ma = load_ok(a, ra);
      for (size_t il = 0; il < 4; ++il) {
        CHECK(tensor_bytes(ma.layers[il].attn_k_b) == tensor_bytes(m.layers[il].attn_k_b));
        CHECK(tensor_bytes(ma.layers[il].attn_v_b) == tensor_bytes(m.layers[il].attn_v_b));
      }
    }
  }
}

TEST_CASE("tiny-lite and tiny-384 shapes load", "[model]") {
  {
    const auto bytes = make_file(shape("tiny-lite"), MlaLayout::mainline, "q8_0").bytes();
    const gguf::Reader* r = nullptr;
    const Deepseek2Model m = load_ok(bytes, r);
    CHECK(m.config.is_lite);
    CHECK(m.config.q_lora == 0);
    CHECK(m.config.gating == ExpertGating::softmax);
    CHECK(m.layers[0].attn_q.present());
    CHECK(!m.layers[0].attn_q_a.present());
    CHECK(!m.layers[1].exp_probs_b.present());
    CHECK(m.layers[1].ffn_gate_shexp.ne[1] == 512);
  }
  {
    auto c = shape("tiny-384");
    REQUIRE(cut_layers(c, 2).ok());
    const auto bytes = make_file(c, MlaLayout::ik, "q8_0").bytes();
    const gguf::Reader* r = nullptr;
    const Deepseek2Model m = load_ok(bytes, r);
    CHECK(m.layers.size() == 2);
    CHECK(m.config.n_expert == 384);
    CHECK(m.config.n_expert_groups == 8);
    CHECK(m.config.n_group_used == 4);
    CHECK(m.config.rope_scaling == RopeScaling::yarn);
    CHECK(m.config.rope_scaling_factor == 40.0f);
    CHECK(m.config.rope_freq_scale == 1.0f / 40.0f);
    CHECK(m.config.n_ctx_orig_yarn == 256);
    CHECK(m.config.yarn_log_mul == 0.1f);
    CHECK(m.config.yarn_beta_fast == 32.0f);
    CHECK(m.layers[1].ffn_gate_exps.type == GgmlType::Q8_0);
    CHECK(m.layers[1].ffn_gate_inp.type == GgmlType::F32);
  }
  {
    auto c = shape("tiny");
    REQUIRE(cut_layers(c, 2).ok());
    const auto bytes = make_file(c, MlaLayout::ik, "2bit").bytes();
    const gguf::Reader* r = nullptr;
    const Deepseek2Model m = load_ok(bytes, r);
    CHECK(m.layers[1].ffn_gate_exps.type == GgmlType::IQ2_XXS);
    CHECK(m.layers[1].ffn_down_exps.type == GgmlType::Q2_K);
    CHECK(m.layers[1].attn_q_b.type == GgmlType::Q8_0);
    CHECK(m.layers[1].ffn_gate_inp.type == GgmlType::F32);
  }
}

TEST_CASE("MTP blocks load and are kept by name", "[model]") {
  auto c = shape("tiny");
  File f = make_file(c, MlaLayout::mainline, "f32");
  // block_count 5 with nextn_predict_layers 1: blk.4 is an MTP block (a layer's tensors + nextn.*).
  f.md.set("deepseek2.block_count", gguf::Value::scalar(uint32_t{5}));
  f.md.set("deepseek2.nextn_predict_layers", gguf::Value::scalar(uint32_t{1}));
  std::vector<Item> extra;
  for (const auto& it : f.items)
    if (it.name.rfind("blk.3.", 0) == 0) {
      Item x = it;
      x.name = "blk.4." + it.name.substr(6);
      extra.push_back(std::move(x));
    }
  extra.push_back(Item{"blk.4.nextn.eh_proj.weight", GgmlType::F32, {512, 256}, std::vector<uint8_t>(512 * 256 * 4)});
  extra.push_back(Item{"blk.4.nextn.enorm.weight", GgmlType::F32, {256}, std::vector<uint8_t>(256 * 4)});
  for (auto& x : extra) f.items.push_back(std::move(x));
  const auto bytes = f.bytes();
  const gguf::Reader* r = nullptr;
  const Deepseek2Model m = load_ok(bytes, r);
  CHECK(m.config.n_block == 5);
  CHECK(m.config.n_layer == 4);
  CHECK(m.layers.size() == 4);
  CHECK(m.nextn.count("blk.4.nextn.eh_proj.weight") == 1);
  CHECK(m.nextn.count("blk.4.attn_q_b.weight") == 1);
  CHECK(m.unused.empty());
}

TEST_CASE("split sets load", "[model]") {
  TempDir dir;
  const File f = make_file(shape("tiny"), MlaLayout::ik, "q8_0");
  const gguf::Writer w = f.writer();
  auto parts = w.write_split(dir.file("m"), 3);
  REQUIRE(parts.ok());
  auto r = gguf::Reader::open((*parts)[1]);
  REQUIRE(r.ok());
  auto m = load_deepseek2(*r);
  if (!m) FAIL(m.error().message());
  CHECK(m->layers.size() == 4);
  CHECK(r->parts().size() == 3);
}

TEST_CASE("tied output and vocab from the token list", "[model]") {
  File f = make_file(shape("tiny"), MlaLayout::mainline, "f32");
  f.remove("output.weight");
  f.md.erase("deepseek2.vocab_size");
  std::vector<std::string> toks;
  for (int i = 0; i < 512; ++i) toks.push_back("t" + std::to_string(i));
  f.md.set("tokenizer.ggml.tokens", gguf::Value::string_array(toks));
  const auto bytes = f.bytes();
  const gguf::Reader* r = nullptr;
  const Deepseek2Model m = load_ok(bytes, r);
  CHECK(m.output_tied);
  CHECK(m.output.data == m.token_embd.data);
  CHECK(m.config.n_vocab == 512);
}

TEST_CASE("defaults: gating rule, scale, rope", "[model]") {
  File f = make_file(shape("tiny"), MlaLayout::mainline, "f32");
  f.md.erase("deepseek2.expert_gating_func");
  f.md.erase("deepseek2.expert_weights_scale");
  f.md.erase("deepseek2.expert_weights_norm");
  f.md.erase("deepseek2.rope.freq_base");
  const auto bytes = f.bytes();
  const gguf::Reader* r = nullptr;
  const Deepseek2Model m = load_ok(bytes, r);
  CHECK(m.config.gating == ExpertGating::softmax);
  CHECK(m.config.gating_defaulted);
  CHECK(m.config.expert_weights_scale == 1.0f);
  CHECK(!m.config.expert_weights_norm);
  CHECK(m.config.rope_freq_base == 10000.0f);
}

TEST_CASE("validation errors name the key or tensor", "[model]") {
  const auto c = shape("tiny");
  static const File base_f32 = make_file(c, MlaLayout::mainline, "f32");
  auto base = [&] { return base_f32; };
  auto base_ik = [&] { return make_file(c, MlaLayout::ik, "q8_0"); };

  SECTION("architecture") {
    File f = base();
    f.md.set("general.architecture", gguf::Value::string("llama"));
    CHECK_HAS(load_error(f), "t.gguf: key 'general.architecture' is 'llama', expected 'deepseek2'");
  }
  SECTION("missing key") {
    File f = base();
    f.md.erase("deepseek2.attention.kv_lora_rank");
    CHECK_HAS(load_error(f), "key 'deepseek2.attention.kv_lora_rank' not found");
  }
  SECTION("key of the wrong type") {
    File f = base();
    f.md.set("deepseek2.block_count", gguf::Value::string("4"));
    CHECK_HAS(load_error(f), "key 'deepseek2.block_count' has type STRING");
  }
  SECTION("head_count_kv neither 1 nor head_count") {
    File f = base();
    f.md.set("deepseek2.attention.head_count_kv", gguf::Value::scalar(uint32_t{2}));
    CHECK_HAS(load_error(f), "key 'deepseek2.attention.head_count_kv' is 2, expected 1 (mainline MLA layout) or head_count 8");
  }
  SECTION("mainline without *_mla keys") {
    File f = base();
    f.md.erase("deepseek2.attention.key_length_mla");
    f.md.erase("deepseek2.attention.value_length_mla");
    CHECK_HAS(load_error(f), "key 'deepseek2.attention.key_length_mla' not found");
  }
  SECTION("only one *_mla key") {
    File f = base();
    f.md.erase("deepseek2.attention.value_length_mla");
    CHECK_HAS(load_error(f), "'deepseek2.attention.value_length_mla' not found (the *_mla keys come in pairs)");
  }
  SECTION("mainline key_length inconsistent") {
    File f = base();
    f.md.set("deepseek2.attention.key_length", gguf::Value::scalar(uint32_t{48}));
    CHECK_HAS(load_error(f), "key 'deepseek2.attention.key_length' is 48, expected kv_lora_rank + rope = 80");
  }
  SECTION("mainline value_length inconsistent") {
    File f = base();
    f.md.set("deepseek2.attention.value_length", gguf::Value::scalar(uint32_t{32}));
    CHECK_HAS(load_error(f), "key 'deepseek2.attention.value_length' is 32, expected kv_lora_rank = 64");
  }
  SECTION("expert_used_count > expert_count") {
    File f = base();
    f.md.set("deepseek2.expert_used_count", gguf::Value::scalar(uint32_t{33}));
    CHECK_HAS(load_error(f), "key 'deepseek2.expert_used_count' is 33, must be 1..32");
  }
  SECTION("unsupported gating function") {
    File f = base();
    f.md.set("deepseek2.expert_gating_func", gguf::Value::scalar(uint32_t{4}));
    CHECK_HAS(load_error(f), "key 'deepseek2.expert_gating_func' is 4: supported are 1 (softmax) and 2 (sigmoid)");
  }
  SECTION("unsupported rope scaling") {
    File f = base();
    f.md.set("deepseek2.rope.scaling.type", gguf::Value::string("longrope"));
    CHECK_HAS(load_error(f), "key 'deepseek2.rope.scaling.type' is 'longrope'");
  }
  SECTION("odd rope dimension") {
    File f = base();
    f.md.set("deepseek2.rope.dimension_count", gguf::Value::scalar(uint32_t{15}));
    CHECK_HAS(load_error(f), "key 'deepseek2.rope.dimension_count' is 15, must be positive and even");
  }
  SECTION("expert groups inconsistent") {
    File f = base();
    f.md.set("deepseek2.expert_group_count", gguf::Value::scalar(uint32_t{5}));
    CHECK_HAS(load_error(f), "expert_count is not a multiple of expert_group_count");
  }
  SECTION("token list and vocab_size disagree") {
    File f = base();
    f.md.set("tokenizer.ggml.tokens", gguf::Value::string_array({"a", "b"}));
    CHECK_HAS(load_error(f), "key 'tokenizer.ggml.tokens' has 2 entries, but deepseek2.vocab_size is 512");
  }
  SECTION("nextn_predict_layers too large") {
    File f = base();
    f.md.set("deepseek2.nextn_predict_layers", gguf::Value::scalar(uint32_t{4}));
    CHECK_HAS(load_error(f), "key 'deepseek2.nextn_predict_layers' is 4, must be less than block_count 4");
  }
  SECTION("missing tensor") {
    File f = base();
    f.remove("blk.2.ffn_down_exps.weight");
    CHECK_HAS(load_error(f), "t.gguf: tensor 'blk.2.ffn_down_exps.weight' not found (expected 256 x 256 x 32)");
  }
  SECTION("shape mismatch") {
    File f = base_ik();
    f.reshape("blk.3.attn_kv_b.weight", {64, 256}, GgmlType::Q8_0);
    CHECK_HAS(load_error(f), "t.gguf: tensor 'blk.3.attn_kv_b.weight': expected 64 x 512, file has 64 x 256");
  }
  SECTION("k_b of the wrong shape") {
    File f = base();
    f.reshape("blk.1.attn_k_b.weight", {32, 64, 4}, GgmlType::F32);
    CHECK_HAS(load_error(f), "tensor 'blk.1.attn_k_b.weight': expected 32 x 64 x 8 (or 32 x 512, ik's 2-D form), file has 32 x 64 x 4");
  }
  SECTION("unsupported type") {
    File f = base();
    f.reshape("blk.0.attn_output.weight", {256, 256}, GgmlType::Q4_0);
    CHECK_HAS(load_error(f), "tensor 'blk.0.attn_output.weight': type Q4_0 is not supported");
  }
  SECTION("norm not F32") {
    File f = base();
    f.reshape("blk.1.ffn_norm.weight", {256}, GgmlType::F16);
    CHECK_HAS(load_error(f), "tensor 'blk.1.ffn_norm.weight': type F16, expected F32 (norms and biases)");
  }
  SECTION("bias not F32") {
    File f = base();
    f.reshape("blk.1.exp_probs_b.bias", {32}, GgmlType::BF16);
    CHECK_HAS(load_error(f), "tensor 'blk.1.exp_probs_b.bias': type BF16, expected F32");
  }
  SECTION("row not a multiple of the dot block") {
    auto c2 = c;
    c2.q_lora = 80;
    REQUIRE(finish_config(c2).ok());
    File f = make_file(c2, MlaLayout::mainline, "f32");
    CHECK_HAS(load_error(f), "tensor 'blk.0.attn_q_b.weight': row length 80 is not a multiple of 32 (the dot-product block for F32)");
  }
  SECTION("q-LoRA tensors without q_lora_rank") {
    File f = base();
    f.md.erase("deepseek2.attention.q_lora_rank");
    CHECK_HAS(load_error(f), "tensor 'blk.0.attn_q_a.weight': present, but the file has no attention.q_lora_rank");
  }
  SECTION("k_b without v_b") {
    File f = base();
    f.remove("blk.2.attn_v_b.weight");
    CHECK_HAS(load_error(f), "tensor 'blk.2.attn_v_b.weight': not found (attn_k_b and attn_v_b come in pairs)");
  }
  SECTION("no up-projection at all") {
    File f = base();
    f.remove("blk.2.attn_v_b.weight");
    f.remove("blk.2.attn_k_b.weight");
    CHECK_HAS(load_error(f), "layer 2: no attention up-projection: neither attn_k_b/attn_v_b nor attn_kv_b is present");
  }
  SECTION("dense layer with a router") {
    File f = base();
    f.md.set("deepseek2.leading_dense_block_count", gguf::Value::scalar(uint32_t{2}));
    CHECK_HAS(load_error(f), "tensor 'blk.1.ffn_gate_inp.weight': present, but the layer is dense");
  }
  SECTION("missing token_embd") {
    File f = base();
    f.remove("token_embd.weight");
    CHECK_HAS(load_error(f), "tensor 'token_embd.weight' not found");
  }
}
