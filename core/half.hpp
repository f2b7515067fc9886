// The 16-bit float types f16 (IEEE binary16) and bf16 (bfloat16). They are storage types: every
// operation converts to f32, computes, and rounds back to nearest-even. Conversions handle ±inf,
// NaN and subnormals exactly; they are constexpr-free plain bit manipulation so CPU and CUDA agree.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define STRATA_HOST_DEVICE __host__ __device__
#else
#define STRATA_HOST_DEVICE
#endif

namespace strata {

STRATA_HOST_DEVICE inline uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

STRATA_HOST_DEVICE inline float f32_from_bits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// f32 -> bf16 with round-to-nearest-even; NaN stays a (quiet) NaN.
STRATA_HOST_DEVICE inline uint16_t bf16_bits_from_f32(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  uint32_t rounding_bias = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding_bias) >> 16);
}

STRATA_HOST_DEVICE inline float f32_from_bf16_bits(uint16_t h) {
  return f32_from_bits(static_cast<uint32_t>(h) << 16);
}

// f32 -> f16 with round-to-nearest-even, overflow to ±inf, gradual underflow to subnormals.
STRATA_HOST_DEVICE inline uint16_t f16_bits_from_f32(float f) {
  uint32_t u = f32_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {                                               // below 2^-14: subnormal
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);           // below half the min: ±0
    uint32_t exponent = abs >> 23;
    uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - exponent;  // value = mantissa * 2^(exponent - 150) = m16 * 2^-24
    uint32_t half_mantissa = mantissa >> shift;
    uint32_t remainder = mantissa & ((1u << shift) - 1u);
    uint32_t halfway = 1u << (shift - 1u);
    if (remainder > halfway || (remainder == halfway && (half_mantissa & 1u))) ++half_mantissa;
    return static_cast<uint16_t>(sign | half_mantissa);
  }
  uint32_t rebiased = abs - 0x38000000u;  // exponent 127 -> 15
  uint32_t rounding_bias = 0xfffu + ((rebiased >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rebiased + rounding_bias) >> 13));
}

STRATA_HOST_DEVICE inline float f32_from_f16_bits(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) return f32_from_bits(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    if (mantissa == 0) return f32_from_bits(sign);
    // Subnormal: value = mantissa * 2^-24, exact in f32.
    float value = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return sign ? -value : value;
  }
  return f32_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// Storage-only wrappers; arithmetic goes through float.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  STRATA_HOST_DEVICE Half(float f) : bits(f16_bits_from_f32(f)) {}
  STRATA_HOST_DEVICE operator float() const { return f32_from_f16_bits(bits); }
};

struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  STRATA_HOST_DEVICE BFloat16(float f) : bits(bf16_bits_from_f32(f)) {}
  STRATA_HOST_DEVICE operator float() const { return f32_from_bf16_bits(bits); }
};

}  // namespace strata
