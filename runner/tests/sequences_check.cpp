// dsk-sequences-check: several sequences through session::Session, checked against each other and
// dumped for a CPU-vs-CUDA comparison (issue 6: "the same logits for one sequence alone and decoded
// together with others (batch of up to 4 sequences through the API)", sampling on the backend).
//
//   1. Batch vs alone: S sequences with prompts of different lengths, each prefilled alone, then
//      decode steps of varying sets of them (all, two out of order, one, all reversed, repeated
//      sets so CUDA graphs capture and replay); fixed tokens fed back. A second session with one
//      sequence runs every prompt and its tokens alone, token by token. Every logit row must be
//      bit-identical (NaNs canonical).
//   2. Sampling on the backend: samplers (greedy, temperature with top-k / top-p / min-p) per
//      sequence; each drawn token == dsk::ref::sample::sample of the returned logits at the same
//      position; the same draws again in a fresh session without copying the logits back
//      (the token alone crosses to the host); single-sequence and batched steps.
//   --out FILE: every logit row and token of both parts, for `cmp` between backends.
// Exit 0 when every check passes, 1 with the first difference, 77 when the CUDA backend is asked
// for and no device exists.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dsk/core/fp.hpp"
#include "reference/sample.hpp"
#include "session/session.hpp"

namespace {

using dsk::sample::SamplerParams;
using dsk::session::Session;

[[noreturn]] void fail(const std::string& m) {
  std::fprintf(stderr, "dsk-sequences-check: %s\n", m.c_str());
  std::exit(1);
}

template <class T>
T check(dsk::Result<T> r, const std::string& what) {
  if (!r) {
    const std::string m = r.error().message();
    if (m.find("no CUDA device") != std::string::npos || m.find("no CUDA backend") != std::string::npos) {
      std::printf("skipped: %s\n", m.c_str());
      std::exit(77);
    }
    fail(what + ": " + m);
  }
  if constexpr (!std::is_void_v<T>) return std::move(r).value();
}

std::vector<uint32_t> canonical(const float* x, size_t n) {
  std::vector<uint32_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = dsk::fp::canonical_bits(x[i]);
  return b;
}

struct Dump {
  std::vector<uint32_t> words;
  void rows(const std::vector<float>& l) {
    const auto b = canonical(l.data(), l.size());
    words.insert(words.end(), b.begin(), b.end());
  }
  void token(int32_t t) { words.push_back(static_cast<uint32_t>(t)); }
};

std::unique_ptr<Session> open(const std::string& model, dsk::session::BackendKind be, int n_seq) {
  dsk::session::SessionOptions o;
  o.n_ctx = 256;
  o.n_seq = n_seq;
  o.backend = be;
  o.threads = 2;
  return check(Session::open(model, o), "open " + model);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, out;
  dsk::session::BackendKind be = dsk::session::BackendKind::cpu;
  int S = 4;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) fail(a + " needs a value");
      return argv[++i];
    };
    if (a == "-m") model = next();
    else if (a == "--out") out = next();
    else if (a == "--n-seq") S = std::atoi(next().c_str());
    else if (a == "--backend") {
      const std::string b = next();
      if (b == "cpu") be = dsk::session::BackendKind::cpu;
      else if (b == "cuda") be = dsk::session::BackendKind::cuda;
      else fail("--backend cpu|cuda");
    } else {
      fail("usage: dsk-sequences-check -m MODEL.gguf [--backend cpu|cuda] [--n-seq S] [--out FILE]");
    }
  }
  if (model.empty() || S < 1) fail("usage: dsk-sequences-check -m MODEL.gguf [--backend cpu|cuda] [--n-seq S] [--out FILE]");
  Dump dump;

  // --- 1. batch vs alone ---
  auto batch = open(model, be, S);
  const int32_t nv = batch->n_vocab();
  const size_t V = static_cast<size_t>(nv);
  std::vector<std::vector<int32_t>> prompt(static_cast<size_t>(S));
  for (int s = 0; s < S; ++s)
    for (int i = 0; i < 3 + 4 * s; ++i) prompt[static_cast<size_t>(s)].push_back((s * 97 + i * 31 + 1) % nv);
  auto fed = [&](int s, int k) { return static_cast<int32_t>((s * 131 + k * 17 + 5) % nv); };  // k-th decode token of s

  std::vector<std::vector<std::vector<float>>> got(static_cast<size_t>(S));  // [s][k] logits row (k = 0: prompt)
  std::vector<float> logits;
  for (int s = 0; s < S; ++s) {
    check(batch->eval(s, prompt[static_cast<size_t>(s)], false, &logits), "prefill");
    got[static_cast<size_t>(s)].push_back(logits);
  }
  std::vector<std::vector<int32_t>> schedule;
  std::vector<int32_t> all, rev;
  for (int s = 0; s < S; ++s) all.push_back(s);
  rev.assign(all.rbegin(), all.rend());
  for (int r = 0; r < 6; ++r) schedule.push_back(all);
  if (S >= 4) schedule.push_back({3, 1});
  schedule.push_back({0});
  schedule.push_back(rev);
  if (S >= 3) for (int r = 0; r < 4; ++r) schedule.push_back({2, 0});
  for (const auto& set : schedule) {
    std::vector<int32_t> toks;
    for (int32_t s : set) toks.push_back(fed(s, static_cast<int>(got[static_cast<size_t>(s)].size())));
    check(batch->decode(set, toks, &logits), "decode");
    if (logits.size() != set.size() * V) fail("decode: wrong logits size");
    for (size_t i = 0; i < set.size(); ++i)
      got[static_cast<size_t>(set[i])].emplace_back(logits.begin() + static_cast<long>(i * V),
                                                     logits.begin() + static_cast<long>((i + 1) * V));
  }
  auto alone = open(model, be, 1);
  size_t rows = 0;
  for (int s = 0; s < S; ++s) {
    alone->clear();
    const auto& g = got[static_cast<size_t>(s)];
    for (size_t k = 0; k < g.size(); ++k) {
      if (k == 0) {
        check(alone->eval(prompt[static_cast<size_t>(s)], false, logits), "alone prefill");
      } else {
        const int32_t t = fed(s, static_cast<int>(k));
        check(alone->eval(std::span<const int32_t>(&t, 1), false, logits), "alone decode");
      }
      if (canonical(logits.data(), V) != canonical(g[k].data(), V))
        fail("sequence " + std::to_string(s) + " row " + std::to_string(k) + ": batched logits differ from alone");
      dump.rows(g[k]);
      ++rows;
    }
  }
  std::printf("batch vs alone: %d sequences, %zu decode steps, %zu logit rows bit-identical\n", S, schedule.size(), rows);

  // --- 2. sampling on the backend ---
  std::vector<SamplerParams> sp;
  for (int s = 0; s < S; ++s) {
    if (s % 4 == 0) sp.push_back(SamplerParams{});  // greedy
    if (s % 4 == 1) sp.push_back(SamplerParams{0.8f, 40, 1.0f, 0.0f, 1234});
    if (s % 4 == 2) sp.push_back(SamplerParams{1.2f, 0, 0.9f, 0.02f, 99});
    if (s % 4 == 3) sp.push_back(SamplerParams{0.6f, 5, 0.95f, 0.0f, 7});
  }
  auto run = [&](bool with_logits, Dump* d) {
    auto ses = open(model, be, S);
    std::vector<int32_t> draws;
    std::vector<int32_t> last(static_cast<size_t>(S));
    std::vector<float> l;
    std::vector<float>* lp = with_logits ? &l : nullptr;
    auto verify = [&](int32_t s, const float* row, int32_t tok) {
      if (!with_logits) return;
      const int32_t want = dsk::ref::sample::sample(row, nv, sp[static_cast<size_t>(s)],
                                                    static_cast<uint64_t>(ses->n_past(s)));
      if (tok != want)
        fail("sequence " + std::to_string(s) + " at " + std::to_string(ses->n_past(s)) + ": backend drew " +
             std::to_string(tok) + ", the host sampler " + std::to_string(want));
      if (d) d->rows(std::vector<float>(row, row + V));
    };
    for (int s = 0; s < S; ++s) {  // prefill with a draw
      int32_t t = -1;
      check(ses->eval(s, prompt[static_cast<size_t>(s)], false, lp, &sp[static_cast<size_t>(s)], &t), "sample prefill");
      verify(s, l.data(), t);
      last[static_cast<size_t>(s)] = t;
      draws.push_back(t);
    }
    for (int step = 0; step < 8; ++step) {  // all together, the draws fed back
      std::vector<int32_t> next(static_cast<size_t>(S));
      check(ses->decode(all, last, lp, sp, next.data()), "sample decode");
      for (int s = 0; s < S; ++s) {
        verify(s, l.data() + static_cast<size_t>(s) * V, next[static_cast<size_t>(s)]);
        draws.push_back(next[static_cast<size_t>(s)]);
      }
      last = next;
    }
    for (int step = 0; step < 6; ++step) {  // sequence 1 % S alone
      const int32_t s = 1 % S;
      int32_t t = -1;
      check(ses->eval(s, std::span<const int32_t>(&last[static_cast<size_t>(s)], 1), false, lp,
                      &sp[static_cast<size_t>(s)], &t),
            "sample single");
      verify(s, l.data(), t);
      last[static_cast<size_t>(s)] = t;
      draws.push_back(t);
    }
    return draws;
  };
  const std::vector<int32_t> d1 = run(true, &dump);
  const std::vector<int32_t> d2 = run(false, nullptr);
  if (d1 != d2) fail("draws without the logits copied back differ from draws with them");
  for (int32_t t : d1) {
    if (t < 0 || t >= nv) fail("a draw outside the vocabulary: " + std::to_string(t));
    dump.token(t);
  }
  std::printf("sampling: %zu draws == the host sampler, same without logits\n", d1.size());

  if (!out.empty()) {
    FILE* f = std::fopen(out.c_str(), "wb");
    if (!f || std::fwrite(dump.words.data(), 4, dump.words.size(), f) != dump.words.size() || std::fclose(f) != 0)
      fail("cannot write " + out);
  }
  return 0;
}
