// dsk-run — generate text with a DeepSeek GGUF model: the deepseek2 family on the CPU or CUDA backend
// (session::Session), DeepSeek-V4 (deepseek4) on the CPU (forward::Deepseek4Forward).
// Output text goes to stdout, timing lines to stderr; an error is one line and a non-zero exit.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu_ops.hpp"
#include "dsk/sample/sample.hpp"
#include "forward/deepseek4_forward.hpp"
#include "gguf/reader.hpp"
#include "model/deepseek4.hpp"
#include "reference/sample.hpp"
#include "session/session.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"

namespace {

const char* kUsage =
    "usage: dsk-run -m FILE [options]\n"
    "\n"
    "Runs a DeepSeek GGUF and prints the generated text: the deepseek2 family (DeepSeek V2, V2-Lite,\n"
    "V3, R1, Kimi-K2) on the CPU or CUDA backend, DeepSeek-V4 (deepseek4: V4-Flash, V4-Pro shapes) on\n"
    "the CPU backend.\n"
    "\n"
    "  -m, --model FILE      GGUF file (the first part of a split set opens the whole set)\n"
    "  -p, --prompt TEXT     prompt text (tokenized with the file's tokenizer; BOS added as the file says)\n"
    "  --tokens ID,ID,...    prompt as token ids, used verbatim (no BOS added)\n"
    "  --n-prefill K         with --tokens: the first K tokens as one prefill, the rest one at a time\n"
    "  --chat                wrap the prompt in the model's chat template (DeepSeek-V3 / V2 built in)\n"
    "  -n, --n-predict N     tokens to generate (default 64; 0: none); stops at EOS\n"
    "  --temp T              temperature (default 0: greedy)\n"
    "  --top-k K             keep the K most likely tokens (default 0: off)\n"
    "  --top-p P             keep the smallest set with mass >= P (default 1: off)\n"
    "  --min-p M             keep tokens with p >= M * p_max (default 0: off)\n"
    "  --seed S              sampling seed (default 0); a draw depends only on (seed, position)\n"
    "  -c, --ctx-size N      context size in tokens (default: the model's, at most 4096)\n"
    "  -t, --threads N       CPU threads (default: all); results do not depend on it\n"
    "  --backend cpu|cuda    compute backend (default cpu); cuda gives the CPU's logits bit for bit\n"
    "                        (deepseek2; deepseek4 runs on the CPU only so far)\n"
    "  --kv-storage MODE     deepseek4: how stored KV rows are kept: official (default: as DeepSeek's\n"
    "                        inference code and ds4 round them: FP8-E4M3 non-RoPE dims, F16 rows,\n"
    "                        Hadamard + FP4-E2M1 indexer rows) or exact (float32, as transformers)\n"
    "  --indexer-ties RULE   deepseek4: which of exactly tied indexer scores the top-k keeps: lowest\n"
    "                        (default: the lower row, as ds4) or torch (torch.topk on the CPU, to\n"
    "                        compare with transformers' logits)\n"
    "  --print-tokens        print the prompt's token ids (without the BOS the runner adds), comma\n"
    "                        separated on one line of stdout\n"
    "  --dump-logits FILE    write float32 little-endian logits of every input position,\n"
    "                        row-major [n_tokens, n_vocab] (prompt, then each generated token fed back)\n"
    "  -h, --help            this text\n";

[[noreturn]] void fail(const std::string& msg) {
  std::fprintf(stderr, "dsk-run: %s\n", msg.c_str());
  std::exit(1);
}

struct Args {
  std::string model, prompt, tokens, dump_logits;
  bool have_prompt = false, have_tokens = false, chat = false, print_tokens = false;
  int64_t n_predict = 64, n_prefill = -1, n_ctx = 0;
  int threads = 0;
  dsk::sample::SamplerParams sp;
  dsk::session::BackendKind backend = dsk::session::BackendKind::cpu;
  bool have_backend = false, have_kv_storage = false;
  dsk::forward::KvStorage kv_storage = dsk::forward::KvStorage::official;
  dsk::forward::IndexerTies indexer_ties = dsk::forward::IndexerTies::lower_index;
  bool have_indexer_ties = false;
};

int64_t to_int(const std::string& s, const char* opt) {
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end) fail(std::string(opt) + ": '" + s + "' is not an integer");
  return v;
}
float to_float(const std::string& s, const char* opt) {
  char* end = nullptr;
  const float v = std::strtof(s.c_str(), &end);
  if (s.empty() || *end) fail(std::string(opt) + ": '" + s + "' is not a number");
  return v;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string o = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) fail(o + " needs a value (see --help)");
      return argv[++i];
    };
    if (o == "-h" || o == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (o == "-m" || o == "--model") a.model = val();
    else if (o == "-p" || o == "--prompt") { a.prompt = val(); a.have_prompt = true; }
    else if (o == "--tokens") { a.tokens = val(); a.have_tokens = true; }
    else if (o == "--n-prefill") a.n_prefill = to_int(val(), "--n-prefill");
    else if (o == "--chat") a.chat = true;
    else if (o == "-n" || o == "--n-predict") a.n_predict = to_int(val(), "-n");
    else if (o == "--temp") a.sp.temperature = to_float(val(), "--temp");
    else if (o == "--top-k") a.sp.top_k = static_cast<int32_t>(to_int(val(), "--top-k"));
    else if (o == "--top-p") a.sp.top_p = to_float(val(), "--top-p");
    else if (o == "--min-p") a.sp.min_p = to_float(val(), "--min-p");
    else if (o == "--seed") a.sp.seed = static_cast<uint64_t>(to_int(val(), "--seed"));
    else if (o == "-c" || o == "--ctx-size") a.n_ctx = to_int(val(), "-c");
    else if (o == "-t" || o == "--threads") a.threads = static_cast<int>(to_int(val(), "-t"));
    else if (o == "--backend") {
      const std::string b = val();
      if (b == "cpu") a.backend = dsk::session::BackendKind::cpu;
      else if (b == "cuda") a.backend = dsk::session::BackendKind::cuda;
      else fail("--backend: '" + b + "' is not cpu or cuda");
      a.have_backend = true;
    } else if (o == "--kv-storage") {
      const std::string k = val();
      if (k == "official") a.kv_storage = dsk::forward::KvStorage::official;
      else if (k == "exact") a.kv_storage = dsk::forward::KvStorage::exact;
      else fail("--kv-storage: '" + k + "' is not official or exact");
      a.have_kv_storage = true;
    } else if (o == "--indexer-ties") {
      const std::string k = val();
      if (k == "lowest") a.indexer_ties = dsk::forward::IndexerTies::lower_index;
      else if (k == "torch") a.indexer_ties = dsk::forward::IndexerTies::torch_cpu;
      else fail("--indexer-ties: '" + k + "' is not lowest or torch");
      a.have_indexer_ties = true;
    } else if (o == "--print-tokens") a.print_tokens = true;
    else if (o == "--dump-logits") a.dump_logits = val();
    else fail("unknown option '" + o + "' (see --help)");
  }
  if (a.model.empty()) fail("no model: -m FILE (see --help)");
  if (a.have_prompt && a.have_tokens) fail("give either -p or --tokens, not both");
  if (a.n_prefill >= 0 && !a.have_tokens) fail("--n-prefill needs --tokens");
  if (a.chat && a.have_tokens) fail("--chat needs a text prompt (-p), not --tokens");
  if (a.n_predict < 0) fail("-n must be >= 0");
  if (a.n_ctx < 0) fail("-c must be >= 0");
  return a;
}

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    ids.push_back(static_cast<int32_t>(to_int(s.substr(i, j - i), "--tokens")));
    i = j + 1;
  }
  if (ids.empty()) fail("--tokens: no ids");
  return ids;
}

