// dsk-convert's DeepSeek-V4 path (model/hf_convert_v4): a hand-made checkpoint under the official
// release's names with FP8 (E4M3 + E8M0 128x128 block scales, partial blocks included) dense weights,
// FP4 (E2M1 pairs + E8M0 per-32 scales) routed experts, BF16 / F32 small tensors and an I64 tid2eid,
// converted to F32: every dequantized value equals the one decoded here from the format's definition
// (not from dsk's tables); the file loads and the forward runs; config.json variants and errors.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "backend/cpu_ops.hpp"
#include "catch.hpp"
#include "model_test_util.hpp"
#include "forward/deepseek4_forward.hpp"
#include "gguf/reader.hpp"
#include "model/deepseek4.hpp"
#include "model/hf_convert_v4.hpp"
#include "reference/quant.hpp"

using namespace dsk;
using namespace dsk::model;
namespace fs = std::filesystem;

namespace {

// E4M3FN from its definition: s eeee mmm, bias 7, subnormals m * 2^-9.
double e4m3(uint8_t b) {
  const int e = (b >> 3) & 15, m = b & 7;
  const double v = e == 0 ? m * std::ldexp(1.0, -9) : (1.0 + m / 8.0) * std::ldexp(1.0, e - 7);
  return (b & 0x80) ? -v : v;
}
// E2M1: s ee m, bias 1, subnormal m * 0.5.
double e2m1(uint8_t n) {
  const int e = (n >> 1) & 3, m = n & 1;
  const double v = e == 0 ? m * 0.5 : (1.0 + m / 2.0) * std::ldexp(1.0, e - 1);
  return (n & 8) ? -v : v;
}
double e8m0(uint8_t s) { return std::ldexp(1.0, s - 127); }

uint32_t hash32(const std::string& s, uint64_t i) {
  uint64_t h = 1469598103934665603ull;
  for (char ch : s) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  h ^= i + 0x9e3779b97f4a7c15ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<uint32_t>(h);
}

struct StTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// A checkpoint being made: name -> tensor.
struct Ck {
  std::map<std::string, StTensor> t;
  void bf16(const std::string& n, std::vector<int64_t> shape, float center = 0.0f, float spread = 0.05f) {
    int64_t k = 1;
    for (auto d : shape) k *= d;
    StTensor x{"BF16", shape, std::vector<uint8_t>(static_cast<size_t>(k) * 2)};
    for (int64_t i = 0; i < k; ++i) {
      const float v = center + spread * (static_cast<float>(hash32(n, static_cast<uint64_t>(i)) % 2001) / 1000.0f - 1.0f);
      uint32_t b;
      std::memcpy(&b, &v, 4);
      const uint16_t h = static_cast<uint16_t>(b >> 16);  // truncation: an exact bf16 value
      std::memcpy(x.bytes.data() + i * 2, &h, 2);
    }
    t[n] = std::move(x);
  }
  void f32(const std::string& n, std::vector<int64_t> shape, float center, float spread) {
    int64_t k = 1;
    for (auto d : shape) k *= d;
    StTensor x{"F32", shape, std::vector<uint8_t>(static_cast<size_t>(k) * 4)};
    for (int64_t i = 0; i < k; ++i) {
      const float v = center + spread * (static_cast<float>(hash32(n, static_cast<uint64_t>(i)) % 2001) / 1000.0f - 1.0f);
      std::memcpy(x.bytes.data() + i * 4, &v, 4);
    }
    t[n] = std::move(x);
  }
  // F8_E4M3 [out, in] with its E8M0 scale [ceil(out/128), ceil(in/128)] (scale exponents around 2^-6).
  void fp8(const std::string& n, int64_t out, int64_t in) {
    StTensor w{"F8_E4M3", {out, in}, std::vector<uint8_t>(static_cast<size_t>(out * in))};
    for (int64_t i = 0; i < out * in; ++i) {
      uint8_t b = static_cast<uint8_t>(hash32(n, static_cast<uint64_t>(i)));
      if ((b & 0x7f) == 0x7f) b ^= 1;  // no NaN
      w.bytes[static_cast<size_t>(i)] = b;
    }
    const int64_t so = (out + 127) / 128, si = (in + 127) / 128;
    StTensor s{"F8_E8M0", {so, si}, std::vector<uint8_t>(static_cast<size_t>(so * si))};
    for (int64_t i = 0; i < so * si; ++i) s.bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(117 + hash32(n + "s", static_cast<uint64_t>(i)) % 5);
    const std::string base = n.substr(0, n.size() - 7);  // without ".weight"
    t[n] = std::move(w);
    t[base + ".scale"] = std::move(s);
  }
  // FP4 [out, in] as I8 [out, in/2] (low nibble first) with E8M0 scales [out, in/32].
  void fp4(const std::string& n, int64_t out, int64_t in) {
    StTensor w{"I8", {out, in / 2}, std::vector<uint8_t>(static_cast<size_t>(out * in / 2))};
    for (int64_t i = 0; i < out * in / 2; ++i) w.bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(hash32(n, static_cast<uint64_t>(i)));
    StTensor s{"F8_E8M0", {out, in / 32}, std::vector<uint8_t>(static_cast<size_t>(out * in / 32))};
    for (int64_t i = 0; i < out * in / 32; ++i) s.bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(120 + hash32(n + "s", static_cast<uint64_t>(i)) % 4);
    const std::string base = n.substr(0, n.size() - 7);
    t[n] = std::move(w);
    t[base + ".scale"] = std::move(s);
  }
  void write(const fs::path& file) const {
    nlohmann::json h = nlohmann::json::object();
    size_t off = 0;
    for (const auto& [n, x] : t) {
      h[n] = {{"dtype", x.dtype}, {"shape", x.shape}, {"data_offsets", {off, off + x.bytes.size()}}};
      off += x.bytes.size();
    }
    std::string hs = h.dump();
    while (hs.size() % 8) hs += ' ';
    std::ofstream o(file, std::ios::binary);
    const uint64_t n = hs.size();
    o.write(reinterpret_cast<const char*>(&n), 8);
    o.write(hs.data(), static_cast<std::streamsize>(hs.size()));
    for (const auto& [nm, x] : t) o.write(reinterpret_cast<const char*>(x.bytes.data()), static_cast<std::streamsize>(x.bytes.size()));
  }
};

// A tiny V4 in the official release's names: 3 layers (raw + hash, CSA ratio 4, HCA ratio 8), 6 experts
// (not a multiple of 32) top 2, FP8 projections with partial 128-blocks, FP4 experts.
constexpr int64_t E = 256, NV = 64, H = 2, D = 64, ROT = 16, Q = 96, OL = 32, G = 2, NE = 6, K = 2, FF = 64, NH = 2;
constexpr int64_t IH = 2, ID = 32;
const std::vector<uint32_t> kRatios = {0, 4, 8};

nlohmann::json config_json() {
  return {{"model_type", "deepseek_v4"},
          {"num_hidden_layers", 3},
          {"hidden_size", E},
          {"vocab_size", NV},
          {"num_attention_heads", H},
          {"num_key_value_heads", 1},
          {"head_dim", D},
          {"qk_rope_head_dim", ROT},
          {"q_lora_rank", Q},
          {"o_lora_rank", OL},
          {"o_groups", G},
          {"n_routed_experts", NE},
          {"num_experts_per_tok", K},
          {"moe_intermediate_size", FF},
          {"n_shared_experts", 1},
          {"scoring_func", "sqrtsoftplus"},
          {"routed_scaling_factor", 1.5},
          {"norm_topk_prob", true},
          {"swiglu_limit", 10.0},
          {"sliding_window", 8},
          {"index_n_heads", IH},
          {"index_head_dim", ID},
          {"index_topk", 2},
          {"hc_mult", NH},
          {"hc_sinkhorn_iters", 5},
          {"hc_eps", 1e-6},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 10000.0},
          {"compress_rope_theta", 160000.0},
          {"rope_scaling", {{"type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 64}, {"beta_fast", 32}, {"beta_slow", 1}}},
          {"compress_ratios", {0, 4, 8, 0}},
          {"num_hash_layers", 1},
          {"quantization_config", {{"quant_method", "fp8"}, {"weight_block_size", {128, 128}}}}};
}

Ck official_checkpoint() {
  Ck ck;
  const int64_t HC = NH * E, NC = (2 + NH) * NH;
  ck.bf16("embed.weight", {NV, E}, 0.0f, 1.0f);
  ck.f32("norm.weight", {E}, 1.0f, 0.1f);
  ck.fp8("head.weight", NV, E);
  ck.f32("hc_head_fn", {NH, HC}, 0.0f, 0.05f);
  ck.f32("hc_head_scale", {1}, 1.0f, 0.1f);
  ck.f32("hc_head_base", {NH}, 0.0f, 0.1f);
  for (int il = 0; il < 3; ++il) {
    const std::string p = "layers." + std::to_string(il) + ".";
    for (const char* s : {"hc_attn_", "hc_ffn_"}) {
      ck.f32(p + s + "fn", {NC, HC}, 0.0f, 0.05f);
      ck.f32(p + s + "scale", {3}, 1.0f, 0.1f);
      ck.f32(p + s + "base", {NC}, 0.0f, 0.1f);
    }
    ck.bf16(p + "attn_norm.weight", {E}, 1.0f, 0.1f);
    ck.fp8(p + "attn.wq_a.weight", Q, E);
    ck.bf16(p + "attn.q_norm.weight", {Q}, 1.0f, 0.1f);
    ck.fp8(p + "attn.wq_b.weight", H * D, Q);
    ck.fp8(p + "attn.wkv.weight", D, E);
    ck.bf16(p + "attn.kv_norm.weight", {D}, 1.0f, 0.1f);
    ck.f32(p + "attn.attn_sink", {H}, 0.0f, 0.5f);
    ck.fp8(p + "attn.wo_a.weight", G * OL, H * D / G);
    ck.fp8(p + "attn.wo_b.weight", E, G * OL);
    const uint32_t r = kRatios[static_cast<size_t>(il)];
    if (r) {
      const int64_t cw = (r == 4 ? 2 : 1) * D;
      ck.f32(p + "attn.compressor.ape", {r, cw}, 0.0f, 0.1f);
      ck.bf16(p + "attn.compressor.wkv.weight", {cw, E});
      ck.bf16(p + "attn.compressor.wgate.weight", {cw, E});
      ck.bf16(p + "attn.compressor.norm.weight", {D}, 1.0f, 0.1f);
    }
    if (r == 4) {
      ck.bf16(p + "attn.indexer.wq_b.weight", {IH * ID, Q});
      ck.bf16(p + "attn.indexer.weights_proj.weight", {IH, E});
      ck.f32(p + "attn.indexer.compressor.ape", {4, 2 * ID}, 0.0f, 0.1f);
      ck.bf16(p + "attn.indexer.compressor.wkv.weight", {2 * ID, E});
      ck.bf16(p + "attn.indexer.compressor.wgate.weight", {2 * ID, E});
      ck.bf16(p + "attn.indexer.compressor.norm.weight", {ID}, 1.0f, 0.1f);
    }
    ck.bf16(p + "ffn_norm.weight", {E}, 1.0f, 0.1f);
    ck.bf16(p + "ffn.gate.weight", {NE, E});
    if (il == 0) {
      StTensor tt{"I64", {NV, K}, std::vector<uint8_t>(static_cast<size_t>(NV * K * 8))};
      for (int64_t tok = 0; tok < NV; ++tok)
        for (int64_t j = 0; j < K; ++j) {
          const int64_t e = (tok + j * 3) % NE;
          std::memcpy(tt.bytes.data() + (tok * K + j) * 8, &e, 8);
        }
      ck.t[p + "ffn.gate.tid2eid"] = std::move(tt);
    } else {
      ck.f32(p + "ffn.gate.bias", {NE}, 0.0f, 0.1f);
    }
    for (int e = 0; e < NE; ++e) {
      const std::string x = p + "ffn.experts." + std::to_string(e) + ".";
      ck.fp4(x + "w1.weight", FF, E);
      ck.fp4(x + "w3.weight", FF, E);
      ck.fp4(x + "w2.weight", E, FF);
    }
    ck.fp8(p + "ffn.shared_experts.w1.weight", FF, E);
    ck.fp8(p + "ffn.shared_experts.w3.weight", FF, E);
    ck.fp8(p + "ffn.shared_experts.w2.weight", E, FF);
  }
  return ck;
}

fs::path make_dir(const std::string& name, const nlohmann::json& cfg, const Ck& ck) {
  const fs::path dir = fs::temp_directory_path() / ("dsk-hfv4-" + name + "-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << cfg.dump(1);
  ck.write(dir / "model.safetensors");
  return dir;
}

Result<Convert4Report> convert(const fs::path& dir, GgmlType type = GgmlType::F32) {
  ConvertOptions o;
  o.hf_dir = dir.string();
  o.out = (dir / "out.gguf").string();
  o.type = type;
  o.threads = 2;
  return convert_hf_deepseek4(o);
}

// Row r of a GGUF F32 tensor.
const float* f32_row(const gguf::Reader& rd, const std::string& name, int64_t r) {
  const gguf::Tensor* t = rd.find_tensor(name);
  REQUIRE(t);
  REQUIRE(t->type == GgmlType::F32);
  return reinterpret_cast<const float*>(t->data) + r * static_cast<int64_t>(t->ne[0]);
}

}  // namespace

TEST_CASE("hf_convert_v4: official names, FP8 / FP4 dequantized exactly, the file loads and runs", "[model][deepseek4][convert]") {
  const Ck ck = official_checkpoint();
  const fs::path dir = make_dir("official", config_json(), ck);
  auto rep = convert(dir);
  if (!rep) FAIL(rep.error().message());
  CHECK(rep->naming == "official");
  CHECK(rep->fp8);
  CHECK(rep->fp4);
  CHECK(rep->skipped.empty());
  auto rd = gguf::Reader::open((dir / "out.gguf").string());
  REQUIRE(rd);
  auto m = load_deepseek4(*rd);
  if (!m) FAIL(m.error().message());
  CHECK(m->config.compress_ratio == kRatios);
  CHECK(m->config.n_hash_layer == 1);
  CHECK(m->config.rope_scaling_factor == 4.0f);
  CHECK(m->config.n_ctx_orig_yarn == 64);

  SECTION("FP8 with E8M0 block scales, partial blocks (wq_a: 96 x 256, wo_b: 256 x 64)") {
    for (const auto& [hf, gg] : std::vector<std::pair<std::string, std::string>>{
             {"layers.1.attn.wq_a", "blk.1.attn_q_a.weight"}, {"layers.2.attn.wo_b", "blk.2.attn_output_b.weight"},
             {"head", "output.weight"}}) {
      const StTensor& w = ck.t.at(hf + ".weight");
      const StTensor& s = ck.t.at(hf + ".scale");
      const int64_t out = w.shape[0], in = w.shape[1], si = s.shape[1];
      size_t bad = 0;
      for (int64_t r = 0; r < out; ++r) {
        const float* row = f32_row(*rd, gg, r);
        for (int64_t c = 0; c < in; ++c) {
          const double want = e4m3(w.bytes[static_cast<size_t>(r * in + c)]) * e8m0(s.bytes[static_cast<size_t>((r / 128) * si + c / 128)]);
          bad += static_cast<double>(row[c]) != want;
        }
      }
      INFO(gg);
      CHECK(bad == 0);
    }
  }
  SECTION("FP4 experts with E8M0 per-32 scales, stacked [in, out, expert]") {
    for (const auto& [w_id, gg] : std::vector<std::pair<std::string, std::string>>{
             {"w1", "blk.1.ffn_gate_exps.weight"}, {"w3", "blk.2.ffn_up_exps.weight"}, {"w2", "blk.0.ffn_down_exps.weight"}}) {
      const int il = gg[4] - '0';
      size_t bad = 0;
      for (int e = 0; e < NE; ++e) {
        const std::string base = "layers." + std::to_string(il) + ".ffn.experts." + std::to_string(e) + "." + w_id;
        const StTensor& w = ck.t.at(base + ".weight");
        const StTensor& s = ck.t.at(base + ".scale");
        const int64_t out = w.shape[0], in = w.shape[1] * 2;
        for (int64_t r = 0; r < out; ++r) {
          const float* row = f32_row(*rd, gg, e * out + r);
          for (int64_t c = 0; c < in; ++c) {
            const uint8_t byte = w.bytes[static_cast<size_t>(r * in / 2 + c / 2)];
            const uint8_t nib = c % 2 == 0 ? byte & 15 : byte >> 4;
            const double want = e2m1(nib) * e8m0(s.bytes[static_cast<size_t>(r * (in / 32) + c / 32)]);
            bad += static_cast<double>(row[c]) != want;
          }
        }
      }
      INFO(gg);
      CHECK(bad == 0);
    }
  }
  SECTION("small tensors: F32 kept, BF16 widened, tid2eid as I32, ape as [cw, ratio]") {
    const StTensor& ape = ck.t.at("layers.2.attn.compressor.ape");
    const float* a = f32_row(*rd, "blk.2.attn_compressor_ape.weight", 0);
    CHECK(std::memcmp(a, ape.bytes.data(), ape.bytes.size()) == 0);
    const gguf::Tensor* tt = rd->find_tensor("blk.0.ffn_gate_tid2eid.weight");
    REQUIRE(tt);
    CHECK(tt->type == GgmlType::I32);
    CHECK(tt->ne[0] == K);
    const int32_t* ids = reinterpret_cast<const int32_t*>(tt->data);
    CHECK(ids[5 * K + 1] == (5 + 3) % NE);
    const float* qn = f32_row(*rd, "blk.1.attn_q_a_norm.weight", 0);
    uint16_t b;
    std::memcpy(&b, ck.t.at("layers.1.attn.q_norm.weight").bytes.data() + 2 * 7, 2);
    uint32_t bits = static_cast<uint32_t>(b) << 16;
    float want;
    std::memcpy(&want, &bits, 4);
    CHECK(qn[7] == want);
  }
  SECTION("the converted model runs (6 experts: a padded router), prefill == decode") {
    backend::CpuOps ops(2);
    std::vector<float> a, b, lg;
    const std::vector<int32_t> toks = {1, 7, 33, 2, 60, 5, 9, 12, 40, 3, 8, 21, 30, 17, 4, 6, 50, 11};
    {
      forward::Deepseek4Forward fw(*m, ops, forward::Deepseek4Options{32, forward::KvStorage::exact});
      REQUIRE(fw.init());
      REQUIRE(fw.eval(toks, 0, true, a));
    }
    {
      forward::Deepseek4Forward fw(*m, ops, forward::Deepseek4Options{32, forward::KvStorage::exact});
      REQUIRE(fw.init());
      for (size_t p = 0; p < toks.size(); ++p) {
        REQUIRE(fw.eval(std::span<const int32_t>(toks.data() + p, 1), static_cast<int64_t>(p), true, lg));
        b.insert(b.end(), lg.begin(), lg.end());
      }
    }
    REQUIRE(a.size() == b.size());
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    size_t finite = 0;
    for (float v : a) finite += std::isfinite(v);
    CHECK(finite == a.size());
  }
  SECTION("q8_0: projections quantized, HC / compressor / indexer BF16, router F32") {
    auto r2 = convert(dir, GgmlType::Q8_0);
    if (!r2) FAIL(r2.error().message());
    auto rd2 = gguf::Reader::open((dir / "out.gguf").string());
    REQUIRE(rd2);
    CHECK(rd2->find_tensor("blk.1.attn_q_a.weight")->type == GgmlType::Q8_0);
    CHECK(rd2->find_tensor("blk.1.hc_attn_fn.weight")->type == GgmlType::BF16);
    CHECK(rd2->find_tensor("blk.1.indexer.attn_q_b.weight")->type == GgmlType::BF16);
    CHECK(rd2->find_tensor("blk.1.ffn_gate_inp.weight")->type == GgmlType::F32);
    CHECK(rd2->find_tensor("blk.1.ffn_gate_exps.weight")->type == GgmlType::Q8_0);
    CHECK(load_deepseek4(*rd2));
  }
  fs::remove_all(dir);
}

TEST_CASE("hf_convert_v4: config.json variants and errors", "[model][deepseek4][convert]") {
  SECTION("transformers' keys: layer_types + compress_rates, mlp_layer_types, rope_parameters") {
    nlohmann::json c = config_json();
    c.erase("compress_ratios");
    c.erase("num_hash_layers");
    c.erase("rope_scaling");
    c["layer_types"] = {"sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention"};
    c["compress_rates"] = {{"compressed_sparse_attention", 4}, {"heavily_compressed_attention", 16}};
    c["mlp_layer_types"] = {"hash_moe", "hash_moe", "moe"};
    c["rope_parameters"] = {{"main", {{"rope_type", "default"}, {"rope_theta", 10000.0}}},
                            {"compress", {{"rope_type", "yarn"}, {"rope_theta", 80000.0}, {"factor", 8.0},
                                          {"original_max_position_embeddings", 128}, {"attention_factor", 1.0}}}};
    auto r = hf_deepseek4_config(c.dump());
    if (!r) FAIL(r.error().message());
    CHECK(r->compress_ratio == std::vector<uint32_t>{0, 4, 16});
    CHECK(r->n_hash_layer == 2);
    CHECK(r->compress_rope_freq_base == 80000.0f);
    CHECK(r->rope_scaling_factor == 8.0f);
    CHECK(r->n_ctx_orig_yarn == 128);
  }
  auto err = [](const nlohmann::json& c) {
    auto r = hf_deepseek4_config(c.dump());
    if (r) FAIL("expected an error");
    return r.error().message();
  };
  SECTION("a CSA rate other than 4") {
    nlohmann::json c = config_json();
    c.erase("compress_ratios");
    c["layer_types"] = {"sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention"};
    c["compress_rates"] = {{"compressed_sparse_attention", 8}, {"heavily_compressed_attention", 16}};
    CHECK_HAS(err(c), "marks CSA layers by ratio 4");
  }
  SECTION("a scoring function other than sqrtsoftplus") {
    nlohmann::json c = config_json();
    c["scoring_func"] = "sigmoid";
    CHECK_HAS(err(c), "sqrtsoftplus");
  }
  SECTION("hash layers after routed ones") {
    nlohmann::json c = config_json();
    c["mlp_layer_types"] = {"moe", "hash_moe", "moe"};
    CHECK_HAS(err(c), "hash_moe after moe");
  }
  SECTION("a YaRN magnitude factor") {
    nlohmann::json c = config_json();
    c["rope_scaling"]["attention_factor"] = 1.2;
    CHECK_HAS(err(c), "attention_factor");
  }
  SECTION("an FP8 weight without its scale") {
    Ck ck = official_checkpoint();
    ck.t.erase("layers.1.attn.wq_a.scale");
    const fs::path dir = make_dir("noscale", config_json(), ck);
    auto r = convert(dir);
    REQUIRE(!r);
    CHECK_HAS(r.error().message(), "layers.1.attn.wq_a.weight: F8_E4M3 without");
    fs::remove_all(dir);
  }
  SECTION("a tid2eid naming an expert that does not exist") {
    Ck ck = official_checkpoint();
    const int64_t bad = NE;
    std::memcpy(ck.t.at("layers.0.ffn.gate.tid2eid").bytes.data() + 8 * 9, &bad, 8);
    const fs::path dir = make_dir("badtid", config_json(), ck);
    auto r = convert(dir);
    REQUIRE(!r);
    CHECK_HAS(r.error().message(), "names expert 6");
    fs::remove_all(dir);
  }
}

TEST_CASE("hf_convert_v4: FP4 and E8M0 decoding", "[model][deepseek4][convert]") {
  for (int n = 0; n < 16; ++n) CHECK(static_cast<double>(fp4_e2m1_to_float(static_cast<uint8_t>(n))) == e2m1(static_cast<uint8_t>(n)));
  for (int s = 0; s < 255; ++s) CHECK(static_cast<double>(e8m0_to_float(static_cast<uint8_t>(s))) == e8m0(static_cast<uint8_t>(s)));
  CHECK(std::isnan(e8m0_to_float(255)));
}
