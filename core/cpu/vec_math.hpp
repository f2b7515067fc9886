// Branch-free f32 transcendentals for CPU kernels: exp, log, tanh, and the normal cdf (for gelu).
//
// libm's expf/logf/tanhf/erff are scalar calls that stop a loop from vectorising. These are plain
// scalar functions built from FMAs, integer bit operations and selects (no branches, no tables),
// so a loop that calls them under `omp simd` compiles to AVX2 / AVX-512 code. Each handles ±inf,
// NaN, subnormal inputs and subnormal results. Largest error against the exact result over f32
// inputs sampled densely (tests/core/elementwise_test.cpp checks it): exp 1.01 ulp, log 0.80 ulp,
// tanh 1.33 ulp; normal_cdf below 1e-7 absolute.
//
// Include only from files compiled per ISA (strata_add_isa_kernels): the functions live in
// namespace strata::cpu::<isa>::vm so the AVX-512 and AVX2 copies never merge at link time, and
// those files build with -fno-trapping-math, which lets GCC evaluate both sides of a select (with
// trapping math it keeps branches and the loop does not vectorise).
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

// The shared core of exp: x = n ln2 + r with |r| <= ln2/2 and e^r by Cephes' degree-7 polynomial.
// Returns e^r and sets n; the caller applies 2^n. x must be clamped to where n fits an exponent.
STRATA_VM_INLINE float exp_reduced(float x, int32_t& n_int) {
  constexpr float kShift = 0x1.8p23f;  // adding it rounds to an integer kept in the low bits
  float shifted = std::fma(x, 1.44269504088896341f, kShift);
  float n = shifted - kShift;
  n_int = to_bits(shifted) - to_bits(kShift);
  float r = std::fma(n, -0.693359375f, x);  // ln2 split in two, the first part exact in n*
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  return std::fma(p, r * r, r) + 1.0f;
}

// e^x, with 2^n applied as two factors so that n in [-150, 128] neither overflows nor flushes to
// zero too early.
STRATA_VM_INLINE float exp(float x) {
  // Outside [-104, 89] the result is 0 or inf anyway. Two plain selects become max and min.
  float clamped = x < -104.0f ? -104.0f : x;
  clamped = clamped > 89.0f ? 89.0f : clamped;
  int32_t n_int;
  float e_r = exp_reduced(clamped, n_int);
  int32_t half_n = n_int >> 1;
  // A NaN x stays NaN through the arithmetic: no select needed.
  return e_r * from_bits((half_n + 127) << 23) * from_bits((n_int - half_n + 127) << 23);
}

// e^x for x <= 88 (softmax-style arguments x - max <= 0): one clamp and one 2^n factor instead of
// exp's two of each. Results below 2^-126 (x < -87.33) flush to zero rather than going subnormal,
// which no softmax or log-sum-exp can see; NaN stays NaN.
STRATA_VM_INLINE float exp_bounded_above(float x) {
  constexpr float kLowest = -87.33654475f;  // ln(2^-126)
  int32_t n_int;
  float e_r = exp_reduced(x < kLowest ? kLowest : x, n_int);
  float result = e_r * from_bits((n_int + 127) << 23);
  return x < kLowest ? 0.0f : result;
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
  // Selects only (no && or nested ?:), so the loop stays free of branches and vectorises.
  float special = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : x;  // +inf, NaN pass
  special = x == 0.0f ? -kInf : special;
  bool regular = (x > 0.0f) & (x < kInf);
  return regular ? result : special;
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

// Phi(x), the standard normal cdf, for gelu: Phi(x) = 0.5 + 0.5 x G(x^2) with G(s) =
// erf(sqrt(s/2)) / sqrt(s), one degree-16 polynomial (Chebyshev fit, 2e-9) in s mapped to [-1, 1],
// for |x| < 5.5; beyond, Phi is 0 or 1 to f32 precision. About half the work of 0.5 (1 + erf(x/√2))
// with a two-range erf, for an absolute error below 1e-7 (gelu = x Phi(x) within 2 ulp for x > 0;
// for x < 0 the error is absolute, as with any erf-based gelu).
STRATA_VM_INLINE float normal_cdf(float x) {
  constexpr float kRange = 30.25f;  // 5.5^2
  constexpr float kCoefficients[] = {
      2.274522547e-04f,  -5.705727944e-04f, 4.025974396e-04f,  -7.164281420e-04f, 2.758486153e-03f,
      -5.313035961e-03f, 8.195831498e-03f,  -1.330468537e-02f, 2.091504222e-02f,  -3.012369052e-02f,
      4.062027229e-02f,  -5.207258698e-02f, 6.415311722e-02f,  -7.758756163e-02f, 9.547470251e-02f,
      -1.283446300e-01f, 2.571038657e-01f};
  float s = x * x;
  float t = std::fma(s, 2.0f / kRange, -1.0f);
  float g = kCoefficients[0];
#pragma GCC unroll 16
  for (int i = 1; i < 17; ++i) g = std::fma(g, t, kCoefficients[i]);
  float tail = x > 0.0f ? 1.0f : 0.0f;
  return s < kRange ? std::fma(0.5f * x, g, 0.5f) : tail;
}

}  // namespace strata::cpu::STRATA_ISA::vm
