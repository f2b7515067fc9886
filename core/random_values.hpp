// How Philox words become random values: uniform, normal (Box-Muller) and integer draws, and the
// dropout keep test. CPU and CUDA kernels call these same functions, and each is evaluated with
// IEEE operations that both devices round identically (+, -, *, fma, division, square root), so
// the two give bit-identical values. That is why log, sin and cos are written out here: the math
// libraries' versions differ between host and device in the last bit.
//
// Vocabulary: the Philox stream of a seed is a sequence of 32-bit words; a *slot* is a position in
// it (word k of counter block b is slot 4b + k). A draw of n elements from PhiloxState (seed,
// offset) gives element i the slots
//   - f32/f16/bf16 uniform and normal:  offset + i
//   - f64 uniform and normal, integers: offset + 2i and offset + 2i + 1 (64 bits)
// A normal value needs two uniforms: the element's slot (first slot for f64) picks a Box-Muller
// pair of slots, and whether it takes the cosine or the sine half. Every value is therefore a
// function of (seed, absolute slot) alone, so any split of a tensor sees the same numbers.
#pragma once

#include <math.h>

#include <cstdint>
#include <type_traits>

#include "core/half.hpp"
#include "core/random.hpp"

namespace strata {

// Stream slots each element of T consumes in uniform and normal draws.
template <class T>
inline constexpr int kRandomSlots = sizeof(T) == 8 ? 2 : 1;
// Integers take 64 random bits whatever their dtype.
inline constexpr int kRandintSlots = 2;

// The 64-bit value of slots s (low word) and s + 1 (high word).
template <class Words>
STRATA_HOST_DEVICE inline uint64_t word64(Words& word, uint64_t slot) {
  return static_cast<uint64_t>(word(slot)) | static_cast<uint64_t>(word(slot + 1)) << 32;
}

// The stream's words computed on demand a block at a time, for kernels that visit slots one by
// one: consecutive slots reuse the block.
struct PhiloxWords {
  uint64_t seed;
  uint64_t block = ~uint64_t{0};
  uint32_t words[4] = {};

