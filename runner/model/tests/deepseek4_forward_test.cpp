// forward/deepseek4_forward (the first piece of issue 7's V4 CPU forward): a tiny deepseek4 file of
// uncompressed layers (a hash-routed one, then plain ones; ds4's tensor layout, smooth random
// weights in the types ds4 uses) runs end to end: finite logits, the same bits on a second run, one
// prefill == token-by-token decode == uneven chunks bit for bit over more tokens than the sliding
// window; the same with compressed layers (hash, CSA, HCA, CSA over 140 tokens); with F32 weights the
// logits match an independent float64 forward written from the spec's text (§3-6, §9: HC, sink
// attention, plain / YaRN RoPE, compressor, indexer top-k, router, clamped experts) to 1e-5 of the
// largest logit, same argmax at every position.
#include <algorithm>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu_ops.hpp"
#include "catch.hpp"
#include "gguf/reader.hpp"
#include "forward/deepseek4_forward.hpp"
#include "model/deepseek4.hpp"
#include "model_test_util.hpp"
#include "reference/quant.hpp"

using namespace dsk;
using namespace dsk::model;
using dsk::model::test::File;
using dsk::model::test::Item;

namespace {

// 3 uncompressed layers (layer 0 hash-routed), every width small but block-aligned.
Deepseek4Config tiny_cfg() {
  Deepseek4Config c = deepseek4_flash_config();
  c.n_layer = 3;
  c.n_embd = 256;
  c.n_vocab = 300;
  c.n_head = 4;
  c.head_dim = 64;
  c.n_rot = 16;
  c.q_lora = 64;
  c.o_lora = 32;
  c.n_out_group = 2;
  c.n_expert = 32;
  c.n_expert_used = 3;
  c.n_ff_exp = 256;  // a Q2_K down projection's row
  c.n_expert_shared = 1;
  c.n_hash_layer = 1;
  c.n_swa = 8;
  c.n_indexer_head = 2;
  c.indexer_head_dim = 32;
  c.indexer_top_k = 4;
  c.n_hc = 4;
  c.sinkhorn_iters = 20;
  c.compress_ratio.assign(3, 0);
  c.swiglu_clamp.assign(3, 10.0f);
  return c;
}

// Deterministic values in [-1, 1) from (tensor seed, index).
float uniform(uint64_t seed, uint64_t i) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0);
}

// A tensor of values center + spread * uniform, quantized row by row to t.
Item make(const std::string& name, GgmlType t, std::vector<uint64_t> ne, float center, float spread) {
  uint64_t s = 1469598103934665603ull;  // FNV-1a of the name: each tensor its own stream
  for (char ch : name) s = (s ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  Item it{name, t, ne, {}};
  const int64_t K = static_cast<int64_t>(ne[0]);
  int64_t rows = 1;
  for (size_t d = 1; d < ne.size(); ++d) rows *= static_cast<int64_t>(ne[d]);
  const size_t rb = ref::row_bytes(t, K);
  it.bytes.resize(rb * static_cast<size_t>(rows));
  std::vector<float> f(static_cast<size_t>(K));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < K; ++k)
      f[static_cast<size_t>(k)] = center + spread * uniform(s, static_cast<uint64_t>(r * K + k));
    ref::quantize_row(t, f.data(), it.bytes.data() + rb * static_cast<size_t>(r), K);
  }
  return it;
}