std::string join_ids(std::span<const int32_t> ids) {
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line.push_back(',');
    line.append(std::to_string(ids[i]));
  }
  return line;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// What the generation loop needs from a model: one sequence, evaluated chunk by chunk.
class Model {
 public:
  virtual ~Model() = default;
  // Runs `tokens` at positions n_past() .. and advances; logits (optional): every row when all_logits,
  // else the last; with `sampler`, *next = the token drawn from the last row.
  virtual dsk::Result<void> eval(std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits,
                                 const dsk::sample::SamplerParams* sampler, int32_t* next) = 0;
  virtual int64_t n_past() const = 0;
  virtual int64_t n_ctx() const = 0;
  virtual const dsk::tok::Tokenizer* tokenizer() const = 0;
  virtual std::string tokenizer_error() const = 0;
};

// deepseek2: a session (CPU or CUDA backend; draws on the backend).
class V2Model final : public Model {
 public:
  explicit V2Model(std::unique_ptr<dsk::session::Session> s) : s_(std::move(s)) {}
  dsk::Result<void> eval(std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits,
                         const dsk::sample::SamplerParams* sampler, int32_t* next) override {
    return s_->eval(0, tokens, all_logits, logits, sampler, next);
  }
  int64_t n_past() const override { return s_->n_past(); }
  int64_t n_ctx() const override { return s_->n_ctx(); }
  const dsk::tok::Tokenizer* tokenizer() const override { return s_->tokenizer(); }
  std::string tokenizer_error() const override { return s_->tokenizer_error(); }
  const dsk::session::Session& session() const { return *s_; }

