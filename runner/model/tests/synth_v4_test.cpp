// model/synth (deepseek4): dsk-mkmodel's V4 shapes and mixes. v4-tiny in every mix is written with
// write_gguf_streamed, loads with load_deepseek4 with the types the mix asks for, and the V4 CPU
// forward runs it (finite logits; prefill == decode by bits); the same seed gives the same bytes;
// v4-flash's plan has ds4's shapes and types (spec §2) and, written as holes, loads.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "backend/cpu_ops.hpp"
#include "catch.hpp"
#include "forward/deepseek4_forward.hpp"
#include "gguf/reader.hpp"
#include "model/deepseek4.hpp"
#include "model/gguf_stream.hpp"
#include "model/synth.hpp"
#include "temp_dir.hpp"

using namespace dsk;
using namespace dsk::model;

namespace {

std::string write_v4(const std::string& path, const Deepseek4Config& c, const std::string& mix, uint64_t seed,
                     bool holes = false) {
  gguf::Metadata md;
  set_deepseek4_metadata(md, c);
  auto plan = plan_synthetic_v4(c, mix, seed, nullptr);
  if (!plan) FAIL(plan.error().message());
  if (holes)
    for (auto& p : *plan) p.hole = true;
  auto w = write_gguf_streamed(path, md, *plan, {}, 2);
  if (!w) FAIL(w.error().message());
  return path;
}

std::map<std::string, GgmlType> types_of(const gguf::Reader& r) {
  std::map<std::string, GgmlType> m;
  for (const auto& t : r.tensors()) m[t.name] = static_cast<GgmlType>(t.type);
  return m;
}

std::vector<int32_t> prompt(int n, uint32_t n_vocab) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<size_t>(i)] = static_cast<int32_t>((i * 131 + 7) % n_vocab);
  return t;
}

std::vector<float> run(const Deepseek4Model& m, const std::vector<int32_t>& toks, size_t first) {
  backend::CpuOps ops(2);
  forward::Deepseek4Forward fw(m, ops, forward::Deepseek4Options{64, forward::KvStorage::exact});
  auto ir = fw.init();
  if (!ir) FAIL(ir.error().message());
  std::vector<float> all, lg;
  for (size_t p = 0; p < toks.size();) {
    const size_t n = p == 0 ? first : 1;
    auto r = fw.eval(std::span<const int32_t>(toks.data() + p, n), static_cast<int64_t>(p), true, lg);
    if (!r) FAIL(r.error().message());
    all.insert(all.end(), lg.begin(), lg.end());
    p += n;
  }
  return all;
}

}  // namespace

TEST_CASE("synth v4: shapes, cut, mixes", "[synth][v4]") {
  CHECK(is_v4_shape("v4-tiny"));
  CHECK(is_v4_shape("v4-flash"));
  CHECK_FALSE(is_v4_shape("tiny"));
  CHECK_FALSE(synth_v4_shape("v4-huge"));
  auto f = synth_v4_shape("v4-flash");
  REQUIRE(f);
  CHECK(f->n_layer == 43);
  CHECK(f->n_expert == 256);
  CHECK(f->n_embd == 4096);
  CHECK(f->compress_ratio[2] == 4);
  CHECK(f->compress_ratio[3] == 128);
  // metadata round trip
  gguf::Metadata md;
  set_deepseek4_metadata(md, *f);
  REQUIRE(deepseek4_config(md));
  Deepseek4Config c = *f;
  REQUIRE(cut_v4_layers(c, 2));
  CHECK(c.n_layer == 2);
  CHECK(c.n_hash_layer == 2);
  CHECK(c.compress_ratio.size() == 2);
  CHECK_FALSE(cut_v4_layers(c, 0));
  CHECK_FALSE(cut_v4_layers(c, 3));  // more than it has
  CHECK_FALSE(v4_mix_type("q6_k", V4Role::attn, 256));
  // ds4's q2 file (spec §2): every group's type
  const std::map<V4Role, GgmlType> q2 = {
      {V4Role::f32, GgmlType::F32},        {V4Role::embedding, GgmlType::F16}, {V4Role::hc, GgmlType::F16},
      {V4Role::router, GgmlType::F16},     {V4Role::attn, GgmlType::Q8_0},     {V4Role::compressor, GgmlType::F16},
      {V4Role::indexer, GgmlType::F16},    {V4Role::shared, GgmlType::Q8_0},   {V4Role::exps_gate_up, GgmlType::IQ2_XXS},
      {V4Role::exps_down, GgmlType::Q2_K}, {V4Role::output, GgmlType::Q8_0}};
  for (auto [role, t] : q2) CHECK(*v4_mix_type("2bit", role, 4096) == t);
  CHECK(*v4_mix_type("q4_k", V4Role::exps_down, 2048) == GgmlType::Q4_K);
  CHECK(*v4_mix_type("2bit", V4Role::exps_down, 64) == GgmlType::Q8_0);  // short rows fall back
}

