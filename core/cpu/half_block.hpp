// Widens contiguous runs of f16/bf16 to f32 and narrows them back, in vector registers: F16C
// instructions for f16 (hardware round-to-nearest-even), integer shifts for bf16. Element-wise
// kernels call these on small blocks so 16-bit tensors compute in f32 at full vector width.
// Results are bit-identical to the scalar conversions in core/half.hpp (±inf, NaN, subnormals).
//
// Include only from files compiled per ISA (strata_add_isa_kernels).
#pragma once

#ifndef STRATA_ISA
#error "core/cpu/half_block.hpp is for kernel files compiled per ISA (strata_add_isa_kernels)"
#endif

#include <bit>
#include <cstdint>

#include "core/half.hpp"

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace strata::cpu::STRATA_ISA {

inline void widen(const Half* in, float* out, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(h));
  }
#elif defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) out[i] = f32_from_f16_bits(in[i].bits);
}

inline void narrow(const float* in, Half* out, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), h);
  }
#elif defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
#endif
  for (; i < n; ++i) out[i].bits = f16_bits_from_f32(in[i]);
}

inline void widen(const BFloat16* in, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = std::bit_cast<float>(uint32_t{in[i].bits} << 16);
}

// Round to nearest even; a NaN keeps its sign and top payload bits and becomes quiet.
inline void narrow(const float* in, BFloat16* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u = std::bit_cast<uint32_t>(in[i]);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t quiet_nan = (u >> 16) | 0x40u;
    out[i].bits = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
  }
}

}  // namespace strata::cpu::STRATA_ISA
