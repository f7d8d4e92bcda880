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
//
// Devices: the CPU trainer (trainer.cpp) is the reference. The device trainer
// (device_trainer.h) runs the same passes as element-wise kernels (device_ops.h) on CUDA
// (cuda_trainer.cu, built when nvcc is present), or on the host one element at a time
// ("cuda-emulated"), which is how the kernels are tested on machines without a GPU. Both
// start from the same weights for the same seed (plan_model and initial_values below).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../backends/device_ops.h"
#include "../engine/model.h"
#include "../engine/status.h"

namespace quiver {

enum class TrainDevice : int {
  kCpu = 0,           // the CPU trainer: fast kernels, threads (f32) or plain loops (f64)
  kCuda = 1,          // the device trainer on the GPU (f32)
  kCudaEmulated = 2,  // the device trainer's kernels run on the host, one element at a time
};

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
  TrainDevice device = TrainDevice::kCpu;
  std::string cublas;  // the device trainer's products (backends/cublas.h); "" = $QUIVER_CUBLAS
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

// ---- the trainable model's tensors, shared by every trainer

struct ParamPlan {
  TensorMeta meta;
  bool decay = false;  // AdamW weight decay applies (matrices)
  enum Init { kHost, kOnes, kNormal, kUniform, kZero } init = kZero;
  double scale = 0;    // kNormal: standard deviation; kUniform: bound
  int host_index = -1; // kHost: index into HostModel::tensors
};

struct LayerIndex {
  int attn_norm = -1, ffn_norm = -1;
  int proj[kModuleCount] = {-1, -1, -1, -1, -1, -1, -1};
  int lora_a[kModuleCount] = {-1, -1, -1, -1, -1, -1, -1};
  int lora_b[kModuleCount] = {-1, -1, -1, -1, -1, -1, -1};
};

// Where each tensor of the model sits in the plan, and the LoRA scale: what a trainer keeps
// of the plan after init (`index_ = plan`).
struct ModelIndex {
  std::vector<LayerIndex> layers;
  int embed = -1, final_norm = -1, head = -1;
  float lora_scale = 0;  // alpha / rank, or alpha / sqrt(rank) with rsLoRA
};

struct ModelPlan : ModelIndex {
  std::vector<ParamPlan> params;  // base tensors in loader order, then LoRA A and B per (layer, module)
};

ModelPlan plan_model(const TrainerOptions& o, const ModelConfig& c, bool from_host);

// The initial values of every tensor in plan order, drawn from one stream seeded by
// o.seed: `fill(index, values)` receives each tensor's values (as doubles, which every
// trainer casts to its own precision) in turn.
void initial_values(const ModelPlan& plan, const TrainerOptions& o, const HostModel* host,
                    const std::function<void(int, const std::vector<double>&)>& fill);

// Refusals every trainer makes before any work (INVALID_ARGUMENT, CONTEXT_OVERFLOW).
Status check_train_batch(const ModelConfig& c, const TrainBatch& b);
// NON_FINITE when a step's loss or gradient norm is not finite.
Status check_finite(const StepStats& s);

// The device trainer on CUDA (cuda_trainer.cu; cuda_trainer_absent.cpp when nvcc was not
// found): DEVICE with the reason when no GPU answers.
Status cuda_trainer_create(const TrainerOptions& o, const ModelConfig& c, const HostModel* host,
                           std::unique_ptr<class Trainer>* out);
// The device trainer with its kernels run on the host (trainer.cpp).
Status emulated_trainer_create(const TrainerOptions& o, const ModelConfig& c, const HostModel* host,
                               std::unique_ptr<class Trainer>* out);

class Trainer {
 public:
  virtual ~Trainer() = default;
  // Reads and checks the model (and creates the LoRA tensors); INVALID_ARGUMENT for bad
  // options, the loader's codes for the model.
  static Status create(const TrainerOptions& options, std::unique_ptr<Trainer>* out);

  virtual const ModelConfig& config() const = 0;
  // What runs the passes, where there is something to say (the device trainer: cuBLAS or not).
  virtual std::string device_note() const { return {}; }
  // Base tensors first (in loader order), then LoRA A and B per (layer, module).
  virtual const std::vector<TensorMeta>& tensors() const = 0;
  virtual Status read(int index, TensorPart part, double* out) const = 0;
  virtual Status write(int index, TensorPart part, const double* in) = 0;

  // Forward only.
  virtual Status loss(const TrainBatch& batch, StepStats* out) = 0;
  // Forward and backward: the gradients of the mean loss replace the previous ones.
  virtual Status forward_backward(const TrainBatch& batch, StepStats* out) = 0;
  // forward_backward, clipping, one AdamW update at learning rate `lr`.
  Status step(const TrainBatch& batch, float lr, StepStats* out);
  int64_t steps() const { return steps_; }  // AdamW updates done (bias correction uses it)
  void set_steps(int64_t n) { steps_ = n; }  // resuming from a checkpoint

 protected:
  virtual const TrainerOptions& options() const = 0;
  // One AdamW update of every trainable tensor (AdamWT in device_ops.h).
  virtual Status update(const dev::AdamStep& k) = 0;

 private:
  int64_t steps_ = 0;
};

}  // namespace quiver
