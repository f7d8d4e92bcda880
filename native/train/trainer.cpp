// The trainer (see trainer.h). Rows are tokens: N = batch * seq_len rows of activations,
// one sequence per contiguous run of seq_len rows, causal attention within a sequence.
#include "trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "../backends/cpu_kernels.h"
#include "../backends/thread_pool.h"
#include "../backends/host_dev.h"
#include "device_trainer.h"

namespace quiver {

namespace {

constexpr int kMaxRank = 256;

// ---------------------------------------------------------------- deterministic randomness

struct SplitMix {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (double)(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

// ---------------------------------------------------------------- matrix products

// Y (N, M) (+)= X (N, K) @ W (M, K)^T. Each element is one dot product in a fixed order.
struct Gemm {
  ThreadPool* pool;
  const CpuKernels* k;
  std::vector<const float*> xr;
  std::vector<float*> yr;

  void nt(const float* X, const float* W, float* Y, int N, int K, int M, bool acc) {
    xr.resize(N);
    yr.resize(N);
    for (int n = 0; n < N; ++n) {
      xr[n] = X + (size_t)n * K;
      yr[n] = Y + (size_t)n * M;
    }
    const int RB = 64, OB = 64;
    const int rt = (N + RB - 1) / RB, ot = (M + OB - 1) / OB;
    const int64_t work = (int64_t)N * K * M;
    auto task = [&](int t) {
      const int r0 = (t / ot) * RB, o0 = (t % ot) * OB;
      const int r1 = std::min(N, r0 + RB), o1 = std::min(M, o0 + OB);
      k->dot_rows(W, K, xr.data() + r0, yr.data() + r0, nullptr, r1 - r0, o0, o1, acc);
    };
    if (work < 200000 || pool->size() == 1) {
      for (int t = 0; t < rt * ot; ++t) task(t);
    } else {
      pool->run(rt * ot, task);
    }
  }
  // Y (N, M) += s * V (N, R) @ Bt (R, M), for a small R (a LoRA rank): the expand form,
  // which streams rows of Bt instead of reducing dot products of length R.
  void expand(const float* V, const float* Bt, float* Y, int N, int R, int M, float s) {
    xr.resize(N);
    yr.resize(N);
    alpha.assign(N, s);
    for (int n = 0; n < N; ++n) {
      xr[n] = V + (size_t)n * R;
      yr[n] = Y + (size_t)n * M;
    }
    const int RB = 64;
    const int rt = (N + RB - 1) / RB;
    auto task = [&](int t) {
      const int r0 = t * RB, r1 = std::min(N, r0 + RB);
      k->expand_rows(Bt, R, M, xr.data() + r0, yr.data() + r0, alpha.data() + r0, r1 - r0, 0, M);
    };
    if ((int64_t)N * R * M < 200000 || pool->size() == 1) {
      for (int t = 0; t < rt; ++t) task(t);
    } else {
      pool->run(rt, task);
    }
  }
  void expand(const double* V, const double* Bt, double* Y, int N, int R, int M, double s) {
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < M; ++o) {
        double acc = 0;
        for (int r = 0; r < R; ++r) acc += V[(size_t)n * R + r] * Bt[(size_t)r * M + o];
        Y[(size_t)n * M + o] += s * acc;
      }
  }
  std::vector<float> alpha;

  void nt(const double* X, const double* W, double* Y, int N, int K, int M, bool acc) {
    auto row = [&](int n) {
      for (int o = 0; o < M; ++o) {
        double s = 0;
        for (int i = 0; i < K; ++i) s += X[(size_t)n * K + i] * W[(size_t)o * K + i];
        Y[(size_t)n * M + o] = (acc ? Y[(size_t)n * M + o] : 0.0) + s;
      }
    };
    if (pool->size() == 1) {
      for (int n = 0; n < N; ++n) row(n);
    } else {
      pool->run(N, row);
    }
  }
};

template <typename T>
void transpose(const T* src, int rows, int cols, T* dst) {  // dst (cols, rows)
  const int B = 32;
  for (int r0 = 0; r0 < rows; r0 += B)
    for (int c0 = 0; c0 < cols; c0 += B)
      for (int r = r0; r < std::min(rows, r0 + B); ++r)
        for (int c = c0; c < std::min(cols, c0 + B); ++c) dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

// ---------------------------------------------------------------- the trainer

template <typename T>
class TrainerImpl final : public Trainer {
 public:
  struct Param {
    std::vector<T> w, g, m, v;
    bool decay = false;
  };

  TrainerImpl(const TrainerOptions& o, const ModelConfig& c)
      : o_(o), c_(c), pool_(o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency())) {
    gemm_.pool = &pool_;
    gemm_.k = &cpu_kernels("auto");
  }

  Status init(const HostModel* host) {
    ModelPlan plan = plan_model(o_, c_, host != nullptr);
    index_ = plan;
    params_.resize(plan.params.size());
    for (size_t i = 0; i < plan.params.size(); ++i) {
      meta_.push_back(plan.params[i].meta);
      params_[i].decay = plan.params[i].decay;
    }
    initial_values(plan, o_, host, [&](int i, const std::vector<double>& v) {
      Param& p = params_[i];
      p.w.resize(v.size());
      for (size_t j = 0; j < v.size(); ++j) p.w[j] = (T)v[j];
      if (meta_[i].trainable) {
        p.g.assign(p.w.size(), 0);
        p.m.assign(p.w.size(), 0);
        p.v.assign(p.w.size(), 0);
      }
    });
    return Status::Ok();
  }

  const ModelConfig& config() const override { return c_; }
  const std::vector<TensorMeta>& tensors() const override { return meta_; }

  std::vector<T>* part(int index, TensorPart p) {
    Param& q = params_[index];
    switch (p) {
      case TensorPart::kValue: return &q.w;
      case TensorPart::kGrad: return &q.g;
      case TensorPart::kAdamM: return &q.m;
      case TensorPart::kAdamV: return &q.v;
    }
    return nullptr;
  }

  Status read(int index, TensorPart p, double* out) const override {
    if (index < 0 || index >= (int)params_.size()) return Error(QUIVER_ERR_NOT_FOUND, "no tensor %d", index);
    const std::vector<T>* v = const_cast<TrainerImpl*>(this)->part(index, p);
    if (p != TensorPart::kValue && !meta_[index].trainable)
      return Error(QUIVER_ERR_INVALID_ARGUMENT, "%s is frozen: it has no gradient or optimizer state", meta_[index].name.c_str());
    for (size_t i = 0; i < v->size(); ++i) out[i] = (double)(*v)[i];
    return Status::Ok();
  }

  Status write(int index, TensorPart p, const double* in) override {
    if (index < 0 || index >= (int)params_.size()) return Error(QUIVER_ERR_NOT_FOUND, "no tensor %d", index);
    if (p != TensorPart::kValue && !meta_[index].trainable)
      return Error(QUIVER_ERR_INVALID_ARGUMENT, "%s is frozen: it has no gradient or optimizer state", meta_[index].name.c_str());
    std::vector<T>* v = part(index, p);
    for (size_t i = 0; i < v->size(); ++i) {
      if (!std::isfinite(in[i])) return Error(QUIVER_ERR_NON_FINITE, "%s: value %zu is not finite", meta_[index].name.c_str(), i);
    }
    for (size_t i = 0; i < v->size(); ++i) (*v)[i] = (T)in[i];
    return Status::Ok();
  }

  Status loss(const TrainBatch& b, StepStats* out) override {
    QUIVER_TRY(check_train_batch(c_, b));
    forward(b, false, out);
    return Status::Ok();
  }

  Status forward_backward(const TrainBatch& b, StepStats* out) override {
    QUIVER_TRY(check_train_batch(c_, b));
    for (auto& p : params_) std::fill(p.g.begin(), p.g.end(), (T)0);
    forward(b, true, out);
    backward(b);
    double ss = 0;
    for (auto& p : params_)
      for (T g : p.g) ss += (double)g * (double)g;
    out->grad_norm = std::sqrt(ss);
    return check_finite(*out);
  }

  const TrainerOptions& options() const override { return o_; }

  Status update(const dev::AdamStep& k) override {
    for (auto& p : params_) {
      if (p.g.empty()) continue;
      const dev::AdamWT<T> op{p.w.data(), p.g.data(), p.m.data(), p.v.data(), k, p.decay};
      for (size_t i = 0; i < p.w.size(); ++i) op((int64_t)i);
    }
    return Status::Ok();
  }

 private:
  using Layer = LayerIndex;
  // What the backward pass of one layer needs from its forward pass.
  struct Acts {
    std::vector<T> x, r1, h1, q, k, v, probs, att, xm, r2, h2, a, u, mm;
    std::vector<T> lu[kModuleCount];  // X A^T of each adapted projection (N, rank)
  };

  T* W(int i) { return params_[i].w.data(); }
  T* G(int i) { return params_[i].g.empty() ? nullptr : params_[i].g.data(); }

  void resize(int B, int S) {
    if (B == B_ && S == S_) return;
    B_ = B;
    S_ = S;
    const size_t N = (size_t)B * S, D = c_.dim, Q = c_.q_dim(), KV = c_.kv_dim(), F = c_.hidden;
    acts_.resize(c_.n_layers);
    for (int l = 0; l < c_.n_layers; ++l) {
      Acts& a = acts_[l];
      a.x.assign(N * D, 0);
      a.r1.assign(N, 0);
      a.h1.assign(N * D, 0);
      a.q.assign(N * Q, 0);
      a.k.assign(N * KV, 0);
      a.v.assign(N * KV, 0);
      a.probs.assign((size_t)B * c_.n_heads * S * S, 0);
      a.att.assign(N * Q, 0);
      a.xm.assign(N * D, 0);
      a.r2.assign(N, 0);
      a.h2.assign(N * D, 0);
      a.a.assign(N * F, 0);
      a.u.assign(N * F, 0);
      a.mm.assign(N * F, 0);
      for (int m = 0; m < kModuleCount; ++m)
        if (index_.layers[l].lora_a[m] >= 0) a.lu[m].assign(N * o_.rank, 0);
    }
    xf_.assign(N * D, 0);
    rf_.assign(N, 0);
    hf_.assign(N * D, 0);
    logits_.assign(N * c_.vocab_size, 0);
    const size_t wide = std::max({D, Q, F, (size_t)c_.vocab_size});
    // proj and proj_back's own scratch (no caller passes these in)
    s1_.assign(N * wide, 0);
    s2_.assign(N * wide, 0);
    s3_.assign(N * wide, 0);
    wt_.assign(wide * wide, 0);
    sdu_.assign(N * o_.rank, 0);
    sdb_.assign(wide * o_.rank, 0);
    // the passes' buffers
    ft_.assign(N * D, 0);
    dx_.assign(N * D, 0);
    dxm_.assign(N * D, 0);
    dh_.assign(N * D, 0);
    dm_.assign(N * F, 0);
    da_.assign(N * F, 0);
    dup_.assign(N * F, 0);
    datt_.assign(N * Q, 0);
    dq_.assign(N * Q, 0);
    dk_.assign(N * KV, 0);
    dv_.assign(N * KV, 0);
    rope_.resize((size_t)S * c_.head_dim);  // cos, sin per (position, i < head_dim / 2)
    const int hd = c_.head_dim, half = hd / 2;
    for (int p = 0; p < S; ++p)
      for (int i = 0; i < half; ++i) {
        // the engine's formula (cpu_reference.cpp), in float, so training sees what serving sees
        const float inv_freq = 1.0f / std::pow(c_.rope_theta, (float)(2 * i) / (float)hd);
        const float angle = (float)p * inv_freq;
        rope_[(size_t)p * hd + i] = (T)std::cos(angle);
        rope_[(size_t)p * hd + half + i] = (T)std::sin(angle);
      }
  }

  // ---- ops

  void rmsnorm(const T* x, const T* g, T* r, T* y, int N) {
    const int D = c_.dim;
    for (int n = 0; n < N; ++n) {
      const T* xi = x + (size_t)n * D;
      T ss = 0;
      for (int i = 0; i < D; ++i) ss += xi[i] * xi[i];
      const T inv = (T)1 / std::sqrt(ss / (T)D + (T)c_.rms_eps);
      r[n] = inv;
      for (int i = 0; i < D; ++i) y[(size_t)n * D + i] = xi[i] * inv * g[i];
    }
  }

  // dx (+)= d(rmsnorm)/dx . dy; dg += ...
  void rmsnorm_back(const T* x, const T* g, const T* r, const T* dy, T* dx, T* dg, int N, bool acc) {
    const int D = c_.dim;
    for (int n = 0; n < N; ++n) {
      const T* xi = x + (size_t)n * D;
      const T* dyi = dy + (size_t)n * D;
      T* dxi = dx + (size_t)n * D;
      const T inv = r[n];
      T dot = 0;
      for (int i = 0; i < D; ++i) dot += dyi[i] * g[i] * xi[i];
      const T k = inv * inv * inv * dot / (T)D;
      for (int i = 0; i < D; ++i) {
        const T d = inv * g[i] * dyi[i] - k * xi[i];
        dxi[i] = acc ? dxi[i] + d : d;
        if (dg) dg[i] += dyi[i] * xi[i] * inv;
      }
    }
  }

  // Y = X W^T (+ lora); X (N, in), Y (N, out). Keeps X A^T in acts.lu[m].
  void proj(int l, int m, const T* X, T* Y, int N, Acts& acts) {
    const Layer& L = index_.layers[l];
    const int in = module_in(c_, m), out = module_out(c_, m);
    gemm_.nt(X, W(L.proj[m]), Y, N, in, out, false);
    if (L.lora_a[m] < 0) return;
    const int r = o_.rank;
    T* U = acts.lu[m].data();
    gemm_.nt(X, W(L.lora_a[m]), U, N, in, r, false);
    T* Bt = wt_.data();
    transpose(W(L.lora_b[m]), out, r, Bt);
    gemm_.expand(U, Bt, Y, N, r, out, (T)cur_scale_);
  }

  // Given dY (N, out): dX (+)= dY W + s (dY B) A; gradients of W (full mode) or A, B.
  void proj_back(int l, int m, const T* X, const T* dY, T* dX, int N, bool acc, const Acts& acts) {
    const Layer& L = index_.layers[l];
    const int in = module_in(c_, m), out = module_out(c_, m);
    T* Wt = wt_.data();
    transpose(W(L.proj[m]), out, in, Wt);
    gemm_.nt(dY, Wt, dX, N, out, in, acc);
    T* dYt = s1_.data();
    T* Xt = s2_.data();
    if (T* gw = G(L.proj[m])) {
      transpose(dY, N, out, dYt);
      transpose(X, N, in, Xt);
      gemm_.nt(dYt, Xt, gw, out, N, in, true);
    }
    if (L.lora_a[m] < 0) return;
    const int r = o_.rank;
    const T s = (T)cur_scale_;
    const T* U = acts.lu[m].data();
    // dB += s dY^T U
    transpose(dY, N, out, dYt);
    T* Ut = s3_.data();
    transpose(U, N, r, Ut);
    T* tmp = sdb_.data();
    gemm_.nt(dYt, Ut, tmp, out, N, r, false);
    T* gb = G(L.lora_b[m]);
    for (size_t i = 0; i < (size_t)out * r; ++i) gb[i] += s * tmp[i];
    // dU = s dY B
    T* Bt = Wt;
    transpose(W(L.lora_b[m]), out, r, Bt);
    T* dU = sdu_.data();
    gemm_.nt(dY, Bt, dU, N, out, r, false);
    for (size_t i = 0; i < (size_t)N * r; ++i) dU[i] *= s;
    // dA += dU^T X
    T* dUt = s3_.data();
    transpose(dU, N, r, dUt);
    transpose(X, N, in, Xt);
    gemm_.nt(dUt, Xt, G(L.lora_a[m]), r, N, in, true);
    // dX += dU A
    gemm_.expand(dU, W(L.lora_a[m]), dX, N, r, in, (T)1);
  }

  void rope(T* x, int N, int heads, bool inverse) {
    const int hd = c_.head_dim, half = hd / 2, S = S_;
    for (int n = 0; n < N; ++n) {
      const T* cs = rope_.data() + (size_t)(n % S) * hd;
      for (int h = 0; h < heads; ++h) {
        T* v = x + ((size_t)n * heads + h) * hd;
        for (int i = 0; i < half; ++i) {
          const T co = cs[i], si = inverse ? -cs[half + i] : cs[half + i];
          const T a = v[i], b = v[i + half];
          v[i] = a * co - b * si;
          v[i + half] = b * co + a * si;
        }
      }
    }
  }

  void attention(Acts& a) {
    const int S = S_, H = c_.n_heads, KVH = c_.n_kv_heads, hd = c_.head_dim, group = H / KVH;
    const int Q = c_.q_dim(), KV = c_.kv_dim();
    const T scale = (T)1 / std::sqrt((T)hd);
    pool_.run(B_ * H, [&](int task) {
      const int b = task / H, h = task % H, kh = h / group;
      for (int i = 0; i < S; ++i) {
        const size_t row = (size_t)b * S + i;
        const T* q = a.q.data() + row * Q + (size_t)h * hd;
        T* p = a.probs.data() + (((size_t)b * H + h) * S + i) * S;
        T mx = -INFINITY;
        for (int j = 0; j <= i; ++j) {
          const T* k = a.k.data() + ((size_t)b * S + j) * KV + (size_t)kh * hd;
          T d = 0;
          for (int t = 0; t < hd; ++t) d += q[t] * k[t];
          p[j] = d * scale;
          mx = std::max(mx, p[j]);
        }
        T sum = 0;
        for (int j = 0; j <= i; ++j) {
          p[j] = std::exp(p[j] - mx);
          sum += p[j];
        }
        for (int j = 0; j <= i; ++j) p[j] /= sum;
        T* o = a.att.data() + row * Q + (size_t)h * hd;
        for (int t = 0; t < hd; ++t) o[t] = 0;
        for (int j = 0; j <= i; ++j) {
          const T* v = a.v.data() + ((size_t)b * S + j) * KV + (size_t)kh * hd;
          for (int t = 0; t < hd; ++t) o[t] += p[j] * v[t];
        }
      }
    });
  }

  // From datt (N, Q): dq (N, Q), dk, dv (N, KV). One task per (sequence, kv head), so
  // the heads of a group add into dk and dv in a fixed order.
  void attention_back(const Acts& a, const T* datt) {
    const int S = S_, H = c_.n_heads, KVH = c_.n_kv_heads, hd = c_.head_dim, group = H / KVH;
    const int Q = c_.q_dim(), KV = c_.kv_dim();
    const T scale = (T)1 / std::sqrt((T)hd);
    std::fill(dk_.begin(), dk_.end(), (T)0);
    std::fill(dv_.begin(), dv_.end(), (T)0);
    pool_.run(B_ * KVH, [&](int task) {
      const int b = task / KVH, kh = task % KVH;
      std::vector<T> ds((size_t)S);
      for (int h = kh * group; h < (kh + 1) * group; ++h)
        for (int i = 0; i < S; ++i) {
          const size_t row = (size_t)b * S + i;
          const T* p = a.probs.data() + (((size_t)b * H + h) * S + i) * S;
          const T* dO = datt + row * Q + (size_t)h * hd;
          T dot = 0;
          for (int j = 0; j <= i; ++j) {
            const T* v = a.v.data() + ((size_t)b * S + j) * KV + (size_t)kh * hd;
            T dp = 0;
            for (int t = 0; t < hd; ++t) dp += dO[t] * v[t];
            ds[j] = dp;
            dot += p[j] * dp;
          }
          const T* q = a.q.data() + row * Q + (size_t)h * hd;
          T* dq = dq_.data() + row * Q + (size_t)h * hd;
          for (int t = 0; t < hd; ++t) dq[t] = 0;
          for (int j = 0; j <= i; ++j) {
            const size_t rj = (size_t)b * S + j;
            const T g = p[j] * (ds[j] - dot) * scale;
            const T* k = a.k.data() + rj * KV + (size_t)kh * hd;
            T* dk = dk_.data() + rj * KV + (size_t)kh * hd;
            T* dv = dv_.data() + rj * KV + (size_t)kh * hd;
            for (int t = 0; t < hd; ++t) {
              dq[t] += g * k[t];
              dk[t] += g * q[t];
              dv[t] += p[j] * dO[t];
            }
          }
        }
    });
  }

  // ---- passes

  void forward(const TrainBatch& b, bool keep, StepStats* out) {
    resize(b.batch, b.seq_len);
    cur_scale_ = index_.lora_scale * b.lora_weight;
    const int N = b.batch * b.seq_len, D = c_.dim, F = c_.hidden, V = c_.vocab_size;
    T* x = xf_.data();  // the residual stream; each layer's input is copied into its Acts
    const T* E = W(index_.embed);
    for (int n = 0; n < N; ++n) std::memcpy(x + (size_t)n * D, E + (size_t)b.tokens[n] * D, sizeof(T) * D);
    for (int l = 0; l < c_.n_layers; ++l) {
      Acts& a = acts_[l];
      const Layer& L = index_.layers[l];
      std::memcpy(a.x.data(), x, sizeof(T) * N * D);
      rmsnorm(a.x.data(), W(L.attn_norm), a.r1.data(), a.h1.data(), N);
      proj(l, kQ, a.h1.data(), a.q.data(), N, a);
      proj(l, kK, a.h1.data(), a.k.data(), N, a);
      proj(l, kV, a.h1.data(), a.v.data(), N, a);
      rope(a.q.data(), N, c_.n_heads, false);
      rope(a.k.data(), N, c_.n_kv_heads, false);
      attention(a);
      T* t = ft_.data();
      proj(l, kO, a.att.data(), t, N, a);
      for (size_t i = 0; i < (size_t)N * D; ++i) a.xm[i] = a.x[i] + t[i];
      rmsnorm(a.xm.data(), W(L.ffn_norm), a.r2.data(), a.h2.data(), N);
      proj(l, kGate, a.h2.data(), a.a.data(), N, a);
      proj(l, kUp, a.h2.data(), a.u.data(), N, a);
      for (size_t i = 0; i < (size_t)N * F; ++i) {
        const T g = a.a[i];
        a.mm[i] = g / ((T)1 + std::exp(-g)) * a.u[i];
      }
      proj(l, kDown, a.mm.data(), t, N, a);
      for (size_t i = 0; i < (size_t)N * D; ++i) x[i] = a.xm[i] + t[i];
    }
    rmsnorm(x, W(index_.final_norm), rf_.data(), hf_.data(), N);
    gemm_.nt(hf_.data(), W(index_.head), logits_.data(), N, D, V, false);
    double loss = 0;
    int64_t count = 0;
    for (int n = 0; n < N; ++n) count += b.targets[n] >= 0;
    for (int n = 0; n < N; ++n) {
      T* z = logits_.data() + (size_t)n * V;
      const int tgt = b.targets[n];
      if (tgt < 0) {
        if (keep) std::fill(z, z + V, (T)0);
        continue;
      }
      T mx = z[0];
      for (int i = 1; i < V; ++i) mx = std::max(mx, z[i]);
      T sum = 0;
      for (int i = 0; i < V; ++i) sum += std::exp(z[i] - mx);
      const T lse = mx + std::log(sum);
      loss += (double)(lse - z[tgt]);
      if (keep) {  // logits_ becomes d(mean loss)/d(logits)
        const T inv = (T)1 / (T)count;
        for (int i = 0; i < V; ++i) z[i] = std::exp(z[i] - lse) * inv;
        z[tgt] -= inv;
      }
    }
    out->loss = loss / (double)count;
    out->targets = count;
  }

  void backward(const TrainBatch& b) {
    const int N = b.batch * b.seq_len, D = c_.dim, F = c_.hidden, V = c_.vocab_size;
    const T* dlogits = logits_.data();
    // head: dhf = dlogits W_head; dW_head += dlogits^T hf
    T* dhf = dh_.data();
    {
      T* Wt = wt_.data();
      transpose(W(index_.head), V, D, Wt);
      gemm_.nt(dlogits, Wt, dhf, N, V, D, false);
      if (T* gh = G(index_.head)) {
        T* dlt = s1_.data();
        T* ht = s2_.data();
        transpose(dlogits, N, V, dlt);
        transpose(hf_.data(), N, D, ht);
        gemm_.nt(dlt, ht, gh, V, N, D, true);
      }
    }
    T* dx = dx_.data();
    rmsnorm_back(xf_.data(), W(index_.final_norm), rf_.data(), dhf, dx, G(index_.final_norm), N, false);
    for (int l = c_.n_layers - 1; l >= 0; --l) {
      Acts& a = acts_[l];
      const Layer& L = index_.layers[l];
      // x_next = xm + down(mm): dxm = dx + d(down)
      T* dm = dm_.data();
      proj_back(l, kDown, a.mm.data(), dx, dm, N, false, a);
      // mm = silu(a) * u
      T* da = da_.data();
      T* dup = dup_.data();
      for (size_t i = 0; i < (size_t)N * F; ++i) {
        const T g = a.a[i], sg = (T)1 / ((T)1 + std::exp(-g));
        dup[i] = dm[i] * g * sg;
        da[i] = dm[i] * a.u[i] * sg * ((T)1 + g * ((T)1 - sg));
      }
      T* dh = dh_.data();
      proj_back(l, kGate, a.h2.data(), da, dh, N, false, a);
      proj_back(l, kUp, a.h2.data(), dup, dh, N, true, a);
      T* dxm = dxm_.data();
      std::memcpy(dxm, dx, sizeof(T) * N * D);
      rmsnorm_back(a.xm.data(), W(L.ffn_norm), a.r2.data(), dh, dxm, G(L.ffn_norm), N, true);
      // xm = x + o(att)
      proj_back(l, kO, a.att.data(), dxm, datt_.data(), N, false, a);
      attention_back(a, datt_.data());
      rope(dq_.data(), N, c_.n_heads, true);
      rope(dk_.data(), N, c_.n_kv_heads, true);
      proj_back(l, kQ, a.h1.data(), dq_.data(), dh, N, false, a);
      proj_back(l, kK, a.h1.data(), dk_.data(), dh, N, true, a);
      proj_back(l, kV, a.h1.data(), dv_.data(), dh, N, true, a);
      std::memcpy(dx, dxm, sizeof(T) * N * D);
      rmsnorm_back(a.x.data(), W(L.attn_norm), a.r1.data(), dh, dx, G(L.attn_norm), N, true);
    }
    if (T* ge = G(index_.embed))
      for (int n = 0; n < N; ++n) {
        T* row = ge + (size_t)b.tokens[n] * D;
        const T* d = dx + (size_t)n * D;
        for (int i = 0; i < D; ++i) row[i] += d[i];
      }
  }

  TrainerOptions o_;
  ModelConfig c_;
  ThreadPool pool_;
  Gemm gemm_;
  std::vector<TensorMeta> meta_;
  std::vector<Param> params_;
  ModelIndex index_;
  float cur_scale_ = 0;  // index_.lora_scale times the batch's weight
  int B_ = 0, S_ = 0;
  std::vector<Acts> acts_;
  std::vector<T> xf_, rf_, hf_, logits_, rope_;
  std::vector<T> s1_, s2_, s3_, wt_, sdu_, sdb_;  // proj / proj_back scratch
  std::vector<T> ft_, dx_, dxm_, dh_, dm_, da_, dup_, datt_, dq_, dk_, dv_;
};

}  // namespace

// ---------------------------------------------------------------- checks shared by the trainers

Status check_train_batch(const ModelConfig& c, const TrainBatch& b) {
  if (b.batch <= 0 || b.seq_len <= 0 || !b.tokens || !b.targets)
    return Error(QUIVER_ERR_INVALID_ARGUMENT, "a batch needs at least one sequence of at least one token");
  if (b.seq_len > c.max_position)
    return Error(QUIVER_ERR_CONTEXT_OVERFLOW, "sequences of %d tokens exceed the model's context of %d", b.seq_len, c.max_position);
  const int64_t n = (int64_t)b.batch * b.seq_len;
  if (n > (1 << 22)) return Error(QUIVER_ERR_INVALID_ARGUMENT, "a batch of %lld tokens is too large", (long long)n);
  int64_t targets = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (b.tokens[i] < 0 || b.tokens[i] >= c.vocab_size)
      return Error(QUIVER_ERR_INVALID_ARGUMENT, "token %d at %lld is outside the vocabulary (%d)", b.tokens[i], (long long)i, c.vocab_size);
    if (b.targets[i] < -1 || b.targets[i] >= c.vocab_size)
      return Error(QUIVER_ERR_INVALID_ARGUMENT, "target %d at %lld is outside the vocabulary (%d)", b.targets[i], (long long)i, c.vocab_size);
    targets += b.targets[i] >= 0;
  }
  if (targets == 0) return Error(QUIVER_ERR_INVALID_ARGUMENT, "the batch has no target tokens");
  if (!(b.lora_weight > 0 && b.lora_weight <= 16)) return Error(QUIVER_ERR_INVALID_ARGUMENT, "lora weight %g is outside (0, 16]", b.lora_weight);
  return Status::Ok();
}

Status check_finite(const StepStats& s) {
  if (!std::isfinite(s.loss) || !std::isfinite(s.grad_norm))
    return Error(QUIVER_ERR_NON_FINITE, "the loss or the gradients are not finite (loss %g): lower the learning rate", s.loss);
  return Status::Ok();
}

Status Trainer::step(const TrainBatch& b, float lr, StepStats* out) {
  if (!(lr >= 0) || !std::isfinite(lr)) return Error(QUIVER_ERR_INVALID_ARGUMENT, "learning rate %g is not a finite number >= 0", lr);
  QUIVER_TRY(forward_backward(b, out));
  const TrainerOptions& o = options();
  const int64_t n = ++steps_;
  dev::AdamStep k;
  k.clip = o.clip > 0 && out->grad_norm > o.clip ? o.clip / out->grad_norm : 1.0;
  k.b1 = o.beta1;
  k.b2 = o.beta2;
  k.c1 = 1.0 - std::pow((double)o.beta1, (double)n);
  k.c2 = 1.0 - std::pow((double)o.beta2, (double)n);
  k.lr = lr;
  k.eps = o.eps;
  k.weight_decay = o.weight_decay;
  return update(k);
}

// ---------------------------------------------------------------- the tensors and their start

ModelPlan plan_model(const TrainerOptions& o, const ModelConfig& c, bool from_host) {
  ModelPlan plan;
  const int64_t D = c.dim, F = c.hidden, Q = c.q_dim(), KV = c.kv_dim(), V = c.vocab_size;
  const double std0 = 0.02, std_out = 0.02 / std::sqrt(2.0 * c.n_layers);
  int host_i = 0;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, double stdev, bool norm) {
    ParamPlan p;
    p.meta = TensorMeta{name, shape, 1, !o.lora};
    for (auto d : shape) p.meta.numel *= d;
    p.decay = shape.size() == 2;
    if (from_host) {
      p.init = ParamPlan::kHost;
      p.host_index = host_i++;
    } else {
      p.init = norm ? ParamPlan::kOnes : ParamPlan::kNormal;
      p.scale = stdev;
    }
    plan.params.push_back(std::move(p));
    return (int)plan.params.size() - 1;
  };
  plan.embed = add("model.embed_tokens.weight", {V, D}, std0, false);
  plan.layers.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerIndex& L = plan.layers[l];
    L.attn_norm = add(p + "input_layernorm.weight", {D}, 0, true);
    L.proj[kQ] = add(p + "self_attn.q_proj.weight", {Q, D}, std0, false);
    L.proj[kK] = add(p + "self_attn.k_proj.weight", {KV, D}, std0, false);
    L.proj[kV] = add(p + "self_attn.v_proj.weight", {KV, D}, std0, false);
    L.proj[kO] = add(p + "self_attn.o_proj.weight", {D, Q}, std_out, false);
    L.ffn_norm = add(p + "post_attention_layernorm.weight", {D}, 0, true);
    L.proj[kGate] = add(p + "mlp.gate_proj.weight", {F, D}, std0, false);
    L.proj[kUp] = add(p + "mlp.up_proj.weight", {F, D}, std0, false);
    L.proj[kDown] = add(p + "mlp.down_proj.weight", {D, F}, std_out, false);
  }
  plan.final_norm = add("model.norm.weight", {D}, 0, true);
  plan.head = c.tied ? plan.embed : add("lm_head.weight", {V, D}, std0, false);

  if (o.lora) {
    plan.lora_scale = o.rslora ? o.alpha / std::sqrt((float)o.rank) : o.alpha / (float)o.rank;
    for (int l = 0; l < c.n_layers; ++l)
      for (int m = 0; m < kModuleCount; ++m) {
        if (!(o.modules & (1u << m))) continue;
        const int in = module_in(c, m), out = module_out(c, m);
        const std::string p = "base_model.model.model.layers." + std::to_string(l) + "." + module_parent(m) + "." +
                              module_name(m) + ".";
        for (int which = 0; which < 2; ++which) {
          ParamPlan q;
          q.meta = TensorMeta{p + (which == 0 ? "lora_A.weight" : "lora_B.weight"),
                              which == 0 ? std::vector<int64_t>{o.rank, in} : std::vector<int64_t>{out, o.rank}, 0, true};
          q.meta.numel = q.meta.shape[0] * q.meta.shape[1];
          // A: kaiming-uniform as PEFT does; B: zero, so training starts at the base
          q.init = which == 0 ? ParamPlan::kUniform : ParamPlan::kZero;
          q.scale = 1.0 / std::sqrt((double)in);
          plan.params.push_back(std::move(q));
          (which == 0 ? plan.layers[l].lora_a : plan.layers[l].lora_b)[m] = (int)plan.params.size() - 1;
        }
      }
  }
  return plan;
}

