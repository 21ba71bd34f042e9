// Host sampler: the chain of dsk/sample/sample.hpp.
#include "reference/sample.hpp"

#include <algorithm>
#include <numeric>
#include <vector>

#include "dsk/core/fp.hpp"
#include "dsk/core/math.hpp"
#include "dsk/sample/philox.hpp"

namespace dsk::ref::sample {

namespace {
constexpr size_t kChunk = static_cast<size_t>(dsk::sample::kSumChunk);

// P_0 = 0, P_{c+1} = P_c + (chunk c summed left to right from 0): the chunked rule of sample.hpp.
std::vector<float> chunk_prefix(const std::vector<float>& w) {
  const size_t nc = (w.size() + kChunk - 1) / kChunk;
  std::vector<float> P(nc + 1, 0.0f);
  for (size_t c = 0; c < nc; ++c) {
    float t = 0.0f;
    for (size_t i = c * kChunk; i < std::min(w.size(), (c + 1) * kChunk); ++i) t = fp::add(t, w[i]);
    P[c + 1] = fp::add(P[c], t);
  }
  return P;
}

// The first i whose running sum (P_c then chunk c's weights up to i) satisfies hit; `none` if none.
template <class Hit>
size_t first_running(const std::vector<float>& w, const std::vector<float>& P, Hit hit, size_t none) {
  for (size_t c = 0; c + 1 < P.size(); ++c) {
    float cum = P[c];
    for (size_t i = c * kChunk; i < std::min(w.size(), (c + 1) * kChunk); ++i) {
      cum = fp::add(cum, w[i]);
      if (hit(cum)) return i;
    }
  }
  return none;
}
}  // namespace

int32_t argmax(const float* logits, int32_t n_vocab) {
  int32_t best = -1;
  for (int32_t i = 0; i < n_vocab; ++i) {
    if (fp::is_nan(logits[i])) continue;
    if (best < 0 || logits[i] > logits[best]) best = i;
  }
  return best;
}

int32_t sample(const float* logits, int32_t n_vocab, const dsk::sample::SamplerParams& p, uint64_t pos) {
  std::vector<int32_t> cand;
  cand.reserve(static_cast<size_t>(n_vocab));
  for (int32_t i = 0; i < n_vocab; ++i)
    if (fp::is_finite(logits[i]) || (fp::is_inf(logits[i]) && logits[i] > 0.0f)) cand.push_back(i);
  if (cand.empty()) return -1;
  // +inf logits: only those can be drawn, uniformly impossible to weigh; take the first (greedy).
  auto better = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < cand.size()) {
    std::partial_sort(cand.begin(), cand.begin() + p.top_k, cand.end(), better);
    cand.resize(static_cast<size_t>(p.top_k));
  } else {
    std::sort(cand.begin(), cand.end(), better);
  }
  const float lmax = logits[cand[0]];
  if (fp::is_inf(lmax) || p.temperature <= 0.0f) return cand[0];

  if (p.top_p < 1.0f) {
    std::vector<float> w(cand.size());
    for (size_t i = 0; i < cand.size(); ++i) w[i] = math::exp(fp::sub(logits[cand[i]], lmax));
    const std::vector<float> P = chunk_prefix(w);
    const float target = fp::mul(p.top_p, P.back());
    cand.resize(first_running(w, P, [&](float cum) { return cum >= target; }, cand.size() - 1) + 1);
  }
  if (p.min_p > 0.0f) {
    size_t keep = 1;
    while (keep < cand.size() && math::exp(fp::sub(logits[cand[keep]], lmax)) >= p.min_p) ++keep;
    cand.resize(keep);
  }
  std::vector<float> w(cand.size());
  for (size_t i = 0; i < cand.size(); ++i) w[i] = math::exp(fp::div(fp::sub(logits[cand[i]], lmax), p.temperature));
  const std::vector<float> P = chunk_prefix(w);
  const float u = fp::mul(dsk::sample::uniform(p.seed, pos, 0), P.back());
  return cand[first_running(w, P, [&](float cum) { return cum > u; }, cand.size() - 1)];
}

}  // namespace dsk::ref::sample
