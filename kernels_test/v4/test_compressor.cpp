// include/dsk/v4/compressor.hpp + reference/v4_compressor.*: DeepSeek-V4 KV compressor pooling
// against a float64 oracle that replays ds4's streaming state machine (spec §5), and the state
// contract: prefill then decode (any split into calls) gives the bits of one long prefill.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../quant/quant_test_util.hpp"
#include "catch.hpp"
#include "compare.hpp"
#include "dsk/core/half.hpp"
#include "reference/v4_compressor.hpp"

using namespace dsk;
using dsk::quant::test::Rng;

namespace {
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

struct Seq {
  int64_t R = 4, D = 8, N = 0;
  bool overlap = true;
  int64_t W() const { return (overlap ? 2 : 1) * D; }
  std::vector<float> kv, gate;   // [N, W]
  std::vector<uint16_t> ape16;   // [R, W] F16
  std::vector<float> ape;        // widened
};

Seq make_seq(Rng& rng, int64_t R, int64_t D, int64_t N, bool overlap, float gate_amp) {
  Seq s;
  s.R = R; s.D = D; s.N = N; s.overlap = overlap;
  const int64_t W = s.W();
  s.kv.resize(N * W);
  s.gate.resize(N * W);
  for (float& v : s.kv) v = rng.normal();
  for (float& v : s.gate) v = rng.normal() * gate_amp;
  for (int64_t i = 0; i < R * W; ++i) {
    s.ape16.push_back(f32_to_f16_bits(rng.normal() * 0.5f));
    s.ape.push_back(f16_bits_to_f32(s.ape16.back()));
  }
  return s;
}

// The op over positions [p0, p0 + T) with a caller-kept state; returns the emitted rows.
struct Runner {
  const Seq& s;
  std::vector<float> st_kv, st_sc;
  explicit Runner(const Seq& seq, float fill = 0.0f)
      : s(seq), st_kv((seq.overlap ? 2 : 1) * seq.R * seq.W(), fill), st_sc(st_kv.size(), fill) {}
  std::vector<float> call(int64_t p0, int64_t T, Status* st = nullptr) {
    const int64_t W = s.W();
    std::vector<float> out(std::max<int64_t>(v4::compressor_rows(p0, T, s.R), 0) * s.D, test::poison());
    v4::CompressorParams p;
    p.kv = s.kv.data() + p0 * W;
    p.gate = s.gate.data() + p0 * W;
    p.ape_type = GgmlType::F16;
    p.ape = s.ape16.data();
    p.T = T; p.p0 = p0; p.ratio = s.R; p.overlap = s.overlap; p.head_dim = s.D;
    p.state_kv = st_kv.data(); p.state_score = st_sc.data(); p.out = out.data();
    const Status r = ref::v4::compress(p);
    if (st) *st = r;
    else REQUIRE(r.ok());
    return out;
  }
};

// ds4's compressor_decode_one + compressor_pool_decode_state in float64: state rows 0..R-1 previous
// window, R..2R-1 current (overlap), or rows 0..R-1 (plain); kv 0 and score -1e30 initially; shift
// after each emission. Returns the pooled rows and, per value, sum_i p_i |kv_i| and max_i |sc_i|.
void oracle(const Seq& s, std::vector<double>& out, std::vector<double>& mag, std::vector<double>& smax) {
  const int64_t R = s.R, D = s.D, W = s.W(), rows = (s.overlap ? 2 : 1) * R;
  std::vector<double> kv(rows * W, 0.0), sc(rows * W, -1e30);
  out.clear();
  mag.clear();
  smax.clear();
  for (int64_t p = 0; p < s.N; ++p) {
    const int64_t row = s.overlap ? R + p % R : p % R;
    for (int64_t i = 0; i < W; ++i) {
      kv[row * W + i] = s.kv[p * W + i];
      sc[row * W + i] = double(s.gate[p * W + i]) + s.ape[(p % R) * W + i];
    }
    if ((p + 1) % R != 0) continue;
    for (int64_t j = 0; j < D; ++j) {
      std::vector<std::pair<double, double>> cand;  // (kv, score)
      for (int64_t r = 0; r < R; ++r) {
        if (s.overlap) {
          cand.push_back({kv[r * W + j], sc[r * W + j]});
          cand.push_back({kv[(R + r) * W + D + j], sc[(R + r) * W + D + j]});
        } else {
          cand.push_back({kv[r * W + j], sc[r * W + j]});
        }
      }
      double m = -INFINITY, den = 0, num = 0, mg = 0, sm = 0;
      for (auto& c : cand) m = std::max(m, c.second);
      for (auto& c : cand) {
        const double e = std::exp(c.second - m);
        den += e;
        num += e * c.first;
        mg += e * std::fabs(c.first);
        if (c.second > -1e29) sm = std::max(sm, std::fabs(c.second));
      }
      out.push_back(num / den);
      mag.push_back(mg / den);
      smax.push_back(sm);
    }
    if (s.overlap)
      for (int64_t i = 0; i < R * W; ++i) {
        kv[i] = kv[R * W + i];
        sc[i] = sc[R * W + i];
      }
  }
}
}  // namespace