void initial_values(const ModelPlan& plan, const TrainerOptions& o, const HostModel* host,
                    const std::function<void(int, const std::vector<double>&)>& fill) {
  SplitMix rng{o.seed * 0x2545F4914F6CDD1Dull + 0x1234567ull};
  std::vector<double> v;
  for (size_t i = 0; i < plan.params.size(); ++i) {
    const ParamPlan& p = plan.params[i];
    v.assign((size_t)p.meta.numel, 0.0);
    switch (p.init) {
      case ParamPlan::kHost: {
        const std::vector<float>& src = host->tensors[p.host_index];
        for (size_t j = 0; j < v.size(); ++j) v[j] = (double)src[j];
        break;
      }
      case ParamPlan::kOnes: std::fill(v.begin(), v.end(), 1.0); break;
      case ParamPlan::kNormal: for (auto& x : v) x = p.scale * rng.normal(); break;
      case ParamPlan::kUniform: for (auto& x : v) x = (2 * rng.uniform() - 1) * p.scale; break;
      case ParamPlan::kZero: break;
    }
    fill((int)i, v);
  }
}

// ---------------------------------------------------------------- the device trainer on the host

Status emulated_trainer_create(const TrainerOptions& o, const ModelConfig& c, const HostModel* host,
                               std::unique_ptr<Trainer>* out) {
  auto t = std::make_unique<DeviceTrainer<HostDev>>(o, c, std::make_unique<HostDev>(o.threads, o.cublas));
  QUIVER_TRY(t->init(host));
  *out = std::move(t);
  return Status::Ok();
}

