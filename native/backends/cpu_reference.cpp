// Naive CPU implementations of the model ops (see backend.h for each op's contract).
#include "cpu_reference.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace quiver {
constexpr size_t kHugePage = 2u << 20;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
constexpr bool kHugePages = true;
#else
constexpr bool kHugePages = false;
#endif

Status CpuReferenceBackend::alloc(size_t n, float** out) {
  void* p = nullptr;
  const size_t bytes = (n ? n : 1) * sizeof(float);
  // Buffers of 2 MiB and more (weights, KV caches) are aligned to 2 MiB and offered to the
  // kernel for transparent huge pages, which it grants where THP is "always" or "madvise"
  // (the advice is a hint; without it the buffer works the same). Decode streams the
  // weights, and 4 KiB pages cost it about a tenth at batch 1 here (docs/benchmarks.md).
  const bool huge = kHugePages && bytes >= kHugePage;
  if (posix_memalign(&p, huge ? kHugePage : 64, bytes) != 0)
    return Error(QUIVER_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes", n * sizeof(float));
#ifdef MADV_HUGEPAGE
  if (huge) madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);  // whole 2 MiB pages only
#endif
  std::memset(p, 0, n * sizeof(float));
  *out = static_cast<float*>(p);
  return Status::Ok();
}
void CpuReferenceBackend::release(float* p) { std::free(p); }
Status CpuReferenceBackend::upload(float* dst, const float* src, size_t n) {
  std::memcpy(dst, src, n * sizeof(float));
  return Status::Ok();
}
Status CpuReferenceBackend::download(float* dst, const float* src, size_t n) { return upload(dst, src, n); }
Status CpuReferenceBackend::copy(float* dst, const float* src, size_t n) { return upload(dst, src, n); }

Status Backend::lora_upload(const float* A, const float* B, int rank, int in, int out, const float** dA,
                            const float** dB, Lanes* lanes, std::vector<float*>* owned, size_t* bytes) {
  *lanes = Lanes::kF32;
  *bytes += sizeof(float) * (size_t)rank * (in + out);
  if (host_memory()) {
    *dA = A;
    *dB = B;
    return Status::Ok();
  }
  float *a = nullptr, *b = nullptr;
  QUIVER_TRY(alloc((size_t)rank * in, &a));
  owned->push_back(a);
  QUIVER_TRY(alloc((size_t)out * rank, &b));
  owned->push_back(b);
  QUIVER_TRY(upload(a, A, (size_t)rank * in));
  QUIVER_TRY(upload(b, B, (size_t)out * rank));
  *dA = a;
  *dB = b;
  return Status::Ok();
}

Status CpuReferenceBackend::begin_step(const ModelConfig& c, const StepPlan& plan) {
  c_ = c;
  plan_ = &plan;
  return Status::Ok();
}

void CpuReferenceBackend::embed(const float* table, float* x) {
  for (int r = 0; r < plan_->n_rows; ++r)
    std::memcpy(x + (size_t)r * c_.dim, table + (size_t)plan_->tokens[r] * c_.dim, sizeof(float) * c_.dim);
}

void CpuReferenceBackend::rmsnorm(const float* x, const float* w, float* out, int rows) {
  const int D = c_.dim;
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + (size_t)r * D;
    float ss = 0;
    for (int i = 0; i < D; ++i) ss += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(ss / D + c_.rms_eps);
    for (int i = 0; i < D; ++i) out[(size_t)r * D + i] = xr[i] * inv * w[i];
  }
}

void CpuReferenceBackend::matmul(const float* x, const float* W, float* y, int rows, int in, int out, bool accumulate) {
  for (int r = 0; r < rows; ++r) {
    for (int o = 0; o < out; ++o) {
      float acc = 0;
      for (int i = 0; i < in; ++i) acc += W[(size_t)o * in + i] * x[(size_t)r * in + i];
      float& dst = y[(size_t)r * out + o];
      dst = accumulate ? dst + acc : acc;
    }
  }
}

void CpuReferenceBackend::rope(float* q, float* k) {
  const int hd = c_.head_dim, half = hd / 2;
  for (int r = 0; r < plan_->n_rows; ++r) {
    const float p = (float)plan_->pos[r];
    for (int i = 0; i < half; ++i) {
      const float inv_freq = 1.0f / std::pow(c_.rope_theta, (float)(2 * i) / (float)hd);
      const float angle = p * inv_freq;
      const float co = std::cos(angle), si = std::sin(angle);
      for (int h = 0; h < c_.n_heads + c_.n_kv_heads; ++h) {
        float* v = h < c_.n_heads ? q + (size_t)r * c_.q_dim() + (size_t)h * hd
                                  : k + (size_t)r * c_.kv_dim() + (size_t)(h - c_.n_heads) * hd;
        const float a = v[i], b = v[i + half];
        v[i] = a * co - b * si;
        v[i + half] = b * co + a * si;
      }
    }
  }
}