// float_weights: every quantized tensor in F32 instead (F16 ones stay), for the float64 comparison.
File tiny_file(const Deepseek4Config& c, bool float_weights = false) {
  File f;
  set_deepseek4_metadata(f.md, c);
  const uint64_t E = c.n_embd, NV = c.n_vocab, H = c.n_head, D = c.head_dim, HC = c.hc_dim(), NC = c.n_hc_ctrl();
  const uint64_t Q = c.q_lora, G = c.n_out_group, OL = c.o_lora, NE = c.n_expert, FF = c.n_ff_exp;
  const GgmlType F32 = GgmlType::F32, F16 = GgmlType::F16, Q8 = GgmlType::Q8_0;
  auto add = [&](const std::string& n, GgmlType t, std::vector<uint64_t> ne, float center, float spread) {
    if (float_weights && t != F16) t = F32;
    f.items.push_back(make(n, t, std::move(ne), center, spread));
  };
  auto lin = [](uint64_t k) { return 1.7f / std::sqrt(static_cast<float>(k)); };  // ~unit-variance outputs
  add("token_embd.weight", F16, {E, NV}, 0.0f, 1.0f);
  add("output_hc_fn.weight", F16, {HC, c.n_hc}, 0.0f, lin(HC));
  add("output_hc_scale.weight", F32, {1}, 0.5f, 0.1f);
  add("output_hc_base.weight", F32, {c.n_hc}, 0.0f, 0.5f);
  add("output_norm.weight", F32, {E}, 1.0f, 0.2f);
  add("output.weight", Q8, {E, NV}, 0.0f, lin(E));
  for (uint32_t il = 0; il < c.n_layer; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    for (const char* s : {"hc_attn_", "hc_ffn_"}) {
      add(b + s + "fn.weight", F16, {HC, NC}, 0.0f, lin(HC));
      add(b + s + "scale.weight", F32, {3}, 0.5f, 0.2f);
      add(b + s + "base.weight", F32, {NC}, 0.0f, 0.5f);
    }
    add(b + "attn_norm.weight", F32, {E}, 1.0f, 0.2f);
    add(b + "attn_q_a.weight", Q8, {E, Q}, 0.0f, lin(E));
    add(b + "attn_q_a_norm.weight", F32, {Q}, 1.0f, 0.2f);
    add(b + "attn_q_b.weight", Q8, {Q, H * D}, 0.0f, lin(Q));
    add(b + "attn_kv.weight", Q8, {E, D}, 0.0f, lin(E));
    add(b + "attn_kv_a_norm.weight", F32, {D}, 1.0f, 0.2f);
    add(b + "attn_sinks.weight", F32, {H}, 0.0f, 2.0f);
    add(b + "attn_output_a.weight", Q8, {H * D / G, G * OL}, 0.0f, lin(H * D / G));
    add(b + "attn_output_b.weight", Q8, {G * OL, E}, 0.0f, lin(G * OL));
    const uint32_t r = c.compress_ratio[il];
    if (r != 0) {
      const uint64_t cw = (r == 4 ? 2 : 1) * D;
      add(b + "attn_compressor_ape.weight", F16, {cw, r}, 0.0f, 0.5f);
      add(b + "attn_compressor_kv.weight", F16, {E, cw}, 0.0f, lin(E));
      add(b + "attn_compressor_gate.weight", F16, {E, cw}, 0.0f, lin(E));
      add(b + "attn_compressor_norm.weight", F32, {D}, 1.0f, 0.2f);
    }
    if (r == 4) {
      const uint64_t IH = c.n_indexer_head, ID = c.indexer_head_dim;
      add(b + "indexer.attn_q_b.weight", F16, {Q, IH * ID}, 0.0f, lin(Q));
      add(b + "indexer.proj.weight", F16, {E, IH}, 0.0f, lin(E));
      add(b + "indexer_compressor_ape.weight", F16, {2 * ID, 4}, 0.0f, 0.5f);
      add(b + "indexer_compressor_kv.weight", F16, {E, 2 * ID}, 0.0f, lin(E));
      add(b + "indexer_compressor_gate.weight", F16, {E, 2 * ID}, 0.0f, lin(E));
      add(b + "indexer_compressor_norm.weight", F32, {ID}, 1.0f, 0.2f);
    }
    add(b + "ffn_norm.weight", F32, {E}, 1.0f, 0.2f);
    add(b + "ffn_gate_inp.weight", F16, {E, NE}, 0.0f, lin(E));
    add(b + "exp_probs_b.bias", F32, {NE}, 0.0f, 0.3f);
    add(b + "ffn_gate_exps.weight", GgmlType::Q4_K, {E, FF, NE}, 0.0f, lin(E));
    add(b + "ffn_up_exps.weight", GgmlType::Q4_K, {E, FF, NE}, 0.0f, lin(E));
    add(b + "ffn_down_exps.weight", GgmlType::Q2_K, {FF, E, NE}, 0.0f, lin(FF));
    if (c.n_expert_shared > 0) {
      const uint64_t FS = FF * c.n_expert_shared;
      add(b + "ffn_gate_shexp.weight", Q8, {E, FS}, 0.0f, lin(E));
      add(b + "ffn_up_shexp.weight", Q8, {E, FS}, 0.0f, lin(E));
      add(b + "ffn_down_shexp.weight", Q8, {FS, E}, 0.0f, lin(FS));
    }
    if (il < c.n_hash_layer) {
      // tid2eid [n_expert_used, n_vocab]: distinct experts per token.
      Item t{b + "ffn_gate_tid2eid.weight", GgmlType::I32, {c.n_expert_used, NV}, {}};
      std::vector<int32_t> ids(c.n_expert_used * NV);
      for (uint64_t tok = 0; tok < NV; ++tok)
        for (uint64_t j = 0; j < c.n_expert_used; ++j)
          ids[tok * c.n_expert_used + j] = static_cast<int32_t>((tok * 7 + j * 5) % NE);
      t.bytes.resize(ids.size() * 4);
      std::memcpy(t.bytes.data(), ids.data(), t.bytes.size());
      f.items.push_back(std::move(t));
    }
  }
  return f;
}

struct Loaded {
  std::vector<uint8_t> bytes;
  std::unique_ptr<gguf::Reader> reader;
  Deepseek4Model model;
};

std::unique_ptr<Loaded> load(const File& f) {
  auto l = std::make_unique<Loaded>();
  l->bytes = f.bytes();
  auto r = gguf::Reader::from_memory(l->bytes, "v4.gguf");
  REQUIRE(r);
  l->reader = std::make_unique<gguf::Reader>(std::move(r).value());
  auto m = load_deepseek4(*l->reader);
  if (!m) FAIL(m.error().message());
  l->model = std::move(m).value();
  return l;
}

std::vector<int32_t> prompt(int n, uint32_t n_vocab) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<size_t>(i)] = static_cast<int32_t>((i * 37 + 11) % n_vocab);
  return t;
}

// Logits of every position, the prompt split into calls of the given sizes.
std::vector<float> run(const Deepseek4Model& m, const std::vector<int32_t>& toks, const std::vector<int>& split) {
  backend::CpuOps ops(2);
  forward::Deepseek4Forward fw(m, ops, forward::Deepseek4Options{64, forward::KvStorage::exact});
  auto ir = fw.init();
  if (!ir) FAIL(ir.error().message());
  std::vector<float> all, lg;
  size_t p = 0;
  for (int n : split) {
    const std::span<const int32_t> s(toks.data() + p, static_cast<size_t>(n));
    auto r = fw.eval(s, static_cast<int64_t>(p), true, lg);
    if (!r) FAIL(r.error().message());
    REQUIRE(lg.size() == static_cast<size_t>(n) * m.config.n_vocab);
    all.insert(all.end(), lg.begin(), lg.end());
    p += static_cast<size_t>(n);
  }
  REQUIRE(p == toks.size());
  return all;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}


// --- an independent float64 forward of spec §4 (uncompressed layers), straight from the text ----------

using Vec = std::vector<double>;

// Row r of a 2-D (or flattened 3-D) tensor, widened to double.
Vec row_of(const TensorRef& t, int64_t r) {
  std::vector<float> f(static_cast<size_t>(t.ne[0]));
  ref::dequantize_row(t.type, t.row(r), f.data(), t.ne[0]);
  return Vec(f.begin(), f.end());
}