 private:
  std::unique_ptr<dsk::session::Session> s_;
};

// deepseek4: the V4 CPU forward; draws with the host sampler (the same chain as the backends').
class V4Model final : public Model {
 public:
  static dsk::Result<std::unique_ptr<V4Model>> open(dsk::gguf::Reader reader, const Args& a) {
    std::unique_ptr<V4Model> m(new V4Model());
    m->reader_.emplace(std::move(reader));
    DSK_TRY_ASSIGN(m->model_, dsk::model::load_deepseek4(*m->reader_));
    if (auto t = dsk::tok::Tokenizer::from_gguf(m->reader_->metadata())) m->tok_.emplace(std::move(t).value());
    else m->tok_error_ = std::move(t).error().message();
    const int threads = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    m->ops_ = std::make_unique<dsk::backend::CpuOps>(threads);
    dsk::forward::Deepseek4Options o;
    const uint32_t train = m->model_.config.n_ctx_train;
    o.n_ctx = a.n_ctx > 0 ? a.n_ctx : std::min<int64_t>(train ? train : 4096, 4096);
    o.kv_storage = a.kv_storage;
    o.indexer_ties = a.indexer_ties;
    m->fw_ = std::make_unique<dsk::forward::Deepseek4Forward>(m->model_, *m->ops_, o);
    DSK_TRY(m->fw_->init());
    return m;
  }
  dsk::Result<void> eval(std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits,
                         const dsk::sample::SamplerParams* sampler, int32_t* next) override {
    const int64_t T = static_cast<int64_t>(tokens.size());
    if (n_past_ + T > n_ctx())
      return dsk::Error::format("context full: %lld tokens at position %lld exceed the context of %lld (use -c)",
                                static_cast<long long>(T), static_cast<long long>(n_past_),
                                static_cast<long long>(n_ctx()));
    DSK_TRY(fw_->eval(tokens, n_past_, all_logits, buf_));
    n_past_ += T;
    const int32_t nv = fw_->n_vocab();
    if (sampler && next)
      *next = dsk::ref::sample::sample(buf_.data() + buf_.size() - static_cast<size_t>(nv), nv, *sampler,
                                       static_cast<uint64_t>(n_past_));
    if (logits) *logits = buf_;
    return {};
  }
  int64_t n_past() const override { return n_past_; }
  int64_t n_ctx() const override { return fw_->n_ctx(); }
  const dsk::tok::Tokenizer* tokenizer() const override { return tok_ ? &*tok_ : nullptr; }
  std::string tokenizer_error() const override { return tok_error_; }
  const dsk::model::Deepseek4Model& model() const { return model_; }

 private:
  V4Model() = default;
  std::optional<dsk::gguf::Reader> reader_;
  dsk::model::Deepseek4Model model_;
  std::optional<dsk::tok::Tokenizer> tok_;
  std::string tok_error_;
  std::unique_ptr<dsk::backend::CpuOps> ops_;
  std::unique_ptr<dsk::forward::Deepseek4Forward> fw_;
  std::vector<float> buf_;
  int64_t n_past_ = 0;
};

