// AVX2+FMA and portable builds of the fast CPU kernels (see cpu_kernels.h). The AVX2 code
// carries a target attribute, so the file itself compiles for the baseline ISA.
#include "cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QUIVER_X86 1
#endif

namespace quiver {

namespace {

// ---------------------------------------------------------------- portable build

template <int OB, int RB>
void tile_generic(const float* W, int in, const float* const* xr, float* const* yr, const float* alpha, int o, int r,
                  bool accumulate) {
  float a[OB][RB][8] = {};
  int k = 0;
  for (; k + 8 <= in; k += 8)
    for (int i = 0; i < OB; ++i)
      for (int j = 0; j < RB; ++j)
        for (int l = 0; l < 8; ++l) a[i][j][l] += W[(size_t)(o + i) * in + k + l] * xr[r + j][k + l];
  for (int i = 0; i < OB; ++i)
    for (int j = 0; j < RB; ++j) {
      const float* v = a[i][j];
      float d = ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
      for (int kk = k; kk < in; ++kk) d += W[(size_t)(o + i) * in + kk] * xr[r + j][kk];
      float* y = yr[r + j] + o + i;
      *y = (accumulate ? *y : 0.0f) + (alpha ? alpha[r + j] : 1.0f) * d;
    }
}

// One chain per output, k in order; MR rows by one panel of W outputs (a GEMM panel, or a
// shrink panel with W = kShrinkPanel), n of them kept.
template <int MR, int W = kPanel>
void panel_generic(const float* P, int in, const float* const* xr, float* const* yr, int o, int n, bool accumulate) {
  float a[MR][W] = {};
  for (int k = 0; k < in; ++k) {
    const float* w = P + (size_t)k * W;
    for (int i = 0; i < MR; ++i) {
      const float xv = xr[i][k];
      for (int l = 0; l < W; ++l) a[i][l] += xv * w[l];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int l = 0; l < n; ++l) yr[i][o + l] = accumulate ? yr[i][o + l] + a[i][l] : a[i][l];
}

void expand_generic(const float* Bt, int rank, int out, const float* const* vr, float* const* yr, const float* alpha,
                    int R, int o0, int o1) {
  float acc[64];
  for (int r = 0; r < R; ++r) {
    for (int o = o0; o < o1; o += 64) {
      const int n = o1 - o < 64 ? o1 - o : 64;
      for (int i = 0; i < n; ++i) acc[i] = 0;
      for (int k = 0; k < rank; ++k) {
        const float v = vr[r][k];
        const float* b = Bt + (size_t)k * out + o;
        for (int i = 0; i < n; ++i) acc[i] += v * b[i];
      }
      const float s = alpha ? alpha[r] : 1.0f;
      for (int i = 0; i < n; ++i) yr[r][o + i] += s * acc[i];
    }
  }
}

void expand_blocks_generic(const float* Bb, int rank, const float* const* vr, float* const* yr, const float* alpha,
                           int R, int o0, int o1) {
  for (int r = 0; r < R; ++r) {
    for (int o = o0; o < o1; o += kExpandBlock) {
      const float* blk = Bb + (size_t)(o / kExpandBlock) * rank * kExpandBlock;
      const int n = o1 - o < kExpandBlock ? o1 - o : kExpandBlock;
      float acc[kExpandBlock] = {};
      for (int k = 0; k < rank; ++k) {
        const float v = vr[r][k];
        for (int i = 0; i < kExpandBlock; ++i) acc[i] = std::fmaf(v, blk[(size_t)k * kExpandBlock + i], acc[i]);
      }
      for (int i = 0; i < n; ++i) yr[r][o + i] = alpha ? std::fmaf(alpha[r], acc[i], yr[r][o + i]) : acc[i];
    }
  }
}

void add_scaled_generic(float* y, const float* c, float s, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = std::fmaf(s, c[i], y[i]);
}

float fma_probe_generic(long iters) {
  float a[12][8];
  for (int i = 0; i < 12; ++i)
    for (int l = 0; l < 8; ++l) a[i][l] = 0.01f * (8 * i + l);
  for (long k = 0; k < iters; ++k)
    for (int i = 0; i < 12; ++i)
      for (int l = 0; l < 8; ++l) a[i][l] = a[i][l] * 0.999f + 0.001f;
  float s = 0;
  for (int i = 0; i < 12; ++i)
    for (int l = 0; l < 8; ++l) s += a[i][l];
  return s;
}

float sum_generic(const float* p, size_t n) {
  float a[16] = {};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) a[l] += p[i + l];
  float s = 0;
  for (int l = 0; l < 16; ++l) s += a[l];
  for (; i < n; ++i) s += p[i];
  return s;
}

void attend_generic(const float* q, const float* K, const float* V, int n, int hd, int stride, float scale, float* out,
                    float* sc) {
  float mx = -INFINITY;
  for (int t = 0; t < n; ++t) {
    const float* kt = K + (size_t)t * stride;
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= hd; i += 8)
      for (int l = 0; l < 8; ++l) a[l] += q[i + l] * kt[i + l];
    float dot = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    for (; i < hd; ++i) dot += q[i] * kt[i];
    sc[t] = dot * scale;
    mx = sc[t] > mx ? sc[t] : mx;
  }
  float sum = 0;
  for (int t = 0; t < n; ++t) {
    sc[t] = std::exp(sc[t] - mx);
    sum += sc[t];
  }
  const float inv = 1.0f / sum;
  for (int i = 0; i < hd; ++i) out[i] = 0;
  for (int t = 0; t < n; ++t) {
    const float a = sc[t] * inv;
    const float* vt = V + (size_t)t * stride;
    for (int i = 0; i < hd; ++i) out[i] += a * vt[i];
  }
}

void swiglu_generic(float* gate, const float* up, size_t n) {
  for (size_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// ---------------------------------------------------------------- AVX2 + FMA build
#ifdef QUIVER_X86
#define AVX2 __attribute__((target("avx2,fma,f16c")))

// 8 lanes of a packed LoRA factor as f32: f32 lanes, or 16-bit ones widened exactly.
struct Bf16Lane {
  uint16_t bits;
};
struct F16Lane {
  uint16_t bits;
};
AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
AVX2 inline __m256 load8(const Bf16Lane* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p)), 16));
}
AVX2 inline __m256 load8(const F16Lane* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }

// Sum of the 8 lanes as ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)): the same tree as hsum8x8
// below, so a dot product reduces to the same bits whichever of the two reduced it.
AVX2 inline float hsum8(__m256 v) {
  const __m256 t = _mm256_hadd_ps(v, v);
  const __m256 u = _mm256_hadd_ps(t, t);
  return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1)));
}

// Lane j of the result = hsum8(v[j]).
AVX2 inline __m256 hsum8x8(const __m256* v) {
  const __m256 a = _mm256_hadd_ps(v[0], v[1]), b = _mm256_hadd_ps(v[2], v[3]);
  const __m256 c = _mm256_hadd_ps(v[4], v[5]), d = _mm256_hadd_ps(v[6], v[7]);
  const __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
  return _mm256_add_ps(_mm256_permute2f128_ps(ab, cd, 0x20), _mm256_permute2f128_ps(ab, cd, 0x31));
}

AVX2 inline __m256i tail_mask(int n) {  // the first n lanes
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// OB rows of W against RB rows of x: one 8-lane accumulator per dot product, the tail of
// `in` as one masked block, then the fixed reduction tree. OB = 8 with RB = 1 (decode)
// reduces 8 dots at once with hsum8x8; the others use hsum8; both give the same bits.
template <int OB, int RB>
AVX2 void tile_avx2(const float* W, int in, const float* const* xr, float* const* yr, const float* alpha, int o, int r,
                    bool accumulate) {
  __m256 a[OB][RB];
  for (int i = 0; i < OB; ++i)
    for (int j = 0; j < RB; ++j) a[i][j] = _mm256_setzero_ps();
  int k = 0;
  for (; k + 8 <= in; k += 8) {
    __m256 xv[RB];
    for (int j = 0; j < RB; ++j) xv[j] = _mm256_loadu_ps(xr[r + j] + k);
    for (int i = 0; i < OB; ++i) {
      const __m256 w = _mm256_loadu_ps(W + (size_t)(o + i) * in + k);
      for (int j = 0; j < RB; ++j) a[i][j] = _mm256_fmadd_ps(w, xv[j], a[i][j]);
    }
  }
  if (k < in) {
    const __m256i m = tail_mask(in - k);
    __m256 xv[RB];
    for (int j = 0; j < RB; ++j) xv[j] = _mm256_maskload_ps(xr[r + j] + k, m);
    for (int i = 0; i < OB; ++i) {
      const __m256 w = _mm256_maskload_ps(W + (size_t)(o + i) * in + k, m);
      for (int j = 0; j < RB; ++j) a[i][j] = _mm256_fmadd_ps(w, xv[j], a[i][j]);
    }
  }
  if (OB == 8 && RB == 1) {
    __m256 v[8];
    for (int i = 0; i < 8; ++i) v[i] = a[i][0];
    __m256 d = hsum8x8(v);
    float* y = yr[r] + o;
    if (alpha) d = _mm256_mul_ps(_mm256_set1_ps(alpha[r]), d);
    _mm256_storeu_ps(y, accumulate ? _mm256_add_ps(_mm256_loadu_ps(y), d) : d);
    return;
  }
  for (int i = 0; i < OB; ++i)
    for (int j = 0; j < RB; ++j) {
      const float d = (alpha ? alpha[r + j] : 1.0f) * hsum8(a[i][j]);
      float* y = yr[r + j] + o + i;
      *y = accumulate ? *y + d : d;
    }
}

AVX2 inline void store_panel(float* y, __m256 a0, __m256 a1, int n, bool accumulate) {
  if (n == kPanel) {
    if (accumulate) {
      a0 = _mm256_add_ps(_mm256_loadu_ps(y), a0);
      a1 = _mm256_add_ps(_mm256_loadu_ps(y + 8), a1);
    }
    _mm256_storeu_ps(y, a0);
    _mm256_storeu_ps(y + 8, a1);
    return;
  }
  alignas(32) float t[kPanel];
  _mm256_store_ps(t, a0);
  _mm256_store_ps(t + 8, a1);
  for (int l = 0; l < n; ++l) y[l] = accumulate ? y[l] + t[l] : t[l];
}

// MR rows (MR <= 6: 12 accumulators) by 16 outputs: per k, a load from each of two 8-lane
// streams and one broadcast per row. The streams are the halves of a GEMM panel (W = kPanel),
// or two adjacent shrink panels (W = kShrinkPanel; NP = 1: one panel, one stream). The
// accumulators are named variables, not an array, so that the compiler keeps all twelve in
// registers at every optimisation level. `ahead`: see gemm_panels_avx2 (null: no prefetch).
template <int MR, int W = kPanel, int NP = 2, class T = float>
AVX2 void panel_avx2(const T* P, int in, const float* const* xr, float* const* yr, int o, int n, bool accumulate,
                     const float* ahead, int phase, int stride) {
  static_assert(W == kPanel ? NP == 2 : W == kShrinkPanel, "GEMM panels are 16 wide, shrink panels 8");
  const T* P1 = W == kPanel ? P + 8 : P + (size_t)in * W;
  const __m256 z = _mm256_setzero_ps();
  __m256 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
  const float* x0 = xr[0];
  const float* x1 = MR > 1 ? xr[1] : x0;
  const float* x2 = MR > 2 ? xr[2] : x0;
  const float* x3 = MR > 3 ? xr[3] : x0;
  const float* x4 = MR > 4 ? xr[4] : x0;
  const float* x5 = MR > 5 ? xr[5] : x0;
#define QUIVER_ROW(i)                                         \
  if (MR > i) {                                               \
    const __m256 b = _mm256_broadcast_ss(x##i + k);           \
    c##i##0 = _mm256_fmadd_ps(b, w0, c##i##0);                \
    if (NP > 1) c##i##1 = _mm256_fmadd_ps(b, w1, c##i##1);    \
  }
  int until = ahead ? phase + 1 : in + 1;  // countdown to the next prefetch
  for (int k = 0; k < in; ++k) {
    const __m256 w0 = load8(P + (size_t)k * W), w1 = NP > 1 ? load8(P1 + (size_t)k * W) : z;
    if (--until == 0) {
      _mm_prefetch((const char*)(ahead + (size_t)k * kPanel), _MM_HINT_T0);
      until = stride;
    }
    QUIVER_ROW(0) QUIVER_ROW(1) QUIVER_ROW(2) QUIVER_ROW(3) QUIVER_ROW(4) QUIVER_ROW(5)
  }
#undef QUIVER_ROW
  store_panel(yr[0] + o, c00, c01, n, accumulate);
  if (MR > 1) store_panel(yr[1] + o, c10, c11, n, accumulate);
  if (MR > 2) store_panel(yr[2] + o, c20, c21, n, accumulate);
  if (MR > 3) store_panel(yr[3] + o, c30, c31, n, accumulate);
  if (MR > 4) store_panel(yr[4] + o, c40, c41, n, accumulate);
  if (MR > 5) store_panel(yr[5] + o, c50, c51, n, accumulate);
}

// One row by four full panels (decode): eight independent chains hide the FMA latency,
// four weight streams keep the memory busy.
AVX2 void panels4_row_avx2(const float* P, int in, const float* x, float* y, int o, bool accumulate) {
  const __m256 z = _mm256_setzero_ps();
  __m256 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
  const size_t ps = (size_t)in * kPanel;
  const float *p0 = P, *p1 = P + ps, *p2 = P + 2 * ps, *p3 = P + 3 * ps;
  for (int k = 0; k < in; ++k) {
    const __m256 b = _mm256_broadcast_ss(x + k);
    const size_t at = (size_t)k * kPanel;
    c00 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p0 + at), c00);
    c01 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p0 + at + 8), c01);
    c10 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p1 + at), c10);
    c11 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p1 + at + 8), c11);
    c20 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p2 + at), c20);
    c21 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p2 + at + 8), c21);
    c30 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p3 + at), c30);
    c31 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p3 + at + 8), c31);
  }
  store_panel(y + o, c00, c01, kPanel, accumulate);
  store_panel(y + o + kPanel, c10, c11, kPanel, accumulate);
  store_panel(y + o + 2 * kPanel, c20, c21, kPanel, accumulate);
  store_panel(y + o + 3 * kPanel, c30, c31, kPanel, accumulate);
}

