// Host sampler: the chain of dsk/sample/sample.hpp.
#include "reference/sample.hpp"

#include <algorithm>
#include <numeric>
#include <vector>

#include "dsk/core/fp.hpp"
#include "dsk/core/math.hpp"
#include "dsk/sample/philox.hpp"

namespace dsk::ref::sample {

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
    float total = 0.0f;
    for (size_t i = 0; i < cand.size(); ++i) {
      w[i] = math::exp(fp::sub(logits[cand[i]], lmax));
      total = fp::add(total, w[i]);
    }
    const float target = fp::mul(p.top_p, total);
    float cum = 0.0f;
    size_t keep = cand.size();
    for (size_t i = 0; i < cand.size(); ++i) {
      cum = fp::add(cum, w[i]);
      if (cum >= target) {
        keep = i + 1;
        break;
      }
    }
    cand.resize(keep);
  }
  if (p.min_p > 0.0f) {
    size_t keep = 1;
    while (keep < cand.size() && math::exp(fp::sub(logits[cand[keep]], lmax)) >= p.min_p) ++keep;
    cand.resize(keep);
  }
  std::vector<float> w(cand.size());
  float total = 0.0f;
  for (size_t i = 0; i < cand.size(); ++i) {
    w[i] = math::exp(fp::div(fp::sub(logits[cand[i]], lmax), p.temperature));
    total = fp::add(total, w[i]);
  }
  const float u = fp::mul(dsk::sample::uniform(p.seed, pos, 0), total);
  float cum = 0.0f;
  for (size_t i = 0; i < cand.size(); ++i) {
    cum = fp::add(cum, w[i]);
    if (cum > u) return cand[i];
  }
  return cand.back();
}

}  // namespace dsk::ref::sample
