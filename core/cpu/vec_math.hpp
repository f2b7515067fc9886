// Branch-free f32 transcendentals for CPU kernels: exp, log, tanh, erf.
//
// libm's expf/logf/tanhf/erff are scalar calls that stop a loop from vectorising. These are plain
// scalar functions built from FMAs, integer bit operations and selects (no branches, no tables),
// so a loop that calls them under `omp simd` compiles to AVX2 / AVX-512 code. Each handles ±inf,
// NaN, subnormal inputs and subnormal results. Largest error against the exact result over f32
// inputs sampled densely (tests/core/elementwise_test.cpp checks it): exp, log and erf 1.01 ulp,
// tanh 1.33 ulp.
//
// Include only from files compiled per ISA (strata_add_isa_kernels): the functions live in
// namespace strata::cpu::<isa>::vm so the AVX-512 and AVX2 copies never merge at link time.
#pragma once

#ifndef STRATA_ISA
#error "core/cpu/vec_math.hpp is for kernel files compiled per ISA (strata_add_isa_kernels)"
#endif

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#define STRATA_VM_INLINE [[gnu::always_inline]] inline

namespace strata::cpu::STRATA_ISA::vm {

STRATA_VM_INLINE float from_bits(int32_t bits) { return std::bit_cast<float>(bits); }
STRATA_VM_INLINE int32_t to_bits(float value) { return std::bit_cast<int32_t>(value); }

// e^x. x = n ln2 + r with |r| <= ln2/2, e^r by Cephes' degree-7 polynomial, then 2^n applied as
// two factors so that n in [-150, 128] neither overflows nor flushes to zero too early.
STRATA_VM_INLINE float exp(float x) {
  float clamped = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);  // outside: 0 or inf anyway
  constexpr float kShift = 0x1.8p23f;  // adding it rounds to an integer kept in the low bits
  float shifted = std::fma(clamped, 1.44269504088896341f, kShift);
  float n = shifted - kShift;
  int32_t n_int = to_bits(shifted) - to_bits(kShift);
  float r = std::fma(n, -0.693359375f, clamped);  // ln2 split in two, the first part exact in n*
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  float e_r = std::fma(p, r * r, r) + 1.0f;
  int32_t half_n = n_int >> 1;
  float result = e_r * from_bits((half_n + 127) << 23) * from_bits((n_int - half_n + 127) << 23);
  return x != x ? x : result;
}

// Natural log. x = m 2^k with m in [sqrt(1/2), sqrt(2)), log(m) by Cephes' polynomial in m - 1.
STRATA_VM_INLINE float log(float x) {
  bool subnormal = x < 0x1p-126f;
  float scaled = subnormal ? x * 0x1p23f : x;
  int32_t offset = to_bits(scaled) - 0x3f3504f3;  // sqrt(1/2): mantissas below it borrow from k
  float k = static_cast<float>((offset >> 23) - (subnormal ? 23 : 0));
  float f = from_bits((offset & 0x007fffff) + 0x3f3504f3) - 1.0f;
  float z = f * f;
  float p = 7.0376836292e-2f;
  p = std::fma(p, f, -1.1514610310e-1f);
  p = std::fma(p, f, 1.1676998740e-1f);
  p = std::fma(p, f, -1.2420140846e-1f);
  p = std::fma(p, f, 1.4249322787e-1f);
  p = std::fma(p, f, -1.6668057665e-1f);
  p = std::fma(p, f, 2.0000714765e-1f);
  p = std::fma(p, f, -2.4999993993e-1f);
  p = std::fma(p, f, 3.3333331174e-1f);
  float y = p * f * z;
  y = std::fma(k, -2.12194440e-4f, y);
  y = std::fma(z, -0.5f, y);
  float result = std::fma(k, 0.693359375f, f + y);
  constexpr float kInf = std::numeric_limits<float>::infinity();
  float special = x == 0.0f ? -kInf : (x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : x);
  return x > 0.0f && x < kInf ? result : special;
}

// tanh(x): Cephes' odd polynomial below |x| = 0.625, 1 - 2 / (e^{2|x|} + 1) above.
STRATA_VM_INLINE float tanh(float x) {
  float s = x * x;
  float p = -5.70498872745e-3f;
  p = std::fma(p, s, 2.06390887954e-2f);
  p = std::fma(p, s, -5.37397155531e-2f);
  p = std::fma(p, s, 1.33314422036e-1f);
  p = std::fma(p, s, -3.33332819422e-1f);
  float small = std::fma(p * s, x, x);
  float magnitude = std::fabs(x);
  float large = std::copysign(1.0f - 2.0f / (exp(2.0f * magnitude) + 1.0f), x);
  return magnitude < 0.625f ? small : large;
}

// erf(x): an odd polynomial below |x| = 0.9277, 1 - e^{q(|x|)} above, q a polynomial that tends to
// -x^2 (coefficients after N. Juffa's minimax fits for erff).
STRATA_VM_INLINE float erf(float x) {
  float t = std::fabs(x);
  float s = x * x;
  float p = -5.96761703e-4f;
  p = std::fma(p, s, 4.99119423e-3f);
  p = std::fma(p, s, -2.67681349e-2f);
  p = std::fma(p, s, 1.12819925e-1f);
  p = std::fma(p, s, -3.76125336e-1f);
  p = std::fma(p, s, 1.28379166e-1f);
  float small = std::fma(p, x, x);
  float q = std::fma(-1.72853470e-5f, t, 3.83197126e-4f);
  q = std::fma(q, s, std::fma(-3.88396438e-3f, t, 2.42546219e-2f));
  q = std::fma(q, t, -1.06777877e-1f);
  q = std::fma(q, t, -6.34846687e-1f);
  q = std::fma(q, t, -1.28717512e-1f);
  q = std::fma(q, t, -t);
  float large = std::copysign(1.0f - exp(q), x);
  return t > 0.927734375f ? large : small;
}

}  // namespace strata::cpu::STRATA_ISA::vm

// From branch nnops (its own exp, used by nn_kernels.cpp); both versions are kept unchanged
// until their owners settle on one.
namespace strata::cpu::STRATA_ISA {

// e^x in f32 to about 1 ulp (Cephes' polynomial): x = n ln2 + r with |r| <= ln2 / 2, then
// e^x = 2^n e^r. Out-of-range inputs need no select: x is clamped to [-110, 89], where 2^n, built
// as two normal factors, underflows to 0 or overflows to inf through the final products. NaN
// stays NaN. Always inlined: a call inside a simd loop would leave the loop scalar.
[[gnu::always_inline]] inline float exp_f32(float x) {
  // Both tests read x, so NaN passes through; chained clamps make GCC duplicate the code below
  // for each clamped path and emit a longer vector loop.
  float clamped = x > 89.0f ? 89.0f : (x < -110.0f ? -110.0f : x);
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
  // 2^n for n in [-159, 128] as two factors 2^(n/2), each a normal float.
  int32_t exponent = static_cast<int32_t>(n);
  int32_t half = exponent >> 1;
  float scale_a = std::bit_cast<float>((half + 127) << 23);
  float scale_b = std::bit_cast<float>((exponent - half + 127) << 23);
  return p * scale_a * scale_b;
}

}  // namespace strata::cpu::STRATA_ISA
