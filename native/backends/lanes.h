// 16-bit lanes for LoRA factors: an adapter whose every value is exactly a bf16 (or f16)
// value, as in one saved in that type, can be held at half the memory and read at half the
// bytes; each lane widens to the f32 it was, so results keep their bits. Used by the fast
// CPU path (cpu_kernels.*, packed panels) and the device backend (device_backend.h, plain
// layout); the widening runs on the host and in CUDA kernels alike. Host helpers: lanes.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

// QV_HD: compiled for the host and, under nvcc, for the device (device_ops.h uses it too).
#ifndef QV_HD
#ifdef __CUDACC__
#define QV_HD __host__ __device__
#else
#define QV_HD
#endif
#endif

namespace quiver {

enum class Lanes : int { kF32 = 0, kBF16 = 1, kF16 = 2 };

// Which 16-bit lanes hold all n values exactly: bit 0 bf16, bit 1 f16.
int exact_half_lanes(const float* v, size_t n);
// The lanes for a mask of exact_half_lanes: bf16, else f16, else f32.
inline Lanes lanes_for(int mask) { return mask & 1 ? Lanes::kBF16 : mask & 2 ? Lanes::kF16 : Lanes::kF32; }
// The lanes a LoRA module is held in: 16-bit ones that hold every value of A (na values) and
// B (nb) exactly (bf16 first), else f32.
Lanes module_lanes(const float* A, size_t na, const float* B, size_t nb);
// The 16-bit lane of f (a value exact in `lanes`).
uint16_t half_bits(float f, Lanes lanes);

QV_HD inline float float_from_bits(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// The f32 value of a 16-bit lane (exact).
QV_HD inline float widen_lane(uint16_t h, Lanes lanes) {
  if (lanes == Lanes::kBF16) return float_from_bits((uint32_t)h << 16);
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ffu;
  if (e == 0) {  // zero or subnormal: m * 2^-24
    const float v = (float)m * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (e == 31) return float_from_bits(sign | 0x7f800000u | (m << 13));
  return float_from_bits(sign | ((e + 112) << 23) | (m << 13));
}

// Element i of a factor stored in `lanes` (f32 or 16-bit).
QV_HD inline float lane_at(const void* p, int64_t i, Lanes lanes) {
  return lanes == Lanes::kF32 ? static_cast<const float*>(p)[i] : widen_lane(static_cast<const uint16_t*>(p)[i], lanes);
}

}  // namespace quiver
