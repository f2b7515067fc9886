// Element conversion between every pair of dtypes, shared by CPU and CUDA kernels. Conversions to
// f16/bf16 round once to nearest-even from the exact source value; anything to bool is
// "non-zero"; floats to integers truncate toward zero.
#pragma once

#include <math.h>

#include <cstdint>
#include <type_traits>

#include "core/half.hpp"

namespace strata {

// f32 values rounded "to odd": truncated toward zero, with the lowest bit set when anything was
// cut off. Rounding such a value again to a narrower float (f16, bf16: 13+ bits fewer) gives the
// correctly rounded result of the original, where rounding to nearest twice would not (a value
// just above a 16-bit tie can land exactly on the tie and then round to even, downwards).
STRATA_HOST_DEVICE inline float f32_round_to_odd(double value) {
  float f = static_cast<float>(value);
  if (value != value || static_cast<double>(f) == value || isinf(f)) return f;
  uint32_t bits = f32_bits(f);
  if (fabs(static_cast<double>(f)) > fabs(value)) --bits;  // step back toward zero
  return f32_from_bits(bits | 1u);
}

STRATA_HOST_DEVICE inline float f32_round_to_odd(int64_t value) {
  uint64_t magnitude = value < 0 ? uint64_t{0} - static_cast<uint64_t>(value)
                                 : static_cast<uint64_t>(value);
  if (magnitude < (uint64_t{1} << 24)) return static_cast<float>(value);  // exact
#if defined(__CUDA_ARCH__)
  int width = 64 - __clzll(static_cast<long long>(magnitude));
#else
  int width = 64 - __builtin_clzll(magnitude);
#endif
  int shift = width - 24;
  uint64_t kept = magnitude >> shift;
  if (magnitude & ((uint64_t{1} << shift) - 1)) kept |= 1;
  float f = ldexpf(static_cast<float>(kept), shift);  // kept < 2^24: exact
  return value < 0 ? -f : f;
}

template <class To, class From>
STRATA_HOST_DEVICE inline To convert(From value) {
  if constexpr (std::is_same_v<To, From>) {
    return value;
  } else if constexpr (std::is_same_v<From, Half> || std::is_same_v<From, BFloat16>) {
    return convert<To>(static_cast<float>(value));
  } else if constexpr (std::is_same_v<To, bool>) {
    return value != From(0);
  } else if constexpr (std::is_same_v<To, Half> || std::is_same_v<To, BFloat16>) {
    if constexpr (std::is_same_v<From, float> || std::is_same_v<From, bool>) {
      return To(static_cast<float>(value));
    } else if constexpr (std::is_same_v<From, double>) {
      return To(f32_round_to_odd(value));
    } else {
      return To(f32_round_to_odd(static_cast<int64_t>(value)));
    }
  } else {
    return static_cast<To>(value);
  }
}

}  // namespace strata
