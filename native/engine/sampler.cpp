// Token sampling (see sampler.h).
#include "sampler.h"

#include <algorithm>
#include <cmath>

namespace quiver {

int argmax(const float* v, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

Sampler::Sampler(float temperature, int top_k, float top_p, uint64_t seed)
    : temperature_(temperature), top_k_(top_k), top_p_(top_p) {
  // splitmix64 of the seed, so that small seeds (0, 1, 2) start from well-mixed states.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  state_ = (z ^ (z >> 31)) | 1;
}

uint32_t Sampler::next_u32() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return (uint32_t)((state_ * 0x2545F4914F6CDD1Dull) >> 32);
}

Status Sampler::sample(const float* logits, int vocab, int* token) {
  // Every comparison below (the maximum, the sort by probability) is then between finite
  // numbers: a NaN would make the sort's order undefined.
  int finite = 0;
  for (int i = 0; i < vocab; ++i) {
    if (std::isnan(logits[i]) || logits[i] == INFINITY)
      return Error(QUIVER_ERR_NON_FINITE, "logit %d is %s: the forward pass overflowed; nothing was sampled", i,
                   std::isnan(logits[i]) ? "NaN" : "+inf");
    finite += logits[i] != -INFINITY;
  }
  if (finite == 0) return Error(QUIVER_ERR_NON_FINITE, "every logit is -inf; nothing can be sampled");
  if (temperature_ <= 0 || top_k_ == 1) {
    *token = argmax(logits, vocab);
    return Status::Ok();
  }
  // Softmax of logits / temperature over the whole vocabulary.
  float mx = logits[0];
  for (int i = 1; i < vocab; ++i) mx = std::max(mx, logits[i]);
  cand_.resize((size_t)vocab);
  double sum = 0;
  for (int i = 0; i < vocab; ++i) {
    const float p = std::exp((logits[i] - mx) / temperature_);
    cand_[i] = {p, i};
    sum += p;
  }
  size_t n = (size_t)vocab;
  const bool nucleus = top_p_ > 0 && top_p_ < 1;
  if ((top_k_ > 0 && top_k_ < vocab) || nucleus) {
    // Highest probability first; ties by token id so the order is deterministic.
    auto by_prob = [](const std::pair<float, int>& a, const std::pair<float, int>& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    if (top_k_ > 0 && top_k_ < vocab) {
      std::partial_sort(cand_.begin(), cand_.begin() + top_k_, cand_.end(), by_prob);
      n = (size_t)top_k_;
    } else {
      std::sort(cand_.begin(), cand_.end(), by_prob);
    }
    if (nucleus) {
      double cum = 0;
      size_t keep = n;
      for (size_t i = 0; i < n; ++i) {
        cum += cand_[i].first / sum;
        if (cum >= top_p_) { keep = i + 1; break; }
      }
      n = keep;
    }
    sum = 0;
    for (size_t i = 0; i < n; ++i) sum += cand_[i].first;
  }
  const double u = next_f32() * sum;
  double cdf = 0;
  for (size_t i = 0; i < n; ++i) {
    cdf += cand_[i].first;
    if (u < cdf) {
      *token = cand_[i].second;
      return Status::Ok();
    }
  }
  // Rounding at the top end: the last candidate with a probability above 0.
  size_t last = n - 1;
  while (last > 0 && cand_[last].first == 0) --last;
  *token = cand_[last].second;
  return Status::Ok();
}

}  // namespace quiver
