// The device trainer: the CPU trainer's passes (trainer.cpp), op for op, as the element-wise
// kernels of device_ops.h on a device `Dev`. Weights, gradients, AdamW state and
// activations live in the device's memory; the host sends tokens and reads back the
// per-row losses and the gradient norm's partial sums. f32 only (f64 gradient checks run
// on the CPU trainer).
//
// Dev provides:
//   void* alloc(size_t bytes)              zeroed memory, nullptr when it fails
//   void release(void* p)
//   void upload(void* dst, const void* src, size_t bytes)
//   void download(void* dst, const void* src, size_t bytes)
//   template <class Op> void run(int64_t n, const Op& op)   op(i) for every i < n
//   void matmul(x, W, y, rows, in, out, accumulate)         y (+)= x W^T (cuBLAS or the tiled GEMM)
//   void gemm(const dev::Gemm& g, int64_t M)                any strided product (cuBLAS or g's kernel)
//   std::string gemm_note() const                           what runs the products
//   Status status(const char* where)       waits for the work so far; its first error
// Instantiated with CudaDev (cuda_trainer.cu) and HostDev (trainer.cpp, "cuda-emulated").
#pragma once

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "../backends/device_ops.h"
#include "trainer.h"

namespace quiver {

template <class Dev>
class DeviceTrainer final : public Trainer {
 public:
  DeviceTrainer(const TrainerOptions& o, const ModelConfig& c, std::unique_ptr<Dev> dev) : o_(o), c_(c), dev_(std::move(dev)) {}

  ~DeviceTrainer() override {
    for (void* p : batch_owned_) dev_->release(p);
    for (void* p : owned_) dev_->release(p);
  }

  Status init(const HostModel* host) {
    ModelPlan plan = plan_model(o_, c_, host != nullptr);
    index_ = plan;
    int64_t values = 0, trained = 0;
    for (const ParamPlan& p : plan.params) {
      meta_.push_back(p.meta);
      values += p.meta.numel;
      if (p.meta.trainable) trained += p.meta.numel;
    }
    float* w = alloc<float>(values, &owned_);
    g_ = alloc<float>(trained, &owned_);
    float* m = alloc<float>(trained, &owned_);
    float* v = alloc<float>(trained, &owned_);
    trained_ = trained;
    partial_ = alloc<double>(chunks(), &owned_);
    QUIVER_TRY(dev_->status("allocating the weights"));
    params_.resize(plan.params.size());
    int64_t off = 0;
    for (size_t i = 0; i < plan.params.size(); ++i) {
      Param& p = params_[i];
      p.numel = plan.params[i].meta.numel;
      p.decay = plan.params[i].decay;
      p.w = w;
      w += p.numel;
      if (plan.params[i].meta.trainable) {  // the same offset in each state arena
        p.g = g_ + off;
        p.m = m + off;
        p.v = v + off;
        off += p.numel;
      }
    }
    std::vector<float> staging;
    initial_values(plan, o_, host, [&](int i, const std::vector<double>& vals) {
      staging.resize(vals.size());
      for (size_t j = 0; j < vals.size(); ++j) staging[j] = (float)vals[j];
      dev_->upload(params_[i].w, staging.data(), staging.size() * sizeof(float));
    });
    return dev_->status("uploading the weights");
  }

  const ModelConfig& config() const override { return c_; }
  std::string device_note() const override { return dev_->gemm_note(); }
  const std::vector<TensorMeta>& tensors() const override { return meta_; }

  Status read(int index, TensorPart part, double* out) const override {
    float* src = nullptr;
    QUIVER_TRY(locate(index, part, &src));
    std::vector<float> host((size_t)params_[index].numel);
    dev_->download(host.data(), src, host.size() * sizeof(float));
    QUIVER_TRY(dev_->status("reading a tensor"));
    for (size_t i = 0; i < host.size(); ++i) out[i] = (double)host[i];
    return Status::Ok();
  }

