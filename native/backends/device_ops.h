// Element-wise device kernels, written once for two launchers: each op is a functor that
// computes the outputs of one index i from its inputs alone (no shared memory, no atomics,
// no order between indices). An op runs as one CUDA thread per index (cuda_dev.cuh) or as
// one iteration of a host loop (host_dev.h: the "cuda-emulated" device, which is how these
// kernels are tested on machines without a GPU). Every output element is written by one
// index with its sums in a fixed order, so runs repeat bit for bit and a result does not
// depend on the launch shape or on the other rows of a batch.
//
// Two users: the device trainer (train/device_trainer.h; the training ops below, in the CPU
// trainer's layouts: rows are tokens, N = batch * seq_len, attention probabilities
// (B, H, S, S)) and the device inference backend (device_backend.h; the serving ops at the
// end, in the engine's layouts: backend.h).
#pragma once

#include <cmath>
#include <cstdint>

#include "lanes.h"  // also defines QV_HD

namespace quiver {
namespace dev {

using i64 = int64_t;

struct Fill {
  float* y;
  float v;
  QV_HD void operator()(i64 i) const { y[i] = v; }
};

struct Copy {
  const float* x;
  float* y;
  QV_HD void operator()(i64 i) const { y[i] = x[i]; }
};

// y = a + b (the residual adds)
struct Add {
  const float* a;
  const float* b;
  float* y;
  QV_HD void operator()(i64 i) const { y[i] = a[i] + b[i]; }
};

// x (N, D): the rows of the embedding table E for the tokens; i < N * D
struct Embed {
  const float* E;
  const int32_t* tokens;
  float* x;
  int D;
  QV_HD void operator()(i64 i) const { x[i] = E[(i64)tokens[i / D] * D + i % D]; }
};

// dE[v, d] += the sum of dx[n, d] over the rows n whose token is v; i < V * D
struct EmbedBack {
  const int32_t* tokens;
  const float* dx;
  float* dE;
  int N, D;
  QV_HD void operator()(i64 i) const {
    const int v = (int)(i / D), d = (int)(i % D);
    float s = 0;
    for (int n = 0; n < N; ++n)
      if (tokens[n] == v) s += dx[(i64)n * D + d];
    dE[i] += s;
  }
};

// C[i, j] = (acc ? C[i, j] : 0) + alpha * sum_k A[i*as0 + k*as1] * B[j*bs0 + k*bs1]
// for C (M, Nc) row-major; i < M * Nc. The strides give every product the passes need
// (X W^T, dY W, dY^T X, the LoRA shrink and expand) without transposed copies.
struct Gemm {
  const float* A;
  const float* B;
  float* C;
  int Nc, K;
  i64 as0, as1, bs0, bs1;
  float alpha;
  bool acc;
  QV_HD void operator()(i64 idx) const {
    const i64 i = idx / Nc, j = idx % Nc;
    const float* a = A + i * as0;
    const float* b = B + j * bs0;
    float s = 0;
    for (int k = 0; k < K; ++k) s += a[k * as1] * b[k * bs1];
    C[idx] = acc ? C[idx] + alpha * s : alpha * s;
  }
};

// One column-major sgemm in BLAS's terms (cuBLAS's contract):
// c (m, n) = alpha op(a) op(b) + beta c, op(a) (m, k), op(b) (k, n); a transposed operand is
// stored (k, m) or (n, k). beta 0 never reads c.
struct BlasGemm {
  bool ta, tb;
  int m, n, k;
  float alpha;
  const float* a;
  int lda;
  const float* b;
  int ldb;
  float beta;
  float* c;
  int ldc;
};

// An operand X' (R, K) with X'[r, k] = x[r*s0 + k*s1] as BLAS stores a matrix: with its K
// values contiguous (*k_major: stored (K, R), column r at x + r*s0) or its R values
// contiguous (stored (R, K), column k at x + k*s1), and its leading dimension; false when it
// is neither, or the leading dimension passes an int.
inline bool blas_operand(i64 s0, i64 s1, i64 R, i64 K, bool* k_major, int* ld) {
  i64 l;
  if (s1 == 1 && s0 >= K) {
    *k_major = true;
    l = s0;
  } else if (s0 == 1 && s1 >= R) {
    *k_major = false;
    l = s1;
  } else {
    return false;
  }
  if (l > 0x7fffffff) return false;
  *ld = (int)l;
  return true;
}

// Gemm g over M rows as one BLAS call: C (M, Nc) row-major is C^T (Nc, M) column-major, and
// C^T = B' A'^T with B'[j, k] = B[j*bs0 + k*bs1] and A'[i, k] = A[i*as0 + k*as1]. False when
// an operand is not a BLAS layout (blas_operand) or a size passes an int (the caller then
// runs g as a kernel).
inline bool as_blas(const Gemm& g, i64 M, BlasGemm* out) {
  const i64 N = g.Nc, K = g.K;
  if (M <= 0 || N <= 0 || K <= 0 || M > 0x7fffffff || N > 0x7fffffff || K > 0x7fffffff) return false;
  BlasGemm b{};
  bool k_major;
  // the first operand, B' (N, K): op(a) = B' is a transpose when B' is stored (K, N)
  if (!blas_operand(g.bs0, g.bs1, N, K, &k_major, &b.lda)) return false;
  b.ta = k_major;
  // the second operand, op(b) = A'^T (K, M): stored (K, M) is A'^T itself
  if (!blas_operand(g.as0, g.as1, M, K, &k_major, &b.ldb)) return false;
  b.tb = !k_major;
  b.m = (int)N;
  b.n = (int)M;
  b.k = (int)K;
  b.alpha = g.alpha;
  b.a = g.B;
  b.b = g.A;
  b.beta = g.acc ? 1.0f : 0.0f;
  b.c = g.C;
  b.ldc = (int)N;
  *out = b;
  return true;
}

// The projections' product y (rows, out) (+)= x (rows, in) W (out, in)^T as a Gemm.
inline Gemm projection_gemm(const float* x, const float* W, float* y, int in, int out, bool accumulate) {
  return Gemm{x, W, y, out, in, in, 1, in, 1, 1.0f, accumulate};
}

// r[n] = 1 / sqrt(mean(x[n]^2) + eps); i < N
struct RmsStat {
  const float* x;
  float* r;
  int D;
  float eps;
  QV_HD void operator()(i64 n) const {
    const float* xi = x + n * D;
    float ss = 0;
    for (int i = 0; i < D; ++i) ss += xi[i] * xi[i];
    r[n] = 1.0f / sqrtf(ss / (float)D + eps);
  }
};

// y = x * r[n] * g; i < N * D
struct RmsApply {
  const float* x;
  const float* g;
  const float* r;
  float* y;
  int D;
  QV_HD void operator()(i64 i) const { y[i] = x[i] * r[i / D] * g[i % D]; }
};

// dot[n] = sum_i dy[n, i] g[i] x[n, i]; i < N
struct RmsBackDot {
  const float* x;
  const float* g;
  const float* dy;
  float* dot;
  int D;
  QV_HD void operator()(i64 n) const {
    float s = 0;
    for (int i = 0; i < D; ++i) s += dy[n * D + i] * g[i] * x[n * D + i];
    dot[n] = s;
  }
};

// dx (+)= r g dy - r^3 dot / D x; i < N * D
struct RmsBackDx {
  const float* x;
  const float* g;
  const float* r;
  const float* dy;
  const float* dot;
  float* dx;
  int D;
  bool acc;
  QV_HD void operator()(i64 i) const {
    const i64 n = i / D;
    const float inv = r[n];
    const float k = inv * inv * inv * dot[n] / (float)D;
    const float d = inv * g[i % D] * dy[i] - k * x[i];
    dx[i] = acc ? dx[i] + d : d;
  }
};

// dg[d] += sum_n dy[n, d] x[n, d] r[n]; i < D
struct RmsBackDg {
  const float* x;
  const float* r;
  const float* dy;
  float* dg;
  int N, D;
  QV_HD void operator()(i64 d) const {
    float s = 0;
    for (int n = 0; n < N; ++n) s += dy[(i64)n * D + d] * x[(i64)n * D + d] * r[n];
    dg[d] += s;
  }
};

// Rotary embedding: rotates dimension pairs (t, t + hd/2) of every head of row r by the
// angle of position pos[r], the engine's formula (cpu_reference.cpp); inverse: by minus the
// angle (the backward pass). x (rows, heads * hd); i < rows * heads * hd/2
struct Rope {
  float* x;
  const int32_t* pos;
  int heads, hd;
  float theta;
  bool inverse;
  QV_HD void operator()(i64 i) const {
    const int half = hd / 2;
    const int t = (int)(i % half);
    const i64 nh = i / half;
    const float inv_freq = 1.0f / powf(theta, (float)(2 * t) / (float)hd);
    const float angle = (float)pos[nh / heads] * inv_freq;
    const float co = cosf(angle), si = inverse ? -sinf(angle) : sinf(angle);
    float* v = x + nh * hd;
    const float a = v[t], b = v[t + half];
    v[t] = a * co - b * si;
    v[t + half] = b * co + a * si;
  }
};

struct AttnShape {
  int S, H, KVH, hd;
  float scale;  // 1 / sqrt(hd)
  QV_HD int q_dim() const { return H * hd; }
  QV_HD int kv_dim() const { return KVH * hd; }
  QV_HD int group() const { return H / KVH; }
};

// Causal attention of one query row: probs[b, h, i, :i+1] and att[row, head h]; i < B * H * S
struct AttnFwd {
  const float* q;
  const float* k;
  const float* v;
  float* probs;
  float* att;
  AttnShape s;
  QV_HD void operator()(i64 idx) const {
    const int S = s.S, hd = s.hd, Q = s.q_dim(), KV = s.kv_dim();
    const int i = (int)(idx % S);
    const i64 bh = idx / S;
    const int h = (int)(bh % s.H);
    const i64 b = bh / s.H;
    const int kh = h / s.group();
    const i64 row = b * S + i;
    const float* qr = q + row * Q + (i64)h * hd;
    float* p = probs + (bh * S + i) * S;
    float mx = -INFINITY;
    for (int j = 0; j <= i; ++j) {
      const float* kr = k + (b * S + j) * KV + (i64)kh * hd;
      float d = 0;
      for (int t = 0; t < hd; ++t) d += qr[t] * kr[t];
      p[j] = d * s.scale;
      mx = fmaxf(mx, p[j]);
    }
    float sum = 0;
    for (int j = 0; j <= i; ++j) {
      p[j] = expf(p[j] - mx);
      sum += p[j];
    }
    for (int j = 0; j <= i; ++j) p[j] /= sum;
    float* o = att + row * Q + (i64)h * hd;
    for (int t = 0; t < hd; ++t) {
      float acc = 0;
      for (int j = 0; j <= i; ++j) acc += p[j] * v[(b * S + j) * KV + (i64)kh * hd + t];
      o[t] = acc;
    }
  }
};

// The softmax's backward for one query row: g[b, h, i, j] = p (dO_i . v_j - sum_j' p dO_i . v_j')
// * scale for j <= i; i < B * H * S
struct AttnBackScores {
  const float* probs;
  const float* dO;  // datt (N, Q)
  const float* v;
  float* g;         // (B, H, S, S)
  AttnShape s;
  QV_HD void operator()(i64 idx) const {
    const int S = s.S, hd = s.hd, Q = s.q_dim(), KV = s.kv_dim();
    const int i = (int)(idx % S);
    const i64 bh = idx / S;
    const int h = (int)(bh % s.H);
    const i64 b = bh / s.H;
    const int kh = h / s.group();
    const float* p = probs + (bh * S + i) * S;
    const float* d = dO + (b * S + i) * Q + (i64)h * hd;
    float* gr = g + (bh * S + i) * S;
    float dot = 0;
    for (int j = 0; j <= i; ++j) {
      const float* vr = v + (b * S + j) * KV + (i64)kh * hd;
      float dp = 0;
      for (int t = 0; t < hd; ++t) dp += d[t] * vr[t];
      gr[j] = dp;
      dot += p[j] * dp;
    }
    for (int j = 0; j <= i; ++j) gr[j] = p[j] * (gr[j] - dot) * s.scale;
  }
};

// dq[row, h, t] = sum_{j <= i} g[b, h, i, j] k[b, j, kh, t]; i < N * Q
struct AttnBackDq {
  const float* g;
  const float* k;
  float* dq;
  AttnShape s;
  QV_HD void operator()(i64 idx) const {
    const int S = s.S, hd = s.hd, Q = s.q_dim(), KV = s.kv_dim();
    const int t = (int)(idx % hd);
    const int h = (int)((idx / hd) % s.H);
    const i64 row = idx / Q;
    const i64 b = row / S;
    const int i = (int)(row % S);
    const int kh = h / s.group();
    const float* gr = g + ((b * s.H + h) * S + i) * S;
    float acc = 0;
    for (int j = 0; j <= i; ++j) acc += gr[j] * k[(b * S + j) * KV + (i64)kh * hd + t];
    dq[idx] = acc;
  }
};

// dk[b, j, kh, t] = sum over the group's heads h and i >= j of g[b, h, i, j] q[b, i, h, t];
// dv the same with probs and dO; i < N * KV
struct AttnBackDkv {
  const float* g;
  const float* probs;
  const float* q;
  const float* dO;
  float* dk;
  float* dv;
  AttnShape s;
  QV_HD void operator()(i64 idx) const {
    const int S = s.S, hd = s.hd, Q = s.q_dim(), KV = s.kv_dim();
    const int t = (int)(idx % hd);
    const int kh = (int)((idx / hd) % s.KVH);
    const i64 rowj = idx / KV;
    const i64 b = rowj / S;
    const int j = (int)(rowj % S);
    float ak = 0, av = 0;
    for (int h = kh * s.group(); h < (kh + 1) * s.group(); ++h)
      for (int i = j; i < S; ++i) {
        const i64 at = ((b * s.H + h) * S + i) * S + j;
        const i64 qi = (b * S + i) * Q + (i64)h * hd + t;
        ak += g[at] * q[qi];
        av += probs[at] * dO[qi];
      }
    dk[idx] = ak;
    dv[idx] = av;
  }
};

// mm = silu(a) * u (mm may be a: serving computes it in place); i < N * F
struct SwiGlu {
  const float* a;
  const float* u;
  float* mm;
  QV_HD void operator()(i64 i) const {
    const float g = a[i];
    mm[i] = g / (1.0f + expf(-g)) * u[i];
  }
};

// da, du from dmm; i < N * F
struct SwiGluBack {
  const float* a;
  const float* u;
  const float* dm;
  float* da;
  float* du;
  QV_HD void operator()(i64 i) const {
    const float g = a[i], sg = 1.0f / (1.0f + expf(-g));
    du[i] = dm[i] * g * sg;
    da[i] = dm[i] * u[i] * sg * (1.0f + g * (1.0f - sg));
  }
};

// Cross-entropy of row n against its target (none for target -1): loss[n] = lse - z[t];
// with `keep` the row becomes d(mean loss)/d(logits) (inv = 1 / targets); i < N
struct CrossEntropy {
  float* z;
  const int32_t* targets;
  float* loss;
  int V;
  float inv;
  bool keep;
  QV_HD void operator()(i64 n) const {
    float* row = z + n * V;
    const int tgt = targets[n];
    if (tgt < 0) {
      loss[n] = 0;
      if (keep)
        for (int i = 0; i < V; ++i) row[i] = 0;
      return;
    }
    float mx = row[0];
    for (int i = 1; i < V; ++i) mx = fmaxf(mx, row[i]);
    float sum = 0;
    for (int i = 0; i < V; ++i) sum += expf(row[i] - mx);
    const float lse = mx + logf(sum);
    loss[n] = lse - row[tgt];
    if (keep) {
      for (int i = 0; i < V; ++i) row[i] = expf(row[i] - lse) * inv;
      row[tgt] -= inv;
    }
  }
};

// out[c] = the sum of squares of x over chunk c (in double); i < chunks
struct SumSquares {
  const float* x;
  i64 n, chunk;
  double* out;
  QV_HD void operator()(i64 c) const {
    double s = 0;
    const i64 end = (c + 1) * chunk < n ? (c + 1) * chunk : n;
    for (i64 i = c * chunk; i < end; ++i) s += (double)x[i] * (double)x[i];
    out[c] = s;
  }
};

// One AdamW step's constants, the same for every tensor: the factor that clips the
// gradient norm, the betas, the bias corrections 1 - beta^step, the learning rate, eps and
// the decoupled weight decay (for matrices).
struct AdamStep {
  double clip, b1, b2, c1, c2, lr, eps, weight_decay;
};

// One AdamW update in double, whatever T (the CPU trainer runs it too); i < numel
template <class T>
struct AdamWT {
  T* w;
  const T* g;
  T* m;
  T* v;
  AdamStep k;
  bool decay;
  QV_HD void operator()(i64 i) const {
    const double gi = (double)g[i] * k.clip;
    const double mi = k.b1 * (double)m[i] + (1 - k.b1) * gi;
    const double vi = k.b2 * (double)v[i] + (1 - k.b2) * gi * gi;
    m[i] = (T)mi;
    v[i] = (T)vi;
    const double upd = (mi / k.c1) / (sqrt(vi / k.c2) + k.eps) + (decay ? k.weight_decay : 0.0) * (double)w[i];
    w[i] = (T)((double)w[i] - k.lr * upd);
  }
};


// ---------------------------------------------------------------- serving (device_backend.h)

// One (row, adapter) pair of a LoRA op: v = A @ x[row]; y[row] += scale * B @ v.
struct LoraEntry {
  int32_t row;
  int32_t rank;
  float scale;
  i64 voff;        // offset of v in the op's scratch (each op starts at 0)
  const float* A;  // (rank, in)
  const float* B;  // (out, rank)
  Lanes lanes;     // of A and B (lanes.h): f32, or 16-bit lanes widened as they are read
};

// The step's rows and sequences on the device (backend.h StepPlan).
struct StepRows {
  const int32_t* tokens;   // (T)
  const int32_t* pos;      // (T)
  const int32_t* row_seq;  // (T)
  const int32_t* seq_row0; // (S)
  const int32_t* seq_rows; // (S)
  const int32_t* kv_cap;   // (S)
  float* const* kv;        // (S) caches (n_layers, 2, cap, kv_dim)
  const i64* score_off;    // (T) where row r's attention scores start, in positions: the sum
                           // of pos + 1 over the rows before it (its H heads follow, pos[r] + 1 each)
  // Row r's scores for head h: (pos[r] + 1) floats.
  QV_HD float* scores(float* sc, int H, i64 r, int h) const {
    return sc + score_off[r] * H + (i64)h * (pos[r] + 1);
  }
  QV_HD float* k_at(int layer, int kv_dim, i64 r) const {
    const int s = row_seq[r];
    return kv[s] + ((i64)layer * 2) * kv_cap[s] * kv_dim + (i64)pos[r] * kv_dim;
  }
  QV_HD float* v_at(int layer, int kv_dim, i64 r) const {
    const int s = row_seq[r];
    return kv[s] + ((i64)layer * 2 + 1) * kv_cap[s] * kv_dim + (i64)pos[r] * kv_dim;
  }
  // position t of sequence s's keys (values: +1 part) for one layer
  QV_HD const float* cache(int layer, int part, int kv_dim, int s, int t) const {
    return kv[s] + ((i64)layer * 2 + part) * kv_cap[s] * kv_dim + (i64)t * kv_dim;
  }
};

// Each row's k and v into its sequence's cache at its position; i < T * kv_dim
struct KvStore {
  const float* k;
  const float* v;
  StepRows rows;
  int layer, kv_dim;
  QV_HD void operator()(i64 idx) const {
    const i64 r = idx / kv_dim;
    const int i = (int)(idx % kv_dim);
    rows.k_at(layer, kv_dim, r)[i] = k[idx];
    rows.v_at(layer, kv_dim, r)[i] = v[idx];
  }
};

// Attention over the cache in three passes through the step's score buffer, each row's own
// context long (StepRows::scores; H * the sum of pos + 1 floats): scores, softmax per (row,
// head), then each output element. The first pass is launched for the step's longest context;
// the indices past a row's own return at once.
struct CacheScores {
  const float* q;
  StepRows rows;
  float* sc;
  int layer, H, KVH, hd, maxn;
  QV_HD void operator()(i64 idx) const {  // i < T * H * maxn
    const int t = (int)(idx % maxn);
    const i64 rh = idx / maxn;
    const int h = (int)(rh % H);
    const i64 r = rh / H;
    if (t > rows.pos[r]) return;
    const int kv_dim = KVH * hd;
    const float* kt = rows.cache(layer, 0, kv_dim, rows.row_seq[r], t) + (i64)(h / (H / KVH)) * hd;
    const float* qr = q + rh * hd;
    float d = 0;
    for (int i = 0; i < hd; ++i) d += qr[i] * kt[i];
    rows.scores(sc, H, r, h)[t] = d / sqrtf((float)hd);
  }
};

struct CacheSoftmax {
  float* sc;
  StepRows rows;
  int H;
  QV_HD void operator()(i64 rh) const {  // i < T * H
    const i64 r = rh / H;
    const int n = rows.pos[r] + 1;
    float* p = rows.scores(sc, H, r, (int)(rh % H));
    float mx = -INFINITY;
    for (int t = 0; t < n; ++t) mx = fmaxf(mx, p[t]);
    float sum = 0;
    for (int t = 0; t < n; ++t) {
      p[t] = expf(p[t] - mx);
      sum += p[t];
    }
    for (int t = 0; t < n; ++t) p[t] /= sum;
  }
};

struct CacheOut {
  float* sc;
  StepRows rows;
  float* out;
  int layer, H, KVH, hd;
  QV_HD void operator()(i64 idx) const {  // i < T * H * hd
    const int i = (int)(idx % hd);
    const i64 rh = idx / hd;
    const int h = (int)(rh % H);
    const i64 r = rh / H;
    const int n = rows.pos[r] + 1, kv_dim = KVH * hd, s = rows.row_seq[r];
    const i64 off = (i64)(h / (H / KVH)) * hd + i;
    const float* p = rows.scores(sc, H, r, h);
    float acc = 0;
    for (int t = 0; t < n; ++t) acc += p[t] * rows.cache(layer, 1, kv_dim, s, t)[off];
    out[idx] = acc;
  }
};

// v[voff + k] = A_e[k] . x[row_e]; i < entries * max_rank
struct LoraShrink {
  const LoraEntry* entries;
  const float* x;
  float* v;
  int in, max_rank;
  QV_HD void operator()(i64 idx) const {
    const LoraEntry e = entries[idx / max_rank];
    const int k = (int)(idx % max_rank);
    if (k >= e.rank) return;
    const i64 a0 = (i64)k * in;
    const float* xr = x + (i64)e.row * in;
    float d = 0;
    for (int i = 0; i < in; ++i) d += lane_at(e.A, a0 + i, e.lanes) * xr[i];
    v[e.voff + k] = d;
  }
};

// y[row][o] += the sum over the row's entries (CSR, in order) of scale_e * B_e[o] . v_e;
// i < rows * out
struct LoraExpand {
  const LoraEntry* entries;
  const int32_t* row_ptr;  // (n_rows + 1)
  const int32_t* rows;     // (n_rows)
  const float* v;
  float* y;
  int out;
  QV_HD void operator()(i64 idx) const {
    const i64 rr = idx / out;
    const int o = (int)(idx % out);
    float total = 0;
    for (int e = row_ptr[rr]; e < row_ptr[rr + 1]; ++e) {
      const LoraEntry en = entries[e];
      const i64 b0 = (i64)o * en.rank;
      const float* ve = v + en.voff;
      float d = 0;
      for (int k = 0; k < en.rank; ++k) d += lane_at(en.B, b0 + k, en.lanes) * ve[k];
      total += en.scale * d;
    }
    y[(i64)rows[rr] * out + o] += total;
  }
};

// out[s] = x[the last row of sequence s]; i < S * dim
struct GatherLast {
  const float* x;
  float* out;
  const int32_t* seq_row0;
  const int32_t* seq_rows;
  int dim;
  QV_HD void operator()(i64 idx) const {
    const i64 s = idx / dim;
    out[idx] = x[(i64)(seq_row0[s] + seq_rows[s] - 1) * dim + idx % dim];
  }
};

// The projections' GEMM in tiles, y = x @ W^T (+ y): x (rows, in), W (out, in), y (rows, out).
// A block computes BM rows x BN outputs; its THREADS threads load each BK-wide k slice of x
// and W into the block's shared tiles (load), wait for one another, multiply the slice into
// the TM x TN outputs each thread owns (multiply), wait again, and finally store. On CUDA
// (cuda_dev.cuh) the tiles are shared memory and the waits are __syncthreads(); on the host
// (host_dev.h) a block's threads run each phase in turn. Every output is one sequential
// chain of fused multiply-adds over k, whatever the tile shape.
template <int BM_, int BN_, int BK_, int TM_, int TN_>
struct TiledGemm {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int TX = BN / TN;               // threads along outputs
  static constexpr int THREADS = (BM / TM) * TX;
  struct Tiles {
    float xs[BK][BM + 1];
    float ws[BK][BN + 1];
  };
  struct Acc {
    float v[TM][TN];
  };