// y = W x (W [K, M] in ggml order: M rows of K), matrix `mat` of a 3-D tensor.
Vec matvec(const TensorRef& w, const Vec& x, int64_t mat = 0, int64_t r0 = 0, int64_t m = -1) {
  const int64_t M = m < 0 ? w.ne[1] : m;
  Vec y(static_cast<size_t>(M), 0.0);
  for (int64_t i = 0; i < M; ++i) {
    const Vec r = row_of(w, mat * w.ne[1] + r0 + i);
    double acc = 0.0;
    for (size_t k = 0; k < r.size(); ++k) acc += r[k] * x[k];
    y[static_cast<size_t>(i)] = acc;
  }
  return y;
}

Vec rms(const Vec& x, const TensorRef* w, double eps) {
  double ss = 0.0;
  for (double v : x) ss += v * v;
  const double r = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  Vec y(x.size());
  const float* wf = w ? reinterpret_cast<const float*>(w->data) : nullptr;
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * (wf ? wf[i] : 1.0);
  return y;
}

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// RoPE of the last n_rot dims of a D-wide vector at position p (adjacent pairs), sign -1: inverse.
void rope_tail(double* x, int64_t D, int64_t n_rot, double base, int64_t p, double sign) {
  const int64_t off = D - n_rot;
  for (int64_t k = 0; k < n_rot / 2; ++k) {
    const double th = static_cast<double>(p) * std::pow(base, -2.0 * static_cast<double>(k) / static_cast<double>(n_rot));
    const double c = std::cos(th), sn = sign * std::sin(th);
    const double x0 = x[off + 2 * k], x1 = x[off + 2 * k + 1];
    x[off + 2 * k] = x0 * c - x1 * sn;
    x[off + 2 * k + 1] = x0 * sn + x1 * c;
  }
}

// The compressed layers' RoPE (spec §3, YaRN branch) with base, factor and beta from the config.
void rope_tail_yarn(double* x, int64_t D, const Deepseek4Config& c, int64_t p, double sign) {
  const int64_t n_rot = c.n_rot, off = D - n_rot;
  const double base = c.compress_rope_freq_base, factor = c.rope_scaling_factor;
  const double kPi = 3.14159265358979323846;
  auto corr = [&](double beta) {
    return static_cast<double>(n_rot) * std::log(static_cast<double>(c.n_ctx_orig_yarn) / (beta * 2 * kPi)) /
           (2 * std::log(base));
  };
  const double low = std::max(0.0, std::floor(corr(c.yarn_beta_fast)));
  const double high = std::min(static_cast<double>(n_rot - 1), std::ceil(corr(c.yarn_beta_slow)));
  for (int64_t k = 0; k < n_rot / 2; ++k) {
    const double ext = static_cast<double>(p) * std::pow(base, -2.0 * static_cast<double>(k) / static_cast<double>(n_rot));
    const double ramp = factor == 1.0 ? 1.0 : 1.0 - std::clamp((static_cast<double>(k) - low) / std::max(0.001, high - low), 0.0, 1.0);
    const double th = (ext / factor) * (1 - ramp) + ext * ramp;
    const double cs = std::cos(th), sn = sign * std::sin(th);
    const double x0 = x[off + 2 * k], x1 = x[off + 2 * k + 1];
    x[off + 2 * k] = x0 * cs - x1 * sn;
    x[off + 2 * k + 1] = x0 * sn + x1 * cs;
  }
}

struct Naive {
  const Deepseek4Model& m;
  std::vector<std::vector<Vec>> kv;  // [layer][position]
  // Per layer: every position's compressor projections (kv, score with ape) and the emitted rows.
  struct Comp {
    std::vector<Vec> kv, sc, rows;
  };
  std::vector<Comp> attn_comp = std::vector<Comp>(m.config.n_layer), index_comp = std::vector<Comp>(m.config.n_layer);

  // Spec §5: feed position p; on (p+1) % R == 0 append the pooled, normed, roped row of its window.
  void compressor(Comp& st, const TensorRef& wkv, const TensorRef& wg, const TensorRef& ape, const TensorRef& norm,
                  int64_t R, int64_t D, const Vec& n, int64_t p) const {
    const int64_t W = (R == 4 ? 2 : 1) * D;
    st.kv.push_back(matvec(wkv, n));
    Vec sc = matvec(wg, n);
    const Vec bias = row_of(ape, p % R);
    for (int64_t i = 0; i < W; ++i) sc[static_cast<size_t>(i)] += bias[static_cast<size_t>(i)];
    st.sc.push_back(sc);
    if ((p + 1) % R != 0) return;
    const int64_t w = (p + 1) / R - 1;
    Vec row(static_cast<size_t>(D));
    for (int64_t j = 0; j < D; ++j) {
      std::vector<std::pair<double, double>> cand;  // (kv, score)
      if (R == 4 && w >= 1)
        for (int64_t r = 0; r < R; ++r) {
          const size_t q = static_cast<size_t>((w - 1) * R + r);
          cand.emplace_back(st.kv[q][static_cast<size_t>(j)], st.sc[q][static_cast<size_t>(j)]);
        }
      const int64_t off = R == 4 ? D : 0;
      for (int64_t r = 0; r < R; ++r) {
        const size_t q = static_cast<size_t>(w * R + r);
        cand.emplace_back(st.kv[q][static_cast<size_t>(off + j)], st.sc[q][static_cast<size_t>(off + j)]);
      }
      double mx = -INFINITY, den = 0.0, num = 0.0;
      for (auto& cd : cand) mx = std::max(mx, cd.second);
      for (auto& cd : cand) {
        const double e = std::exp(cd.second - mx);
        den += e;
        num += e * cd.first;
      }
      row[static_cast<size_t>(j)] = num / den;
    }
    row = rms(row, &norm, m.config.rms_eps);
    rope_tail_yarn(row.data(), D, m.config, w * R, 1.0);
    st.rows.push_back(row);
  }

  struct Hc {
    Vec pre, post, comb;  // comb[r*n + c]
  };