void CpuReferenceBackend::kv_store(int layer, const float* k, const float* v) {
  const int KV = c_.kv_dim();
  for (int r = 0; r < plan_->n_rows; ++r) {
    const int s = plan_->row_seq[r];
    std::memcpy(cache(s, layer, 0) + (size_t)plan_->pos[r] * KV, k + (size_t)r * KV, sizeof(float) * KV);
    std::memcpy(cache(s, layer, 1) + (size_t)plan_->pos[r] * KV, v + (size_t)r * KV, sizeof(float) * KV);
  }
}

void CpuReferenceBackend::attention(int layer, const float* q, float* out) {
  const int hd = c_.head_dim, KV = c_.kv_dim(), group = c_.n_heads / c_.n_kv_heads;
  const float scale = 1.0f / std::sqrt((float)hd);
  for (int r = 0; r < plan_->n_rows; ++r) {
    const int s = plan_->row_seq[r], n = plan_->pos[r] + 1;
    const float* K = cache(s, layer, 0);
    const float* V = cache(s, layer, 1);
    scratch_.resize((size_t)n);
    for (int h = 0; h < c_.n_heads; ++h) {
      const float* qh = q + (size_t)r * c_.q_dim() + (size_t)h * hd;
      const int kvh = h / group;
      float mx = -INFINITY;
      for (int t = 0; t < n; ++t) {
        float dot = 0;
        for (int i = 0; i < hd; ++i) dot += qh[i] * K[(size_t)t * KV + (size_t)kvh * hd + i];
        scratch_[t] = dot * scale;
        mx = std::max(mx, scratch_[t]);
      }
      float sum = 0;
      for (int t = 0; t < n; ++t) {
        scratch_[t] = std::exp(scratch_[t] - mx);
        sum += scratch_[t];
      }
      float* oh = out + (size_t)r * c_.q_dim() + (size_t)h * hd;
      for (int i = 0; i < hd; ++i) oh[i] = 0;
      for (int t = 0; t < n; ++t) {
        const float a = scratch_[t] / sum;
        for (int i = 0; i < hd; ++i) oh[i] += a * V[(size_t)t * KV + (size_t)kvh * hd + i];
      }
    }
  }
}

void CpuReferenceBackend::swiglu(float* gate, const float* up) {
  const size_t n = (size_t)plan_->n_rows * c_.hidden;
  for (size_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void CpuReferenceBackend::lora(int layer, int module, const float* x, float* y, int in, int out) {
  if (plan_->dense) {
    // Every row through every adapter of the batch, weighted by coef (0 when unmapped).
    const int p = plan_->dense_p;
    const auto& ads = plan_->dense_lora[(size_t)layer * kModuleCount + module];
    for (int j = 0; j < p; ++j) {
      const DenseLora& a = ads[j];
      if (a.rank == 0) continue;
      scratch_.resize((size_t)a.rank);
      for (int r = 0; r < plan_->n_rows; ++r) {
        const float coef = plan_->dense_coef[(size_t)r * p + j] * a.scale;
        for (int k = 0; k < a.rank; ++k) {
          float acc = 0;
          for (int i = 0; i < in; ++i) acc += a.A[(size_t)k * in + i] * x[(size_t)r * in + i];
          scratch_[k] = acc;
        }
        for (int o = 0; o < out; ++o) {
          float acc = 0;
          for (int k = 0; k < a.rank; ++k) acc += a.B[(size_t)o * a.rank + k] * scratch_[k];
          y[(size_t)r * out + o] += coef * acc;
        }
      }
    }
    return;
  }
  // y[r] += scale * B @ (A @ x[r]) for each segment's rows.
  for (const LoraSeg& sg : plan_->lora[(size_t)layer * kModuleCount + module]) {
    scratch_.resize((size_t)sg.rank);
    for (int r = sg.row0; r < sg.row1; ++r) {
      for (int k = 0; k < sg.rank; ++k) {
        float acc = 0;
        for (int i = 0; i < in; ++i) acc += sg.A[(size_t)k * in + i] * x[(size_t)r * in + i];
        scratch_[k] = acc;
      }
      for (int o = 0; o < out; ++o) {
        float acc = 0;
        for (int k = 0; k < sg.rank; ++k) acc += sg.B[(size_t)o * sg.rank + k] * scratch_[k];
        y[(size_t)r * out + o] += sg.scale * acc;
      }
    }
  }
}

void CpuReferenceBackend::gather_last(const float* x, float* out) {
  for (int s = 0; s < plan_->n_seqs; ++s) {
    const int r = plan_->seq_row0[s] + plan_->seq_rows[s] - 1;
    std::memcpy(out + (size_t)s * c_.dim, x + (size_t)r * c_.dim, sizeof(float) * c_.dim);
  }
}

Status CpuReferenceBackend::measure_bandwidth(int64_t bytes, int repeats, double* gbps) {
  const size_t n = (size_t)bytes / sizeof(float);
  std::vector<float> buf(n, 1.0f);
  volatile float sink = 0;
  double best = 0;
  for (int k = 0; k < repeats; ++k) {
    auto t0 = std::chrono::steady_clock::now();
    float acc = 0;
    for (size_t i = 0; i < n; ++i) acc += buf[i];
    sink = sink + acc;
    best = std::max(best, (double)bytes / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  *gbps = best / 1e9;
  return Status::Ok();
}

}  // namespace quiver
