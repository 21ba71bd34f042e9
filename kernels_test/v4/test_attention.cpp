// include/dsk/v4/attention.hpp + reference/v4_attention.*: DeepSeek-V4 shared-KV attention with
// sinks over per-token lists of raw and compressed rows, against a float64 oracle (spec §4.3 step 9).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "dsk/core/half.hpp"
#include "reference/v4_attention.hpp"

using namespace dsk;
using dsk::quant::test::Rng;

namespace {
const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// A row store in one of F32 / F16 / BF16, with the widened floats kept for the oracle.
struct Store {
  GgmlType type = GgmlType::F32;
  int64_t D = 0, n = 0;
  std::vector<float> f32;      // the data when F32, and the widened values always
  std::vector<uint16_t> h16;   // F16 / BF16 bits
  const void* data() const { return type == GgmlType::F32 ? static_cast<const void*>(f32.data()) : h16.data(); }
  v4::KvRows rows() const { return {type, data(), 0, n}; }
  float at(int64_t r, int64_t d) const { return f32[r * D + d]; }
  void set(int64_t r, int64_t d, float v) {
    if (type == GgmlType::F16) {
      h16[r * D + d] = f32_to_f16_bits(v);
      f32[r * D + d] = f16_bits_to_f32(h16[r * D + d]);
    } else if (type == GgmlType::BF16) {
      h16[r * D + d] = f32_to_bf16_bits(v);
      f32[r * D + d] = bf16_bits_to_f32(h16[r * D + d]);
    } else {
      f32[r * D + d] = v;
    }
  }
};

Store make_store(Rng& rng, GgmlType t, int64_t n, int64_t D, float amp) {
  Store s;
  s.type = t;
  s.D = D;
  s.n = n;
  s.f32.resize(n * D);
  s.h16.resize(n * D);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t d = 0; d < D; ++d) s.set(r, d, rng.normal() * amp);
  return s;
}

// One attention problem: per token a raw list and a compressed list.
struct Problem {
  int64_t T = 0, H = 0, D = 0;
  std::vector<float> q;
  Store raw, comp;
  std::vector<std::vector<int32_t>> raw_list, comp_list;
  std::vector<float> sinks;  // empty: none
  bool use_comp = true;
};

struct Packed {
  std::vector<int32_t> raw_idx, comp_idx, n_raw, n_comp;
  int64_t raw_stride = 0, comp_stride = 0;
};

std::vector<float> run(const Problem& pb, Status* st = nullptr) {
  Packed pk;
  for (const auto& l : pb.raw_list) pk.raw_stride = std::max<int64_t>(pk.raw_stride, l.size());
  for (const auto& l : pb.comp_list) pk.comp_stride = std::max<int64_t>(pk.comp_stride, l.size());
  pk.raw_idx.assign(pb.T * std::max<int64_t>(pk.raw_stride, 1), -7);
  pk.comp_idx.assign(pb.T * std::max<int64_t>(pk.comp_stride, 1), -7);
  for (int64_t t = 0; t < pb.T; ++t) {
    pk.n_raw.push_back(static_cast<int32_t>(pb.raw_list[t].size()));
    pk.n_comp.push_back(pb.use_comp ? static_cast<int32_t>(pb.comp_list[t].size()) : 0);
    std::copy(pb.raw_list[t].begin(), pb.raw_list[t].end(), pk.raw_idx.begin() + t * pk.raw_stride);
    if (pb.use_comp)
      std::copy(pb.comp_list[t].begin(), pb.comp_list[t].end(), pk.comp_idx.begin() + t * pk.comp_stride);
  }
  std::vector<float> out(pb.T * pb.H * pb.D, test::poison());
  v4::SinkAttentionParams p;
  p.q = pb.q.data();
  p.raw = pb.raw.rows();
  p.raw_idx = pk.raw_idx.data();
  p.raw_idx_stride = pk.raw_stride;
  p.n_raw = pk.n_raw.data();
  if (pb.use_comp) {
    p.comp = pb.comp.rows();
    p.comp_idx = pk.comp_idx.data();
    p.comp_idx_stride = pk.comp_stride;
    p.n_comp = pk.n_comp.data();
  }
  p.sinks = pb.sinks.empty() ? nullptr : pb.sinks.data();
  p.T = pb.T;
  p.n_head = pb.H;
  p.head_dim = pb.D;
  p.kq_scale = v4::attn_scale(pb.D);
  p.out = out.data();
  const Status s = ref::v4::sink_attention(p);
  if (st) *st = s;
  else REQUIRE(s.ok());
  return out;
}