TEST_CASE("synth v4: v4-tiny in every mix loads and runs", "[synth][v4]") {
  test::TempDir dir("synth-v4");
  Deepseek4Config c = *synth_v4_shape("v4-tiny");
  REQUIRE(cut_v4_layers(c, 4));  // raw + hash, raw + hash, CSA + hash, HCA (writing K-quants is the cost)
  c.indexer_top_k = 4;
  const auto toks = prompt(24, c.n_vocab);  // 24 > window 16; 6 ratio-4 rows > top-4: the indexer selects
  for (const auto& mx : synth_v4_mixes()) {
    const std::string mix = mx.name;
    INFO("mix " << mix);
    Deepseek4Config cm = c;
    if (mix == "q4_k") REQUIRE(cut_v4_layers(cm, 2));  // Q4_K experts: the slowest quantizer, two layers suffice
    const std::string path = write_v4(dir.file("v4-" + mix + ".gguf"), cm, mix, 5);
    auto rd = gguf::Reader::open(path);
    REQUIRE(rd);
    auto m = load_deepseek4(*rd);
    if (!m) FAIL(m.error().message());
    CHECK(m->unused.empty());
    const auto ty = types_of(*rd);
    if (mix == "2bit") {
      CHECK(ty.at("blk.3.ffn_gate_exps.weight") == GgmlType::IQ2_XXS);
      CHECK(ty.at("blk.3.ffn_up_exps.weight") == GgmlType::IQ2_XXS);
      CHECK(ty.at("blk.3.ffn_down_exps.weight") == GgmlType::Q2_K);
      CHECK(ty.at("blk.3.attn_q_b.weight") == GgmlType::Q8_0);
      CHECK(ty.at("blk.3.ffn_up_shexp.weight") == GgmlType::Q8_0);
      CHECK(ty.at("blk.2.indexer.attn_q_b.weight") == GgmlType::F16);
      CHECK(ty.at("blk.2.attn_compressor_kv.weight") == GgmlType::F16);
      CHECK(ty.at("blk.0.hc_attn_fn.weight") == GgmlType::F16);
      CHECK(ty.at("token_embd.weight") == GgmlType::F16);
      CHECK(ty.at("output.weight") == GgmlType::Q8_0);
      CHECK(ty.at("blk.0.ffn_gate_tid2eid.weight") == GgmlType::I32);
    }
    if (mix == "bf16") CHECK(ty.at("blk.2.attn_compressor_ape.weight") == GgmlType::BF16);
    CHECK(ty.at("blk.1.attn_sinks.weight") == GgmlType::F32);
    CHECK(ty.count("blk.0.exp_probs_b.bias") == 0);  // hash layers: no selection bias
    CHECK(ty.count("blk." + std::to_string(cm.n_layer - 1) + ".exp_probs_b.bias") == (cm.n_layer > 3 ? 1u : 0u));
    // tid2eid: n_expert_used distinct experts per token
    const auto& t2e = m->layers[0].ffn_gate_tid2eid;
    const auto* ids = reinterpret_cast<const int32_t*>(t2e.data);
    for (uint32_t tok = 0; tok < c.n_vocab; ++tok)
      for (uint32_t i = 0; i < c.n_expert_used; ++i) {
        const int32_t e = ids[tok * c.n_expert_used + i];
        REQUIRE((e >= 0 && e < static_cast<int32_t>(c.n_expert)));
        for (uint32_t j = 0; j < i; ++j) REQUIRE(ids[tok * c.n_expert_used + j] != e);
      }
    // the forward: finite logits; one prefill == prefill 5 + decode by bits (2bit)
    const std::vector<float> a = run(*m, toks, toks.size());
    REQUIRE(a.size() == toks.size() * c.n_vocab);
    for (float v : a) REQUIRE(std::isfinite(v));
    if (mix == "2bit") {
      const std::vector<float> b = run(*m, toks, 5);
      REQUIRE(a == b);
    }
  }
}

