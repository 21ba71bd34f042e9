// dsk-bench — prompt processing (pp) and token generation (tg) speed of a deepseek2 model, in
// llama-bench's conventions (docs/performance.md).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <span>
#include <unistd.h>
#include <string>
#include <vector>

#include "backend/cuda_ops.hpp"
#include "gguf/metadata.hpp"
#include "model/deepseek2.hpp"
#include "model/gguf_stream.hpp"
#include "model/synth.hpp"
#include "session/session.hpp"

namespace {

using namespace dsk;

const char* kUsage =
    "usage: dsk-bench (-m FILE.gguf | --synthetic SHAPE) [options]\n"
    "Measures prompt processing (ppN: N tokens as one batch) and token generation (tgN: N tokens one\n"
    "at a time, each step a forward + a greedy draw on the backend, as dsk-run generates; only the\n"
    "token comes back), as llama-bench does: one warm-up run per test,\n"
    "then -r runs, t/s as mean +- standard deviation.\n"
    "  -m FILE               a deepseek2 GGUF\n"
    "  --synthetic SHAPE     no file: SHAPE of dsk-mkmodel (tiny, tiny-lite, tiny-384, v2-lite, v3) with\n"
    "                        random weights made on the GPU (a sparse GGUF of the shape is written to\n"
    "                        $TMPDIR for the tensor layout; its data is never read)\n"
    "  --mix MIX             weight types of --synthetic (dsk-mkmodel's: f32 bf16 q8_0 q4_k q6_k 2bit;\n"
    "                        default q8_0)\n"
    "  --layers N            --synthetic: the first N layers only\n"
    "  --seed S              --synthetic: weight seed (default 1)\n"
    "  -p N[,N...]           prompt lengths (default 512; 0: none)\n"
    "  -n N[,N...]           generated tokens (default 128; 0: none)\n"
    "  -d D[,D...]           context depth already filled before each test (default 0)\n"
    "  -r R                  runs per test (default 5)\n"
    "  -o md|csv|json        output format (default md)\n"
    "  --backend cuda|cpu    default cuda (cpu: -m only)\n"
    "  -t N                  CPU threads (cpu backend)\n"
    "  --profile             cuda: after the tests, one more tg run with events around every op of the\n"
    "                        forward: a table of where a decode step's time goes, and the gaps between\n"
    "                        ops (step time minus the sum of op times); graphs are off in that run\n"
    "  --no-graphs           cuda: launch every kernel of a decode step (default: replay a captured\n"
    "                        CUDA graph per step)\n"
    "  -h, --help            this text\n"
    "tg rows also give the bytes read per token (weights the token uses: every non-expert tensor, k of\n"
    "the n routed experts, one embedding row, the head; and the KV cache at that depth) times t/s, as\n"
    "GB/s and as % of the device's read bandwidth measured at start (cuda).\n";

[[noreturn]] void fail(const std::string& m) {
  std::fprintf(stderr, "dsk-bench: %s\n", m.c_str());
  std::exit(1);
}

std::vector<int64_t> int_list(const std::string& s, const char* opt) {
  std::vector<int64_t> v;
  size_t i = 0;
  while (i <= s.size()) {
    const size_t j = s.find(',', i);
    const std::string part = s.substr(i, j == std::string::npos ? std::string::npos : j - i);
    char* end = nullptr;
    const long long x = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || !end || *end || x < 0) fail(std::string(opt) + ": bad value '" + part + "'");
    v.push_back(x);
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return v;
}

struct ModelBytes {
  double total = 0;      // every tensor the forward uses
  double per_token = 0;  // weights one decoded token reads
  double params = 0;
};

ModelBytes model_bytes(const model::Deepseek2Model& m) {
  ModelBytes b;
  auto add = [&](const model::TensorRef& t, double frac) {
    if (!t.present()) return;
    b.total += static_cast<double>(t.n_bytes);
    b.per_token += frac * static_cast<double>(t.n_bytes);
    b.params += static_cast<double>(t.ne[0]) * static_cast<double>(t.ne[1]) * static_cast<double>(t.ne[2]) * static_cast<double>(t.ne[3]);
  };
  const auto& c = m.config;
  add(m.token_embd, 1.0 / static_cast<double>(c.n_vocab));
  add(m.output_norm, 1.0);
  if (!m.output_tied) add(m.output, 1.0);
  else b.per_token += static_cast<double>(m.output.n_bytes);
  const double kf = c.n_expert ? static_cast<double>(c.n_expert_used) / static_cast<double>(c.n_expert) : 0.0;
  for (const auto& L : m.layers) {
    for (const model::TensorRef* t : {&L.attn_norm, &L.attn_q_a, &L.attn_q_a_norm, &L.attn_q_b, &L.attn_q, &L.attn_kv_a_mqa,
                                      &L.attn_kv_a_norm, &L.attn_k_b, &L.attn_v_b, &L.attn_output, &L.ffn_norm, &L.ffn_gate,
                                      &L.ffn_up, &L.ffn_down, &L.ffn_gate_inp, &L.exp_probs_b, &L.ffn_gate_shexp,
                                      &L.ffn_up_shexp, &L.ffn_down_shexp})
      add(*t, 1.0);
    for (const model::TensorRef* t : {&L.ffn_gate_exps, &L.ffn_up_exps, &L.ffn_down_exps}) add(*t, kf);
  }
  return b;
}

// A sparse GGUF of the synthetic shape (tensor data left as a file hole).
std::string write_synthetic(const std::string& shape, const std::string& mix, uint64_t layers, uint64_t seed) {
  auto cr = model::synth_shape(shape);
  if (!cr) fail(cr.error().message());
  model::Deepseek2Config c = *cr;
  if (layers) {
    auto r = model::cut_layers(c, static_cast<uint32_t>(layers));
    if (!r) fail(r.error().message());
  }
  gguf::Metadata md;
  md.set("general.architecture", gguf::Value::string("deepseek2"));
  md.set("general.name", gguf::Value::string("dsk-bench synthetic " + shape + " " + mix));
  model::set_deepseek2_metadata(md, c, model::MlaLayout::mainline);
  auto plan = model::plan_synthetic(c, mix, model::MlaLayout::mainline, seed, nullptr);
  if (!plan) fail(plan.error().message());
  for (auto& t : *plan) t.hole = true;
  const char* tmp = std::getenv("TMPDIR");
  const std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/dsk-bench-" + shape + "-" + mix + "-" +
                           std::to_string(c.n_layer) + "-" + std::to_string(::getpid()) + ".gguf";
  auto w = model::write_gguf_streamed(path, md, *plan);
  if (!w) fail(w.error().message());
  return path;
}

struct Row {
  std::string test;
  double mean = 0, sd = 0;
  double gbps = 0, pct = 0;  // tg only
};

// Mean and sample standard deviation.
void stats(const std::vector<double>& v, Row& r) {
  const double n = static_cast<double>(v.size());
  for (double x : v) r.mean += x / n;
  for (double x : v) r.sd += (x - r.mean) * (x - r.mean) / std::max(1.0, n - 1.0);
  r.sd = std::sqrt(r.sd);
}

}  // namespace