  Hc hc_split(const Vec& X, const TensorRef& fn, const TensorRef& scale, const TensorRef& base) const {
    const auto& c = m.config;
    const int n = static_cast<int>(c.n_hc);
    const Vec flat = rms(X, nullptr, c.rms_eps);
    const float* sc = reinterpret_cast<const float*>(scale.data);
    const float* b = reinterpret_cast<const float*>(base.data);
    const Vec mix = matvec(fn, flat);
    const double eps = c.hc_eps;
    Hc h;
    h.pre.resize(static_cast<size_t>(n));
    h.post.resize(static_cast<size_t>(n));
    h.comb.resize(static_cast<size_t>(n * n));
    for (int i = 0; i < n; ++i) {
      h.pre[static_cast<size_t>(i)] = sigmoid(mix[static_cast<size_t>(i)] * sc[0] + b[i]) + eps;
      h.post[static_cast<size_t>(i)] = 2.0 * sigmoid(mix[static_cast<size_t>(n + i)] * sc[1] + b[n + i]);
    }
    auto C = [&](int r, int col) -> double& { return h.comb[static_cast<size_t>(r * n + col)]; };
    for (int r = 0; r < n; ++r) {
      double mx = -INFINITY, sum = 0.0;
      for (int col = 0; col < n; ++col) {
        C(r, col) = mix[static_cast<size_t>(2 * n + r * n + col)] * sc[2] + b[2 * n + r * n + col];
        mx = std::max(mx, C(r, col));
      }
      for (int col = 0; col < n; ++col) sum += (C(r, col) = std::exp(C(r, col) - mx));
      for (int col = 0; col < n; ++col) C(r, col) = C(r, col) / sum + eps;
    }
    auto colnorm = [&] {
      for (int col = 0; col < n; ++col) {
        double sum = 0.0;
        for (int r = 0; r < n; ++r) sum += C(r, col);
        for (int r = 0; r < n; ++r) C(r, col) /= sum + eps;
      }
    };
    colnorm();
    for (uint32_t it = 1; it < c.sinkhorn_iters; ++it) {
      for (int r = 0; r < n; ++r) {
        double sum = 0.0;
        for (int col = 0; col < n; ++col) sum += C(r, col);
        for (int col = 0; col < n; ++col) C(r, col) /= sum + eps;
      }
      colnorm();
    }
    return h;
  }

  Vec collapse(const Vec& X, const Vec& w) const {
    const size_t E = m.config.n_embd;
    Vec y(E, 0.0);
    for (size_t h = 0; h < w.size(); ++h)
      for (size_t d = 0; d < E; ++d) y[d] += w[h] * X[h * E + d];
    return y;
  }

  void post(Vec& X, const Vec& f, const Hc& h) const {
    const size_t E = m.config.n_embd, n = m.config.n_hc;
    Vec Y(X.size());
    for (size_t col = 0; col < n; ++col)
      for (size_t d = 0; d < E; ++d) {
        double acc = h.post[col] * f[d];
        for (size_t r = 0; r < n; ++r) acc += h.comb[r * n + col] * X[r * E + d];
        Y[col * E + d] = acc;
      }
    X = Y;
  }