AVX2 void gemm_panels_avx2(const float* Wp, int in, int out, const float* const* xr, float* const* yr, int R, int p0,
                           int p1, bool accumulate) {
  constexpr int kAhead = 2;
  using Fn = void (*)(const float*, int, const float* const*, float* const*, int, int, bool, const float*, int, int);
  static const Fn by_rows[6] = {panel_avx2<1>, panel_avx2<2>, panel_avx2<3>, panel_avx2<4>, panel_avx2<5>, panel_avx2<6>};
  const size_t ps = (size_t)in * kPanel;
  int p = p0;
  if (R == 1)
    for (; p + 4 <= p1 && (p + 4) * kPanel <= out; p += 4) panels4_row_avx2(Wp + p * ps, in, xr[0], yr[0], p * kPanel, accumulate);
  for (; p < p1; ++p) {
    const int o = p * kPanel, n = out - o < kPanel ? out - o : kPanel;
    // Rows in blocks of at most 6, as even as possible (32 rows: 5,5,5,5,6,6, not 6x5+2).
    // The passes over this panel also pull the panel kAhead further into the cache, each
    // pass an equal share of its lines (pass b: every blocks-th line from line b), so that
    // memory is read at an even pace while the panel's later passes hit the cache.
    const int blocks = (R + 5) / 6;
    const float* ahead = p + kAhead < p1 ? Wp + (p + kAhead) * ps : nullptr;
    for (int b = 0; b < blocks; ++b) {
      const int r = R * b / blocks, mr = R * (b + 1) / blocks - r;
      by_rows[mr - 1](Wp + p * ps, in, xr + r, yr + r, o, n, accumulate, ahead, b, blocks);
    }
  }
}