  Status write(int index, TensorPart part, const double* in) override {
    float* dst = nullptr;
    QUIVER_TRY(locate(index, part, &dst));
    std::vector<float> host((size_t)params_[index].numel);
    for (size_t i = 0; i < host.size(); ++i) {
      if (!std::isfinite(in[i])) return Error(QUIVER_ERR_NON_FINITE, "%s: value %zu is not finite", meta_[index].name.c_str(), i);
      host[i] = (float)in[i];
    }
    dev_->upload(dst, host.data(), host.size() * sizeof(float));
    return dev_->status("writing a tensor");
  }

  Status loss(const TrainBatch& b, StepStats* out) override {
    QUIVER_TRY(check_train_batch(c_, b));
    return forward(b, false, out);
  }

  Status forward_backward(const TrainBatch& b, StepStats* out) override {
    QUIVER_TRY(check_train_batch(c_, b));
    if (trained_) dev_->run(trained_, dev::Fill{g_, 0.0f});
    QUIVER_TRY(forward(b, true, out));
    backward(b);
    // the global norm: fixed chunks summed in double on the device, then in order here
    double ss = 0;
    if (trained_) {
      dev_->run(chunks(), dev::SumSquares{g_, trained_, kChunk, partial_});
      std::vector<double> parts((size_t)chunks());
      dev_->download(parts.data(), partial_, parts.size() * sizeof(double));
      QUIVER_TRY(dev_->status("the backward pass"));
      for (double p : parts) ss += p;
    }
    out->grad_norm = std::sqrt(ss);
    return check_finite(*out);
  }

  const TrainerOptions& options() const override { return o_; }

  Status update(const dev::AdamStep& k) override {
    for (const Param& p : params_)
      if (p.m) dev_->run(p.numel, dev::AdamWT<float>{p.w, p.g, p.m, p.v, k, p.decay});
    return dev_->status("the AdamW update");
  }

 private:
  struct Param {
    int64_t numel = 0;
    bool decay = false;
    float* w = nullptr;
    float* g = nullptr;  // null when frozen, as are m and v
    float* m = nullptr;
    float* v = nullptr;
  };
  struct Acts {
    float *x, *r1, *h1, *q, *k, *v, *probs, *att, *xm, *r2, *h2, *a, *u, *mm;
    float* lu[kModuleCount];
  };

  static constexpr int64_t kChunk = 1 << 16;  // gradient elements per partial sum of squares
  int64_t chunks() const { return (trained_ + kChunk - 1) / kChunk; }

  // n zeroed elements of device memory, released with the list `into` (nullptr for n = 0 or
  // on failure, which the device's status reports).
  template <class T>
  T* alloc(int64_t n, std::vector<void*>* into) {
    if (n <= 0) return nullptr;
    void* p = dev_->alloc((size_t)n * sizeof(T));
    if (p) into->push_back(p);
    return static_cast<T*>(p);
  }

  Status locate(int index, TensorPart part, float** out) const {
    if (index < 0 || index >= (int)params_.size()) return Error(QUIVER_ERR_NOT_FOUND, "no tensor %d", index);
    if (part != TensorPart::kValue && !meta_[index].trainable)
      return Error(QUIVER_ERR_INVALID_ARGUMENT, "%s is frozen: it has no gradient or optimizer state", meta_[index].name.c_str());
    const Param& p = params_[index];
    switch (part) {
      case TensorPart::kValue: *out = p.w; break;
      case TensorPart::kGrad: *out = p.g; break;
      case TensorPart::kAdamM: *out = p.m; break;
      case TensorPart::kAdamV: *out = p.v; break;
    }
    return Status::Ok();
  }

  float* W(int i) const { return params_[i].w; }
  float* G(int i) const { return params_[i].g; }

