// dsk-mkmodel and dsk-convert, run as programs: outputs load with load_deepseek2 and hold what
// was asked (types, shapes, values).
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "dsk/core/half.hpp"
#include "model/safetensors.hpp"
#include "model_test_util.hpp"

using namespace dsk;
using namespace dsk::model;
using namespace dsk::model::test;

namespace {

struct Run {
  int code = -1;
  std::string out;  // stdout + stderr
};

Run run(const std::string& cmd) {
  Run r;
  std::FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Loaded {
  std::unique_ptr<gguf::Reader> reader;
  Deepseek2Model model;
};

Loaded load(const std::string& path) {
  auto r = gguf::Reader::open(path);
  if (!r) FAIL(r.error().message());
  Loaded l{std::make_unique<gguf::Reader>(std::move(r).value()), {}};
  auto m = load_deepseek2(*l.reader);
  if (!m) FAIL(m.error().message());
  l.model = std::move(m).value();
  return l;
}

std::string mk(const std::string& args) { return std::string(DSK_MKMODEL) + " " + args; }

// --- a hand-made safetensors checkpoint ---------------------------------------------------------------

struct StEntry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

void write_safetensors(const std::string& path, const std::vector<StEntry>& es) {
  nlohmann::json h = nlohmann::json::object();
  uint64_t off = 0;
  for (const auto& e : es) {
    h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {off, off + e.bytes.size()}}};
    off += e.bytes.size();
  }
  h["__metadata__"] = {{"format", "pt"}};
  std::string hs = h.dump();
  while (hs.size() % 8) hs += ' ';
  std::ofstream o(path, std::ios::binary);
  const uint64_t n = hs.size();
  o.write(reinterpret_cast<const char*>(&n), 8);
  o.write(hs.data(), static_cast<std::streamsize>(hs.size()));
  for (const auto& e : es) o.write(reinterpret_cast<const char*>(e.bytes.data()), static_cast<std::streamsize>(e.bytes.size()));
}

uint64_t rng_state = 12345;
uint64_t next_u64() {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// FP8 weight (random non-NaN bytes) with F32 block scales of 128 x 128.
void add_fp8(std::vector<StEntry>& es, const std::string& name, int64_t M, int64_t K) {
  StEntry w{name, "F8_E4M3", {M, K}, std::vector<uint8_t>(static_cast<size_t>(M * K))};
  for (auto& b : w.bytes) {
    do b = static_cast<uint8_t>(next_u64()); while ((b & 0x7f) == 0x7f);
  }
  const int64_t sr = (M + 127) / 128, sc = (K + 127) / 128;
  StEntry s{name.substr(0, name.size() - 7) + ".weight_scale_inv", "F32", {sr, sc}, std::vector<uint8_t>(static_cast<size_t>(sr * sc * 4))};
  for (int64_t i = 0; i < sr * sc; ++i) {
    const float v = 0.001f * static_cast<float>(1 + next_u64() % 1000);
    std::memcpy(&s.bytes[static_cast<size_t>(i * 4)], &v, 4);
  }
  es.push_back(std::move(w));
  es.push_back(std::move(s));
}
void add_bf16(std::vector<StEntry>& es, const std::string& name, std::vector<int64_t> shape, float mean) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  StEntry e{name, "BF16", shape, std::vector<uint8_t>(static_cast<size_t>(n * 2))};
  for (int64_t i = 0; i < n; ++i) {
    const float v = mean + 0.01f * static_cast<float>(static_cast<int>(next_u64() % 201) - 100);
    const uint16_t b = f32_to_bf16_bits(v);
    std::memcpy(&e.bytes[static_cast<size_t>(i * 2)], &b, 2);
  }
  es.push_back(std::move(e));
}

// Reference value of an HF element (any dtype this test writes).
float hf_value(const st::Checkpoint& ck, const std::string& name, int64_t r, int64_t c) {
  const st::Tensor* t = ck.find(name);
  REQUIRE(t != nullptr);
  std::vector<float> row(static_cast<size_t>(t->cols()));
  const st::Tensor* s = nullptr;
  if (t->dtype == st::Dtype::F8_E4M3) s = ck.find(name.substr(0, name.size() - 7) + ".weight_scale_inv");
  REQUIRE(st::read_rows_f32(*t, r, 1, row.data(), s).ok());
  return row[static_cast<size_t>(c)];
}

