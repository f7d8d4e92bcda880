// The forward pass of a Llama-family decoder with per-row LoRA deltas, written once for
// every backend. One call runs one step of continuous batching (see backends/backend.h).
#pragma once

#include <vector>

#include "../backends/backend.h"
#include "model.h"

namespace quiver {

class ForwardPass {
 public:
  // `weights` point into backend memory.
  ForwardPass(Backend* backend, const ModelConfig& config, const ModelWeights& weights)
      : be_(backend), c_(config), w_(weights) {}
  ~ForwardPass();
  ForwardPass(const ForwardPass&) = delete;
  ForwardPass& operator=(const ForwardPass&) = delete;

  // Runs the plan; writes the logits after each sequence's last row to host memory
  // `logits` (n_seqs, vocab).
  Status run(const StepPlan& plan, float* logits);

 private:
  Status reserve(int rows, int seqs);

  Backend* be_;
  ModelConfig c_;
  ModelWeights w_;
  int cap_rows_ = 0, cap_seqs_ = 0;
  // activations in backend memory, (rows, features)
  float* x_ = nullptr;      // (T, dim) the residual stream
  float* xb_ = nullptr;     // (T, dim) normed input of a block
  float* q_ = nullptr;      // (T, q_dim)
  float* k_ = nullptr;      // (T, kv_dim)
  float* v_ = nullptr;      // (T, kv_dim)
  float* att_ = nullptr;    // (T, q_dim) attention output
  float* gate_ = nullptr;   // (T, hidden)
  float* up_ = nullptr;     // (T, hidden)
  float* last_ = nullptr;   // (S, dim) last row of each sequence
  float* lastn_ = nullptr;  // (S, dim) normed
  float* logits_ = nullptr; // (S, vocab)
};

}  // namespace quiver
