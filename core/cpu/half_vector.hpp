// Vectorised conversion of contiguous arrays between f32 and the 16-bit floats, for CPU kernels
// compiled per ISA (core/cpu/isa.hpp). Results are bit-identical to the scalar conversions of
// core/half.hpp, which is why neither hardware conversion is used as it is:
//   - f32 -> bf16 runs half.hpp's integer round-to-nearest-even in vector registers, because
//     VCVTNEPS2BF16 flushes f32 subnormals to zero;
//   - f16 -> f32 uses VCVTPH2PS but clears the quiet bit it sets on signalling NaNs, because
//     half.hpp keeps a NaN's payload as it is;
//   - f32 -> f16 uses VCVTPS2PH with round-to-nearest-even, which matches half.hpp exactly.
// convert_contiguous(in, out, n) is defined for every pair of element types; the pairs without a
// vector path run a plain loop the compiler vectorises as it can.
#pragma once

#include <cstdint>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "core/convert.hpp"

namespace strata::cpu::STRATA_ISA {

template <class Dst, class Src>
inline void convert_contiguous(const Src* in, Dst* out, int64_t n) {
  _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) out[i] = convert<Dst>(in[i]);
}

#if defined(__AVX512F__)

// 16 lanes of f32 bits -> 16 lanes of bf16 bits (in the low half of each 32-bit lane).
inline __m512i bf16_bits_from_f32_bits(__m512i u) {
  __m512i abs = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
  __mmask16 nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7f800000));
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i bias = _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff));
  __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);
  __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x0040));
  return _mm512_mask_blend_epi32(nan, rounded, quiet);
}

// 16 f16 values (zero-extended to 32-bit lanes in `h`, and packed in `packed`) -> f32.
inline __m512 f32_from_f16_lanes(__m512i h, __m256i packed) {
  __m512 f = _mm512_cvtph_ps(packed);
  __m512i abs = _mm512_and_si512(h, _mm512_set1_epi32(0x7fff));
  __mmask16 nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7c00));
  __mmask16 signalling =
      _mm512_mask_testn_epi32_mask(nan, h, _mm512_set1_epi32(0x0200));  // quiet bit clear
  return _mm512_castsi512_ps(_mm512_mask_xor_epi32(
      _mm512_castps_si512(f), signalling, _mm512_castps_si512(f), _mm512_set1_epi32(0x00400000)));
}

// Each loop runs whole vectors, then one masked vector for the tail.
template <>
inline void convert_contiguous(const float* in, BFloat16* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    __m512i u = _mm512_maskz_loadu_epi32(m, in + i);
    _mm256_mask_storeu_epi16(out + i, m, _mm512_cvtepi32_epi16(bf16_bits_from_f32_bits(u)));
  }
}

template <>
inline void convert_contiguous(const BFloat16* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, in + i));
    _mm512_mask_storeu_epi32(out + i, m, _mm512_slli_epi32(h, 16));
  }
}

template <>
inline void convert_contiguous(const float* in, Half* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    __m512 f = _mm512_maskz_loadu_ps(m, in + i);
    _mm256_mask_storeu_epi16(out + i, m,
                             _mm512_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
}

template <>
inline void convert_contiguous(const Half* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    __m256i packed = _mm256_maskz_loadu_epi16(m, in + i);
    _mm512_mask_storeu_ps(out + i, m, f32_from_f16_lanes(_mm512_cvtepu16_epi32(packed), packed));
  }
}

#elif defined(__AVX2__)

// 8 lanes of f32 bits -> 8 lanes of bf16 bits (in the low half of each 32-bit lane).
inline __m256i bf16_bits_from_f32_bits(__m256i u) {
  __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
  __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));  // abs is non-negative
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  __m256i bias = _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff));
  __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, bias), 16);
  __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x0040));
  return _mm256_blendv_epi8(rounded, quiet, nan);
}

// Packs the low 16 bits of 8 lanes (each below 2^16) into 8 consecutive uint16.
inline __m128i pack_low16(__m256i v) {
  __m256i packed = _mm256_packus_epi32(v, v);  // per 128-bit half: a0..a3 a0..a3
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(packed, 0b1000));
}

// f32 -> f16 on 8 lanes.
inline __m128i f16_bits_from_f32_lanes(__m256 f) {
  return _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

// f16 -> f32 on 8 lanes, keeping signalling NaNs signalling as half.hpp does.
inline __m256 f32_from_f16_lanes(__m128i packed) {
  __m256 f = _mm256_cvtph_ps(packed);
  __m256i h = _mm256_cvtepu16_epi32(packed);
  __m256i abs = _mm256_and_si256(h, _mm256_set1_epi32(0x7fff));
  __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7c00));
  __m256i quiet =
      _mm256_cmpeq_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x0200)), _mm256_set1_epi32(0x0200));
  __m256i signalling = _mm256_andnot_si256(quiet, nan);
  __m256i flip = _mm256_and_si256(signalling, _mm256_set1_epi32(0x00400000));
  return _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(f), flip));
}

// Each loop runs whole vectors; the scalar tail uses half.hpp directly.
template <>
inline void convert_contiguous(const float* in, BFloat16* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), pack_low16(bf16_bits_from_f32_bits(u)));
  }
  for (; i < n; ++i) out[i] = BFloat16(in[i]);
}

template <>
inline void convert_contiguous(const BFloat16* in, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  for (; i < n; ++i) out[i] = static_cast<float>(in[i]);
}

template <>
inline void convert_contiguous(const float* in, Half* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     f16_bits_from_f32_lanes(_mm256_loadu_ps(in + i)));
  }
  for (; i < n; ++i) out[i] = Half(in[i]);
}

template <>
inline void convert_contiguous(const Half* in, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i, f32_from_f16_lanes(h));
  }
  for (; i < n; ++i) out[i] = static_cast<float>(in[i]);
}

#endif

}  // namespace strata::cpu::STRATA_ISA
