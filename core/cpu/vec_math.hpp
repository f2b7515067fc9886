// Branch-free math for vectorised CPU loops: written as plain scalar code that `#pragma omp simd`
// loops turn into vector code (selects instead of branches, no library calls). Included by kernel
// files compiled once per ISA, so it lives in the ISA namespace: each ISA gets its own copy and the
// linker never merges an AVX-512 body into the AVX2 kernels.
#pragma once

#include <bit>
#include <cstdint>
#include <limits>

namespace strata::cpu::STRATA_ISA {

// e^x in f32 to about 1 ulp (Cephes' polynomial): x = n ln2 + r with |r| <= ln2 / 2, then
// e^x = 2^n e^r. Results below FLT_MIN flush to 0 (x < -87.34), above FLT_MAX give inf, NaN stays
// NaN.
inline float exp_f32(float x) {
  constexpr float kMin = -87.33654f;  // ln(FLT_MIN)
  constexpr float kMax = 88.72283f;   // ln(FLT_MAX)
  float clamped = x < kMin ? kMin : x;
  clamped = clamped > kMax ? kMax : clamped;
  // n = round(x / ln2): adding 1.5 * 2^23 pushes the fraction bits out of the mantissa.
  constexpr float kRound = 12582912.0f;
  float n = (clamped * 1.44269504088896341f + kRound) - kRound;
  // r = x - n ln2, with ln2 split in two so n * ln2_hi is exact.
  float r = __builtin_fmaf(n, -0.693359375f, clamped);
  r = __builtin_fmaf(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = __builtin_fmaf(p, r, 1.3981999507e-3f);
  p = __builtin_fmaf(p, r, 8.3334519073e-3f);
  p = __builtin_fmaf(p, r, 4.1665795894e-2f);
  p = __builtin_fmaf(p, r, 1.6666665459e-1f);
  p = __builtin_fmaf(p, r, 5.0000001201e-1f);
  p = __builtin_fmaf(p, r * r, r + 1.0f);
  // 2^n for n in [-126, 128] as two factors, each a normal float.
  int32_t exponent = static_cast<int32_t>(n);
  int32_t half = exponent >> 1;
  float scale_a = std::bit_cast<float>((half + 127) << 23);
  float scale_b = std::bit_cast<float>((exponent - half + 127) << 23);
  float result = p * scale_a * scale_b;
  result = x < kMin ? 0.0f : result;
  return x > kMax ? std::numeric_limits<float>::infinity() : result;
}

}  // namespace strata::cpu::STRATA_ISA
