// Element conversion between every pair of dtypes, shared by CPU and CUDA kernels. 16-bit floats go
// through f32; anything to bool is "non-zero"; floats to integers truncate toward zero.
#pragma once

#include <type_traits>

#include "core/half.hpp"

namespace strata {

template <class To, class From>
STRATA_HOST_DEVICE inline To convert(From value) {
  if constexpr (std::is_same_v<To, From>) {
    return value;
  } else if constexpr (std::is_same_v<From, Half> || std::is_same_v<From, BFloat16>) {
    return convert<To>(static_cast<float>(value));
  } else if constexpr (std::is_same_v<To, bool>) {
    return value != From(0);
  } else if constexpr (std::is_same_v<To, Half> || std::is_same_v<To, BFloat16>) {
    return To(static_cast<float>(value));
  } else {
    return static_cast<To>(value);
  }
}

}  // namespace strata