  Vec attention(const Deepseek4Layer& L, const Vec& a, int64_t p) {
    const auto& c = m.config;
    const int64_t H = c.n_head, D = c.head_dim, R = c.n_rot, G = c.n_out_group, OL = c.o_lora;
    const Vec n = rms(a, &L.attn_norm, c.rms_eps);
    const Vec qr = rms(matvec(L.attn_q_a, n), &L.attn_q_a_norm, c.rms_eps);
    const int64_t ratio = L.compress_ratio;
    auto rot = [&](double* x, int64_t width, double sign) {
      if (ratio == 0)
        rope_tail(x, width, R, c.rope_freq_base, p, sign);
      else
        rope_tail_yarn(x, width, c, p, sign);
    };
    Vec q = matvec(L.attn_q_b, qr);
    for (int64_t h = 0; h < H; ++h) {
      const Vec qh = rms(Vec(q.begin() + h * D, q.begin() + (h + 1) * D), nullptr, c.rms_eps);
      std::copy(qh.begin(), qh.end(), q.begin() + h * D);
      rot(q.data() + h * D, D, 1.0);
    }
    Vec k = rms(matvec(L.attn_kv, n), &L.attn_kv_a_norm, c.rms_eps);
    rot(k.data(), D, 1.0);
    auto& cache = kv[L.index];
    if (static_cast<int64_t>(cache.size()) != p) FAIL("naive: positions out of order");
    cache.push_back(k);
    const int64_t first = std::max<int64_t>(0, p - static_cast<int64_t>(c.n_swa) + 1);
    // The rows attended: the raw window, then the visible compressed rows (ratio 4: the indexer's top_k).
    std::vector<const Vec*> rows;
    for (int64_t j = first; j <= p; ++j) rows.push_back(&cache[static_cast<size_t>(j)]);
    if (ratio != 0) {
      Comp& ac = attn_comp[L.index];
      compressor(ac, L.attn_compressor_kv, L.attn_compressor_gate, L.attn_compressor_ape, L.attn_compressor_norm,
                 ratio, D, n, p);
      const size_t n_vis = static_cast<size_t>((p + 1) / ratio);
      REQUIRE(ac.rows.size() == n_vis);
      std::vector<size_t> chosen;
      for (size_t j = 0; j < n_vis; ++j) chosen.push_back(j);
      if (ratio == 4) {
        Comp& ic = index_comp[L.index];
        const int64_t IH = c.n_indexer_head, ID = c.indexer_head_dim;
        compressor(ic, L.indexer_compressor_kv, L.indexer_compressor_gate, L.indexer_compressor_ape,
                   L.indexer_compressor_norm, 4, ID, n, p);
        if (n_vis > c.indexer_top_k) {
          Vec qi = matvec(L.indexer_q_b, qr);
          for (int64_t h = 0; h < IH; ++h) rope_tail_yarn(qi.data() + h * ID, ID, c, p, 1.0);
          const Vec wts = matvec(L.indexer_proj, n);
          std::vector<std::pair<double, size_t>> score;
          for (size_t j = 0; j < n_vis; ++j) {
            double sc = 0.0;
            for (int64_t h = 0; h < IH; ++h) {
              double d = 0.0;
              for (int64_t i = 0; i < ID; ++i) d += qi[static_cast<size_t>(h * ID + i)] * ic.rows[j][static_cast<size_t>(i)];
              sc += wts[static_cast<size_t>(h)] / std::sqrt(static_cast<double>(ID * IH)) * std::max(0.0, d);
            }
            score.emplace_back(-sc, j);  // ascending sort: larger score first, ties to the lower index
          }
          std::sort(score.begin(), score.end());
          chosen.clear();
          for (size_t i = 0; i < c.indexer_top_k; ++i) chosen.push_back(score[i].second);
          std::sort(chosen.begin(), chosen.end());
        }
      }
      for (size_t j : chosen) rows.push_back(&ac.rows[j]);
    }
    const float* sinks = reinterpret_cast<const float*>(L.attn_sinks.data);
    Vec o(static_cast<size_t>(H * D), 0.0);
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> sc;
      double mx = sinks[h];
      for (const Vec* r : rows) {
        double dot = 0.0;
        for (int64_t i = 0; i < D; ++i) dot += q[static_cast<size_t>(h * D + i)] * (*r)[static_cast<size_t>(i)];
        sc.push_back(dot / std::sqrt(static_cast<double>(D)));
        mx = std::max(mx, sc.back());
      }
      double den = std::exp(sinks[h] - mx);
      for (double v : sc) den += std::exp(v - mx);
      for (size_t j = 0; j < rows.size(); ++j) {
        const double pr = std::exp(sc[j] - mx) / den;
        for (int64_t i = 0; i < D; ++i) o[static_cast<size_t>(h * D + i)] += pr * (*rows[j])[static_cast<size_t>(i)];
      }
      rot(o.data() + h * D, D, -1.0);
    }
    const int64_t GW = H * D / G;
    Vec low;
    for (int64_t g = 0; g < G; ++g) {
      const Vec part = matvec(L.attn_output_a, Vec(o.begin() + g * GW, o.begin() + (g + 1) * GW), 0, g * OL, OL);
      low.insert(low.end(), part.begin(), part.end());
    }
    return matvec(L.attn_output_b, low);
  }

  Vec expert(const TensorRef& gt, const TensorRef& ut, const TensorRef& dt, int64_t e, const Vec& z, double w,
             double lim) const {
    Vec g = matvec(gt, z, e), u = matvec(ut, z, e);
    for (size_t i = 0; i < g.size(); ++i) {
      const double gi = std::min(g[i], lim), ui = std::max(-lim, std::min(u[i], lim));
      g[i] = gi * sigmoid(gi) * ui * w;
    }
    return matvec(dt, g, e);
  }

  Vec ffn(const Deepseek4Layer& L, const Vec& b, int32_t tok) const {
    const auto& c = m.config;
    const Vec z = rms(b, &L.ffn_norm, c.rms_eps);
    const Vec lg = matvec(L.ffn_gate_inp, z);
    Vec pe(lg.size());
    for (size_t e = 0; e < lg.size(); ++e) {
      const double sp = lg[e] > 20 ? lg[e] : std::log1p(std::exp(lg[e]));
      pe[e] = std::sqrt(sp);
    }
    const size_t K = c.n_expert_used;
    std::vector<int> sel;
    if (L.hash) {
      const int32_t* t = reinterpret_cast<const int32_t*>(L.ffn_gate_tid2eid.data);
      for (size_t j = 0; j < K; ++j) sel.push_back(t[static_cast<size_t>(tok) * K + j]);
    } else {
      const float* bias = reinterpret_cast<const float*>(L.exp_probs_b.data);
      std::vector<bool> used(pe.size(), false);
      for (size_t j = 0; j < K; ++j) {
        int best = -1;
        for (size_t e = 0; e < pe.size(); ++e)
          if (!used[e] && (best < 0 || pe[e] + bias[e] > pe[static_cast<size_t>(best)] + bias[best])) best = static_cast<int>(e);
        used[static_cast<size_t>(best)] = true;
        sel.push_back(best);
      }
    }
    double sum = 0.0;
    for (int e : sel) sum += pe[static_cast<size_t>(e)];
    const double lim = c.swiglu_clamp[L.index];
    Vec y(c.n_embd, 0.0);
    for (int e : sel) {
      const double w = pe[static_cast<size_t>(e)] / std::max(sum, 6.103515625e-5) * c.expert_weights_scale;
      const Vec d = expert(L.ffn_gate_exps, L.ffn_up_exps, L.ffn_down_exps, e, z, w, lim);
      for (size_t i = 0; i < y.size(); ++i) y[i] += d[i];
    }
    if (L.ffn_gate_shexp.present()) {
      const Vec sh = expert(L.ffn_gate_shexp, L.ffn_up_shexp, L.ffn_down_shexp, 0, z, 1.0, lim);
      for (size_t i = 0; i < y.size(); ++i) y[i] += sh[i];
    }
    return y;
  }

  // Logits of one token at position p (positions must come in order).
  Vec token(int32_t tok, int64_t p) {
    const auto& c = m.config;
    const Vec e = row_of(m.token_embd, tok);
    Vec X;
    for (uint32_t h = 0; h < c.n_hc; ++h) X.insert(X.end(), e.begin(), e.end());
    for (const auto& L : m.layers) {
      const Hc ha = hc_split(X, L.hc_attn_fn, L.hc_attn_scale, L.hc_attn_base);
      post(X, attention(L, collapse(X, ha.pre), p), ha);
      const Hc hf = hc_split(X, L.hc_ffn_fn, L.hc_ffn_scale, L.hc_ffn_base);
      post(X, ffn(L, collapse(X, hf.pre), tok), hf);
    }
    const Vec flat = rms(X, nullptr, c.rms_eps);
    const Vec mix = matvec(m.output_hc_fn, flat);
    const float sc = reinterpret_cast<const float*>(m.output_hc_scale.data)[0];
    const float* b = reinterpret_cast<const float*>(m.output_hc_base.data);
    Vec w(c.n_hc);
    for (size_t h = 0; h < w.size(); ++h) w[h] = sigmoid(mix[h] * sc + b[h]) + c.hc_eps;
    return matvec(m.output, rms(collapse(X, w), &m.output_norm, c.rms_eps));
  }
};
}  // namespace

