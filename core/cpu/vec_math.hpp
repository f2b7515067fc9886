// Branch-free f32 transcendentals for CPU kernels: exp, log, tanh, and the normal cdf (for gelu).
//
// libm's expf/logf/tanhf/erff are scalar calls that stop a loop from vectorising. These are plain
// scalar functions built from FMAs, integer bit operations and selects (no branches, no tables),
// so a loop that calls them under `omp simd` compiles to AVX2 / AVX-512 code. Each handles ±inf,
// NaN, subnormal inputs and subnormal results. Largest error against the exact result over f32
// inputs sampled densely (tests/core/elementwise_test.cpp checks it): exp 1.01 ulp, log 0.80 ulp,
// tanh 1.33 ulp; normal_cdf below 1e-7 absolute.
//
// normal_cdf16 and exp_bounded_above16 are the exceptions: AVX-512 functions on 16 lanes, for
// gelu's forward loop and softmax's exponentials, because their table lookups (a permutation across
// lanes) are something a scalar function cannot express.
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

#if defined(__AVX512F__)
#include <immintrin.h>
#endif
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

#if defined(__AVX512F__)

// Phi(x) on 16 lanes, from the upper tail Q(a) = 1 - Phi(a), a = |x|: Phi = Q(a) for x < 0 and
// 1 - Q(a) for x > 0. Q is a degree-5 polynomial on each of 16 intervals of [0, 5.5] (Chebyshev
// fits, 2.5e-9 absolute), its coefficients picked per lane by permutation; beyond 5.5, Q is 0.
// About half the work of normal_cdf's degree-16 polynomial (6 permutes and 5 FMAs instead of 17
// FMAs), and as accurate: below 8e-8 absolute, and since Q keeps its relative precision in the
// negative tail, gelu = x Phi(x) within 2.2 ulp for x > 0 and 2.5 ulp on (-1, 0).
inline __m512 normal_cdf16(__m512 x) {
  constexpr float kRange = 5.5f;
  constexpr int kIntervals = 16;
  // kTail[j][k]: coefficient of t^j on interval k, t in [0, 1) across the interval.
  alignas(64) static constexpr float kTail[6][kIntervals] = {
      {5.000000000e-01f, 3.655171394e-01f, 2.458838522e-01f, 1.512117982e-01f, 8.456572145e-02f,
       4.282995313e-02f, 1.958007924e-02f, 8.058615960e-03f, 2.979763318e-03f, 9.882196318e-04f,
       2.935552329e-04f, 7.802135951e-05f, 1.853670256e-05f, 3.933888365e-06f, 7.452655382e-07f,
       1.259712548e-07f},
      {-1.371363401e-01f, -1.292686462e-01f, -1.082719937e-01f, -8.057892323e-02f,
       -5.328550935e-02f, -3.130969778e-02f, -1.634671167e-02f, -7.583385799e-03f,
       -3.125910182e-03f, -1.144905342e-03f, -3.725988790e-04f, -1.077435518e-04f,
       -2.768328704e-05f, -6.320034572e-06f, -1.282021685e-06f, -2.310702456e-07f},
      {-7.798616366e-07f, 7.635421585e-03f, 1.279199589e-02f, 1.428162120e-02f, 1.259333920e-02f,
       9.250116535e-03f, 5.795483012e-03f, 3.136571730e-03f, 1.477461425e-03f, 6.086681387e-04f,
       2.200319577e-04f, 6.996087905e-05f, 1.959943074e-05f, 4.844201158e-06f, 1.057389568e-06f,
       2.040013811e-07f},
      {2.703928389e-03f, 2.253650920e-03f, 1.132560777e-03f, -9.767375741e-05f, -9.366106242e-04f,
       -1.208911650e-03f, -1.050654450e-03f, -7.166470168e-04f, -4.039312189e-04f,
       -1.927236590e-04f, -7.888786786e-05f, -2.793447675e-05f, -8.604659342e-06f,
       -2.314653557e-06f, -5.453098879e-07f, -1.127589542e-07f},
      {-5.486933787e-06f, -2.331812575e-04f, -3.342634591e-04f, -2.787016274e-04f,
       -1.340477611e-04f, 3.473273637e-06f, 7.769575313e-05f, 8.875382628e-05f, 6.632191798e-05f,
       3.836203541e-05f, 1.816396980e-05f, 7.227852166e-06f, 2.453127536e-06f, 7.167608373e-07f,
       1.814252073e-07f, 3.996093767e-08f},
      {-4.416880620e-05f, -2.055291770e-05f, 9.648465493e-06f, 2.760013558e-05f, 2.705765473e-05f,
       1.514761607e-05f, 2.724193791e-06f, -4.144852937e-06f, -5.485470865e-06f, -4.065554549e-06f,
       -2.243101335e-06f, -9.953993185e-07f, -3.674444429e-07f, -1.149032940e-07f,
       -3.077962063e-08f, -7.115603218e-09f},
  };
  const __m512 a = _mm512_min_ps(_mm512_abs_ps(x), _mm512_set1_ps(kRange));
  const __m512 u = _mm512_mul_ps(a, _mm512_set1_ps(kIntervals / kRange));
  const __m512i k = _mm512_min_epi32(_mm512_cvttps_epi32(u), _mm512_set1_epi32(kIntervals - 1));
  const __m512 t = _mm512_sub_ps(u, _mm512_cvtepi32_ps(k));
  __m512 q = _mm512_permutexvar_ps(k, _mm512_load_ps(kTail[5]));
  for (int j = 4; j >= 0; --j)
    q = _mm512_fmadd_ps(q, t, _mm512_permutexvar_ps(k, _mm512_load_ps(kTail[j])));
  q = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(kRange), _CMP_LT_OQ), q);
  // A NaN x gives some q; x Phi(x) is NaN all the same.
  const __mmask16 positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
  return _mm512_mask_sub_ps(q, positive, _mm512_set1_ps(1.0f), q);
}