  // Activations for batches of B sequences of S tokens (reallocated when either changes).
  Status resize(int B, int S) {
    if (B == B_ && S == S_) return Status::Ok();
    for (void* p : batch_owned_) dev_->release(p);
    batch_owned_.clear();
    B_ = B;
    S_ = S;
    const int64_t N = (int64_t)B * S, D = c_.dim, Q = c_.q_dim(), KV = c_.kv_dim(), F = c_.hidden, V = c_.vocab_size;
    auto buf = [&](int64_t n) { return alloc<float>(n, &batch_owned_); };
    acts_.assign(c_.n_layers, Acts{});
    for (int l = 0; l < c_.n_layers; ++l) {
      Acts& a = acts_[l];
      a.x = buf(N * D), a.r1 = buf(N), a.h1 = buf(N * D), a.q = buf(N * Q), a.k = buf(N * KV), a.v = buf(N * KV);
      a.probs = buf((int64_t)B * c_.n_heads * S * S), a.att = buf(N * Q), a.xm = buf(N * D), a.r2 = buf(N);
      a.h2 = buf(N * D), a.a = buf(N * F), a.u = buf(N * F), a.mm = buf(N * F);
      for (int m = 0; m < kModuleCount; ++m) a.lu[m] = index_.layers[l].lora_a[m] >= 0 ? buf(N * o_.rank) : nullptr;
    }
    xf_ = buf(N * D), rf_ = buf(N), hf_ = buf(N * D), logits_ = buf(N * V), rows_ = buf(N), dot_ = buf(N);
    ft_ = buf(N * D), dx_ = buf(N * D), dxm_ = buf(N * D), dh_ = buf(N * D), dm_ = buf(N * F), da_ = buf(N * F);
    dup_ = buf(N * F), datt_ = buf(N * Q), dq_ = buf(N * Q), dk_ = buf(N * KV), dv_ = buf(N * KV);
    gatt_ = buf((int64_t)B * c_.n_heads * S * S), du_ = buf(N * o_.rank);
    tokens_ = alloc<int32_t>(N * 3, &batch_owned_);
    targets_ = tokens_ ? tokens_ + N : nullptr;
    positions_ = tokens_ ? tokens_ + 2 * N : nullptr;
    Status s = dev_->status("allocating the activations");
    if (!s.ok()) {
      B_ = S_ = 0;  // reallocate next time
      return s;
    }
    std::vector<int32_t> pos((size_t)N);
    for (int64_t n = 0; n < N; ++n) pos[n] = (int32_t)(n % S);  // each row's place in its sequence
    dev_->upload(positions_, pos.data(), pos.size() * sizeof(int32_t));
    return dev_->status("uploading the positions");
  }

  dev::AttnShape attn_shape() const {
    return dev::AttnShape{S_, c_.n_heads, c_.n_kv_heads, c_.head_dim, 1.0f / std::sqrt((float)c_.head_dim)};
  }

  // Y (N, M) (+)= alpha * A-rows . B-rows over K, with strides (device_ops.h Gemm).
  void gemm(const float* A, int64_t as0, int64_t as1, const float* B, int64_t bs0, int64_t bs1, float* C, int64_t M,
            int Nc, int K, float alpha, bool acc) {
    dev_->gemm(dev::Gemm{A, B, C, Nc, K, as0, as1, bs0, bs1, alpha, acc}, M);
  }

  void rmsnorm(const float* x, const float* g, float* r, float* y, int N) {
    dev_->run(N, dev::RmsStat{x, r, c_.dim, c_.rms_eps});
    dev_->run((int64_t)N * c_.dim, dev::RmsApply{x, g, r, y, c_.dim});
  }

  void rmsnorm_back(const float* x, const float* g, const float* r, const float* dy, float* dx, float* dg, int N, bool acc) {
    const int D = c_.dim;
    dev_->run(N, dev::RmsBackDot{x, g, dy, dot_, D});
    dev_->run((int64_t)N * D, dev::RmsBackDx{x, g, r, dy, dot_, dx, D, acc});
    if (dg) dev_->run(D, dev::RmsBackDg{x, r, dy, dg, N, D});
  }

  // Y = X W^T + s (X A^T) B^T; keeps X A^T in acts.lu[m].
  void proj(int l, int m, const float* X, float* Y, int N, const Acts& acts) {
    const LayerIndex& L = index_.layers[l];
    const int in = module_in(c_, m), out = module_out(c_, m);
    dev_->matmul(X, W(L.proj[m]), Y, N, in, out, false);  // as serving runs it
    if (L.lora_a[m] < 0) return;
    const int r = o_.rank;
    float* U = acts.lu[m];
    gemm(X, in, 1, W(L.lora_a[m]), in, 1, U, N, r, in, 1.0f, false);
    gemm(U, r, 1, W(L.lora_b[m]), r, 1, Y, N, out, r, cur_scale_, true);
  }