// float64 oracle: o = sum_j exp(s_j - m) v_j / (exp(sink - m) + sum_j exp(s_j - m)); also returns the
// magnitude sum_j p_j |v_j[d]| per d and S = max_j kq_scale * sum_i |q_i v_ji| (the tolerance's scales).
void oracle(const Problem& pb, int64_t t, int64_t h, std::vector<double>& o, std::vector<double>& mag, double& S) {
  std::vector<const float*> rows;
  std::vector<const Store*> st;
  std::vector<int64_t> ri;
  for (int32_t r : pb.raw_list[t]) { st.push_back(&pb.raw); ri.push_back(r); }
  if (pb.use_comp)
    for (int32_t r : pb.comp_list[t]) { st.push_back(&pb.comp); ri.push_back(r); }
  const int64_t n = static_cast<int64_t>(st.size()), D = pb.D;
  const double scale = 1.0 / std::sqrt(double(D));
  std::vector<double> s(n);
  double m = pb.sinks.empty() ? -INFINITY : double(pb.sinks[h]);
  S = 0;
  for (int64_t j = 0; j < n; ++j) {
    double acc = 0, am = 0;
    for (int64_t d = 0; d < D; ++d) {
      acc += double(pb.q[(t * pb.H + h) * D + d]) * st[j]->at(ri[j], d);
      am += std::fabs(double(pb.q[(t * pb.H + h) * D + d]) * st[j]->at(ri[j], d));
    }
    S = std::max(S, am * scale);
    s[j] = acc * scale;
    m = std::max(m, s[j]);
  }
  double den = pb.sinks.empty() ? 0.0 : std::exp(pb.sinks[h] - m);
  for (int64_t j = 0; j < n; ++j) den += std::exp(s[j] - m);
  o.assign(D, 0.0);
  mag.assign(D, 0.0);
  if (den == 0) return;
  for (int64_t j = 0; j < n; ++j) {
    const double pj = std::exp(s[j] - m) / den;
    for (int64_t d = 0; d < D; ++d) {
      o[d] += pj * st[j]->at(ri[j], d);
      mag[d] += pj * std::fabs(st[j]->at(ri[j], d));
    }
  }
}

std::vector<int32_t> sorted_subset(Rng& rng, int32_t n_rows, int32_t k) {
  std::vector<int32_t> all(n_rows);
  for (int32_t i = 0; i < n_rows; ++i) all[i] = i;
  for (int32_t i = 0; i < k; ++i) std::swap(all[i], all[i + rng.below(n_rows - i)]);
  std::vector<int32_t> out(all.begin(), all.begin() + k);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int32_t> window(int32_t first, int32_t n) {
  std::vector<int32_t> w(n);
  for (int32_t i = 0; i < n; ++i) w[i] = first + i;
  return w;
}

Problem make_problem(Rng& rng, int64_t H, int64_t D, GgmlType raw_t, GgmlType comp_t, bool sinks) {
  Problem pb;
  pb.H = H;
  pb.D = D;
  pb.raw = make_store(rng, raw_t, 300, D, 1.0f);
  pb.comp = make_store(rng, comp_t, 800, D, 1.0f);
  if (sinks)
    for (int64_t h = 0; h < H; ++h) pb.sinks.push_back(rng.normal() * 2.0f);
  return pb;
}

void fill_q(Rng& rng, Problem& pb, float amp) {
  pb.q.resize(pb.T * pb.H * pb.D);
  for (float& v : pb.q) v = rng.normal() * amp;
}
}  // namespace