TEST_CASE("synth v4: deterministic bytes", "[synth][v4]") {
  test::TempDir dir("synth-v4-det");
  Deepseek4Config c = *synth_v4_shape("v4-tiny");
  REQUIRE(cut_v4_layers(c, 2));
  auto slurp = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  const auto a = slurp(write_v4(dir.file("a.gguf"), c, "2bit", 9));
  const auto b = slurp(write_v4(dir.file("b.gguf"), c, "2bit", 9));
  const auto d = slurp(write_v4(dir.file("d.gguf"), c, "2bit", 10));
  CHECK(a == b);
  CHECK(a.size() == d.size());
  CHECK(a != d);
}

TEST_CASE("synth v4: v4-flash has ds4's layout", "[synth][v4]") {
  Deepseek4Config c = *synth_v4_shape("v4-flash");
  auto plan = plan_synthetic_v4(c, "2bit", 1, nullptr);
  REQUIRE(plan);
  std::map<std::string, const PlannedTensor*> by;
  uint64_t bytes = 0;
  for (const auto& p : *plan) {
    by[p.name] = &p;
    auto nb = gguf::tensor_nbytes(static_cast<uint32_t>(p.type), p.ne);
    REQUIRE(nb);
    bytes += *nb;
  }
  auto is = [&](const std::string& n, GgmlType t, std::vector<uint64_t> ne) {
    INFO(n);
    REQUIRE(by.count(n));
    CHECK(by[n]->type == t);
    CHECK(by[n]->ne == ne);
  };
  // spec §2.1-2.2 (ds4's q2 file)
  is("token_embd.weight", GgmlType::F16, {4096, 129280});
  is("output_hc_fn.weight", GgmlType::F16, {16384, 4});
  is("output.weight", GgmlType::Q8_0, {4096, 129280});
  is("blk.0.hc_attn_fn.weight", GgmlType::F16, {16384, 24});
  is("blk.0.attn_q_b.weight", GgmlType::Q8_0, {1024, 32768});
  is("blk.0.attn_output_a.weight", GgmlType::Q8_0, {4096, 8192});
  is("blk.0.ffn_gate_inp.weight", GgmlType::F16, {4096, 256});
  is("blk.0.ffn_gate_tid2eid.weight", GgmlType::I32, {6, 129280});
  is("blk.5.ffn_gate_exps.weight", GgmlType::IQ2_XXS, {4096, 2048, 256});
  is("blk.5.ffn_down_exps.weight", GgmlType::Q2_K, {2048, 4096, 256});
  is("blk.5.ffn_down_shexp.weight", GgmlType::Q8_0, {2048, 4096});
  is("blk.2.attn_compressor_ape.weight", GgmlType::F16, {1024, 4});
  is("blk.3.attn_compressor_kv.weight", GgmlType::F16, {4096, 512});
  is("blk.2.indexer.attn_q_b.weight", GgmlType::F16, {1024, 8192});
  is("blk.42.indexer_compressor_gate.weight", GgmlType::F16, {4096, 256});
  CHECK(by.count("blk.3.indexer.proj.weight") == 0);   // HCA: no indexer
  CHECK(by.count("blk.1.attn_compressor_kv.weight") == 0);
  CHECK(by.count("blk.43.attn_norm.weight") == 0);
  // about 81 GB (spec §2.2: ds4's q2 file)
  CHECK(bytes > uint64_t{78} << 30);
  CHECK(bytes < uint64_t{84} << 30);

  // Cut to 3 layers (raw, raw, CSA) and written as holes (sparse; nothing computed): it loads.
  test::TempDir dir("synth-v4-flash");
  REQUIRE(cut_v4_layers(c, 3));
  const std::string path = write_v4(dir.file("flash3.gguf"), c, "2bit", 1, true);
  auto rd = gguf::Reader::open(path);
  REQUIRE(rd);
  auto m = load_deepseek4(*rd);
  if (!m) FAIL(m.error().message());
  CHECK(m->layers.size() == 3);
  CHECK(m->layers[2].compress_ratio == 4);
}