// exp_bounded_above on 16 lanes, with its contract (x <= 88; results below 2^-126 flush to zero;
// NaN stays NaN): x = (m / 16) ln2 + r with |r| <= ln2 / 32, 2^((m mod 16) / 16) from a 16-entry
// table by permutation, e^r by a cubic (error r^4 / 24 < 1e-8), 2^floor(m / 16) by vscalefps.
// Within 1.7 ulp (the scalar form: 1.01), in 15 vector operations where the scalar form takes 19.
inline __m512 exp_bounded_above16(__m512 x) {
  constexpr float kLowest = -87.33654475f;  // ln(2^-126)
  alignas(64) static constexpr float kPow2[16] = {
      1.000000000e+00f, 1.044273782e+00f, 1.090507733e+00f, 1.138788635e+00f,
      1.189207115e+00f, 1.241857812e+00f, 1.296839555e+00f, 1.354255547e+00f,
      1.414213562e+00f, 1.476826146e+00f, 1.542210825e+00f, 1.610490332e+00f,
      1.681792831e+00f, 1.756252160e+00f, 1.834008086e+00f, 1.915206561e+00f};
  const __m512 shift = _mm512_set1_ps(0x1.8p23f);  // adding it rounds to an integer in the low bits
  // max returns its second operand when one is NaN, so a NaN x stays NaN.
  const __m512 clamped = _mm512_max_ps(_mm512_set1_ps(kLowest), x);
  const __m512 shifted = _mm512_fmadd_ps(clamped, _mm512_set1_ps(16 * 1.44269504088896341f), shift);
  const __m512 m = _mm512_sub_ps(shifted, shift);
  const __m512i m_int = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_castps_si512(shift));
  // ln2 / 16 split in two, the first part exact in m times it.
  __m512 r = _mm512_fmadd_ps(m, _mm512_set1_ps(-0.693359375f / 16), clamped);
  r = _mm512_fmadd_ps(m, _mm512_set1_ps(2.12194440e-4f / 16), r);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 6), r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  const __m512 fraction = _mm512_permutexvar_ps(m_int, _mm512_load_ps(kPow2));  // m mod 16
  const __m512 exponent = _mm512_cvtepi32_ps(_mm512_srai_epi32(m_int, 4));
  const __mmask16 in_range = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kLowest), _CMP_NLT_UQ);
  return _mm512_maskz_scalef_ps(in_range, _mm512_mul_ps(p, fraction), exponent);
}

#endif

}  // namespace strata::cpu::STRATA_ISA::vm
