// The shipped ik_llama.cpp oracle model (../shared/oracle/ik/models): loads, and its config matches
// the info.json written with it. Registered only when the file exists.
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model_test_util.hpp"

using namespace dsk;
using namespace dsk::model;

TEST_CASE("oracle dsv3-tiny-q8-q2k-iq2xxs.gguf loads with the info.json config", "[model]") {
  auto r = gguf::Reader::open(DSK_ORACLE_GGUF);
  REQUIRE(r.ok());
  auto mr = load_deepseek2(*r);
  if (!mr) FAIL(mr.error().message());
  const Deepseek2Model& m = *mr;
  std::ifstream in(DSK_ORACLE_INFO);
  std::stringstream ss;
  ss << in.rdbuf();
  const nlohmann::json info = nlohmann::json::parse(ss.str());
  const auto& g = info["generator_config"];
  const Deepseek2Config& c = m.config;
  CHECK(c.layout == MlaLayout::ik);
  CHECK(c.n_vocab == g["n_vocab"].get<uint32_t>());
  CHECK(c.n_ctx_train == g["n_ctx_train"].get<uint32_t>());
  CHECK(c.n_embd == g["n_embd"].get<uint32_t>());
  CHECK(c.n_layer == g["n_layer"].get<uint32_t>());
  CHECK(c.n_layer_dense_lead == g["n_layer_dense_lead"].get<uint32_t>());
  CHECK(c.n_head == g["n_head"].get<uint32_t>());
  CHECK(c.q_lora == g["q_lora_rank"].get<uint32_t>());
  CHECK(c.kv_lora == g["kv_lora_rank"].get<uint32_t>());
  CHECK(c.d_nope == g["qk_nope_head_dim"].get<uint32_t>());
  CHECK(c.d_rope == g["qk_rope_head_dim"].get<uint32_t>());
  CHECK(c.d_v == g["v_head_dim"].get<uint32_t>());
  CHECK(c.n_ff == g["n_ff"].get<uint32_t>());
  CHECK(c.n_expert == g["n_expert"].get<uint32_t>());
  CHECK(c.n_expert_used == g["n_expert_used"].get<uint32_t>());
  CHECK(c.n_expert_shared == g["n_expert_shared"].get<uint32_t>());
  CHECK(c.n_ff_exp == g["n_ff_exp"].get<uint32_t>());
  CHECK(c.expert_weights_scale == g["expert_weights_scale"].get<float>());
  CHECK(c.expert_weights_norm == g["expert_weights_norm"].get<bool>());
  CHECK(static_cast<uint32_t>(c.gating) == g["expert_gating_func"].get<uint32_t>());
  CHECK(c.rms_eps == g["rms_eps"].get<float>());
  CHECK(c.rope_freq_base == g["rope_freq_base"].get<float>());
  CHECK(c.rope_scaling == RopeScaling::linear);  // rope_scaling null: no keys, llama.cpp's default
  CHECK(c.rope_freq_scale == 1.0f);
  CHECK(c.n_expert_groups == 1);
  REQUIRE(m.layers.size() == 4);
  // The file's own k_b / v_b (2-D, viewed as 3-D), not derived.
  CHECK(!m.layers[0].k_b_derived);
  CHECK(m.layers[0].attn_k_b.type == GgmlType::Q8_0);
  CHECK(m.layers[0].attn_k_b.ne[2] == 8);
  CHECK(m.layers[1].ffn_gate_exps.type == GgmlType::IQ2_XXS);
  CHECK(m.layers[1].ffn_down_exps.type == GgmlType::Q2_K);
  CHECK(m.layers[1].exp_probs_b.present());
  CHECK(m.unused.empty());
  CHECK(m.nextn.empty());
  // Every tensor of info.json is used.
  size_t n = 0;
  for (const auto& t : info["tensors"]) n += r->find_tensor(t["name"].get<std::string>()) ? 1 : 0;
  CHECK(n == r->tensors().size());
}