  const float* x;
  const float* W;
  float* y;
  int rows, in, out;
  bool accumulate;

  int grid_x() const { return (out + BN - 1) / BN; }
  int grid_y() const { return (rows + BM - 1) / BM; }

  QV_HD void zero(Acc& a) const {
    for (int i = 0; i < TM; ++i)
      for (int j = 0; j < TN; ++j) a.v[i][j] = 0.0f;
  }
  QV_HD void load(Tiles& t, int bx, int by, int tid, int k0) const {
    const int row0 = by * BM, col0 = bx * BN;
    for (int e = tid; e < BM * BK; e += THREADS) {
      const int r = e / BK, k = e % BK;
      t.xs[k][r] = (row0 + r < rows && k0 + k < in) ? x[(i64)(row0 + r) * in + k0 + k] : 0.0f;
    }
    for (int e = tid; e < BN * BK; e += THREADS) {
      const int c = e / BK, k = e % BK;
      t.ws[k][c] = (col0 + c < out && k0 + k < in) ? W[(i64)(col0 + c) * in + k0 + k] : 0.0f;
    }
  }
  QV_HD void multiply(const Tiles& t, int tid, int k0, Acc& a) const {
    const int tr = tid / TX, tc = tid % TX;
    const int kmax = in - k0 < BK ? in - k0 : BK;
    for (int k = 0; k < kmax; ++k)
      for (int i = 0; i < TM; ++i)
        for (int j = 0; j < TN; ++j) a.v[i][j] = fmaf(t.xs[k][tr * TM + i], t.ws[k][tc * TN + j], a.v[i][j]);
  }
  QV_HD void store(int bx, int by, int tid, const Acc& a) const {
    const int tr = tid / TX, tc = tid % TX;
    for (int i = 0; i < TM; ++i) {
      const int r = by * BM + tr * TM + i;
      if (r >= rows) continue;
      for (int j = 0; j < TN; ++j) {
        const int c = bx * BN + tc * TN + j;
        if (c >= out) continue;
        float* dst = y + (i64)r * out + c;
        *dst = accumulate ? *dst + a.v[i][j] : a.v[i][j];
      }
    }
  }
};

// The tile shape for a projection of `rows` rows (decode batches are short), on any device
// with tiled(gemm): the same choice on CUDA and on the host.
template <class Device>
void tiled_matmul(Device& d, const float* x, const float* W, float* y, int rows, int in, int out, bool accumulate) {
  if (rows <= 8)
    d.tiled(TiledGemm<8, 64, 32, 1, 4>{x, W, y, rows, in, out, accumulate});
  else
    d.tiled(TiledGemm<64, 64, 16, 4, 4>{x, W, y, rows, in, out, accumulate});
}

// A strided product on a device: one call of the device's BLAS (d.sgemm; cuBLAS on CUDA, the
// host stand-in on cuda-emulated) when it has one and g's strides are a BLAS layout, else g
// as an element-wise kernel.
template <class Device>
void gemm_on(Device& d, const Gemm& g, i64 M) {
  BlasGemm b;
  if (d.blas() && as_blas(g, M, &b))
    d.sgemm(b);
  else
    d.run(M * g.Nc, g);
}

// The projections' product on a device: its BLAS, else the tiled kernels.
template <class Device>
void matmul_on(Device& d, const float* x, const float* W, float* y, int rows, int in, int out, bool accumulate) {
  if (d.blas())
    gemm_on(d, projection_gemm(x, W, y, in, out, accumulate), rows);
  else
    tiled_matmul(d, x, W, y, rows, in, out, accumulate);
}

}  // namespace dev
}  // namespace quiver