// Tolerance: |out - out64| <= (1e-6 + 2e-7 * max|sc|) * sum_i p_i |kv_i| + 1e-30. A weight's relative
// error is that of sc_i - m (the bias add and the subtraction: a few 2^-24 of max|sc|), exp's 1 ulp
// and the division; the sums add one rounding per candidate (<= 2R = 256). The worst ratio of error
// to tolerance is printed on failure (measured 0.18).
TEST_CASE("v4 compressor: pooled rows vs float64 replay of ds4's state machine", "[v4][compressor]") {
  Rng rng(91);
  double worst = 0;
  struct Shape {
    int64_t R, D, N;
    bool overlap;
    float amp;
  };
  for (Shape sh : {Shape{4, 512, 23, true, 2.0f}, Shape{4, 128, 40, true, 8.0f}, Shape{128, 64, 300, false, 2.0f},
                   Shape{3, 5, 31, false, 4.0f}, Shape{5, 7, 33, true, 1.0f}, Shape{1, 3, 6, false, 1.0f},
                   Shape{1, 3, 6, true, 1.0f}}) {
    const Seq s = make_seq(rng, sh.R, sh.D, sh.N, sh.overlap, sh.amp);
    Runner run(s, kNaN);  // at p0 = 0 the state is never read: NaN contents must not leak
    const std::vector<float> got = run.call(0, s.N);
    std::vector<double> want, mag, smax;
    oracle(s, want, mag, smax);
    REQUIRE(got.size() == want.size());
    REQUIRE(static_cast<int64_t>(want.size()) == (s.N / s.R) * s.D);
    for (size_t i = 0; i < got.size(); ++i) {
      const double tol = (1e-6 + 2e-7 * smax[i]) * mag[i] + 1e-30;
      const double err = std::fabs(got[i] - want[i]);
      worst = std::max(worst, err / tol);
      REQUIRE(err <= tol);
    }
  }
  INFO("worst error / tolerance " << worst);
  CHECK(worst <= 1.0);
}

TEST_CASE("v4 compressor: prefill then decode, any split into calls, gives one prefill's bits", "[v4][compressor]") {
  Rng rng(92);
  for (auto [R, overlap] : {std::pair<int64_t, bool>{4, true}, {128, false}, {3, false}, {6, true}}) {
    const Seq s = make_seq(rng, R, 16, 2 * R * 5 + 3, overlap, 3.0f);
    Runner whole(s);
    const std::vector<float> all = whole.call(0, s.N);
    // chunk lengths: prefill pieces of odd sizes, then decode one token at a time
    for (int trial = 0; trial < 4; ++trial) {
      Runner split(s, trial % 2 ? kNaN : 0.0f);
      std::vector<float> got;
      int64_t p = 0;
      while (p < s.N) {
        int64_t T = trial == 0 ? 1 : (p < s.N / 2 ? 1 + rng.below(static_cast<int>(2 * R + 1)) : 1);
        T = std::min(T, s.N - p);
        const std::vector<float> o = split.call(p, T);
        got.insert(got.end(), o.begin(), o.end());
        p += T;
      }
      REQUIRE(got.size() == all.size());
      REQUIRE(test::compare_bits(got, all).count == 0);
    }
    // a call with T = 0 emits nothing and changes nothing
    Runner r0(s);
    r0.call(0, 5);
    const std::vector<float> before = r0.st_kv;
    CHECK(r0.call(5, 0).empty());
    CHECK(test::compare_bits(r0.st_kv, before).count == 0);
  }
}