  // Given dY (N, out): dX (+)= dY W + s (dY B) A; gradients of W (full mode) or A, B.
  void proj_back(int l, int m, const float* X, const float* dY, float* dX, int N, bool acc, const Acts& acts) {
    const LayerIndex& L = index_.layers[l];
    const int in = module_in(c_, m), out = module_out(c_, m);
    gemm(dY, out, 1, W(L.proj[m]), 1, in, dX, N, in, out, 1.0f, acc);
    if (float* gw = G(L.proj[m])) gemm(dY, 1, out, X, 1, in, gw, out, in, N, 1.0f, true);
    if (L.lora_a[m] < 0) return;
    const int r = o_.rank;
    const float s = cur_scale_;
    const float* U = acts.lu[m];
    gemm(dY, 1, out, U, 1, r, G(L.lora_b[m]), out, r, N, s, true);      // dB += s dY^T U
    gemm(dY, out, 1, W(L.lora_b[m]), 1, r, du_, N, r, out, s, false);   // dU = s dY B
    gemm(du_, 1, r, X, 1, in, G(L.lora_a[m]), r, in, N, 1.0f, true);    // dA += dU^T X
    gemm(du_, r, 1, W(L.lora_a[m]), 1, in, dX, N, in, r, 1.0f, true);   // dX += dU A
  }

  void rope(float* x, int N, int heads, bool inverse) {
    dev_->run((int64_t)N * heads * (c_.head_dim / 2), dev::Rope{x, positions_, heads, c_.head_dim, c_.rope_theta, inverse});
  }

  Status forward(const TrainBatch& b, bool keep, StepStats* out) {
    QUIVER_TRY(resize(b.batch, b.seq_len));
    cur_scale_ = index_.lora_scale * b.lora_weight;
    const int N = b.batch * b.seq_len, D = c_.dim, F = c_.hidden, V = c_.vocab_size;
    dev_->upload(tokens_, b.tokens, (size_t)N * sizeof(int32_t));
    dev_->upload(targets_, b.targets, (size_t)N * sizeof(int32_t));
    float* x = xf_;  // the residual stream; each layer's input is copied into its Acts
    dev_->run((int64_t)N * D, dev::Embed{W(index_.embed), tokens_, x, D});
    const dev::AttnShape as = attn_shape();
    for (int l = 0; l < c_.n_layers; ++l) {
      Acts& a = acts_[l];
      const LayerIndex& L = index_.layers[l];
      dev_->run((int64_t)N * D, dev::Copy{x, a.x});
      rmsnorm(a.x, W(L.attn_norm), a.r1, a.h1, N);
      proj(l, kQ, a.h1, a.q, N, a);
      proj(l, kK, a.h1, a.k, N, a);
      proj(l, kV, a.h1, a.v, N, a);
      rope(a.q, N, c_.n_heads, false);
      rope(a.k, N, c_.n_kv_heads, false);
      dev_->run((int64_t)B_ * c_.n_heads * S_, dev::AttnFwd{a.q, a.k, a.v, a.probs, a.att, as});
      proj(l, kO, a.att, ft_, N, a);
      dev_->run((int64_t)N * D, dev::Add{a.x, ft_, a.xm});
      rmsnorm(a.xm, W(L.ffn_norm), a.r2, a.h2, N);
      proj(l, kGate, a.h2, a.a, N, a);
      proj(l, kUp, a.h2, a.u, N, a);
      dev_->run((int64_t)N * F, dev::SwiGlu{a.a, a.u, a.mm});
      proj(l, kDown, a.mm, ft_, N, a);
      dev_->run((int64_t)N * D, dev::Add{a.xm, ft_, x});
    }
    rmsnorm(x, W(index_.final_norm), rf_, hf_, N);
    dev_->matmul(hf_, W(index_.head), logits_, N, D, V, false);
    int64_t count = 0;
    for (int n = 0; n < N; ++n) count += b.targets[n] >= 0;
    dev_->run(N, dev::CrossEntropy{logits_, targets_, rows_, V, 1.0f / (float)count, keep});
    std::vector<float> rows((size_t)N);
    dev_->download(rows.data(), rows_, rows.size() * sizeof(float));
    QUIVER_TRY(dev_->status("the forward pass"));
    double loss = 0;
    for (int n = 0; n < N; ++n) loss += (double)rows[n];
    out->loss = loss / (double)count;
    out->targets = count;
    return Status::Ok();
  }

