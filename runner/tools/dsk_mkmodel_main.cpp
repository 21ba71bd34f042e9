// dsk-mkmodel: a synthetic deepseek2 or deepseek4 GGUF with seeded random weights (docs/models.md).
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/reader.hpp"
#include "model/deepseek2.hpp"
#include "model/deepseek4.hpp"
#include "model/gguf_stream.hpp"
#include "model/synth.hpp"
#if DSK_HAVE_TOKENIZER_JSON
#include "tokenizer/tokenizer_json.hpp"
#endif

namespace {

using namespace dsk;
using namespace dsk::model;

int fail(const std::string& msg) {
  std::fprintf(stderr, "dsk-mkmodel: %s\n", msg.c_str());
  return 1;
}

std::string usage() {
  std::string s =
      "usage: dsk-mkmodel --shape NAME -o OUT.gguf [options]\n"
      "\n"
      "Writes a synthetic deepseek2 or deepseek4 (DeepSeek-V4, ds4's layout) GGUF with seeded random\n"
      "weights (deterministic: the same arguments give the same bytes). Weights ~ N(0, 1/fan_in)\n"
      "(token_embd N(0, 1)), norms 1 + 0.1 N(0, 1), router F32 (deepseek2), exp_probs_b 0.05 N(0, 1)\n"
      "(sigmoid-gated deepseek2 shapes; V4 score-routed layers). Tensors are generated and written one\n"
      "by one, so big shapes need little memory.\n"
      "\n"
      "options:\n"
      "  --shape NAME       model shape (below)\n"
      "  -o, --out FILE     output file\n"
      "  --layers N         keep the first N layers (deepseek2: leading dense layers capped at N;\n"
      "                     deepseek4: compress ratios and clamps cut, hash layers capped at N)\n"
      "  --mix MIX          tensor types (below; default f32)\n"
      "  --layout L         deepseek2 only: mainline (default: head_count_kv 1, *_mla keys, 3-D\n"
      "                     attn_k_b/attn_v_b) or ik (head_count_kv = heads, attn_kv_b + 2-D attn_k_b/attn_v_b)\n"
      "  --seed S           random seed (default 1)\n"
      "  --vocab N          vocabulary size (default: the shape's, or the tokenizer's)\n"
      "  --tokenizer FILE   tokenizer.json: its vocabulary and merges go into the file\n"
      "  --pre NAME         tokenizer.ggml.pre with --tokenizer (default deepseek-v3; deepseek-llm for\n"
      "                     v2-lite and tiny-lite)\n"
      "  --help             this text\n"
      "\n"
      "deepseek2 shapes:\n";
  for (const auto& sh : synth_shapes()) s += "  " + std::string(sh.name) + std::string(12 - std::strlen(sh.name), ' ') + sh.description + "\n";
  s += "\ndeepseek2 mixes (norms, router and exp_probs_b are always F32):\n";
  for (const auto& mx : synth_mixes()) s += "  " + std::string(mx.name) + std::string(8 - std::strlen(mx.name), ' ') + mx.description + "\n";
  s += "\ndeepseek4 shapes:\n";
  for (const auto& sh : synth_v4_shapes()) s += "  " + std::string(sh.name) + std::string(12 - std::strlen(sh.name), ' ') + sh.description + "\n";
  s += "\ndeepseek4 mixes (norms, hyper-connection scales / bases, sinks and exp_probs_b are always F32;\n"
       "tid2eid I32):\n";
  for (const auto& mx : synth_v4_mixes()) s += "  " + std::string(mx.name) + std::string(8 - std::strlen(mx.name), ' ') + mx.description + "\n";
  s +=
      "\n"
      "K-quants and IQ2_XXS need rows that are a multiple of 256: shorter rows fall back to Q8_0 (or\n"
      "F16), and the tool lists those tensors. IQ2_XXS blocks are random valid blocks (dsk has no\n"
      "IQ2_XXS quantizer yet), with their scale set for the same spread as the other weights.\n"
      "Without --tokenizer the tokenizer keys are a placeholder vocabulary of the model's size.\n";
  return s;
}

bool parse_u64(const char* s, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || !end || *end || s[0] == '-' || s[0] == '\0') return false;
  out = v;
  return true;
}

