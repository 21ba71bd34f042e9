// dsk-convert: a Hugging Face DeepSeek V2 / V3 checkpoint to a deepseek2 GGUF, a DeepSeek-V4 one to a
// deepseek4 GGUF in ds4's layout (docs/models.md).
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "gguf/reader.hpp"
#include "model/deepseek2.hpp"
#include "model/deepseek4.hpp"
#include "model/hf_convert.hpp"
#include "model/hf_convert_v4.hpp"
#if DSK_HAVE_TOKENIZER_JSON
#include "tokenizer/tokenizer_json.hpp"
#endif

namespace {

using namespace dsk;
using namespace dsk::model;

constexpr const char* kUsage =
    "usage: dsk-convert HF_DIR OUT.gguf [--type TYPE] [--threads N]\n"
    "\n"
    "Converts a Hugging Face DeepSeek checkpoint (config.json with model_type deepseek_v2 or\n"
    "deepseek_v3; *.safetensors, sharded through model.safetensors.index.json or all files; dtypes\n"
    "BF16, F16, F32 and F8_E4M3 with weight_scale_inv block scales) to a deepseek2 GGUF in mainline\n"
    "llama.cpp's layout: head_count_kv 1, key_length kv_lora + rope, value_length kv_lora, the\n"
    "*_mla keys, 3-D attn_k_b / attn_v_b split from kv_b_proj (no attn_kv_b), experts stacked to 3-D,\n"
    "e_score_correction_bias as exp_probs_b.bias. MTP layers are not converted (reported).\n"
    "\n"
    "DeepSeek-V4 (model_type deepseek_v4): tensors under the official release names (embed.weight,\n"
    "layers.N.attn.wq_a.weight, hc_head_fn, ...) or transformers' (model.embed_tokens.weight, ...);\n"
    "BF16 / F16 / F32, F8_E4M3 with F8_E8M0 '.scale' (or weight_scale_inv) block scales, FP4 routed\n"
    "experts (I8 packed E2M1 with F8_E8M0 scales per 32), all dequantized exactly; written in ds4's\n"
    "deepseek4 layout (the MTP block mtp.0.* too when present). Norms, biases, sinks, HC scale /\n"
    "base, compressor ape and the router stay F32; HC fn and the compressor / indexer projections\n"
    "take --type when it is f32 / f16 / bf16, else BF16.\n"
    "\n"
    "  --type TYPE   f32, f16, bf16 (default), q8_0, q4_k, q6_k, q2_k. Norms, biases and the router\n"
    "                stay F32; K-quant rows that are not a multiple of 256 fall back to Q8_0 (F16 when\n"
    "                not a multiple of 32) and are listed.\n"
    "  --threads N   quantization threads (default: all cores)\n"
    "\n"
    "Tokenizer: HF_DIR/tokenizer.json when present, else a placeholder vocabulary of vocab_size.\n"
    "Progress goes to stderr; the output is written to OUT.gguf.tmp and renamed when complete.\n";

int fail(const std::string& msg) {
  std::fprintf(stderr, "dsk-convert: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string in, out, type_s = "bf16";
  unsigned threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--type" || a == "--threads") {
      if (i + 1 >= argc) return fail(std::string(a) + " needs a value");
      const std::string v = argv[++i];
      if (a == "--type") type_s = v;
      else threads = static_cast<unsigned>(std::strtoul(v.c_str(), nullptr, 10));
      continue;
    }
    if (!a.empty() && a[0] == '-') return fail("unknown option '" + std::string(a) + "' (see --help)");
    if (in.empty()) in = a;
    else if (out.empty()) out = a;
    else return fail("too many arguments (see --help)");
  }
  if (in.empty() || out.empty()) return fail("usage: dsk-convert HF_DIR OUT.gguf [--type TYPE] (see --help)");
  ConvertOptions opt;
  opt.hf_dir = in;
  opt.out = out;
  opt.threads = threads;
  if (type_s == "f32") opt.type = GgmlType::F32;
  else if (type_s == "f16") opt.type = GgmlType::F16;
  else if (type_s == "bf16") opt.type = GgmlType::BF16;
  else if (type_s == "q8_0") opt.type = GgmlType::Q8_0;
  else if (type_s == "q4_k") opt.type = GgmlType::Q4_K;
  else if (type_s == "q6_k") opt.type = GgmlType::Q6_K;
  else if (type_s == "q2_k") opt.type = GgmlType::Q2_K;
  else return fail("bad --type '" + type_s + "' (f32 f16 bf16 q8_0 q4_k q6_k q2_k)");

  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path tj = fs::path(in) / "tokenizer.json";
  const bool has_tj = fs::exists(tj, ec);
  std::string model_type;
  uint32_t n_vocab = 0;
  {
    // The vocabulary size (placeholder tokenizer) and the pre-tokenizer name need the config first.
    std::FILE* f = std::fopen((fs::path(in) / "config.json").c_str(), "rb");
    if (!f) return fail((fs::path(in) / "config.json").string() + ": cannot open");
    std::string text;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    std::fclose(f);
    if (hf_model_type(text) == "deepseek_v4") {
      auto c4 = hf_deepseek4_config(text);
      if (!c4) return fail(c4.error().message());
      model_type = "deepseek_v4";
      n_vocab = c4->n_vocab;
    } else {
      auto c = hf_deepseek_config(text, &model_type);
      if (!c) return fail(c.error().message());
      n_vocab = c->n_vocab;
    }
  }
#if DSK_HAVE_TOKENIZER_JSON
  if (has_tj) {
    auto t = dsk::tok::gguf_metadata_from_tokenizer_json(tj.string(), model_type == "deepseek_v2" ? "deepseek-llm" : "deepseek-v3", n_vocab);
    if (!t) return fail(t.error().message());
    opt.tokenizer = std::move(t).value();
    std::fprintf(stderr, "dsk-convert: tokenizer from %s\n", tj.c_str());
  } else {
    opt.tokenizer = dsk::tok::placeholder_tokenizer_metadata(n_vocab);
    std::fprintf(stderr, "dsk-convert: no tokenizer.json: placeholder vocabulary of %u tokens\n", n_vocab);
  }
#else
  (void)n_vocab;
  std::fprintf(stderr, "dsk-convert: note: no tokenizer support in this build (%s): no tokenizer keys written\n",
               has_tj ? "tokenizer.json ignored" : "no tokenizer.json either");
#endif
  opt.progress = [](size_t i, size_t n, const PlannedTensor& t, uint64_t bytes) {
    if (n < 200 || (i + 1) % 20 == 0 || i + 1 == n)
      std::fprintf(stderr, "  [%zu/%zu] %s %s (%.3f GiB written)\n", i + 1, n, t.name.c_str(),
                   std::string(ggml_type_name(t.type)).c_str(), static_cast<double>(bytes) / (1u << 30));
  };
  if (model_type == "deepseek_v4") {
    auto r4 = convert_hf_deepseek4(opt);
    if (!r4) return fail(r4.error().message());
    const Convert4Report& rep = *r4;
    std::fprintf(stderr, "dsk-convert: deepseek_v4 (%s names), %u layers, %zu tensors, %.3f GiB, type %s%s%s%s\n",
                 rep.naming.c_str(), rep.config.n_layer, rep.n_tensors, static_cast<double>(rep.n_bytes) / (1u << 30),
                 type_s.c_str(), rep.fp8 ? " (from F8_E4M3 with block scales)" : "",
                 rep.fp4 ? " (experts from FP4 with E8M0 scales)" : "", rep.mtp ? " + MTP block" : "");
    if (!rep.widened.empty()) {
      std::fprintf(stderr, "dsk-convert: %zu tensors stored wider than asked:\n", rep.widened.size());
      for (const auto& s : rep.widened) std::fprintf(stderr, "  %s\n", s.c_str());
    }
    if (!rep.skipped.empty()) {
      std::fprintf(stderr, "dsk-convert: not converted:\n");
      for (const auto& s : rep.skipped) std::fprintf(stderr, "  %s\n", s.c_str());
    }
    auto rd = gguf::Reader::open(out);
    if (!rd) return fail("wrote a file that does not read back: " + rd.error().message());
    auto m = load_deepseek4(*rd);
    if (!m) return fail("wrote a file that does not load: " + m.error().message());
    std::fprintf(stderr, "dsk-convert: wrote %s\n", out.c_str());
    return 0;
  }
  auto r = convert_hf_deepseek(opt);
  if (!r) return fail(r.error().message());
  const ConvertReport& rep = *r;
  std::fprintf(stderr, "dsk-convert: %s, %u layers, %zu tensors, %.3f GiB, type %s%s\n", rep.model_type.c_str(),
               rep.config.n_layer, rep.n_tensors, static_cast<double>(rep.n_bytes) / (1u << 30), type_s.c_str(),
               rep.fp8 ? " (from F8_E4M3 with block scales)" : "");
  if (!rep.widened.empty()) {
    std::fprintf(stderr, "dsk-convert: %zu tensors stored wider than asked:\n", rep.widened.size());
    for (const auto& s : rep.widened) std::fprintf(stderr, "  %s\n", s.c_str());
  }
  if (!rep.skipped.empty()) {
    std::fprintf(stderr, "dsk-convert: not converted:\n");
    for (const auto& s : rep.skipped) std::fprintf(stderr, "  %s\n", s.c_str());
  }
  auto rd = gguf::Reader::open(out);
  if (!rd) return fail("wrote a file that does not read back: " + rd.error().message());
  auto m = load_deepseek2(*rd);
  if (!m) return fail("wrote a file that does not load: " + m.error().message());
  std::fprintf(stderr, "dsk-convert: wrote %s\n", out.c_str());
  return 0;
}