template <class T>
AVX2 void shrink_panels_avx2_t(const T* Ap, int rank, int in, const float* const* xr, float* const* vr, int R) {
  // The GEMM's tile over shrink panels, two at a time (16 of A's rows), the last alone.
  using Fn = void (*)(const T*, int, const float* const*, float* const*, int, int, bool, const float*, int, int);
  static const Fn one[6] = {panel_avx2<1, kShrinkPanel, 1, T>, panel_avx2<2, kShrinkPanel, 1, T>, panel_avx2<3, kShrinkPanel, 1, T>,
                            panel_avx2<4, kShrinkPanel, 1, T>, panel_avx2<5, kShrinkPanel, 1, T>, panel_avx2<6, kShrinkPanel, 1, T>};
  static const Fn two[6] = {panel_avx2<1, kShrinkPanel, 2, T>, panel_avx2<2, kShrinkPanel, 2, T>, panel_avx2<3, kShrinkPanel, 2, T>,
                            panel_avx2<4, kShrinkPanel, 2, T>, panel_avx2<5, kShrinkPanel, 2, T>, panel_avx2<6, kShrinkPanel, 2, T>};
  const int np = shrink_panel_count(rank), blocks = (R + 5) / 6;
  for (int p = 0; p < np; p += 2) {
    const int j0 = p * kShrinkPanel, np_here = p + 1 < np ? 2 : 1, n = std::min(np_here * kShrinkPanel, rank - j0);
    const Fn* by_rows = np_here == 2 ? two : one;
    // Rows in blocks of at most 6, as even as possible.
    for (int b = 0; b < blocks; ++b) {
      const int r = R * b / blocks, mr = R * (b + 1) / blocks - r;
      by_rows[mr - 1](Ap + (size_t)p * in * kShrinkPanel, in, xr + r, vr + r, j0, n, false, nullptr, 0, 1);
    }
  }
}