// The tokenizer keys: tokenizer.json's (padded to vocab when larger), else a placeholder vocabulary of
// n_vocab tokens. n_vocab is updated to the tokenizer's size.
Result<gguf::Metadata> tokenizer_metadata(const std::string& tokenizer, const std::string& pre, uint64_t vocab,
                                          uint32_t& n_vocab) {
  gguf::Metadata tok;
  if (!tokenizer.empty()) {
#if DSK_HAVE_TOKENIZER_JSON
    DSK_TRY_ASSIGN(tok, dsk::tok::gguf_metadata_from_tokenizer_json(tokenizer, pre, static_cast<uint32_t>(vocab)));
    DSK_TRY_ASSIGN(auto toks, tok.get_string_array("tokenizer.ggml.tokens"));
    if (vocab && vocab != toks.size())
      return Error("--vocab " + std::to_string(vocab) + " differs from the tokenizer's " + std::to_string(toks.size()));
    n_vocab = static_cast<uint32_t>(toks.size());
#else
    (void)pre;
    return Error("--tokenizer: this build has no tokenizer.json support (runner/tokenizer/tokenizer_json.hpp missing)");
#endif
  } else {
    if (vocab) n_vocab = static_cast<uint32_t>(vocab);
#if DSK_HAVE_TOKENIZER_JSON
    tok = dsk::tok::placeholder_tokenizer_metadata(n_vocab);
#else
    std::fprintf(stderr, "dsk-mkmodel: note: no tokenizer support in this build: no tokenizer keys written\n");
#endif
  }
  return tok;
}

uint64_t plan_bytes(const std::vector<PlannedTensor>& plan) {
  uint64_t total = 0;
  for (const auto& p : plan) {
    const auto& ti = ggml_type_info(p.type);
    uint64_t n = p.ne[0] / ti.block_elems * ti.block_bytes;
    for (size_t d = 1; d < p.ne.size(); ++d) n *= p.ne[d];
    total += n;
  }
  return total;
}

int write_and_report(const std::string& out, const gguf::Metadata& md, const std::vector<PlannedTensor>& plan,
                     const std::vector<std::string>& widened) {
  const bool big = plan_bytes(plan) > (uint64_t{1} << 30);
  auto progress = [&](size_t i, size_t n, const PlannedTensor& t, uint64_t bytes) {
    if (big) std::fprintf(stderr, "  [%zu/%zu] %s %s (%.2f GiB written)\n", i + 1, n, t.name.c_str(),
                          std::string(ggml_type_name(t.type)).c_str(), static_cast<double>(bytes) / (1u << 30));
  };
  auto w = write_gguf_streamed(out, md, plan, progress);
  if (!w) return fail(w.error().message());
  if (!widened.empty()) {
    std::fprintf(stderr, "dsk-mkmodel: %zu tensors stored wider than the mix asks (row too short):\n", widened.size());
    for (const auto& s : widened) std::fprintf(stderr, "  %s\n", s.c_str());
  }
  return 0;
}