const char* kv_storage_name(dsk::forward::KvStorage k) {
  return k == dsk::forward::KvStorage::official ? "official" : "exact";
}

// Opens the file with the path its architecture takes.
std::unique_ptr<Model> open_model(const Args& a) {
  const auto t_load = std::chrono::steady_clock::now();
  auto rd = dsk::gguf::Reader::open(a.model);
  if (!rd) fail(rd.error().message());
  auto arch = rd->metadata().get_string("general.architecture");
  if (!arch) fail(arch.error().message());
  if (arch.value() == "deepseek4") {
    if (a.backend == dsk::session::BackendKind::cuda)
      fail(a.model + ": deepseek4 (DeepSeek-V4) is not yet supported on CUDA; use --backend cpu");
    auto m = V4Model::open(std::move(rd).value(), a);
    if (!m) fail(m.error().message());
    const auto& c = m.value()->model().config;
    std::fprintf(stderr,
                 "dsk-run: %s: deepseek4, %u layers, n_embd %u, %u experts (top %u), vocab %u, ctx %lld, kv-storage %s; "
                 "loaded in %.2f s\n",
                 a.model.c_str(), c.n_layer, c.n_embd, c.n_expert, c.n_expert_used, c.n_vocab,
                 static_cast<long long>(m.value()->n_ctx()), kv_storage_name(a.kv_storage), seconds_since(t_load));
    return std::move(m).value();
  }
  if (a.have_kv_storage && arch.value() == "deepseek2")
    fail("--kv-storage applies to deepseek4 (DeepSeek-V4) models; " + a.model + " is deepseek2");
  if (a.have_indexer_ties && arch.value() == "deepseek2")
    fail("--indexer-ties applies to deepseek4 (DeepSeek-V4) models; " + a.model + " is deepseek2");
  dsk::session::SessionOptions so;
  so.n_ctx = a.n_ctx;
  so.threads = a.threads;
  so.backend = a.backend;
  auto opened = dsk::session::Session::open(a.model, so);  // refuses other architectures
  if (!opened) fail(opened.error().message());
  auto m = std::make_unique<V2Model>(std::move(opened).value());
  const auto& cfg = m->session().model().config;
  std::fprintf(stderr, "dsk-run: %s: deepseek2, %u layers, n_embd %u, %u experts (top %u), vocab %u, ctx %lld; loaded in %.2f s\n",
               a.model.c_str(), cfg.n_layer, cfg.n_embd, cfg.n_expert, cfg.n_expert_used, cfg.n_vocab,
               static_cast<long long>(m->n_ctx()), seconds_since(t_load));
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  const std::unique_ptr<Model> model = open_model(a);
  Model& s = *model;
  const dsk::tok::Tokenizer* tok = s.tokenizer();

  // The prompt.
  std::vector<int32_t> prompt;
  if (a.have_tokens) {
    prompt = parse_ids(a.tokens);
  } else {
    if (!tok) fail("the model has no usable tokenizer (" + s.tokenizer_error() + "); give --tokens");
    std::string text = a.prompt;
    bool add_bos = tok->add_bos_default();
    if (a.chat) {
      const dsk::tok::ChatMessage msg{"user", a.prompt};
      auto r = dsk::tok::apply_chat_template(*tok, std::span<const dsk::tok::ChatMessage>(&msg, 1), true);
      if (!r) fail(r.error().message());
      text = r.value();
      add_bos = false;  // the rendered template starts with the BOS text
    }
    auto ids = tok->encode(text, false);
    if (!ids) fail(ids.error().message());
    if (a.print_tokens) {
      std::printf("%s\n", join_ids(ids.value()).c_str());
      std::fflush(stdout);
    }
    if (add_bos) {
      if (tok->bos() < 0) fail("the tokenizer asks for a BOS token but has none");
      prompt.push_back(tok->bos());
    }
    prompt.insert(prompt.end(), ids.value().begin(), ids.value().end());
  }
  if (a.print_tokens && a.have_tokens) std::printf("%s\n", join_ids(prompt).c_str());
  if (prompt.empty()) fail("empty prompt: nothing to run (give -p TEXT or --tokens)");
  if (static_cast<int64_t>(prompt.size()) + a.n_predict > s.n_ctx())
    fail("prompt (" + std::to_string(prompt.size()) + " tokens) + -n " + std::to_string(a.n_predict) +
         " exceeds the context of " + std::to_string(s.n_ctx()) + " tokens (use -c)");

  FILE* dump = nullptr;
  if (!a.dump_logits.empty()) {
    dump = std::fopen(a.dump_logits.c_str(), "wb");
    if (!dump) fail("cannot write " + a.dump_logits + ": " + std::strerror(errno));
  }
  const bool all = dump != nullptr;
  auto write_rows = [&](const std::vector<float>& l) {
    if (dump && std::fwrite(l.data(), sizeof(float), l.size(), dump) != l.size()) fail("writing " + a.dump_logits + " failed");
  };

  // Prefill: one batch, or with --n-prefill K the first K tokens then one at a time. The last
  // forward of the prompt draws the first token on the backend (on the GPU with --backend cuda:
  // the same token as the CPU, dsk/sample/sample.hpp); logits come back only for --dump-logits.
  std::vector<float> logits;
  std::vector<float>* lp = dump ? &logits : nullptr;
  const dsk::sample::SamplerParams* sp = a.n_predict > 0 ? &a.sp : nullptr;
  int32_t id = -1;
  const auto t_pp = std::chrono::steady_clock::now();
  const size_t first = a.n_prefill >= 0 ? std::min(prompt.size(), static_cast<size_t>(a.n_prefill)) : prompt.size();
  if (first > 0) {
    auto r = s.eval(std::span<const int32_t>(prompt.data(), first), all, lp, first == prompt.size() ? sp : nullptr, &id);
    if (!r) fail(r.error().message());
    write_rows(logits);
  }
  for (size_t i = first; i < prompt.size(); ++i) {
    auto r = s.eval(std::span<const int32_t>(&prompt[i], 1), all, lp, i + 1 == prompt.size() ? sp : nullptr, &id);
    if (!r) fail(r.error().message());
    write_rows(logits);
  }
  const double pp_s = seconds_since(t_pp);
  std::fprintf(stderr, "dsk-run: prompt: %zu tokens in %.3f s (%.1f t/s)\n", prompt.size(), pp_s,
               static_cast<double>(prompt.size()) / pp_s);

  // Generation: each step feeds the drawn token and draws the next on the backend.
  std::unique_ptr<dsk::tok::StreamDecoder> dec;
  if (tok) dec = std::make_unique<dsk::tok::StreamDecoder>(*tok);
  const auto t_tg = std::chrono::steady_clock::now();
  int64_t generated = 0;
  for (; generated < a.n_predict; ++generated) {
    if (id < 0) fail("no finite logit at position " + std::to_string(s.n_past()));
    if (tok && tok->is_eog(id)) break;
    if (dec) {
      const std::string piece = dec->push(id);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
    } else {
      std::printf("%s%d", generated ? "," : "", id);
    }
    std::fflush(stdout);
    if (generated + 1 == a.n_predict) {
      ++generated;
      break;  // the last token needs no forward (unless its logits are dumped)
    }
    const int32_t fed = id;
    auto r = s.eval(std::span<const int32_t>(&fed, 1), all, lp, &a.sp, &id);
    if (!r) fail(r.error().message());
    write_rows(logits);
  }
  if (dec) {
    const std::string rest = dec->flush();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
  }
  std::printf("\n");
  const double tg_s = seconds_since(t_tg);
  if (generated > 0)
    std::fprintf(stderr, "dsk-run: generated %lld tokens in %.3f s (%.1f t/s)\n", static_cast<long long>(generated), tg_s,
                 static_cast<double>(generated) / tg_s);
  if (dump && std::fclose(dump) != 0) fail("closing " + a.dump_logits + " failed");
  return 0;
}