// Tolerance: |o - o64| <= (1e-6 + 2e-7 * S) * sum_j p_j |v_j[d]| + 1e-30, S = max_j kq_scale * sum_i
// |q_i v_ji|. A weight's relative error is that of s_j - m (the row dot's rounding and the
// subtraction, a few 2^-24 of S) plus exp's 1 ulp and the division; the sums add one rounding per
// row. The worst ratio err / (mag * (1e-6 + 2e-7 S)) is printed on failure (measured 0.2).
TEST_CASE("v4 attention: sinks, raw + compressed lists, chunks of 256, vs float64", "[v4][attention]") {
  Rng rng(81);
  double worst = 0;
  struct Shape {
    int64_t H, D;
    GgmlType raw_t, comp_t;
    bool sinks;
    float q_amp;
  };
  for (Shape sh : {Shape{4, 512, GgmlType::F16, GgmlType::F32, true, 2.0f},
                   Shape{2, 40, GgmlType::BF16, GgmlType::F16, true, 4.0f},
                   Shape{3, 64, GgmlType::F32, GgmlType::F32, false, 1.0f},
                   Shape{1, 1, GgmlType::F32, GgmlType::BF16, true, 3.0f}}) {
    Problem pb = make_problem(rng, sh.H, sh.D, sh.raw_t, sh.comp_t, sh.sinks);
    // lists: empty; one row; 255 / 256 / 257 entries; raw window + compressed rows (2 and 4 chunks)
    pb.raw_list = {{}, window(7, 1), window(0, 128), window(0, 128), window(3, 128), window(172, 128), window(0, 2)};
    pb.comp_list = {{}, {}, sorted_subset(rng, 800, 127), sorted_subset(rng, 800, 128), sorted_subset(rng, 800, 129),
                    sorted_subset(rng, 800, 600), sorted_subset(rng, 800, 800)};
    pb.T = static_cast<int64_t>(pb.raw_list.size());
    fill_q(rng, pb, sh.q_amp);
    const std::vector<float> out = run(pb);
    for (int64_t t = 0; t < pb.T; ++t)
      for (int64_t h = 0; h < pb.H; ++h) {
        std::vector<double> o, mag;
        double S;
        oracle(pb, t, h, o, mag, S);
        const double tol = 1e-6 + 2e-7 * S;
        for (int64_t d = 0; d < pb.D; ++d) {
          const double err = std::fabs(out[(t * pb.H + h) * pb.D + d] - o[d]);
          worst = std::max(worst, err / (tol * mag[d] + 1e-30));
          REQUIRE(err <= tol * mag[d] + 1e-30);
        }
      }
    // the empty list gives +0 (with or without a sink)
    for (int64_t i = 0; i < pb.H * pb.D; ++i) REQUIRE(fp::bits(out[i]) == 0u);
    // tokens are independent: token 5 alone gives the same bits
    Problem one = pb;
    one.T = 1;
    one.q.assign(pb.q.begin() + 5 * pb.H * pb.D, pb.q.begin() + 6 * pb.H * pb.D);
    one.raw_list = {pb.raw_list[5]};
    one.comp_list = {pb.comp_list[5]};
    REQUIRE(test::compare_bits(run(one).data(), out.data() + 5 * pb.H * pb.D, pb.H * pb.D).count == 0);
  }
  INFO("worst error / tolerance " << worst);
  CHECK(worst <= 1.0);
}

TEST_CASE("v4 attention: the result depends on the list, not on where rows are stored", "[v4][attention]") {
  Rng rng(82);
  Problem pb = make_problem(rng, 2, 64, GgmlType::F32, GgmlType::F32, true);
  pb.raw_list = {window(0, 300)};
  pb.comp_list = {{}};
  pb.T = 1;
  fill_q(rng, pb, 2.0f);
  const std::vector<float> all_raw = run(pb);
  // the same 300 rows split: 100 from the raw store, 200 copied into the compressed store
  Problem split = pb;
  split.comp = pb.raw;
  split.raw_list = {window(0, 100)};
  split.comp_list = {window(100, 200)};
  REQUIRE(test::compare_bits(run(split), all_raw).count == 0);
  // a shared list (index stride 0) for two tokens with the same q gives the same bits twice
  v4::SinkAttentionParams p;
  std::vector<int32_t> idx = window(0, 300), n = {300, 300};
  std::vector<float> q2(pb.q);
  q2.insert(q2.end(), pb.q.begin(), pb.q.end());
  std::vector<float> out(2 * 2 * 64, test::poison());
  p.q = q2.data(); p.raw = pb.raw.rows(); p.raw_idx = idx.data(); p.raw_idx_stride = 0; p.n_raw = n.data();
  p.sinks = pb.sinks.data(); p.T = 2; p.n_head = 2; p.head_dim = 64; p.kq_scale = v4::attn_scale(64);
  p.out = out.data();
  REQUIRE(ref::v4::sink_attention(p).ok());
  REQUIRE(test::compare_bits(out.data(), all_raw.data(), 128).count == 0);
  REQUIRE(test::compare_bits(out.data() + 128, all_raw.data(), 128).count == 0);
}