TEST_CASE("deepseek4 forward: uncompressed layers run, deterministic, prefill == decode", "[forward][deepseek4]") {
  const Deepseek4Config c = tiny_cfg();
  static const auto l = load(tiny_file(c));  // built once (Catch reruns the case per section)
  const int T = 21;  // more than twice the window of 8
  const auto toks = prompt(T, c.n_vocab);

  const std::vector<float> prefill = run(l->model, toks, {T});
  size_t finite = 0;
  double amax = 0.0;
  for (float v : prefill) {
    if (std::isfinite(v)) ++finite;
    amax = std::max(amax, std::fabs(static_cast<double>(v)));
  }
  CHECK(finite == prefill.size());
  CHECK(amax > 1e-3);  // not a degenerate all-zero output
  CHECK(amax < 1e4);
  // Rows differ between positions (the model looks at its input).
  CHECK(std::memcmp(prefill.data(), prefill.data() + c.n_vocab, c.n_vocab * sizeof(float)) != 0);

  SECTION("a second run gives the same bits") { CHECK(same_bits(run(l->model, toks, {T}), prefill)); }
  SECTION("token-by-token decode gives the prefill's bits") {
    CHECK(same_bits(run(l->model, toks, std::vector<int>(T, 1)), prefill));
  }
  SECTION("uneven chunks (crossing the window) give the prefill's bits") {
    CHECK(same_bits(run(l->model, toks, {7, 1, 9, 4}), prefill));
  }
  SECTION("last-row logits equal the last row of all logits") {
    backend::CpuOps ops(1);
    forward::Deepseek4Forward fw(l->model, ops, forward::Deepseek4Options{64, forward::KvStorage::exact});
    REQUIRE(fw.init());
    std::vector<float> lg;
    REQUIRE(fw.eval(toks, 0, false, lg));
    REQUIRE(lg.size() == c.n_vocab);
    CHECK(std::memcmp(lg.data(), prefill.data() + (T - 1) * c.n_vocab, c.n_vocab * sizeof(float)) == 0);
  }
}

TEST_CASE("deepseek4 forward: the sliding window limits what a layer sees", "[forward][deepseek4]") {
  // One layer: position p's output depends on tokens p - n_swa + 1 .. p only.
  Deepseek4Config c = tiny_cfg();
  c.n_layer = 1;
  c.compress_ratio.assign(1, 0);
  c.swiglu_clamp.assign(1, 10.0f);
  const auto l = load(tiny_file(c));
  auto toks = prompt(12, c.n_vocab);
  const std::vector<float> a = run(l->model, toks, {12});
  toks[3] = (toks[3] + 1) % static_cast<int32_t>(c.n_vocab);
  const std::vector<float> b = run(l->model, toks, {12});
  const size_t V = c.n_vocab;
  for (size_t p = 0; p < 12; ++p) {
    const bool same = std::memcmp(a.data() + p * V, b.data() + p * V, V * sizeof(float)) == 0;
    INFO("position " << p);
    CHECK(same == (p < 3 || p >= 3 + c.n_swa));
  }
}

// hash + plain, CSA (ratio 4: compressor + indexer), HCA (ratio 128), CSA; the indexer's top_k of 4 is
// smaller than the visible rows after 16 tokens, and the HCA layer emits its first row at 127.
Deepseek4Config compressed_cfg() {
  Deepseek4Config c = tiny_cfg();
  c.n_layer = 4;
  c.compress_ratio = {0, 4, 128, 4};
  c.swiglu_clamp.assign(4, 10.0f);
  c.rope_scaling_factor = 4.0f;
  c.n_ctx_orig_yarn = 64;
  return c;
}

std::vector<float> run_ctx(const Deepseek4Model& m, const std::vector<int32_t>& toks, const std::vector<int>& split,
                           int64_t n_ctx) {
  backend::CpuOps ops(2);
  forward::Deepseek4Forward fw(m, ops, forward::Deepseek4Options{n_ctx, forward::KvStorage::exact});
  auto ir = fw.init();
  if (!ir) FAIL(ir.error().message());
  std::vector<float> all, lg;
  size_t p = 0;
  for (int n : split) {
    auto r = fw.eval(std::span<const int32_t>(toks.data() + p, static_cast<size_t>(n)), static_cast<int64_t>(p), true, lg);
    if (!r) FAIL(r.error().message());
    all.insert(all.end(), lg.begin(), lg.end());
    p += static_cast<size_t>(n);
  }
  return all;
}

TEST_CASE("deepseek4 forward: compressed layers (CSA, HCA): prefill == decode == chunks", "[forward][deepseek4]") {
  const Deepseek4Config c = compressed_cfg();
  static const auto l = load(tiny_file(c, true));
  const int T = 140;
  const auto toks = prompt(T, c.n_vocab);
  const std::vector<float> prefill = run_ctx(l->model, toks, {T}, 160);
  size_t finite = 0;
  for (float v : prefill) finite += std::isfinite(v) ? 1 : 0;
  CHECK(finite == prefill.size());
  SECTION("token by token") { CHECK(same_bits(run_ctx(l->model, toks, std::vector<int>(T, 1), 160), prefill)); }
  SECTION("uneven chunks across window and compression boundaries") {
    CHECK(same_bits(run_ctx(l->model, toks, {3, 1, 6, 117, 1, 12}, 160), prefill));
  }
}