float gguf_value(const TensorRef& t, int64_t row, int64_t col) {
  std::vector<float> v(static_cast<size_t>(t.ne[0]));
  ref::dequantize_row(t.type, t.row(row), v.data(), t.ne[0]);
  return v[static_cast<size_t>(col)];
}

}  // namespace

TEST_CASE("dsk-mkmodel --help lists shapes and mixes", "[tools]") {
  const Run r = run(mk("--help"));
  CHECK(r.code == 0);
  for (const char* s : {"tiny", "tiny-lite", "tiny-384", "v2-lite", "v3", "f32", "bf16", "q8_0", "q4_k", "2bit",
                        "IQ2_XXS", "random valid blocks"})
    CHECK_HAS(r.out, s);
  const Run bad = run(mk("--shape nope -o /dev/null"));
  CHECK(bad.code == 1);
  CHECK_HAS(bad.out, "dsk-mkmodel: unknown shape 'nope'");
  const Run bad2 = run(mk("--shape tiny -o /dev/null --mix q5"));
  CHECK(bad2.code == 1);
  CHECK_HAS(bad2.out, "unknown mix 'q5'");
}

TEST_CASE("dsk-mkmodel tiny in every mix and both layouts", "[tools]") {
  TempDir dir;
  for (const char* mix : {"f32", "bf16", "q8_0", "q4_k", "q6_k", "2bit"}) {
    for (const char* layout : {"mainline", "ik"}) {
      INFO(mix << " " << layout);
      const std::string out = dir.file(std::string("t-") + mix + "-" + layout + ".gguf");
      const Run r = run(mk("--shape tiny --mix " + std::string(mix) + " --layout " + layout + " -o " + out));
      INFO(r.out);
      REQUIRE(r.code == 0);
      const Loaded l = load(out);
      const auto& m = l.model;
      CHECK(m.config.layout == (std::string(layout) == "ik" ? MlaLayout::ik : MlaLayout::mainline));
      CHECK(m.layers.size() == 4);
      CHECK(m.layers[1].ffn_norm.type == GgmlType::F32);
      CHECK(m.layers[1].ffn_gate_inp.type == GgmlType::F32);
      CHECK(m.layers[1].exp_probs_b.type == GgmlType::F32);
      const std::string mx = mix;
      const GgmlType gate = m.layers[1].ffn_gate_exps.type, down = m.layers[1].ffn_down_exps.type,
                     qb = m.layers[1].attn_q_b.type, kb = m.layers[1].attn_k_b.type;
      if (mx == "f32") CHECK((gate == GgmlType::F32 && qb == GgmlType::F32 && kb == GgmlType::F32));
      if (mx == "bf16") CHECK((gate == GgmlType::BF16 && qb == GgmlType::BF16));
      if (mx == "q8_0") CHECK((gate == GgmlType::Q8_0 && kb == GgmlType::Q8_0));
      if (mx == "q4_k") {
        CHECK(gate == GgmlType::Q4_K);
        CHECK(qb == GgmlType::Q8_0);  // row 96: too short for K-quants
        CHECK_HAS(r.out, "blk.1.attn_q_b.weight: Q8_0 (row 96; the mix asks Q4_K)");
      }
      if (mx == "q6_k") CHECK(gate == GgmlType::Q6_K);
      if (mx == "2bit") {
        CHECK(gate == GgmlType::IQ2_XXS);
        CHECK(m.layers[1].ffn_up_exps.type == GgmlType::IQ2_XXS);
        CHECK(down == GgmlType::Q2_K);
        CHECK(qb == GgmlType::Q8_0);
        CHECK(m.token_embd.type == GgmlType::Q8_0);
      }
      if (std::string(layout) == "ik") CHECK(m.layers[0].attn_kv_b.present());
    }
  }
  // The two layouts of one seed and mix hold the same k_b / v_b bytes.
  {
    const Loaded a = load(dir.file("t-q8_0-mainline.gguf"));
    const Loaded b = load(dir.file("t-q8_0-ik.gguf"));
    CHECK(tensor_bytes(a.model.layers[2].attn_k_b) == tensor_bytes(b.model.layers[2].attn_k_b));
    CHECK(tensor_bytes(a.model.layers[2].attn_v_b) == tensor_bytes(b.model.layers[2].attn_v_b));
  }
}

