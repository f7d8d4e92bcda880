// Inner kernels of the fast CPU path, in two builds chosen at run time: AVX2+FMA (when the
// CPU reports both) and a portable one the compiler vectorises for the baseline x86-64
// (or any other) target. Nothing here is compiled with -march=native.
//
// Each output element is computed by the same sequence of operations whatever the tile it
// falls in and whatever rows share the call, so a sample's result does not depend on its
// batch mates.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lanes.h"

namespace quiver {

// Base weights in the fast path are packed: W (out, in) as panels of kPanel outputs, each
// panel (in, kPanel) with the outputs of one k side by side, the last panel zero-padded.
constexpr int kPanel = 16;
constexpr int kFmaProbeFlops = 2 * 12 * 8;
inline int panel_count(int out) { return (out + kPanel - 1) / kPanel; }
// Wp gets panel_count(out) * kPanel * in floats.
void pack_panels(const float* W, int out, int in, float* Wp);

// LoRA B matrices in the fast path are blocked for the expand: B (out, rank) as blocks of
// kExpandBlock outputs, each block (rank, kExpandBlock) with the outputs of one k side by
// side, the last block zero-padded. The expand reads a block front to back.
constexpr int kExpandBlock = 64;
inline int expand_block_count(int out) { return (out + kExpandBlock - 1) / kExpandBlock; }
// Bb gets expand_block_count(out) * kExpandBlock * rank floats.
void pack_expand_blocks(const float* B, int out, int rank, float* Bb);

// LoRA A matrices in the fast path are packed for the shrink: A (rank, in) as panels of
// kShrinkPanel of its rank rows, each panel (in, kShrinkPanel) with the rows' values for one
// k side by side, the last panel zero-padded. An adapter's A is then read as one stream (two
// at rank 16) rather than as rank short rows, which the hardware prefetcher barely follows.
constexpr int kShrinkPanel = 8;
inline int shrink_panel_count(int rank) { return (rank + kShrinkPanel - 1) / kShrinkPanel; }
// Ap gets shrink_panel_count(rank) * kShrinkPanel * in floats.
void pack_shrink_panels(const float* A, int rank, int in, float* Ap);

// The packed LoRA factors may hold 16-bit lanes (lanes.h): the kernels widen each lane to the
// f32 it was, so the results are the same bits as with f32 lanes.
// pack_shrink_panels / pack_expand_blocks into 16-bit lanes (values exact in `lanes`).
void pack_shrink_panels_half(const float* A, int rank, int in, Lanes lanes, uint16_t* Ap);
void pack_expand_blocks_half(const float* B, int out, int rank, Lanes lanes, uint16_t* Bb);

struct CpuKernels {
  const char* isa;  // "avx2" or "generic"
  // y[r][o] = (accumulate ? y[r][o] : 0) + alpha[r] * dot(W[o, :], x[r, :]) for o in [o0, o1),
  // r < R; W (out, in); xr[r] -> (in); yr[r] -> the row's outputs; alpha NULL = 1.
  void (*dot_rows)(const float* W, int in, const float* const* xr, float* const* yr, const float* alpha, int R, int o0,
                   int o1, bool accumulate);
  // y[r][o] = (accumulate ? y[r][o] : 0) + sum_k x[r][k] * W[o][k] for the outputs of panels
  // [p0, p1) of packed Wp (see kPanel), r < R. Every output is one chain of multiply-adds in
  // k order, whichever rows and panels share the call.
  void (*gemm_panels)(const float* Wp, int in, int out, const float* const* xr, float* const* yr, int R, int p0, int p1,
                      bool accumulate);
  // v[r][j] = sum_k x[r][k] * A[j][k] for j < rank, r < R, A packed by pack_shrink_panels;
  // xr[r] -> (in), vr[r] -> (rank). Every output is one chain of multiply-adds in k order,
  // whichever rows share the call.
  void (*shrink_panels)(const float* Ap, int rank, int in, const float* const* xr, float* const* vr, int R);
  // y[r][o] += alpha[r] * sum_k v[r][k] * Bt[k][o] for o in [o0, o1), r < R; Bt (rank, out);
  // vr[r] -> (rank); yr[r] -> the row's outputs.
  void (*expand_rows)(const float* Bt, int rank, int out, const float* const* vr, float* const* yr, const float* alpha,
                      int R, int o0, int o1);
  // y[r][o] += alpha[r] * c[r][o] for o in [o0, o1), r < R, where c[r][o] = sum_k v[r][k] *
  // B[o][k] is one multiply-add chain over k in order (the bits of expand_rows); with alpha
  // NULL, y[r][o] = c[r][o] instead. B blocked by pack_expand_blocks; o0 a multiple of
  // kExpandBlock.
  void (*expand_blocks)(const float* Bb, int rank, const float* const* vr, float* const* yr, const float* alpha, int R,
                        int o0, int o1);
  // y[i] = fma(s, c[i], y[i]) for i < n (the last step of expand_blocks, apart from it).
  void (*add_scaled)(float* y, const float* c, float s, size_t n);
  // iters rounds of 96 independent multiply-adds (12 chains of 8 lanes), kFmaProbeFlops
  // floating-point operations a round: the compute probe of the benchmark; returns a sum so
  // that the work is not optimised away.
  float (*fma_probe)(long iters);
  // sum of n floats (the bandwidth probe reads memory through it)
  float (*sum)(const float* p, size_t n);
  // One head of causal attention for one query: out = softmax(scale * K q) V over n
  // positions; q, out (hd); K, V rows of hd floats `stride` apart; scores (n) is scratch.
  void (*attend)(const float* q, const float* K, const float* V, int n, int hd, int stride, float scale, float* out,
                 float* scores);
  // gate[i] = silu(gate[i]) * up[i] = gate[i] / (1 + e^-gate[i]) * up[i] for i < n
  void (*swiglu)(float* gate, const float* up, size_t n);
  // shrink_panels and expand_blocks on 16-bit lanes, [0] bf16 and [1] f16 (null in the
  // portable build, which keeps f32 lanes).
  void (*shrink_panels_half[2])(const uint16_t* Ap, int rank, int in, const float* const* xr, float* const* vr, int R);
  void (*expand_blocks_half[2])(const uint16_t* Bb, int rank, const float* const* vr, float* const* yr, const float* alpha,
                                int R, int o0, int o1);
};

// `isa`: "auto" (AVX2+FMA when supported), "avx2" (falls back when unsupported), "generic".
const CpuKernels& cpu_kernels(const char* isa);

}  // namespace quiver