// A deepseek4 shape: ds4's metadata keys and tensor layout, read back with load_deepseek4.
int make_v4(const std::string& shape, const std::string& out, const std::string& mix, uint64_t seed, uint64_t layers,
            uint64_t vocab, const std::string& tokenizer, std::string pre) {
  auto cr = synth_v4_shape(shape);
  if (!cr) return fail(cr.error().message());
  Deepseek4Config c = *cr;
  if (layers) {
    auto r = cut_v4_layers(c, static_cast<uint32_t>(layers));
    if (!r) return fail(r.error().message());
  }
  {
    auto r = v4_mix_type(mix, V4Role::attn, 256);
    if (!r) return fail(r.error().message());
  }
  if (pre.empty()) pre = "deepseek-v3";
  auto tok = tokenizer_metadata(tokenizer, pre, vocab, c.n_vocab);
  if (!tok) return fail(tok.error().message());
  gguf::Metadata md;
  md.set("general.architecture", gguf::Value::string("deepseek4"));
  md.set("general.name", gguf::Value::string("dsk-mkmodel " + shape + " " + mix + " seed " + std::to_string(seed)));
  set_deepseek4_metadata(md, c);
  for (const auto& kv : *tok) md.set(kv.key, kv.value);

  std::vector<std::string> widened;
  auto plan = plan_synthetic_v4(c, mix, seed, &widened);
  if (!plan) return fail(plan.error().message());
  std::fprintf(stderr, "dsk-mkmodel: %s, %u layers, mix %s: %zu tensors, %.3f GiB\n", shape.c_str(), c.n_layer,
               mix.c_str(), plan->size(), static_cast<double>(plan_bytes(*plan)) / (1u << 30));
  if (int rc = write_and_report(out, md, *plan, widened)) return rc;
  auto r = gguf::Reader::open(out);
  if (!r) return fail("wrote a file that does not read back: " + r.error().message());
  auto m = load_deepseek4(*r);
  if (!m) return fail("wrote a file that does not load: " + m.error().message());
  std::fprintf(stderr, "dsk-mkmodel: wrote %s\n", out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string shape, out, mix = "f32", layout_s = "mainline", tokenizer, pre;
  uint64_t seed = 1, layers = 0, vocab = 0;
  bool layout_set = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--help" || a == "-h") {
      std::fputs(usage().c_str(), stdout);
      return 0;
    }
    const char* v = next();
    if (!v) return fail("option " + std::string(a) + " needs a value (see --help)");
    if (a == "--shape") shape = v;
    else if (a == "-o" || a == "--out") out = v;
    else if (a == "--mix") mix = v;
    else if (a == "--layout") { layout_s = v; layout_set = true; }
    else if (a == "--tokenizer") tokenizer = v;
    else if (a == "--pre") pre = v;
    else if (a == "--seed") { if (!parse_u64(v, seed)) return fail("bad --seed '" + std::string(v) + "'"); }
    else if (a == "--layers") { if (!parse_u64(v, layers) || layers == 0 || layers > 100000) return fail("bad --layers '" + std::string(v) + "'"); }
    else if (a == "--vocab") { if (!parse_u64(v, vocab) || vocab == 0 || vocab > 0xFFFFFFFFull) return fail("bad --vocab '" + std::string(v) + "'"); }
    else return fail("unknown option '" + std::string(a) + "' (see --help)");
  }
  if (shape.empty()) return fail("--shape is required (see --help)");
  if (out.empty()) return fail("-o OUT.gguf is required (see --help)");
  if (is_v4_shape(shape)) {
    if (layout_set) return fail("--layout applies to deepseek2 shapes only");
    return make_v4(shape, out, mix, seed, layers, vocab, tokenizer, pre);
  }
  MlaLayout layout;
  if (layout_s == "mainline") layout = MlaLayout::mainline;
  else if (layout_s == "ik") layout = MlaLayout::ik;
  else return fail("bad --layout '" + layout_s + "' (mainline or ik)");

  auto cr = synth_shape(shape);
  if (!cr) return fail(cr.error().message());
  Deepseek2Config c = *cr;
  if (layers) {
    auto r = cut_layers(c, static_cast<uint32_t>(layers));
    if (!r) return fail(r.error().message());
  }
  {
    auto r = mix_type(mix, Role::weight, 256);
    if (!r) return fail(r.error().message());
  }

  gguf::Metadata md;
  md.set("general.architecture", gguf::Value::string("deepseek2"));
  md.set("general.name", gguf::Value::string("dsk-mkmodel " + shape + " " + mix + " seed " + std::to_string(seed)));
  if (pre.empty()) pre = (shape == "v2-lite" || shape == "tiny-lite") ? "deepseek-llm" : "deepseek-v3";
  // --vocab larger than the tokenizer pads with [PAD{id}] tokens (as converters do).
  auto tok = tokenizer_metadata(tokenizer, pre, vocab, c.n_vocab);
  if (!tok) return fail(tok.error().message());
  set_deepseek2_metadata(md, c, layout);
  for (const auto& kv : *tok) md.set(kv.key, kv.value);

  std::vector<std::string> widened;
  auto plan = plan_synthetic(c, mix, layout, seed, &widened);
  if (!plan) return fail(plan.error().message());
  std::fprintf(stderr, "dsk-mkmodel: %s, %u layers, mix %s, layout %s: %zu tensors, %.3f GiB\n", shape.c_str(),
               c.n_layer, mix.c_str(), layout_s.c_str(), plan->size(), static_cast<double>(plan_bytes(*plan)) / (1u << 30));
  if (int rc = write_and_report(out, md, *plan, widened)) return rc;
  // Check what was written.
  auto r = gguf::Reader::open(out);
  if (!r) return fail("wrote a file that does not read back: " + r.error().message());
  auto m = load_deepseek2(*r);
  if (!m) return fail("wrote a file that does not load: " + m.error().message());
  std::fprintf(stderr, "dsk-mkmodel: wrote %s\n", out.c_str());
  return 0;
}