TEST_CASE("dsk-mkmodel is deterministic; seeds differ", "[tools]") {
  TempDir dir;
  REQUIRE(run(mk("--shape tiny --mix q4_k --seed 3 -o " + dir.file("a.gguf"))).code == 0);
  REQUIRE(run(mk("--shape tiny --mix q4_k --seed 3 -o " + dir.file("b.gguf"))).code == 0);
  REQUIRE(run(mk("--shape tiny --mix q4_k --seed 4 -o " + dir.file("c.gguf"))).code == 0);
  CHECK(slurp(dir.file("a.gguf")) == slurp(dir.file("b.gguf")));
  CHECK(slurp(dir.file("a.gguf")) != slurp(dir.file("c.gguf")));
}

TEST_CASE("dsk-mkmodel other shapes", "[tools]") {
  TempDir dir;
  {
    const Run r = run(mk("--shape tiny-lite --mix q8_0 -o " + dir.file("l.gguf")));
    INFO(r.out);
    REQUIRE(r.code == 0);
    const Loaded l = load(dir.file("l.gguf"));
    CHECK(l.model.config.is_lite);
    CHECK(l.model.config.n_expert_shared == 2);
    CHECK(l.model.config.gating == ExpertGating::softmax);
  }
  {
    const Run r = run(mk("--shape tiny-384 --layers 2 --mix 2bit --layout ik -o " + dir.file("k.gguf")));
    INFO(r.out);
    REQUIRE(r.code == 0);
    const Loaded l = load(dir.file("k.gguf"));
    CHECK(l.model.layers.size() == 2);
    CHECK(l.model.config.n_expert == 384);
    CHECK(l.model.config.n_expert_used == 8);
    CHECK(l.model.config.n_expert_groups == 8);
    CHECK(l.model.config.rope_scaling == RopeScaling::yarn);
  }
  {
    const Run r = run(mk("--shape v2-lite --layers 1 --vocab 1024 --mix q4_k -o " + dir.file("v.gguf")));
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK_HAS(r.out, "blk.0.ffn_down.weight: Q8_0 (row 10944; the mix asks Q4_K)");
    const Loaded l = load(dir.file("v.gguf"));
    CHECK(l.model.config.n_embd == 2048);
    CHECK(l.model.config.d_nope == 128);
    CHECK(l.model.config.kv_lora == 512);
    CHECK(l.model.config.n_vocab == 1024);
    CHECK(l.model.config.is_lite);
    CHECK(l.model.layers[0].ffn_gate.type == GgmlType::Q4_K);
  }
  {
    auto v3 = synth_shape("v3");
    REQUIRE(v3.ok());
    CHECK(v3->n_layer == 61);
    CHECK(v3->d_qk == 192);
    CHECK(v3->n_expert == 256);
  }
}

