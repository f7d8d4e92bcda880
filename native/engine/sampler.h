// Per-sequence token sampling: greedy, temperature, top-k, top-p, with the sequence's own
// seeded RNG so a run is reproducible whatever else shares its batch.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "status.h"

namespace quiver {

class Sampler {
 public:
  Sampler() = default;
  Sampler(float temperature, int top_k, float top_p, uint64_t seed);

  // The next token from logits (vocab) into *token. Greedy (first maximum) when temperature
  // is 0. Non-finite logits, in every mode: NaN or +inf (a forward pass whose numbers
  // overflowed) fails with NON_FINITE and draws nothing; -inf has probability 0 and is never
  // drawn; a row with no finite logit fails with NON_FINITE.
  Status sample(const float* logits, int vocab, int* token);

  // xorshift64*: 32 random bits; uniform float in [0, 1).
  uint32_t next_u32();
  float next_f32() { return (float)(next_u32() >> 8) / 16777216.0f; }

 private:
  float temperature_ = 0;
  int top_k_ = 0;
  float top_p_ = 1;
  uint64_t state_ = 0x9E3779B97F4A7C15ull;
  std::vector<std::pair<float, int>> cand_;  // (probability, token), reused
};

int argmax(const float* v, int n);

}  // namespace quiver