namespace {

// dsk's logits vs the float64 forward at every position: 1e-5 of the largest logit, same argmax.
void compare_to_naive(const Deepseek4Model& m, int T, int64_t n_ctx) {
  const auto toks = prompt(T, m.config.n_vocab);
  const std::vector<float> got = run_ctx(m, toks, {T}, n_ctx);
  Naive nv{m, std::vector<std::vector<Vec>>(m.config.n_layer)};
  const size_t V = m.config.n_vocab;
  double worst = 0.0;
  for (int p = 0; p < T; ++p) {
    const Vec want = nv.token(toks[static_cast<size_t>(p)], p);
    double amax = 0.0, dmax = 0.0;
    size_t arg_want = 0, arg_got = 0;
    for (size_t v = 0; v < V; ++v) {
      const double g = got[static_cast<size_t>(p) * V + v];
      amax = std::max(amax, std::fabs(want[v]));
      dmax = std::max(dmax, std::fabs(g - want[v]));
      if (want[v] > want[arg_want]) arg_want = v;
      if (g > got[static_cast<size_t>(p) * V + arg_got]) arg_got = v;
    }
    INFO("position " << p << ": max |diff| " << dmax << " of max |logit| " << amax);
    CHECK(dmax <= 1e-5 * amax);
    CHECK(arg_got == arg_want);
    worst = std::max(worst, dmax / amax);
  }
  UNSCOPED_INFO("worst relative logit error vs float64: " << worst);
  if (std::getenv("DSK_V4_VERBOSE")) WARN("worst relative logit error vs float64: " << worst);
}

}  // namespace

TEST_CASE("deepseek4 forward: F32 weights match an independent float64 forward of the spec", "[forward][deepseek4]") {
  SECTION("uncompressed layers (hash + plain), 12 tokens past the window of 8") {
    const auto l = load(tiny_file(tiny_cfg(), true));
    compare_to_naive(l->model, 12, 64);  // measured: 7.1e-7 at worst
  }
  SECTION("hash, CSA, HCA, CSA over 132 tokens (indexer top-k active, one HCA row)") {
    const auto l = load(tiny_file(compressed_cfg(), true));
    compare_to_naive(l->model, 132, 160);  // measured: 9.8e-7 at worst
  }
}

// Other V4 shapes through the same float64 comparison (1e-5 of the largest logit, same argmax).
TEST_CASE("deepseek4 forward: other shapes match the float64 forward", "[forward][deepseek4]") {
  SECTION("16 experts top 6 (a padded router), HCA ratio 16 between CSA layers, 2 hash layers") {
    Deepseek4Config c = tiny_cfg();
    c.n_layer = 4;
    c.compress_ratio = {0, 4, 16, 4};
    c.swiglu_clamp.assign(4, 10.0f);
    c.n_expert = 16;
    c.n_expert_used = 6;
    c.n_hash_layer = 2;
    c.rope_scaling_factor = 4.0f;
    c.n_ctx_orig_yarn = 64;
    const auto l = load(tiny_file(c, true));
    compare_to_naive(l->model, 72, 80);
  }
  SECTION("64 experts top 8, 2 shared; 8 heads of 128 (rope 32) in 4 output groups; 3 streams, 5 Sinkhorn "
          "iterations; no hash layer; HCA 8 first, CSA with 3 indexer heads of 64, top 3") {
    Deepseek4Config c = tiny_cfg();
    c.n_layer = 3;
    c.compress_ratio = {8, 4, 0};
    c.swiglu_clamp = {10.0f, 6.0f, 8.0f};
    c.n_head = 8;
    c.head_dim = 128;
    c.n_rot = 32;
    c.n_out_group = 4;
    c.o_lora = 32;
    c.n_hc = 3;
    c.sinkhorn_iters = 5;
    c.n_expert = 64;
    c.n_expert_used = 8;
    c.n_expert_shared = 2;
    c.n_hash_layer = 0;
    c.n_swa = 6;
    c.n_indexer_head = 3;
    c.indexer_head_dim = 64;
    c.indexer_top_k = 3;
    c.rope_scaling_factor = 2.0f;
    c.n_ctx_orig_yarn = 32;
    const auto l = load(tiny_file(c, true));
    compare_to_naive(l->model, 40, 48);
  }
  SECTION("HCA ratio 1, no shared expert, no YaRN, every layer hash-routed") {
    Deepseek4Config c = tiny_cfg();
    c.n_layer = 2;
    c.compress_ratio = {1, 0};
    c.swiglu_clamp.assign(2, 10.0f);
    c.n_expert_shared = 0;
    c.n_hash_layer = 2;
    c.rope_scaling_factor = 1.0f;
    const auto l = load(tiny_file(c, true));
    compare_to_naive(l->model, 20, 24);
  }
}

TEST_CASE("deepseek4 forward: bad calls are clear errors", "[forward][deepseek4]") {
  Deepseek4Config c = tiny_cfg();
  c.n_layer = 1;
  c.compress_ratio.assign(1, 0);
  c.swiglu_clamp.assign(1, 10.0f);
  const auto l = load(tiny_file(c, true));
  backend::CpuOps ops(1);
  forward::Deepseek4Forward fw(l->model, ops, forward::Deepseek4Options{8, forward::KvStorage::exact});
  std::vector<float> lg;
  const std::vector<int32_t> toks = {1, 2, 3};
  auto before = fw.eval(toks, 0, true, lg);
  REQUIRE(!before);
  CHECK_HAS(before.error().message(), "init()");
  REQUIRE(fw.init());
  auto full = fw.eval(toks, 6, true, lg);
  REQUIRE(!full);
  CHECK_HAS(full.error().message(), "context full");
  const std::vector<int32_t> bad = {1, 300};
  auto oov = fw.eval(bad, 0, true, lg);
  REQUIRE(!oov);
  CHECK_HAS(oov.error().message(), "outside the vocabulary");
  REQUIRE(fw.eval(toks, 5, false, lg));  // positions 5..7: the last ones that fit
  CHECK(lg.size() == c.n_vocab);
  forward::Deepseek4Forward zero(l->model, ops, forward::Deepseek4Options{0, forward::KvStorage::exact});
  CHECK(!zero.init());
}

