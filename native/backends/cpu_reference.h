// The naive CPU reference: plain loops on one thread, written to be read. Every fast path
// is checked against it (and against the TypeScript reference in native/test).
#pragma once

#include "backend.h"

namespace quiver {

class CpuReferenceBackend : public Backend {
 public:
  const char* name() const override { return "cpu-reference"; }
  const char* kernels() const override { return "reference"; }
  bool host_memory() const override { return true; }

  Status alloc(size_t n, float** out) override;
  void release(float* p) override;
  Status upload(float* dst, const float* src, size_t n) override;
  Status download(float* dst, const float* src, size_t n) override;
  Status copy(float* dst, const float* src, size_t n) override;

  Status begin_step(const ModelConfig& c, const StepPlan& plan) override;
  void embed(const float* table, float* x) override;
  void rmsnorm(const float* x, const float* w, float* out, int rows) override;
  void matmul(const float* x, const float* W, float* y, int rows, int in, int out, bool accumulate) override;
  void rope(float* q, float* k) override;
  void kv_store(int layer, const float* k, const float* v) override;
  void attention(int layer, const float* q, float* out) override;
  void swiglu(float* gate, const float* up) override;
  void lora(int layer, int module, const float* x, float* y, int in, int out) override;
  void gather_last(const float* x, float* out) override;
  Status end_step() override { return Status::Ok(); }
  Status measure_bandwidth(int64_t bytes, int repeats, double* gbps) override;

 protected:
  ModelConfig c_;
  const StepPlan* plan_ = nullptr;
  std::vector<float> scratch_;  // reused buffers (attention scores, LoRA intermediates)

  // The cache rows of (sequence s, layer, k or v): (kv_cap, kv_dim).
  float* cache(int s, int layer, int which) const {
    return plan_->kv[s] + ((size_t)layer * 2 + which) * (size_t)plan_->kv_cap[s] * c_.kv_dim();
  }
};

}  // namespace quiver
