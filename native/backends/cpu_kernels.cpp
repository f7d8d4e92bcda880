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

// ---------------------------------------------------------------- AVX2 + FMA build
#ifdef QUIVER_X86
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  __m128 sh = _mm_movehdup_ps(s);
  s = _mm_add_ps(s, sh);
  sh = _mm_movehl_ps(sh, s);
  return _mm_cvtss_f32(_mm_add_ss(s, sh));
}

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
  for (int i = 0; i < OB; ++i)
    for (int j = 0; j < RB; ++j) {
      float d = hsum8(a[i][j]);
      for (int kk = k; kk < in; ++kk) d += W[(size_t)(o + i) * in + kk] * xr[r + j][kk];
      float* y = yr[r + j] + o + i;
      *y = (accumulate ? *y : 0.0f) + (alpha ? alpha[r + j] : 1.0f) * d;
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

// Output rows of W in blocks of 4 (kept in L1 while every x row passes), x rows in blocks of 3.
template <template <int, int> class Pick>
void dot_rows_with(const float* W, int in, const float* const* xr, float* const* yr, const float* alpha, int R, int o0,
                   int o1, bool accumulate) {
  static const TileFn table[4][3] = {
      {Pick<1, 1>::fn, Pick<1, 2>::fn, Pick<1, 3>::fn}, {Pick<2, 1>::fn, Pick<2, 2>::fn, Pick<2, 3>::fn},
      {Pick<3, 1>::fn, Pick<3, 2>::fn, Pick<3, 3>::fn}, {Pick<4, 1>::fn, Pick<4, 2>::fn, Pick<4, 3>::fn}};
  for (int o = o0; o < o1; o += 4) {
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
  static const CpuKernels generic{"generic", dot_rows_generic, expand_generic, sum_generic};
#ifdef QUIVER_X86
  static const CpuKernels avx2{"avx2", dot_rows_avx2, expand_avx2, sum_avx2};
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