TEST_CASE("v4 attention: sink extremes, masking by -inf scores, NaN", "[v4][attention]") {
  Rng rng(83);
  Problem pb = make_problem(rng, 2, 32, GgmlType::F32, GgmlType::F32, true);
  pb.raw_list = {window(0, 100)};
  pb.comp_list = {window(0, 300)};
  pb.T = 1;
  fill_q(rng, pb, 1.0f);
  Problem nos = pb;
  nos.sinks.clear();
  const std::vector<float> no_sink = run(nos);
  // a sink far below every score (or -inf) changes nothing, bit for bit
  for (float s : {-1e4f, -kInf}) {
    Problem q = pb;
    q.sinks = {s, s};
    REQUIRE(test::compare_bits(run(q), no_sink).count == 0);
  }
  // a sink far above every score takes all the weight: the output is +0
  {
    Problem q = pb;
    q.sinks = {1e4f, 0.0f};
    const std::vector<float> o = run(q);
    for (int64_t d = 0; d < 32; ++d) REQUIRE(fp::bits(o[d]) == 0u);
    for (int64_t d = 32; d < 64; ++d) REQUIRE(std::isfinite(o[d]));
  }
  // a NaN sink poisons its head only
  {
    Problem q = pb;
    q.sinks = {kNaN, 0.0f};
    const std::vector<float> o = run(q);
    for (int64_t d = 0; d < 32; ++d) REQUIRE(std::isnan(o[d]));
    for (int64_t d = 32; d < 64; ++d) REQUIRE(std::isfinite(o[d]));
  }
  // a row whose score is -inf (q > 0 everywhere, row[0] = -inf) is masked: appending it as the last
  // entry gives the bits of the list without it
  {
    Problem q = pb;
    for (float& v : q.q) v = std::fabs(v) + 0.1f;
    const std::vector<float> base = run(q);
    q.comp.set(500, 0, -kInf);
    q.comp_list[0].push_back(500);
    REQUIRE(test::compare_bits(run(q), base).count == 0);
    // a whole list of masked rows and no sink: nothing live, +0
    q.sinks.clear();
    q.raw_list = {{}};
    q.comp_list = {{500, 500}};
    for (float v : run(q)) REQUIRE(fp::bits(v) == 0u);
  }
  // NaN in one row reaches every head; NaN in one head's q reaches that head only
  {
    Problem q = pb;
    q.raw.set(50, 3, kNaN);
    for (float v : run(q)) REQUIRE(std::isnan(v));
    Problem r = pb;
    r.q[40] = kNaN;  // head 1
    const std::vector<float> o = run(r);
    for (int64_t d = 0; d < 32; ++d) REQUIRE(std::isfinite(o[d]));
    for (int64_t d = 32; d < 64; ++d) REQUIRE(std::isnan(o[d]));
  }
  // +inf score (inf - inf in the chunk) gives NaN
  {
    Problem q = pb;
    for (float& v : q.q) v = std::fabs(v) + 0.1f;
    q.raw.set(10, 0, kInf);
    for (float v : run(q)) REQUIRE(std::isnan(v));
  }
}

TEST_CASE("v4 attention: validation", "[v4][attention]") {
  Rng rng(84);
  Problem pb = make_problem(rng, 1, 32, GgmlType::F32, GgmlType::F32, true);
  pb.raw_list = {window(0, 4)};
  pb.comp_list = {{1, 2}};
  pb.T = 1;
  fill_q(rng, pb, 1.0f);
  Status st;
  Problem q = pb;
  q.raw_list = {{0, 300}};  // the raw store has 300 rows
  std::vector<float> o = run(q, &st);
  CHECK(st.code == Status::kInvalidArgument);
  for (float v : o) CHECK(fp::bits(v) == test::kPoisonBits);  // nothing written
  q = pb;
  q.comp_list = {{-1}};
  run(q, &st);
  CHECK(st.code == Status::kInvalidArgument);
  q = pb;
  q.comp.type = GgmlType::Q8_0;
  run(q, &st);
  CHECK(st.code == Status::kUnsupported);
  v4::SinkAttentionParams p;
  std::vector<int32_t> n = {-1};
  std::vector<float> buf(64);
  p.q = buf.data(); p.out = buf.data(); p.T = 1; p.n_head = 1; p.head_dim = 32;
  CHECK(ref::v4::sink_attention(p).ok());  // no lists: +0
  p.n_raw = n.data();
  CHECK(ref::v4::sink_attention(p).code == Status::kInvalidArgument);  // n_raw without raw_idx
  p.raw_idx = n.data();
  CHECK(ref::v4::sink_attention(p).code == Status::kInvalidArgument);  // negative count
  p.n_raw = nullptr;
  p.head_dim = 0;
  CHECK(ref::v4::sink_attention(p).code == Status::kInvalidArgument);
  p.head_dim = 32;
  p.kq_scale = kInf;
  CHECK(ref::v4::sink_attention(p).code == Status::kInvalidArgument);
}