AVX2 void expand_avx2(const float* Bt, int rank, int out, const float* const* vr, float* const* yr, const float* alpha,
                      int R, int o0, int o1) {
  for (int r = 0; r < R; ++r) {
    const float s = alpha ? alpha[r] : 1.0f;
    const __m256 sv = _mm256_set1_ps(s);
    int o = o0;
    for (; o + 32 <= o1; o += 32) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int k = 0; k < rank; ++k) {
        const __m256 v = _mm256_set1_ps(vr[r][k]);
        const float* b = Bt + (size_t)k * out + o;
        a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b), a0);
        a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b + 8), a1);
        a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b + 16), a2);
        a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b + 24), a3);
      }
      float* y = yr[r] + o;
      _mm256_storeu_ps(y, _mm256_fmadd_ps(sv, a0, _mm256_loadu_ps(y)));
      _mm256_storeu_ps(y + 8, _mm256_fmadd_ps(sv, a1, _mm256_loadu_ps(y + 8)));
      _mm256_storeu_ps(y + 16, _mm256_fmadd_ps(sv, a2, _mm256_loadu_ps(y + 16)));
      _mm256_storeu_ps(y + 24, _mm256_fmadd_ps(sv, a3, _mm256_loadu_ps(y + 24)));
    }
    for (; o + 8 <= o1; o += 8) {
      __m256 a0 = _mm256_setzero_ps();
      for (int k = 0; k < rank; ++k)
        a0 = _mm256_fmadd_ps(_mm256_set1_ps(vr[r][k]), _mm256_loadu_ps(Bt + (size_t)k * out + o), a0);
      _mm256_storeu_ps(yr[r] + o, _mm256_fmadd_ps(sv, a0, _mm256_loadu_ps(yr[r] + o)));
    }
    for (; o < o1; ++o) {
      float acc = 0;
      for (int k = 0; k < rank; ++k) acc = std::fmaf(vr[r][k], Bt[(size_t)k * out + o], acc);
      yr[r][o] = std::fmaf(s, acc, yr[r][o]);
    }
  }
}

// One block (kExpandBlock = 64 outputs) per pass: eight accumulators, and per k one
// broadcast and eight loads of the next 256 bytes of the block, so a block is read front to
// back, and consecutive blocks are adjacent.
AVX2 inline void store8(float* y, __m256 sv, __m256 a, bool scaled) {
  _mm256_storeu_ps(y, scaled ? _mm256_fmadd_ps(sv, a, _mm256_loadu_ps(y)) : a);
}

template <class T>
AVX2 void expand_blocks_avx2_t(const T* Bb, int rank, const float* const* vr, float* const* yr, const float* alpha,
                               int R, int o0, int o1) {
  static_assert(kExpandBlock == 64, "eight 8-lane accumulators per block");
  for (int r = 0; r < R; ++r) {
    const float s = alpha ? alpha[r] : 1.0f;
    const __m256 sv = _mm256_set1_ps(s);
    const float* v = vr[r];
    for (int o = o0; o < o1; o += kExpandBlock) {
      const T* b = Bb + (size_t)(o / kExpandBlock) * rank * kExpandBlock;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      for (int k = 0; k < rank; ++k, b += kExpandBlock) {
        const __m256 x = _mm256_broadcast_ss(v + k);
        a0 = _mm256_fmadd_ps(x, load8(b), a0);
        a1 = _mm256_fmadd_ps(x, load8(b + 8), a1);
        a2 = _mm256_fmadd_ps(x, load8(b + 16), a2);
        a3 = _mm256_fmadd_ps(x, load8(b + 24), a3);
        a4 = _mm256_fmadd_ps(x, load8(b + 32), a4);
        a5 = _mm256_fmadd_ps(x, load8(b + 40), a5);
        a6 = _mm256_fmadd_ps(x, load8(b + 48), a6);
        a7 = _mm256_fmadd_ps(x, load8(b + 56), a7);
      }
      float* y = yr[r] + o;
      const bool scaled = alpha != nullptr;
      if (o1 - o >= kExpandBlock) {
        store8(y, sv, a0, scaled), store8(y + 8, sv, a1, scaled), store8(y + 16, sv, a2, scaled);
        store8(y + 24, sv, a3, scaled), store8(y + 32, sv, a4, scaled), store8(y + 40, sv, a5, scaled);
        store8(y + 48, sv, a6, scaled), store8(y + 56, sv, a7, scaled);
      } else {  // the last, partial block
        alignas(32) float t[kExpandBlock];
        _mm256_store_ps(t, a0), _mm256_store_ps(t + 8, a1), _mm256_store_ps(t + 16, a2), _mm256_store_ps(t + 24, a3);
        _mm256_store_ps(t + 32, a4), _mm256_store_ps(t + 40, a5), _mm256_store_ps(t + 48, a6), _mm256_store_ps(t + 56, a7);
        for (int i = 0; i < o1 - o; ++i) y[i] = scaled ? std::fmaf(s, t[i], y[i]) : t[i];
      }
    }
  }
}

