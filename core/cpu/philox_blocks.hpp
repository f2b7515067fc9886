// Philox 4x32-10 for CPU kernels compiled per ISA (core/cpu/isa.hpp): the words of many
// consecutive counter blocks at once, 16 blocks per AVX-512 step (8 per AVX2 step). The scalar
// philox4x32_10 of core/random.hpp is the definition; this is the same function, lane-parallel.
#pragma once

#include <cstdint>

#include "core/random.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace strata::cpu::STRATA_ISA {

namespace detail {

inline void philox_blocks_scalar(uint64_t seed, uint64_t first_block, int64_t count,
                                 uint32_t* out) {
  for (int64_t j = 0; j < count; ++j) {
    std::array<uint32_t, 4> words = philox4x32_10(seed, first_block + static_cast<uint64_t>(j));
    for (int k = 0; k < 4; ++k) out[4 * j + k] = words[k];
  }
}

// kGroups independent groups of blocks run interleaved, which hides the latency of each round's
// multiply -> xor chain.
inline constexpr int kGroups = 4;

#if defined(__AVX512F__)

// 16 blocks per vector: 32-bit lane 4L + m (L = 128-bit lane, m = word within it) runs block
// 4m + L, so that after a 4x4 transpose inside each 128-bit lane, vector m holds blocks
// 4m .. 4m + 3 in order.
using Vec = __m512i;
inline constexpr int kLanes = 16;
inline Vec lane_blocks() {
  return _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
}
inline Vec splat(uint32_t x) { return _mm512_set1_epi32(static_cast<int>(x)); }
inline Vec add32(Vec a, Vec b) { return _mm512_add_epi32(a, b); }
// The 32x32 -> 64 products of every lane: even lanes from one widening multiply, odd lanes from
// a second on the shifted input; each half is then blended back into place.
inline void mul_wide(Vec a, Vec m, Vec& hi, Vec& lo) {
  Vec even = _mm512_mul_epu32(a, m), odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
  hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
  lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}
inline Vec xor3(Vec a, Vec b, Vec c) { return _mm512_ternarylogic_epi32(a, b, c, 0x96); }
inline Vec unpacklo32(Vec a, Vec b) { return _mm512_unpacklo_epi32(a, b); }
inline Vec unpackhi32(Vec a, Vec b) { return _mm512_unpackhi_epi32(a, b); }
inline Vec unpacklo64(Vec a, Vec b) { return _mm512_unpacklo_epi64(a, b); }
inline Vec unpackhi64(Vec a, Vec b) { return _mm512_unpackhi_epi64(a, b); }
inline void store(uint32_t* out, Vec v) { _mm512_storeu_si512(out, v); }

#elif defined(__AVX2__)

// 8 blocks per vector: 32-bit lane 4L + m runs block 2m + L (see the AVX-512 version).
using Vec = __m256i;
inline constexpr int kLanes = 8;
inline Vec lane_blocks() { return _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7); }
inline Vec splat(uint32_t x) { return _mm256_set1_epi32(static_cast<int>(x)); }
inline Vec add32(Vec a, Vec b) { return _mm256_add_epi32(a, b); }
inline void mul_wide(Vec a, Vec m, Vec& hi, Vec& lo) {
  Vec even = _mm256_mul_epu32(a, m), odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}
inline Vec xor3(Vec a, Vec b, Vec c) { return _mm256_xor_si256(_mm256_xor_si256(a, b), c); }
inline Vec unpacklo32(Vec a, Vec b) { return _mm256_unpacklo_epi32(a, b); }
inline Vec unpackhi32(Vec a, Vec b) { return _mm256_unpackhi_epi32(a, b); }
inline Vec unpacklo64(Vec a, Vec b) { return _mm256_unpacklo_epi64(a, b); }
inline Vec unpackhi64(Vec a, Vec b) { return _mm256_unpackhi_epi64(a, b); }
inline void store(uint32_t* out, Vec v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), v); }

#endif

#if defined(__AVX2__)

inline constexpr int kStepBlocks = kGroups * kLanes;

// kStepBlocks blocks from first_block, whose low counter word does not carry within the step.
inline void philox_step(uint32_t k0, uint32_t k1, uint64_t first_block, uint32_t* out) {
  const Vec m0 = splat(0xD2511F53u), m1 = splat(0xCD9E8D57u);
  Vec c0[kGroups], c1[kGroups], c2[kGroups], c3[kGroups];
  for (int g = 0; g < kGroups; ++g) {
    c0[g] = add32(splat(static_cast<uint32_t>(first_block) + g * kLanes), lane_blocks());
    c1[g] = splat(static_cast<uint32_t>(first_block >> 32));
    c2[g] = splat(0);
    c3[g] = splat(0);
  }
  for (int round = 0; round < 10; ++round) {
    const Vec key0 = splat(k0), key1 = splat(k1);
    for (int g = 0; g < kGroups; ++g) {
      Vec hi0, lo0, hi1, lo1;
      mul_wide(c0[g], m0, hi0, lo0);
      mul_wide(c2[g], m1, hi1, lo1);
      c0[g] = xor3(hi1, c1[g], key0);
      c2[g] = xor3(hi0, c3[g], key1);
      c1[g] = lo1;
      c3[g] = lo0;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  for (int g = 0; g < kGroups; ++g) {
    Vec t0 = unpacklo32(c0[g], c1[g]), t1 = unpackhi32(c0[g], c1[g]);
    Vec t2 = unpacklo32(c2[g], c3[g]), t3 = unpackhi32(c2[g], c3[g]);
    uint32_t* group_out = out + 4 * kLanes * g;
    store(group_out, unpacklo64(t0, t2));
    store(group_out + kLanes, unpackhi64(t0, t2));
    store(group_out + 2 * kLanes, unpacklo64(t1, t3));
    store(group_out + 3 * kLanes, unpackhi64(t1, t3));
  }
}

#endif

}  // namespace detail

// Writes the 4 words of each counter block first_block .. first_block + count - 1 (counter_hi = 0)
// to out[0 .. 4 * count): out[4 * j + k] is word k of block first_block + j.
inline void philox_blocks(uint64_t seed, uint64_t first_block, int64_t count, uint32_t* out) {
  int64_t j = 0;
#if defined(__AVX2__)
  const auto k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (; j + detail::kStepBlocks <= count; j += detail::kStepBlocks) {
    uint64_t block = first_block + static_cast<uint64_t>(j);
    // The lanes add to the low counter word only: a step that would carry runs scalar.
    if (static_cast<uint32_t>(block) > UINT32_MAX - detail::kStepBlocks) {
      detail::philox_blocks_scalar(seed, block, detail::kStepBlocks, out + 4 * j);
    } else {
      detail::philox_step(k0, k1, block, out + 4 * j);
    }
  }
#endif
  detail::philox_blocks_scalar(seed, first_block + static_cast<uint64_t>(j), count - j,
                               out + 4 * j);
}

}  // namespace strata::cpu::STRATA_ISA
