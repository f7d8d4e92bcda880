// The engine's test-only fault hook: a Backend that forwards every call to the real one,
// counts the allocations the engine holds, and fails on request. The engine installs it
// only when a test opens it with `test_faults` (quiver_engine_options); production code never
// does, so in production it is not even constructed. Tests arm it through
// quiver_engine_test_faults and read it through quiver_engine_test_state (include/quiver.h):
// a failing allocation (ForwardPass::reserve, the KV caches), a failing adapter upload, and
// logits overwritten with a chosen value (NaN, inf) before they reach the sampler.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>

#include "backend.h"

namespace quiver {

struct FaultPlan {
  int fail_alloc = -1;    // -1 off; n >= 0: the allocation after the next n fails, once
  int fail_upload = -1;   // -1 off; n >= 0: the adapter module upload after the next n fails, once
  int logit_index = -1;   // -1 off; else every logits row downloaded gets logit_value there
  float logit_value = 0;
};

class FaultBackend final : public Backend {
 public:
  FaultBackend(std::unique_ptr<Backend> inner, int vocab) : in_(std::move(inner)), vocab_(vocab) {}

  // The plan and the books are locked: adapters are read (and laid out) beside steps
  // (Engine::adapter_read), so allocations come from two threads.
  void arm(const FaultPlan& plan) {
    std::lock_guard<std::mutex> lock(mu_);
    plan_ = plan;
  }
  // Allocations the engine holds through this backend (weights, caches, step buffers,
  // adapters), and their bytes.
  int64_t live_allocations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return (int64_t)live_.size();
  }
  int64_t live_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return live_bytes_;
  }
  const Backend& inner() const { return *in_; }

  const char* name() const override { return in_->name(); }
  bool host_memory() const override { return in_->host_memory(); }
  Status alloc(size_t n, float** out) override {
    if (fire(&plan_.fail_alloc)) return Error(QUIVER_ERR_OUT_OF_MEMORY, "injected fault: an allocation of %zu floats", n);
    QUIVER_TRY(in_->alloc(n, out));
    track(*out, n * sizeof(float));
    return Status::Ok();
  }
  void release(float* p) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = live_.find(p);
      if (it != live_.end()) {
        live_bytes_ -= (int64_t)it->second;
        live_.erase(it);
      }
    }
    in_->release(p);
  }
  Status upload(float* dst, const float* src, size_t n) override { return in_->upload(dst, src, n); }
  Status download(float* dst, const float* src, size_t n) override {
    QUIVER_TRY(in_->download(dst, src, n));
    FaultPlan plan;
    {
      std::lock_guard<std::mutex> lock(mu_);
      plan = plan_;
    }
    if (plan.logit_index >= 0 && plan.logit_index < vocab_)
      for (size_t r = 0; r + (size_t)vocab_ <= n; r += (size_t)vocab_) dst[r + (size_t)plan.logit_index] = plan.logit_value;
    return Status::Ok();
  }
  Status copy(float* dst, const float* src, size_t n) override { return in_->copy(dst, src, n); }
  Status lora_upload(const float* A, const float* B, int rank, int in, int out, const float** dA, const float** dB,
                     Lanes* lanes, std::vector<float*>* owned, size_t* bytes) override {
    if (fire(&plan_.fail_upload)) return Error(QUIVER_ERR_OUT_OF_MEMORY, "injected fault: an adapter module upload (rank %d)", rank);
    const size_t n0 = owned->size(), b0 = *bytes;
    Status st = in_->lora_upload(A, B, rank, in, out, dA, dB, lanes, owned, bytes);
    track_owned(*owned, n0, *bytes - b0);
    return st;
  }
  Status pack_weight(const float* W, int out, int in, const float** packed, std::vector<float*>* owned) override {
    const size_t n0 = owned->size();
    Status st = in_->pack_weight(W, out, in, packed, owned);
    track_owned(*owned, n0, 0);
    return st;
  }

  Status begin_step(const ModelConfig& c, const StepPlan& plan) override { return in_->begin_step(c, plan); }
  void embed(const float* table, float* x) override { in_->embed(table, x); }
  void rmsnorm(const float* x, const float* w, float* out, int rows) override { in_->rmsnorm(x, w, out, rows); }
  void matmul(const float* x, const float* W, float* y, int rows, int in, int out, bool accumulate) override {
    in_->matmul(x, W, y, rows, in, out, accumulate);
  }
  void rope(float* q, float* k) override { in_->rope(q, k); }
  void kv_store(int layer, const float* k, const float* v) override { in_->kv_store(layer, k, v); }
  void attention(int layer, const float* q, float* out) override { in_->attention(layer, q, out); }
  void swiglu(float* gate, const float* up) override { in_->swiglu(gate, up); }
  void lora(int layer, int module, const float* x, float* y, int in, int out) override { in_->lora(layer, module, x, y, in, out); }
  void projection(int layer, int module, const float* x, const float* W, float* y, int rows, int in, int out,
                  bool accumulate) override {
    in_->projection(layer, module, x, W, y, rows, in, out, accumulate);
  }
  void gather_last(const float* x, float* out) override { in_->gather_last(x, out); }
  Status end_step() override { return in_->end_step(); }

  Status measure_bandwidth(int64_t bytes, int repeats, double* gbps) override { return in_->measure_bandwidth(bytes, repeats, gbps); }
  Status measure_compute(double seconds, int repeats, double* gflops) override {
    return in_->measure_compute(seconds, repeats, gflops);
  }
  StepScratch step_scratch() const override { return in_->step_scratch(); }
  int threads() const override { return in_->threads(); }
  const char* kernels() const override { return in_->kernels(); }
  std::string note() const override { return in_->note(); }

 private:
  // Counts a countdown down; true (and off) when it reaches the call that fails.
  bool fire(int* countdown) {
    std::lock_guard<std::mutex> lock(mu_);
    if (*countdown < 0) return false;
    if (*countdown > 0) {
      --*countdown;
      return false;
    }
    *countdown = -1;
    return true;
  }
  void track(float* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    live_[p] = bytes;
    live_bytes_ += (int64_t)bytes;
  }
  // The allocations a call appended to `owned` (their bytes counted once, on the first).
  void track_owned(const std::vector<float*>& owned, size_t from, size_t bytes) {
    for (size_t i = from; i < owned.size(); ++i) track(owned[i], i == from ? bytes : 0);
  }

  std::unique_ptr<Backend> in_;
  int vocab_;
  mutable std::mutex mu_;
  FaultPlan plan_;
  std::unordered_map<const float*, size_t> live_;
  int64_t live_bytes_ = 0;
};

}  // namespace quiver