AVX2 void shrink_panels_avx2(const float* Ap, int rank, int in, const float* const* xr, float* const* vr, int R) {
  shrink_panels_avx2_t(Ap, rank, in, xr, vr, R);
}
AVX2 void shrink_panels_bf16_avx2(const uint16_t* Ap, int rank, int in, const float* const* xr, float* const* vr, int R) {
  shrink_panels_avx2_t(reinterpret_cast<const Bf16Lane*>(Ap), rank, in, xr, vr, R);
}
AVX2 void shrink_panels_f16_avx2(const uint16_t* Ap, int rank, int in, const float* const* xr, float* const* vr, int R) {
  shrink_panels_avx2_t(reinterpret_cast<const F16Lane*>(Ap), rank, in, xr, vr, R);
}
AVX2 void expand_blocks_avx2(const float* Bb, int rank, const float* const* vr, float* const* yr, const float* alpha, int R,
                             int o0, int o1) {
  expand_blocks_avx2_t(Bb, rank, vr, yr, alpha, R, o0, o1);
}
AVX2 void expand_blocks_bf16_avx2(const uint16_t* Bb, int rank, const float* const* vr, float* const* yr, const float* alpha,
                                  int R, int o0, int o1) {
  expand_blocks_avx2_t(reinterpret_cast<const Bf16Lane*>(Bb), rank, vr, yr, alpha, R, o0, o1);
}
AVX2 void expand_blocks_f16_avx2(const uint16_t* Bb, int rank, const float* const* vr, float* const* yr, const float* alpha,
                                 int R, int o0, int o1) {
  expand_blocks_avx2_t(reinterpret_cast<const F16Lane*>(Bb), rank, vr, yr, alpha, R, o0, o1);
}

AVX2 void add_scaled_avx2(float* y, const float* c, float s, size_t n) {
  const __m256 sv = _mm256_set1_ps(s);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(sv, _mm256_loadu_ps(c + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] = std::fmaf(s, c[i], y[i]);
}

// e^x: 2^n * p(r) with x = n ln2 + r, |r| <= ln2/2, and a degree-6 polynomial for e^r
// (relative error about 2e-7); below -87 the result is 0, above 88 it is e^88.
AVX2 inline __m256 exp_avx2(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.0f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.3981999507e-3f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

// Scores 8 positions at a time (head dims in blocks of 8), a vectorised softmax, then the
// weighted sum of V rows along the head dimension. Other head sizes use the portable code.
AVX2 void attend_avx2(const float* q, const float* K, const float* V, int n, int hd, int stride, float scale, float* out,
                      float* sc) {
  if (hd % 8 != 0 || hd > 256) return attend_generic(q, K, V, n, hd, stride, scale, out, sc);
  const int blocks = hd / 8;
  __m256 qv[32];
  for (int b = 0; b < blocks; ++b) qv[b] = _mm256_loadu_ps(q + 8 * b);
  const __m256 sv = _mm256_set1_ps(scale);
  __m256 mxv = _mm256_set1_ps(-INFINITY);
  int t = 0;
  for (; t + 8 <= n; t += 8) {
    __m256 m[8];
    for (int j = 0; j < 8; ++j) {
      const float* kt = K + (size_t)(t + j) * stride;
      __m256 a = _mm256_mul_ps(qv[0], _mm256_loadu_ps(kt));
      for (int b = 1; b < blocks; ++b) a = _mm256_fmadd_ps(qv[b], _mm256_loadu_ps(kt + 8 * b), a);
      m[j] = a;
    }
    const __m256 s = _mm256_mul_ps(hsum8x8(m), sv);
    _mm256_storeu_ps(sc + t, s);
    mxv = _mm256_max_ps(mxv, s);
  }
  float mx = -INFINITY;
  {
    alignas(32) float tmp[8];
    _mm256_store_ps(tmp, mxv);
    for (float v : tmp) mx = v > mx ? v : mx;
  }
  for (; t < n; ++t) {
    const float* kt = K + (size_t)t * stride;
    __m256 a = _mm256_mul_ps(qv[0], _mm256_loadu_ps(kt));
    for (int b = 1; b < blocks; ++b) a = _mm256_fmadd_ps(qv[b], _mm256_loadu_ps(kt + 8 * b), a);
    sc[t] = hsum8(a) * scale;
    mx = sc[t] > mx ? sc[t] : mx;
  }
  const __m256 mv = _mm256_set1_ps(mx);
  __m256 sumv = _mm256_setzero_ps();
  t = 0;
  for (; t + 8 <= n; t += 8) {
    const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(sc + t), mv));
    _mm256_storeu_ps(sc + t, e);
    sumv = _mm256_add_ps(sumv, e);
  }
  float sum = hsum8(sumv);
  for (; t < n; ++t) {
    alignas(32) float tmp[8];
    _mm256_store_ps(tmp, exp_avx2(_mm256_set1_ps(sc[t] - mx)));
    sc[t] = tmp[0];
    sum += sc[t];
  }
  // Weighted sum of V, one 8-wide block of the head at a time, four independent chains.
  const __m256 inv = _mm256_set1_ps(1.0f / sum);
  for (int b = 0; b < blocks; ++b) {
    const float* vb = V + 8 * b;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    t = 0;
    for (; t + 4 <= n; t += 4) {
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(sc[t]), _mm256_loadu_ps(vb + (size_t)t * stride), a0);
      a1 = _mm256_fmadd_ps(_mm256_set1_ps(sc[t + 1]), _mm256_loadu_ps(vb + (size_t)(t + 1) * stride), a1);
      a2 = _mm256_fmadd_ps(_mm256_set1_ps(sc[t + 2]), _mm256_loadu_ps(vb + (size_t)(t + 2) * stride), a2);
      a3 = _mm256_fmadd_ps(_mm256_set1_ps(sc[t + 3]), _mm256_loadu_ps(vb + (size_t)(t + 3) * stride), a3);
    }
    for (; t < n; ++t) a0 = _mm256_fmadd_ps(_mm256_set1_ps(sc[t]), _mm256_loadu_ps(vb + (size_t)t * stride), a0);
    _mm256_storeu_ps(out + 8 * b, _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), inv));
  }
}

