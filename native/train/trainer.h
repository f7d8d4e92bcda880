// Training for the Llama-family models the engine serves: the forward pass with its
// activations kept, the backward pass of every op (embedding, RMSNorm, projections with
// LoRA, rotary embedding, grouped-query causal attention, SwiGLU, the output head and
// cross-entropy), gradient clipping by global norm, and AdamW. Two modes: full training of
// every base weight (the zoo's base model) and LoRA-only training (adapters; the base is
// frozen). Written once as a template: f32 for training (the fast CPU kernels), f64 for
// numerical gradient checks.
//
// Reproducible bit for bit on one machine: every output element is computed by one task in
// a fixed order, whatever the thread count, and all randomness comes from the seed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../engine/model.h"
#include "../engine/status.h"

namespace quiver {

struct TrainerOptions {
  std::string model_dir;       // config.json (+ weights unless init_random)
  bool lora = false;           // false: every base weight trains; true: only LoRA A and B
  bool init_random = false;    // full mode: initialise from the seed instead of the weights
  int rank = 8;                // LoRA
  float alpha = 16;
  bool rslora = false;
  unsigned modules = 0x7f;     // bit m = Module m (q, k, v, o, gate, up, down)
  uint64_t seed = 0;
  int threads = 0;             // 0 = all hardware threads
  bool f64 = false;            // double precision (gradient checks)
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weight_decay = 0.0f;   // decoupled (AdamW), on matrices only
  float clip = 1.0f;           // global gradient norm limit; 0 = off
};

// B sequences of S tokens, row-major. targets[b*S + t] is the token that should follow
// tokens[b*S + t], or -1 where no loss is taken (prompt, padding).
struct TrainBatch {
  const int32_t* tokens = nullptr;
  const int32_t* targets = nullptr;
  int batch = 0;
  int seq_len = 0;
  // LoRA mode: the mapping weight every delta gets in this batch (as a mixture of k
  // adapters gives each 1/k); training at several weights makes an adapter work when mixed.
  float lora_weight = 1.0f;
};

struct TensorMeta {
  std::string name;             // Hugging Face / PEFT name
  std::vector<int64_t> shape;
  int64_t numel = 0;
  bool trainable = false;
};

enum class TensorPart : int { kValue = 0, kGrad = 1, kAdamM = 2, kAdamV = 3 };

struct StepStats {
  double loss = 0;        // mean cross-entropy over the target tokens
  int64_t targets = 0;    // tokens with a target
  double grad_norm = 0;   // before clipping
};

class Trainer {
 public:
  virtual ~Trainer() = default;
  // Reads and checks the model (and creates the LoRA tensors); INVALID_ARGUMENT for bad
  // options, the loader's codes for the model.
  static Status create(const TrainerOptions& options, std::unique_ptr<Trainer>* out);

  virtual const ModelConfig& config() const = 0;
  // Base tensors first (in loader order), then LoRA A and B per (layer, module).
  virtual const std::vector<TensorMeta>& tensors() const = 0;
  virtual Status read(int index, TensorPart part, double* out) const = 0;
  virtual Status write(int index, TensorPart part, const double* in) = 0;

  // Forward only.
  virtual Status loss(const TrainBatch& batch, StepStats* out) = 0;
  // Forward and backward: the gradients of the mean loss replace the previous ones.
  virtual Status forward_backward(const TrainBatch& batch, StepStats* out) = 0;
  // forward_backward, clipping, one AdamW update at learning rate `lr`.
  virtual Status step(const TrainBatch& batch, float lr, StepStats* out) = 0;
  virtual int64_t steps() const = 0;      // AdamW updates done (bias correction uses it)
  virtual void set_steps(int64_t n) = 0;  // resuming from a checkpoint
};

}  // namespace quiver