  void backward(const TrainBatch& b) {
    const int N = b.batch * b.seq_len, D = c_.dim, F = c_.hidden, V = c_.vocab_size;
    const dev::AttnShape as = attn_shape();
    // head: dhf = dlogits W_head; dW_head += dlogits^T hf
    float* dhf = dh_;
    gemm(logits_, V, 1, W(index_.head), 1, D, dhf, N, D, V, 1.0f, false);
    if (float* gh = G(index_.head)) gemm(logits_, 1, V, hf_, 1, D, gh, V, D, N, 1.0f, true);
    float* dx = dx_;
    rmsnorm_back(xf_, W(index_.final_norm), rf_, dhf, dx, G(index_.final_norm), N, false);
    for (int l = c_.n_layers - 1; l >= 0; --l) {
      const Acts& a = acts_[l];
      const LayerIndex& L = index_.layers[l];
      proj_back(l, kDown, a.mm, dx, dm_, N, false, a);
      dev_->run((int64_t)N * F, dev::SwiGluBack{a.a, a.u, dm_, da_, dup_});
      proj_back(l, kGate, a.h2, da_, dh_, N, false, a);
      proj_back(l, kUp, a.h2, dup_, dh_, N, true, a);
      dev_->run((int64_t)N * D, dev::Copy{dx, dxm_});
      rmsnorm_back(a.xm, W(L.ffn_norm), a.r2, dh_, dxm_, G(L.ffn_norm), N, true);
      proj_back(l, kO, a.att, dxm_, datt_, N, false, a);
      dev_->run((int64_t)B_ * c_.n_heads * S_, dev::AttnBackScores{a.probs, datt_, a.v, gatt_, as});
      dev_->run((int64_t)N * c_.q_dim(), dev::AttnBackDq{gatt_, a.k, dq_, as});
      dev_->run((int64_t)N * c_.kv_dim(), dev::AttnBackDkv{gatt_, a.probs, a.q, datt_, dk_, dv_, as});
      rope(dq_, N, c_.n_heads, true);
      rope(dk_, N, c_.n_kv_heads, true);
      proj_back(l, kQ, a.h1, dq_, dh_, N, false, a);
      proj_back(l, kK, a.h1, dk_, dh_, N, true, a);
      proj_back(l, kV, a.h1, dv_, dh_, N, true, a);
      dev_->run((int64_t)N * D, dev::Copy{dxm_, dx});
      rmsnorm_back(a.x, W(L.attn_norm), a.r1, dh_, dx, G(L.attn_norm), N, true);
    }
    if (float* ge = G(index_.embed)) dev_->run((int64_t)V * D, dev::EmbedBack{tokens_, dx, ge, N, D});
  }

  TrainerOptions o_;
  ModelConfig c_;
  std::unique_ptr<Dev> dev_;
  std::vector<void*> owned_;        // weights and optimizer state
  std::vector<void*> batch_owned_;  // activations of the current batch shape
  std::vector<TensorMeta> meta_;
  std::vector<Param> params_;
  ModelIndex index_;
  float cur_scale_ = 0;  // index_.lora_scale times the batch's weight
  int64_t trained_ = 0;  // elements in the gradient arena
  float* g_ = nullptr;   // every trainable tensor's gradient, in tensor order
  double* partial_ = nullptr;
  int B_ = 0, S_ = 0;
  std::vector<Acts> acts_;
  float *xf_ = nullptr, *rf_ = nullptr, *hf_ = nullptr, *logits_ = nullptr, *rows_ = nullptr, *dot_ = nullptr;
  float *ft_ = nullptr, *dx_ = nullptr, *dxm_ = nullptr, *dh_ = nullptr, *dm_ = nullptr, *da_ = nullptr;
  float *dup_ = nullptr, *datt_ = nullptr, *dq_ = nullptr, *dk_ = nullptr, *dv_ = nullptr, *gatt_ = nullptr;
  float* du_ = nullptr;
  int32_t *tokens_ = nullptr, *targets_ = nullptr, *positions_ = nullptr;
};

}  // namespace quiver