AVX2 void swiglu_avx2(float* gate, const float* up, size_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) {
    alignas(32) float e[8];
    _mm256_store_ps(e, exp_avx2(_mm256_set1_ps(-gate[i])));
    gate[i] = gate[i] / (1.0f + e[0]) * up[i];
  }
}

// Twelve named chains, like the GEMM tile, so they stay in registers. Each starts from its
// own value: identical chains would be merged into one by the compiler.
AVX2 float fma_probe_avx2(long iters) {
  const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
  __m256 a0 = _mm256_set1_ps(0.10f), a1 = _mm256_set1_ps(0.11f), a2 = _mm256_set1_ps(0.12f), a3 = _mm256_set1_ps(0.13f),
         a4 = _mm256_set1_ps(0.14f), a5 = _mm256_set1_ps(0.15f), a6 = _mm256_set1_ps(0.16f), a7 = _mm256_set1_ps(0.17f),
         a8 = _mm256_set1_ps(0.18f), a9 = _mm256_set1_ps(0.19f), a10 = _mm256_set1_ps(0.20f), a11 = _mm256_set1_ps(0.21f);
  for (long k = 0; k < iters; ++k) {
    a0 = _mm256_fmadd_ps(a0, m, c), a1 = _mm256_fmadd_ps(a1, m, c), a2 = _mm256_fmadd_ps(a2, m, c);
    a3 = _mm256_fmadd_ps(a3, m, c), a4 = _mm256_fmadd_ps(a4, m, c), a5 = _mm256_fmadd_ps(a5, m, c);
    a6 = _mm256_fmadd_ps(a6, m, c), a7 = _mm256_fmadd_ps(a7, m, c), a8 = _mm256_fmadd_ps(a8, m, c);
    a9 = _mm256_fmadd_ps(a9, m, c), a10 = _mm256_fmadd_ps(a10, m, c), a11 = _mm256_fmadd_ps(a11, m, c);
  }
  const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                 _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)),
                                               _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11))));
  return hsum8(s);
}

AVX2 float sum_avx2(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
  }
  float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) s += p[i];
  return s;
}
#endif  // QUIVER_X86

// ---------------------------------------------------------------- tiling driver

using TileFn = void (*)(const float*, int, const float* const*, float* const*, const float*, int, int, bool);

// Output rows of W in blocks of 4 (kept in L1 while every x row passes), x rows in blocks
// of 3; a single x row takes blocks of 8 outputs.
template <template <int, int> class Pick>
void dot_rows_with(const float* W, int in, const float* const* xr, float* const* yr, const float* alpha, int R, int o0,
                   int o1, bool accumulate) {
  static const TileFn table[4][3] = {
      {Pick<1, 1>::fn, Pick<1, 2>::fn, Pick<1, 3>::fn}, {Pick<2, 1>::fn, Pick<2, 2>::fn, Pick<2, 3>::fn},
      {Pick<3, 1>::fn, Pick<3, 2>::fn, Pick<3, 3>::fn}, {Pick<4, 1>::fn, Pick<4, 2>::fn, Pick<4, 3>::fn}};
  int o = o0;
  if (R == 1)
    for (; o + 8 <= o1; o += 8) Pick<8, 1>::fn(W, in, xr, yr, alpha, o, 0, accumulate);
  for (; o < o1; o += 4) {
    const int ob = o1 - o < 4 ? o1 - o : 4;
    for (int r = 0; r < R; r += 3) {
      const int rb = R - r < 3 ? R - r : 3;
      table[ob - 1][rb - 1](W, in, xr, yr, alpha, o, r, accumulate);
    }
  }
}

template <int OB, int RB>
struct PickGeneric {
  static constexpr TileFn fn = tile_generic<OB, RB>;
};
void dot_rows_generic(const float* W, int in, const float* const* xr, float* const* yr, const float* alpha, int R, int o0,
                      int o1, bool accumulate) {
  dot_rows_with<PickGeneric>(W, in, xr, yr, alpha, R, o0, o1, accumulate);
}

