// The host side of lanes.h: which 16-bit lanes hold a module exactly, and packing into them.
#include "lanes.h"

namespace quiver {

namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// The f16 bits of f when f is an f16 value exactly (normal, subnormal or zero); false else.
bool f16_exact(float f, uint16_t* out) {
  const uint32_t u = bits_of(f), sign = (u >> 16) & 0x8000u, mant = u & 0x7fffffu;
  const int e = (int)((u >> 23) & 0xff) - 127;
  if ((u & 0x7fffffffu) == 0) return *out = (uint16_t)sign, true;
  if (e >= -14 && e <= 15) {  // normal
    if (mant & 0x1fffu) return false;
    return *out = (uint16_t)(sign | (uint32_t)(e + 15) << 10 | mant >> 13), true;
  }
  if (e >= -24 && e < -14) {  // subnormal: (1.mant) 2^e = m 2^-24, m < 1024
    const uint32_t full = 0x800000u | mant;
    const int shift = -e - 1;  // 2^(e - 23 + 24) = 2^(e + 1)
    if (full & ((1u << shift) - 1)) return false;
    return *out = (uint16_t)(sign | full >> shift), true;
  }
  return false;
}

}  // namespace

uint16_t half_bits(float f, Lanes lanes) {
  if (lanes == Lanes::kBF16) return (uint16_t)(bits_of(f) >> 16);
  uint16_t h = 0;
  f16_exact(f, &h);
  return h;
}

int exact_half_lanes(const float* v, size_t n) {
  bool bf16 = true, f16 = true;
  uint16_t h;
  for (size_t i = 0; i < n && (bf16 || f16); ++i) {
    bf16 = bf16 && (bits_of(v[i]) & 0xffffu) == 0;
    f16 = f16 && f16_exact(v[i], &h);
  }
  return (bf16 ? 1 : 0) | (f16 ? 2 : 0);
}

Lanes module_lanes(const float* A, size_t na, const float* B, size_t nb) {
  int mask = exact_half_lanes(A, na);
  if (mask) mask &= exact_half_lanes(B, nb);
  return lanes_for(mask);
}

}  // namespace quiver
