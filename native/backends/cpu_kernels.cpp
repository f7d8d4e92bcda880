// AVX2+FMA and portable builds of the fast CPU kernels (see cpu_kernels.h). The AVX2 code
// carries a target attribute, so the file itself compiles for the baseline ISA.
#include "cpu_kernels.h"

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
#define AVX2 __attribute__((target("avx2,fma")))

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

const CpuKernels& cpu_kernels(const char* isa) {
  static const CpuKernels generic{"generic", dot_rows_generic, expand_generic, sum_generic, attend_generic, swiglu_generic};
#ifdef QUIVER_X86
  static const CpuKernels avx2{"avx2", dot_rows_avx2, expand_avx2, sum_avx2, attend_avx2, swiglu_avx2};
  static const bool has_avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  if (isa && std::strcmp(isa, "generic") == 0) return generic;
  return has_avx2 ? avx2 : generic;
#else
  (void)isa;
  return generic;
#endif
}

}  // namespace quiver