  STRATA_HOST_DEVICE uint32_t operator()(uint64_t slot) {
    if (slot / 4 != block) {
      block = slot / 4;
      std::array<uint32_t, 4> w = philox4x32_10(seed, block);
      for (int k = 0; k < 4; ++k) words[k] = w[k];
    }
    return words[slot % 4];
  }
};

namespace random_detail {

STRATA_HOST_DEVICE inline float fused(float a, float b, float c) { return fmaf(a, b, c); }
STRATA_HOST_DEVICE inline double fused(double a, double b, double c) { return fma(a, b, c); }
STRATA_HOST_DEVICE inline float square_root(float x) { return sqrtf(x); }
STRATA_HOST_DEVICE inline double square_root(double x) { return sqrt(x); }
// x = m * 2^exponent with m in [1/2, 1) (exact).
STRATA_HOST_DEVICE inline float split_exponent(float x, int& exponent) {
  return frexpf(x, &exponent);
}
STRATA_HOST_DEVICE inline double split_exponent(double x, int& exponent) {
  return frexp(x, &exponent);
}

// c[0] + x * (c[1] + x * (... + x * c[N-1])), with explicit fma so no compiler contracts it
// differently.
template <class T, int N>
STRATA_HOST_DEVICE inline T polynomial(T x, const T (&c)[N]) {
  T acc = c[N - 1];
  for (int k = N - 2; k >= 0; --k) acc = fused(acc, x, c[k]);
  return acc;
}

// Random bits a uniform of type T carries: its significand width.
template <class T>
inline constexpr int kUniformBits = std::is_same_v<T, double>     ? 53
                                    : std::is_same_v<T, Half>     ? 11
                                    : std::is_same_v<T, BFloat16> ? 8
                                                                  : 24;

// log(k * 2^-bits) for an integer 1 <= k <= 2^bits, bits <= 24 for float and 53 for double (so
// the argument is exact), by log(m) = 2 atanh(s), s = (m - 1) / (m + 1), on m in
// [sqrt(1/2), sqrt(2)).
template <class T>
STRATA_HOST_DEVICE inline T log_of_fraction(uint64_t k, int bits) {
  int exponent;
  T m = split_exponent(static_cast<T>(k) / static_cast<T>(uint64_t{1} << bits), exponent);
  if (m < static_cast<T>(0.70710678118654752)) {
    m = m + m;
    --exponent;
  }
  T f = m - static_cast<T>(1);  // exact
  T s = f / (static_cast<T>(2) + f);
  T s2 = s * s;
  T series;  // (atanh(s) / s - 1) / s^2 = 1/3 + s^2/5 + s^4/7 + ...; |s| <= 0.172
  if constexpr (std::is_same_v<T, float>) {
    constexpr float c[] = {1.f / 3, 1.f / 5, 1.f / 7, 1.f / 9};
    series = polynomial(s2, c);
  } else {
    constexpr double c[] = {1. / 3,  1. / 5,  1. / 7,  1. / 9,  1. / 11,
                            1. / 13, 1. / 15, 1. / 17, 1. / 19, 1. / 21};
    series = polynomial(s2, c);
  }
  T two_s = s + s;
  T log_m = fused(two_s * s2, series, two_s);
  // exponent * log(2), with log(2) split so the high product is exact.
  constexpr T ln2_hi = static_cast<T>(0.693145751953125);
  constexpr T ln2_lo = static_cast<T>(1.4286068203094172321e-06);
  T e = static_cast<T>(exponent);
  return fused(e, ln2_hi, fused(e, ln2_lo, log_m));
}

// cos and sin of 2 pi k / 2^bits for an integer 0 <= k < 2^bits: k picks a quarter turn q and
// a remainder r in [-1/2, 1/2) quarter turns, both exact; the quarter-turn polynomials run on r.
template <class T>
STRATA_HOST_DEVICE inline void cos_sin_of_turn(uint64_t k, int bits, T& cos_out, T& sin_out) {
  uint64_t quarter = uint64_t{1} << (bits - 2);
  uint64_t q = (k + quarter / 2) / quarter;  // 0 .. 4
  T r = static_cast<T>(static_cast<int64_t>(k - q * quarter)) / static_cast<T>(quarter);
  T r2 = r * r;
  T s, c;  // sin and cos of r * pi / 2
  if constexpr (std::is_same_v<T, float>) {
    constexpr float sin_c[] = {1.5707963267948966f, -0.6459640975062463f, 0.07969262624616705f,
                               -0.004681754135318688f, 0.00016044118478735983f};
    constexpr float cos_c[] = {1.0f,
                               -1.2337005501361697f,
                               0.25366950790104803f,
                               -0.02086348076335296f,
                               0.0009192602748394266f,
                               -2.5202042373060607e-05f};
    s = r * polynomial(r2, sin_c);
    c = polynomial(r2, cos_c);
  } else {
    constexpr double sin_c[] = {
        1.5707963267948966,    -0.6459640975062463,    0.07969262624616705,
        -0.004681754135318688, 0.00016044118478735983, -3.598843235212085e-06,
        5.692172921967927e-08, -6.688035109811468e-10, 6.0669357311061955e-12};
    constexpr double cos_c[] = {1.0,
                                -1.2337005501361697,
                                0.25366950790104803,
                                -0.02086348076335296,
                                0.0009192602748394266,
                                -2.5202042373060607e-05,
                                4.710874778818172e-07,
                                -6.386603083791852e-09,
                                6.565963114979473e-11,
                                -5.294400200734623e-13};
    s = r * polynomial(r2, sin_c);
    c = polynomial(r2, cos_c);
  }
  switch (q & 3) {
    case 0: cos_out = c, sin_out = s; break;
    case 1: cos_out = -s, sin_out = c; break;
    case 2: cos_out = -c, sin_out = -s; break;
    default: cos_out = s, sin_out = -c; break;
  }
}

}  // namespace random_detail

// Uniform in [0, 1) for the element whose first slot is `slot`, with as many random bits as T's
// significand holds, so the value is exact in T (a 16-bit float never rounds up to 1).
template <class T, class Words>
STRATA_HOST_DEVICE inline T uniform_value(uint64_t slot, Words& word) {
  constexpr int bits = random_detail::kUniformBits<T>;
  if constexpr (std::is_same_v<T, double>) {
    return static_cast<double>(word64(word, slot) >> 11) * (1.0 / 9007199254740992.0);
  } else {
    float scale = 1.0f / static_cast<float>(1u << bits);
    return T(static_cast<float>(word(slot) >> (32 - bits)) * scale);
  }
}

// Standard normal for the element whose first slot is `slot`: Box-Muller on a pair of uniforms,
// radius sqrt(-2 log u1) with u1 in (0, 1], angle 2 pi u2; even elements of a pair take the
// cosine, odd ones the sine. Computed in f32 (f64 for f64) and rounded to T.
template <class T, class Words>
STRATA_HOST_DEVICE inline T normal_value(uint64_t slot, Words& word) {
  using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
  constexpr int bits = std::is_same_v<C, double> ? 53 : 24;
  constexpr int stride = kRandomSlots<T>;  // slots per uniform
  uint64_t first = slot & ~uint64_t(2 * stride - 1);
  bool sine = (slot & stride) != 0;
  uint64_t k_radius, k_angle;
  if constexpr (stride == 2) {
    k_radius = word64(word, first) >> 11;
    k_angle = word64(word, first + 2) >> 11;
  } else {
    k_radius = word(first) >> 8;
    k_angle = word(first + 1) >> 8;
  }
  C log_u = random_detail::log_of_fraction<C>(k_radius + 1, bits);
  C radius = random_detail::square_root(static_cast<C>(-2) * log_u);
  C cos_angle, sin_angle;
  random_detail::cos_sin_of_turn<C>(k_angle, bits, cos_angle, sin_angle);
  return T(radius * (sine ? sin_angle : cos_angle));
}

// Integer uniform in [low, low + range) from the 64 bits at slots (slot, slot + 1): the high
// word of bits * range (bias below range / 2^64).
template <class Words>
STRATA_HOST_DEVICE inline int64_t integer_value(uint64_t slot, Words& word, int64_t low,
                                                uint64_t range) {
  uint64_t bits = word64(word, slot);
#if defined(__CUDA_ARCH__)
  uint64_t pick = __umul64hi(bits, range);
#else
  uint64_t pick = static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * range) >> 64);
#endif
  return static_cast<int64_t>(static_cast<uint64_t>(low) + pick);
}

// Dropout keeps an element when the top 24 bits of its word reach the threshold, so it drops with
// probability threshold / 2^24 = p rounded up to a multiple of 2^-24 (p = 0 keeps all, p = 1
// drops all).
STRATA_HOST_DEVICE inline uint32_t dropout_threshold(double p) {
  return static_cast<uint32_t>(ceil(p * 16777216.0));
}
STRATA_HOST_DEVICE inline bool dropout_keep(uint32_t word, uint32_t threshold) {
  return (word >> 8) >= threshold;
}

}  // namespace strata