int main(int argc, char** argv) {
  std::string file, synthetic, mix = "q8_0", out = "md", backend = "cuda";
  uint64_t layers = 0, seed = 1;
  std::vector<int64_t> pp{512}, tg{128}, depth{0};
  int reps = 5, threads = 0;
  bool profile = false, graphs = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--profile") {
      profile = true;
      continue;
    }
    if (a == "--no-graphs") {
      graphs = false;
      continue;
    }
    if (i + 1 >= argc) fail("option " + a + " needs a value (see --help)");
    const std::string v = argv[++i];
    if (a == "-m") file = v;
    else if (a == "--synthetic") synthetic = v;
    else if (a == "--mix") mix = v;
    else if (a == "--layers") layers = static_cast<uint64_t>(int_list(v, "--layers").at(0));
    else if (a == "--seed") seed = static_cast<uint64_t>(int_list(v, "--seed").at(0));
    else if (a == "-p") pp = int_list(v, "-p");
    else if (a == "-n") tg = int_list(v, "-n");
    else if (a == "-d") depth = int_list(v, "-d");
    else if (a == "-r") reps = static_cast<int>(int_list(v, "-r").at(0));
    else if (a == "-o") out = v;
    else if (a == "--backend") backend = v;
    else if (a == "-t") threads = static_cast<int>(int_list(v, "-t").at(0));
    else fail("unknown option '" + a + "' (see --help)");
  }
  if (file.empty() == synthetic.empty()) fail("give exactly one of -m FILE and --synthetic SHAPE (see --help)");
  if (backend != "cuda" && backend != "cpu") fail("--backend: cuda or cpu");
  if (!synthetic.empty() && backend != "cuda") fail("--synthetic makes its weights on the GPU: --backend cuda only");
  if (out != "md" && out != "csv" && out != "json") fail("-o: md, csv or json");
  if (reps < 1) fail("-r: at least 1");

  const std::string path = synthetic.empty() ? file : write_synthetic(synthetic, mix, layers, seed);
  int64_t need = 1;
  for (int64_t d : depth)
    for (int64_t p : pp) need = std::max(need, d + std::max(p, *std::max_element(tg.begin(), tg.end())) + 1);
  for (int64_t d : depth) need = std::max(need, d + *std::max_element(tg.begin(), tg.end()) + 1);
  session::SessionOptions so;
  so.n_ctx = need;
  so.threads = threads;
  so.backend = backend == "cuda" ? session::BackendKind::cuda : session::BackendKind::cpu;
  so.synthetic_weights = !synthetic.empty();
  so.profile = profile;
  so.cuda_graphs = graphs;
  auto sr = session::Session::open(path, so);
  if (!synthetic.empty()) std::filesystem::remove(path);
  if (!sr) fail(sr.error().message());
  session::Session& s = **sr;
  const ModelBytes mb = model_bytes(s.model());
  const auto& c = s.model().config;
  double read_bw = 0;
  if (backend == "cuda") {
    auto bw = backend::cuda_read_bandwidth(0);
    if (bw) read_bw = *bw;
  }
  const std::string model_name = synthetic.empty() ? std::filesystem::path(file).filename().string()
                                                   : "synthetic " + synthetic + " " + mix + " (" + std::to_string(c.n_layer) + " layers)";
  const double kv_row_bytes = static_cast<double>(c.kv_lora + c.d_rope) * 4.0 * static_cast<double>(c.n_layer);

  std::vector<float> logits;
  const dsk::sample::SamplerParams greedy{};
  auto token = [&](int64_t i) { return static_cast<int32_t>((i * 7919 + 13) % c.n_vocab); };
  auto fill = [&](int64_t d) {  // the context up to depth d (untimed), in prefill batches of 512
    s.clear();
    for (int64_t i = 0; i < d; i += 512) {
      std::vector<int32_t> t;
      for (int64_t j = i; j < std::min(d, i + 512); ++j) t.push_back(token(j));
      auto r = s.eval(t, false, logits);
      if (!r) fail(r.error().message());
    }
  };
  using clock = std::chrono::steady_clock;
  std::vector<Row> rows;
  for (int64_t d : depth) {
    const std::string at = d ? "@d" + std::to_string(d) : "";
    for (int64_t p : pp) {
      if (p == 0) continue;
      std::vector<double> tps;
      std::vector<int32_t> t;
      for (int64_t j = 0; j < p; ++j) t.push_back(token(d + j));
      for (int r = 0; r <= reps; ++r) {  // run 0: warm-up
        fill(d);
        const auto t0 = clock::now();
        auto e = s.eval(t, false, logits);
        const double sec = std::chrono::duration<double>(clock::now() - t0).count();
        if (!e) fail(e.error().message());
        if (r > 0) tps.push_back(static_cast<double>(p) / sec);
      }
      Row row{"pp" + std::to_string(p) + at};
      stats(tps, row);
      rows.push_back(row);
    }
    for (int64_t n : tg) {
      if (n == 0) continue;
      std::vector<double> tps;
      for (int r = 0; r <= reps; ++r) {
        fill(d);
        const auto t0 = clock::now();
        for (int64_t j = 0; j < n; ++j) {
          const int32_t tok = token(d + j);
          int32_t drawn = -1;  // a decode step as dsk-run makes it: forward + greedy draw on the backend
          auto e = s.eval(0, std::span<const int32_t>(&tok, 1), false, nullptr, &greedy, &drawn);
          if (!e) fail(e.error().message());
        }
        const double sec = std::chrono::duration<double>(clock::now() - t0).count();
        if (r > 0) tps.push_back(static_cast<double>(n) / sec);
      }
      Row row{"tg" + std::to_string(n) + at};
      stats(tps, row);
      const double bytes = mb.per_token + kv_row_bytes * (static_cast<double>(d) + static_cast<double>(n) / 2.0);
      row.gbps = bytes * row.mean / 1e9;
      row.pct = read_bw > 0 ? 100.0 * row.gbps / read_bw : 0.0;
      rows.push_back(row);
    }
  }

  std::string prof;
  if (profile) {  // one more decode run, its steps timed op by op
    const int64_t n = std::max<int64_t>(1, *std::max_element(tg.begin(), tg.end()));
    const int64_t d = depth.front();
    fill(d);
    s.profile_report(true);
    for (int64_t j = 0; j < n; ++j) {
      const int32_t tok = token(d + j);
      int32_t drawn = -1;
      auto e = s.eval(0, std::span<const int32_t>(&tok, 1), false, nullptr, &greedy, &drawn);
      if (!e) fail(e.error().message());
    }
    prof = s.profile_report(true);
  }

  const double gib = mb.total / (1024.0 * 1024.0 * 1024.0), bparams = mb.params / 1e9;
  if (out == "md") {
    std::printf("| model | size | params | backend | test | t/s | GB/s | %% of read bw |\n|---|---:|---:|---|---:|---:|---:|---:|\n");
    for (const Row& r : rows) {
      const bool is_tg = r.test.rfind("tg", 0) == 0;
      char extra[64] = "| | |";
      if (is_tg && read_bw > 0) std::snprintf(extra, sizeof extra, "| %.0f | %.1f |", r.gbps, r.pct);
      else if (is_tg) std::snprintf(extra, sizeof extra, "| %.0f | |", r.gbps);
      std::printf("| %s | %.2f GiB | %.2f B | %s | %s | %.2f ± %.2f %s\n", model_name.c_str(), gib, bparams, backend.c_str(),
                  r.test.c_str(), r.mean, r.sd, extra);
    }
    if (read_bw > 0) std::printf("\nread bandwidth (measured now): %.0f GB/s; weights read per token: %.1f MB\n", read_bw, mb.per_token / 1e6);
  } else if (out == "csv") {
    std::printf("model,size_bytes,params,backend,test,tps_mean,tps_sd,gbps,pct_read_bw\n");
    for (const Row& r : rows)
      std::printf("\"%s\",%.0f,%.0f,%s,%s,%.4f,%.4f,%.2f,%.2f\n", model_name.c_str(), mb.total, mb.params, backend.c_str(),
                  r.test.c_str(), r.mean, r.sd, r.gbps, r.pct);
  } else {
    std::printf("[\n");
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf("  {\"model\": \"%s\", \"size_bytes\": %.0f, \"params\": %.0f, \"backend\": \"%s\", \"test\": \"%s\", "
                  "\"tps_mean\": %.4f, \"tps_sd\": %.4f, \"gbps\": %.2f, \"pct_read_bw\": %.2f, \"read_bw_gbps\": %.1f}%s\n",
                  model_name.c_str(), mb.total, mb.params, backend.c_str(), r.test.c_str(), r.mean, r.sd, r.gbps, r.pct,
                  read_bw, i + 1 < rows.size() ? "," : "");
    }
    std::printf("]\n");
  }
  if (!prof.empty())
    std::fprintf(out == "md" ? stdout : stderr, "\nDecode step by op (%s, tg at depth %lld, events around each op):\n\n%s",
                 model_name.c_str(), static_cast<long long>(depth.front()), prof.c_str());
  return 0;
}