void shrink_panels_generic(const float* Ap, int rank, int in, const float* const* xr, float* const* vr, int R) {
  using Fn = void (*)(const float*, int, const float* const*, float* const*, int, int, bool);
  static const Fn by_rows[4] = {panel_generic<1, kShrinkPanel>, panel_generic<2, kShrinkPanel>,
                                panel_generic<3, kShrinkPanel>, panel_generic<4, kShrinkPanel>};
  for (int p = 0; p < shrink_panel_count(rank); ++p) {
    const int j0 = p * kShrinkPanel, n = std::min(kShrinkPanel, rank - j0);
    for (int r = 0; r < R; r += 4)
      by_rows[std::min(4, R - r) - 1](Ap + (size_t)p * in * kShrinkPanel, in, xr + r, vr + r, j0, n, false);
  }
}

void gemm_panels_generic(const float* Wp, int in, int out, const float* const* xr, float* const* yr, int R, int p0,
                         int p1, bool accumulate) {
  using Fn = void (*)(const float*, int, const float* const*, float* const*, int, int, bool);
  static const Fn by_rows[4] = {panel_generic<1>, panel_generic<2>, panel_generic<3>, panel_generic<4>};
  const size_t ps = (size_t)in * kPanel;
  for (int p = p0; p < p1; ++p) {
    const int o = p * kPanel, n = out - o < kPanel ? out - o : kPanel;
    for (int r = 0; r < R; r += 4) {
      const int mr = R - r < 4 ? R - r : 4;
      by_rows[mr - 1](Wp + p * ps, in, xr + r, yr + r, o, n, accumulate);
    }
  }
}

#ifdef QUIVER_X86
template <int OB, int RB>
struct PickAvx2 {
  static constexpr TileFn fn = tile_avx2<OB, RB>;
};
void dot_rows_avx2(const float* W, int in, const float* const* xr, float* const* yr, const float* alpha, int R, int o0,
                   int o1, bool accumulate) {
  dot_rows_with<PickAvx2>(W, in, xr, yr, alpha, R, o0, o1, accumulate);
}
#endif

}  // namespace

namespace {
// M (out, in) as blocks of `width` outputs, each block (in, width), the last zero-padded;
// each value stored as lane(value) (the padding as lane(0)).
template <class T, class Lane>
void pack_blocks(const float* M, int out, int in, int width, T* dst, Lane lane) {
  for (int b = 0; b < (out + width - 1) / width; ++b)
    for (int k = 0; k < in; ++k)
      for (int l = 0; l < width; ++l) {
        const int o = b * width + l;
        dst[((size_t)b * in + k) * width + l] = lane(o < out ? M[(size_t)o * in + k] : 0.0f);
      }
}
const auto f32_lane = [](float v) { return v; };
}  // namespace

void pack_expand_blocks(const float* B, int out, int rank, float* Bb) { pack_blocks(B, out, rank, kExpandBlock, Bb, f32_lane); }

void pack_panels(const float* W, int out, int in, float* Wp) { pack_blocks(W, out, in, kPanel, Wp, f32_lane); }

void pack_shrink_panels(const float* A, int rank, int in, float* Ap) { pack_blocks(A, rank, in, kShrinkPanel, Ap, f32_lane); }

void pack_shrink_panels_half(const float* A, int rank, int in, Lanes lanes, uint16_t* Ap) {
  pack_blocks(A, rank, in, kShrinkPanel, Ap, [lanes](float v) { return half_bits(v, lanes); });
}

void pack_expand_blocks_half(const float* B, int out, int rank, Lanes lanes, uint16_t* Bb) {
  pack_blocks(B, out, rank, kExpandBlock, Bb, [lanes](float v) { return half_bits(v, lanes); });
}

const CpuKernels& cpu_kernels(const char* isa) {
  static const CpuKernels generic{"generic",         dot_rows_generic, gemm_panels_generic, shrink_panels_generic, expand_generic, expand_blocks_generic, add_scaled_generic,
                                  fma_probe_generic, sum_generic,      attend_generic,      swiglu_generic,
                                  {nullptr, nullptr}, {nullptr, nullptr}};
#ifdef QUIVER_X86
  static const CpuKernels avx2{"avx2",   dot_rows_avx2, gemm_panels_avx2, shrink_panels_avx2, expand_avx2, expand_blocks_avx2, add_scaled_avx2,
                               fma_probe_avx2, sum_avx2,  attend_avx2,      swiglu_avx2,
                               {shrink_panels_bf16_avx2, shrink_panels_f16_avx2}, {expand_blocks_bf16_avx2, expand_blocks_f16_avx2}};
  static const bool has_avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  }();
  if (isa && std::strcmp(isa, "generic") == 0) return generic;
  return has_avx2 ? avx2 : generic;
#else
  (void)isa;
  return generic;
#endif
}

}  // namespace quiver