TEST_CASE("v4 compressor: one-hot gates, ties, bias types, first window, NaN placement", "[v4][compressor]") {
  Rng rng(93);
  // a dominant gate makes the softmax one-hot: the output is that token's kv, exactly
  {
    Seq s = make_seq(rng, 4, 6, 12, true, 1.0f);
    const int64_t W = s.W();
    for (int64_t j = 0; j < s.D; ++j) {
      s.gate[(8 + j % 4) * W + s.D + j] = 1e4f;  // window 2: own token 8 + j%4 (second half)
      s.gate[(4 + 1) * W + j] = 2e4f;            // window 2: previous token 5 (first half) wins over it
    }
    Runner run(s);
    const std::vector<float> o = run.call(0, 12);
    for (int64_t j = 0; j < s.D; ++j) REQUIRE(fp::bits(o[2 * s.D + j]) == fp::bits(s.kv[5 * W + j]));
    // window 1 (own tokens 4..7, previous 0..3): no dominant gate there except token 5's first half,
    // which belongs to window 2's candidates only
    for (int64_t j = 0; j < s.D; ++j) REQUIRE(std::fabs(o[s.D + j]) < 10.0f);
  }
  // equal scores: the plain average, summed in candidate order
  {
    Seq s = make_seq(rng, 4, 3, 8, true, 0.0f);
    for (float& v : s.gate) v = 0.5f;
    for (auto& a : s.ape16) a = f32_to_f16_bits(0.25f);
    for (float& a : s.ape) a = 0.25f;
    Runner run(s);
    const std::vector<float> o = run.call(0, 8);
    const int64_t W = s.W();
    for (int64_t j = 0; j < s.D; ++j) {
      float num = 0.0f;  // window 0: own 4 tokens only (first window has no previous lanes)
      for (int64_t r = 0; r < 4; ++r) num = fp::add(num, s.kv[r * W + s.D + j]);
      REQUIRE(fp::bits(o[j]) == fp::bits(fp::div(num, 4.0f)));
      num = 0.0f;  // window 1: previous 0..3 (first half), then own 4..7 (second half)
      for (int64_t r = 0; r < 4; ++r) num = fp::add(num, s.kv[r * W + j]);
      for (int64_t r = 4; r < 8; ++r) num = fp::add(num, s.kv[r * W + s.D + j]);
      REQUIRE(fp::bits(o[s.D + j]) == fp::bits(fp::div(num, 8.0f)));
    }
  }
  // the bias as F32, F16 or BF16 with the same values gives the same bits
  {
    Seq s = make_seq(rng, 4, 8, 16, true, 2.0f);
    for (size_t i = 0; i < s.ape.size(); ++i) {  // values exact in all three types
      s.ape[i] = static_cast<float>(rng.below(64) - 32) * 0.125f;
      s.ape16[i] = f32_to_f16_bits(s.ape[i]);
    }
    std::vector<uint16_t> bf(s.ape.size());
    for (size_t i = 0; i < bf.size(); ++i) bf[i] = f32_to_bf16_bits(s.ape[i]);
    std::vector<std::vector<float>> outs;
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
      Runner run(s);
      std::vector<float> out(4 * 8);
      v4::CompressorParams p;
      p.kv = s.kv.data(); p.gate = s.gate.data(); p.ape_type = t;
      p.ape = t == GgmlType::F32 ? static_cast<const void*>(s.ape.data())
                                 : (t == GgmlType::F16 ? static_cast<const void*>(s.ape16.data()) : bf.data());
      p.T = 16; p.ratio = 4; p.overlap = true; p.head_dim = 8;
      p.state_kv = run.st_kv.data(); p.state_score = run.st_sc.data(); p.out = out.data();
      REQUIRE(ref::v4::compress(p).ok());
      outs.push_back(out);
    }
    CHECK(test::compare_bits(outs[1], outs[0]).count == 0);
    CHECK(test::compare_bits(outs[2], outs[0]).count == 0);
  }
  // NaN in a gate: second half reaches its own window, first half the next window (overlap)
  {
    Seq s = make_seq(rng, 4, 4, 16, true, 1.0f);
    const int64_t W = s.W();
    s.gate[5 * W + s.D + 2] = kNaN;  // token 5, own half, dim 2 -> window 1
    s.gate[9 * W + 1] = kNaN;        // token 9, first half, dim 1 -> window 3
    Runner run(s);
    const std::vector<float> o = run.call(0, 16);
    for (int64_t w = 0; w < 4; ++w)
      for (int64_t j = 0; j < s.D; ++j) {
        const bool nan = (w == 1 && j == 2) || (w == 3 && j == 1);
        REQUIRE(std::isnan(o[w * s.D + j]) == nan);
      }
    // +inf gate: inf - inf, NaN; -inf gate: that candidate gets weight 0
    s = make_seq(rng, 4, 4, 8, false, 1.0f);
    s.gate[1 * 4 + 0] = kInf;
    s.gate[5 * 4 + 0] = -kInf;
    Runner r2(s);
    const std::vector<float> o2 = r2.call(0, 8);
    CHECK(std::isnan(o2[0]));
    CHECK(std::isfinite(o2[4]));
    // every candidate -inf: 0 (ds4's rule)
    for (int64_t t = 0; t < 4; ++t) s.gate[t * 4 + 3] = -kInf;
    Runner r3(s);
    CHECK(fp::bits(r3.call(0, 4)[3]) == 0u);
  }
}