namespace {

std::vector<float> run_storage(const Deepseek4Model& m, const std::vector<int32_t>& toks, const std::vector<int>& split,
                               int64_t n_ctx, forward::KvStorage st) {
  backend::CpuOps ops(2);
  forward::Deepseek4Forward fw(m, ops, forward::Deepseek4Options{n_ctx, st});
  auto ir = fw.init();
  if (!ir) FAIL(ir.error().message());
  std::vector<float> all, lg;
  size_t p = 0;
  for (int n : split) {
    auto r = fw.eval(std::span<const int32_t>(toks.data() + p, static_cast<size_t>(n)), static_cast<int64_t>(p), true, lg);
    if (!r) FAIL(r.error().message());
    all.insert(all.end(), lg.begin(), lg.end());
    p += static_cast<size_t>(n);
  }
  return all;
}

}  // namespace

TEST_CASE("deepseek4 forward: KV storage official differs from exact, stays close, prefill == decode", "[forward][deepseek4]") {
  const Deepseek4Config c = compressed_cfg();  // CSA (indexer), HCA, CSA over 140 tokens
  static const auto l = load(tiny_file(c, true));
  const int T = 140;
  const auto toks = prompt(T, c.n_vocab);
  const auto exact = run_storage(l->model, toks, {T}, 160, forward::KvStorage::exact);
  const auto official = run_storage(l->model, toks, {T}, 160, forward::KvStorage::official);
  CHECK(same_bits(run_storage(l->model, toks, std::vector<int>(T, 1), 160, forward::KvStorage::official), official));
  CHECK(same_bits(run_storage(l->model, toks, {5, 60, 1, 74}, 160, forward::KvStorage::official), official));
  CHECK(same_bits(run_storage(l->model, toks, {33, 107}, 160, forward::KvStorage::exact), exact));
  const size_t V = c.n_vocab;
  double num = 0.0, den = 0.0;
  size_t same_arg = 0, differ = 0;
  for (int p = 0; p < T; ++p) {
    size_t ae = 0, ao = 0;
    bool d = false;
    for (size_t v = 0; v < V; ++v) {
      const double e = exact[static_cast<size_t>(p) * V + v], o = official[static_cast<size_t>(p) * V + v];
      num += (o - e) * (o - e);
      den += e * e;
      d = d || o != e;
      if (e > exact[static_cast<size_t>(p) * V + ae]) ae = v;
      if (o > official[static_cast<size_t>(p) * V + ao]) ao = v;
    }
    same_arg += ae == ao;
    differ += d;
  }
  const double rel = std::sqrt(num / den);
  UNSCOPED_INFO("official vs exact: relative " << rel << ", argmax equal at " << same_arg << "/" << T);
  if (std::getenv("DSK_V4_VERBOSE")) WARN("official vs exact: relative " << rel << ", argmax equal at " << same_arg << "/" << T);
  // Measured 0.27 relative, argmax equal at 94/140: FP4 indexer queries and keys (2 heads of 32) reorder
  // the top-4 choices, and FP8 rows (1.6% per row) are amplified by this random model (without the CSA
  // layers: 0.18, 116/140). Sanity bounds only: official storage has no independent oracle here.
  CHECK(differ == static_cast<size_t>(T));  // position 0 already reads its own FP8 + F16 row
  CHECK(rel > 1e-4);
  CHECK(rel < 0.5);
  CHECK(same_arg >= static_cast<size_t>(T) / 2);
}

TEST_CASE("deepseek4 forward: KV storage official needs a power-of-two indexer head", "[forward][deepseek4]") {
  Deepseek4Config c = compressed_cfg();
  c.indexer_head_dim = 48;
  const auto l = load(tiny_file(c, true));
  backend::CpuOps ops(1);
  forward::Deepseek4Forward fw(l->model, ops, forward::Deepseek4Options{16});
  auto r = fw.init();
  REQUIRE(!r);
  CHECK_HAS(r.error().message(), "power-of-two indexer head dim");
  forward::Deepseek4Forward ex(l->model, ops, forward::Deepseek4Options{16, forward::KvStorage::exact});
  CHECK(ex.init());
}

// Diagnostic (hidden; run with the tag [.naive-file]): the float64 forward on a GGUF file vs a logits file
// of float64 [T, n_vocab], the tokens comma-separated. DSK_V4_GGUF, DSK_V4_TOKENS, DSK_V4_LOGITS.
TEST_CASE("deepseek4 forward: the float64 forward on a file (diagnostic)", "[.naive-file]") {
  const char* path = std::getenv("DSK_V4_GGUF");
  const char* tok_s = std::getenv("DSK_V4_TOKENS");
  const char* lg_path = std::getenv("DSK_V4_LOGITS");
  REQUIRE(path);
  REQUIRE(tok_s);
  REQUIRE(lg_path);
  auto rd = gguf::Reader::open(path);
  REQUIRE(rd);
  auto m = load_deepseek4(*rd);
  REQUIRE(m);
  std::vector<int32_t> toks;
  for (const char* s = tok_s; *s;) {
    toks.push_back(static_cast<int32_t>(std::strtol(s, const_cast<char**>(&s), 10)));
    if (*s == ',') ++s;
  }
  const size_t V = m->config.n_vocab, T = toks.size();
  std::vector<double> want(T * V);
  {
    std::FILE* f = std::fopen(lg_path, "rb");
    REQUIRE(f);
    REQUIRE(std::fread(want.data(), sizeof(double), want.size(), f) == want.size());
    std::fclose(f);
  }
  const std::vector<float> got = run_ctx(*m, toks, {static_cast<int>(T)}, static_cast<int64_t>(T));
  Naive nv{*m, std::vector<std::vector<Vec>>(m->config.n_layer)};
  for (size_t p = 0; p < T; ++p) {
    const Vec nvl = nv.token(toks[p], static_cast<int64_t>(p));
    double a = 0, b = 0, d = 0;
    for (size_t v = 0; v < V; ++v) {
      a += (nvl[v] - want[p * V + v]) * (nvl[v] - want[p * V + v]);
      b += (got[p * V + v] - nvl[v]) * (got[p * V + v] - nvl[v]);
      d += want[p * V + v] * want[p * V + v];
    }
    std::printf("%zu: naive vs file %.2e, dsk vs naive %.2e\n", p, std::sqrt(a / d), std::sqrt(b / d));
  }
}