TEST_CASE("dsk-convert: a hand-made FP8 checkpoint (sharded) dequantizes exactly", "[tools]") {
  TempDir dir;
  const std::string hf = dir.file("hf");
  std::filesystem::create_directories(hf);
  // 2 layers (1 dense), 4 heads, q_lora 64, kv_lora 64, nope 32, rope 16, v 32, 4 experts top 2 (n_ff_exp 128).
  const nlohmann::json cfg = {
      {"model_type", "deepseek_v3"}, {"num_hidden_layers", 2}, {"hidden_size", 256}, {"intermediate_size", 384},
      {"moe_intermediate_size", 128}, {"num_attention_heads", 4}, {"q_lora_rank", 64}, {"kv_lora_rank", 64},
      {"qk_nope_head_dim", 32}, {"qk_rope_head_dim", 16}, {"v_head_dim", 32}, {"vocab_size", 320},
      {"n_routed_experts", 4}, {"num_experts_per_tok", 2}, {"n_shared_experts", 1}, {"first_k_dense_replace", 1},
      {"moe_layer_freq", 1}, {"routed_scaling_factor", 2.5}, {"norm_topk_prob", true}, {"scoring_func", "sigmoid"},
      {"n_group", 2}, {"topk_group", 1}, {"rms_norm_eps", 1e-6}, {"max_position_embeddings", 2048},
      {"num_nextn_predict_layers", 1}, {"rope_theta", 10000.0},
      {"rope_scaling", {{"type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 512},
                        {"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 1.0}, {"mscale_all_dim", 0.707}}},
      {"quantization_config", {{"quant_method", "fp8"}, {"weight_block_size", {128, 128}}}}};
  std::ofstream(hf + "/config.json") << cfg.dump(1);
  std::vector<StEntry> a, b;
  add_bf16(a, "model.embed_tokens.weight", {320, 256}, 0.0f);
  add_bf16(b, "model.norm.weight", {256}, 1.0f);
  add_bf16(b, "lm_head.weight", {320, 256}, 0.0f);
  for (int il = 0; il < 3; ++il) {  // layer 2 is the MTP layer (not converted)
    auto& es = il == 0 ? a : b;
    const std::string p = "model.layers." + std::to_string(il) + ".";
    add_bf16(es, p + "input_layernorm.weight", {256}, 1.0f);
    add_bf16(es, p + "post_attention_layernorm.weight", {256}, 1.0f);
    add_fp8(es, p + "self_attn.q_a_proj.weight", 64, 256);
    add_bf16(es, p + "self_attn.q_a_layernorm.weight", {64}, 1.0f);
    add_fp8(es, p + "self_attn.q_b_proj.weight", 4 * 48, 64);
    add_fp8(es, p + "self_attn.kv_a_proj_with_mqa.weight", 80, 256);
    add_bf16(es, p + "self_attn.kv_a_layernorm.weight", {64}, 1.0f);
    add_fp8(es, p + "self_attn.kv_b_proj.weight", 4 * 64, 64);
    add_fp8(es, p + "self_attn.o_proj.weight", 256, 4 * 32);
    if (il == 0) {
      add_fp8(es, p + "mlp.gate_proj.weight", 384, 256);
      add_fp8(es, p + "mlp.up_proj.weight", 384, 256);
      add_fp8(es, p + "mlp.down_proj.weight", 256, 384);
    } else {
      add_bf16(es, p + "mlp.gate.weight", {4, 256}, 0.0f);
      add_bf16(es, p + "mlp.gate.e_score_correction_bias", {4}, 0.0f);
      for (int e = 0; e < 4; ++e) {
        const std::string q = p + "mlp.experts." + std::to_string(e) + ".";
        add_fp8(es, q + "gate_proj.weight", 128, 256);
        add_fp8(es, q + "up_proj.weight", 128, 256);
        add_fp8(es, q + "down_proj.weight", 256, 128);
      }
      add_fp8(es, p + "mlp.shared_experts.gate_proj.weight", 128, 256);
      add_fp8(es, p + "mlp.shared_experts.up_proj.weight", 128, 256);
      add_fp8(es, p + "mlp.shared_experts.down_proj.weight", 256, 128);
    }
  }
  write_safetensors(hf + "/model-00001-of-00002.safetensors", a);
  write_safetensors(hf + "/model-00002-of-00002.safetensors", b);
  nlohmann::json idx = {{"weight_map", nlohmann::json::object()}};
  for (const auto& e : a) idx["weight_map"][e.name] = "model-00001-of-00002.safetensors";
  for (const auto& e : b) idx["weight_map"][e.name] = "model-00002-of-00002.safetensors";
  std::ofstream(hf + "/model.safetensors.index.json") << idx.dump();

  const std::string out = dir.file("o.gguf");
  const Run r = run(std::string(DSK_CONVERT) + " " + hf + " " + out + " --type f32");
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK_HAS(r.out, "from F8_E4M3 with block scales");
  CHECK_HAS(r.out, "MTP layers");
  const Loaded l = load(out);
  const auto& m = l.model;
  const auto& c = m.config;
  CHECK(c.layout == MlaLayout::mainline);
  CHECK(c.n_layer == 2);
  CHECK(c.n_expert_groups == 2);
  CHECK(c.n_group_used == 1);
  CHECK(c.gating == ExpertGating::sigmoid);
  CHECK(c.expert_weights_scale == 2.5f);
  CHECK(c.expert_weights_norm);
  CHECK(c.rope_scaling == RopeScaling::yarn);
  CHECK(c.rope_scaling_factor == 4.0f);
  CHECK(c.n_ctx_orig_yarn == 512);
  CHECK(c.yarn_log_mul == static_cast<float>(0.1 * 0.707));
  CHECK(m.layers[1].exp_probs_b.present());
  CHECK(m.layers[0].attn_q_b.type == GgmlType::F32);
  CHECK(m.layers[1].ffn_norm.type == GgmlType::F32);
  st::Checkpoint ck = std::move(st::Checkpoint::open(hf).value());
  // Exact values: F32 output of fp8 * scale.
  bool all = true;
  for (int64_t rr = 0; rr < 192; rr += 7)
    for (int64_t cc = 0; cc < 64; cc += 5)
      all &= gguf_value(m.layers[1].attn_q_b, rr, cc) == hf_value(ck, "model.layers.1.self_attn.q_b_proj.weight", rr, cc);
  CHECK(all);
  // k_b: row h*C + c, column n = kv_b[h*(N+V) + n][c]; v_b: row h*V + j = kv_b[h*(N+V) + N + j].
  all = true;
  for (int64_t h = 0; h < 4; ++h)
    for (int64_t cc = 0; cc < 64; cc += 3)
      for (int64_t n = 0; n < 32; n += 5) {
        all &= gguf_value(m.layers[0].attn_k_b, h * 64 + cc, n) ==
               hf_value(ck, "model.layers.0.self_attn.kv_b_proj.weight", h * 64 + n, cc);
        all &= gguf_value(m.layers[0].attn_v_b, h * 32 + n, cc) ==
               hf_value(ck, "model.layers.0.self_attn.kv_b_proj.weight", h * 64 + 32 + n, cc);
      }
  CHECK(all);
  // Experts stacked: matrix e of ffn_down_exps = expert e's down_proj.
  all = true;
  for (int64_t e = 0; e < 4; ++e)
    for (int64_t rr = 0; rr < 256; rr += 11)
      all &= gguf_value(m.layers[1].ffn_down_exps, e * 256 + rr, 77) ==
             hf_value(ck, "model.layers.1.mlp.experts." + std::to_string(e) + ".down_proj.weight", rr, 77);
  CHECK(all);
  CHECK(gguf_value(m.token_embd, 5, 9) == hf_value(ck, "model.embed_tokens.weight", 5, 9));

  // q4_k: K-quant rows where possible, the rest Q8_0, reported.
  const Run r2 = run(std::string(DSK_CONVERT) + " " + hf + " " + dir.file("q.gguf") + " --type q4_k");
  INFO(r2.out);
  REQUIRE(r2.code == 0);
  CHECK_HAS(r2.out, "blk.0.attn_q_b.weight: Q8_0 (row 64; asked Q4_K)");
  const Loaded lq = load(dir.file("q.gguf"));
  CHECK(lq.model.layers[0].attn_q_a.type == GgmlType::Q4_K);
  CHECK(lq.model.layers[0].attn_k_b.type == GgmlType::Q8_0);

  // Errors: one line, exit 1.
  const Run e1 = run(std::string(DSK_CONVERT) + " " + dir.file("missing") + " " + dir.file("x.gguf"));
  CHECK(e1.code == 1);
  CHECK_HAS(e1.out, "dsk-convert: ");
  std::filesystem::remove(hf + "/model-00002-of-00002.safetensors");
  const Run e2 = run(std::string(DSK_CONVERT) + " " + hf + " " + dir.file("x.gguf"));
  CHECK(e2.code == 1);
  CHECK_HAS(e2.out, "model-00002-of-00002.safetensors: cannot open");
}

#ifdef DSK_HF_DSV3_TINY
TEST_CASE("dsk-convert: the HF oracle dsv3-tiny in bf16", "[tools]") {
  TempDir dir;
  const std::string hf = dir.file("hf");
  std::filesystem::create_directories(hf);
  std::filesystem::copy_file(std::string(DSK_HF_DSV3_TINY) + "/config.json", hf + "/config.json");
  REQUIRE(std::system((std::string(DSK_XZ) + " -dkc " + DSK_HF_DSV3_TINY + "/model.safetensors.xz > " + hf +
                       "/model.safetensors").c_str()) == 0);
  const std::string out = dir.file("o.gguf");
  const Run r = run(std::string(DSK_CONVERT) + " " + hf + " " + out + " --type bf16");
  INFO(r.out);
  REQUIRE(r.code == 0);
  const Loaded l = load(out);
  const auto& m = l.model;
  const auto& c = m.config;
  CHECK(c.n_layer == 4);
  CHECK(c.n_embd == 256);
  CHECK(c.n_head == 8);
  CHECK(c.q_lora == 96);
  CHECK(c.kv_lora == 64);
  CHECK(c.d_nope == 32);
  CHECK(c.d_rope == 16);
  CHECK(c.d_v == 32);
  CHECK(c.n_expert == 32);
  CHECK(c.n_expert_used == 6);
  CHECK(c.n_expert_groups == 4);
  CHECK(c.n_group_used == 2);
  CHECK(c.n_ff_exp == 64);
  CHECK(c.gating == ExpertGating::sigmoid);
  CHECK(c.expert_weights_scale == 2.5f);
  CHECK(c.rope_scaling == RopeScaling::yarn);
  CHECK(c.rope_scaling_factor == 4.0f);
  CHECK(c.n_ctx_orig_yarn == 256);
  CHECK(c.yarn_log_mul == 0.1f);
  CHECK(c.n_vocab == 512);
  CHECK(m.token_embd.type == GgmlType::BF16);
  CHECK(m.layers[1].ffn_gate_exps.type == GgmlType::BF16);
  CHECK(m.layers[1].ffn_gate_exps.ne[0] == 256);
  CHECK(m.layers[1].ffn_gate_exps.ne[1] == 64);
  CHECK(m.layers[1].ffn_gate_exps.ne[2] == 32);
  CHECK(m.layers[1].ffn_down_exps.ne[0] == 64);
  CHECK(m.layers[2].attn_k_b.ne[0] == 32);
  CHECK(m.layers[2].attn_k_b.ne[1] == 64);
  CHECK(m.layers[2].attn_k_b.ne[2] == 8);
  CHECK(m.layers[3].exp_probs_b.type == GgmlType::F32);
  CHECK(m.layers[3].attn_norm.type == GgmlType::F32);
  CHECK(!m.output_tied);
  st::Checkpoint ck = std::move(st::Checkpoint::open(hf).value());
  // bf16 -> bf16 is exact: token_embd bytes equal the checkpoint's.
  const st::Tensor* emb = ck.find("model.embed_tokens.weight");
  REQUIRE(emb != nullptr);
  CHECK(std::memcmp(emb->data, m.token_embd.data, emb->n_bytes) == 0);
  CHECK(gguf_value(m.layers[2].attn_k_b, 3 * 64 + 10, 7) ==
        hf_value(ck, "model.layers.2.self_attn.kv_b_proj.weight", 3 * 64 + 7, 10));
  CHECK(gguf_value(m.layers[2].attn_v_b, 5 * 32 + 4, 60) ==
        hf_value(ck, "model.layers.2.self_attn.kv_b_proj.weight", 5 * 64 + 32 + 4, 60));
  CHECK(gguf_value(m.layers[1].ffn_up_exps, 17 * 64 + 3, 200) ==
        hf_value(ck, "model.layers.1.mlp.experts.17.up_proj.weight", 3, 200));
  CHECK(gguf_value(m.layers[3].exp_probs_b, 0, 5) ==
        hf_value(ck, "model.layers.3.mlp.gate.e_score_correction_bias", 0, 5));
}
#endif