TEST_CASE("v4 compressor: rows per call and validation", "[v4][compressor]") {
  CHECK(v4::compressor_rows(0, 4, 4) == 1);
  CHECK(v4::compressor_rows(0, 3, 4) == 0);
  CHECK(v4::compressor_rows(3, 1, 4) == 1);
  CHECK(v4::compressor_rows(4, 131, 128) == 1);
  CHECK(v4::compressor_rows(127, 257, 128) == 3);
  Rng rng(94);
  const Seq s = make_seq(rng, 4, 4, 8, true, 1.0f);
  Runner run(s);
  v4::CompressorParams p;
  std::vector<float> out(16);
  p.kv = s.kv.data(); p.gate = s.gate.data(); p.ape = s.ape16.data(); p.ape_type = GgmlType::F16;
  p.T = 8; p.ratio = 4; p.head_dim = 4; p.state_kv = run.st_kv.data(); p.state_score = run.st_sc.data();
  p.out = out.data();
  CHECK(ref::v4::compress(p).ok());
  auto q = p;
  q.ratio = 0;
  CHECK(ref::v4::compress(q).code == Status::kInvalidArgument);
  q = p; q.ape_type = GgmlType::Q8_0;
  CHECK(ref::v4::compress(q).code == Status::kUnsupported);
  q = p; q.out = nullptr;
  CHECK(ref::v4::compress(q).code == Status::kInvalidArgument);
  q = p; q.T = 2; q.out = nullptr;  // no window closes: out may be null
  CHECK(ref::v4::compress(q).ok());
  q = p; q.kv_stride = 5;             // W = 8
  CHECK(ref::v4::compress(q).code == Status::kInvalidArgument);
  q = p; q.state_score = nullptr;
  CHECK(ref::v4::compress(q).code == Status::kInvalidArgument);
}