Status Trainer::create(const TrainerOptions& o, std::unique_ptr<Trainer>* out) {
  if (o.lora) {
    if (o.rank < 1 || o.rank > kMaxRank) return Error(QUIVER_ERR_RANK_LIMIT, "rank %d is outside 1..%d", o.rank, kMaxRank);
    if ((o.modules & 0x7f) == 0 || (o.modules & ~0x7fu))
      return Error(QUIVER_ERR_INVALID_ARGUMENT, "LoRA needs at least one of the seven projections");
    if (!(o.alpha > 0) || !std::isfinite(o.alpha)) return Error(QUIVER_ERR_INVALID_ARGUMENT, "lora alpha must be a positive number");
    if (o.init_random) return Error(QUIVER_ERR_INVALID_ARGUMENT, "LoRA training needs trained base weights, not a random initialisation");
  }
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) || !(o.eps > 0) || !(o.weight_decay >= 0) || !(o.clip >= 0))
    return Error(QUIVER_ERR_INVALID_ARGUMENT, "AdamW needs 0 <= beta < 1, eps > 0, weight decay >= 0 and clip >= 0");
  if (o.threads < 0 || o.threads > 256) return Error(QUIVER_ERR_INVALID_ARGUMENT, "threads must be within 0..256");
  if (o.device != TrainDevice::kCpu && o.device != TrainDevice::kCuda && o.device != TrainDevice::kCudaEmulated)
    return Error(QUIVER_ERR_INVALID_ARGUMENT, "unknown training device %d", (int)o.device);
  if (o.device != TrainDevice::kCpu && o.f64)
    return Error(QUIVER_ERR_INVALID_ARGUMENT, "precision 64 (the gradient checks) runs on the CPU trainer only");
  ModelConfig config;
  HostModel host;
  if (o.init_random) {
    QUIVER_TRY(model_config_read(o.model_dir, &config));
  } else {
    QUIVER_TRY(host_model_load(o.model_dir, &host));
    config = host.config;
  }
  if (config.head_dim % 2) return Error(QUIVER_ERR_UNSUPPORTED, "head_dim %d is odd", config.head_dim);
  const HostModel* from = o.init_random ? nullptr : &host;
  if (o.device == TrainDevice::kCuda) return cuda_trainer_create(o, config, from, out);
  if (o.device == TrainDevice::kCudaEmulated) return emulated_trainer_create(o, config, from, out);
  if (o.f64) {
    auto t = std::make_unique<TrainerImpl<double>>(o, config);
    QUIVER_TRY(t->init(o.init_random ? nullptr : &host));
    *out = std::move(t);
  } else {
    auto t = std::make_unique<TrainerImpl<float>>(o, config);
    QUIVER_TRY(t->init(o.init_random ? nullptr : &host));
    *out = std::move(t);
  }
  return Status::Ok();
}

}  // namespace quiver
