// The interface between count_nonfinite (nonfinite.cpp) and its device kernels, and the bit test
// they share: a floating value is inf or NaN exactly when every bit of its exponent field is set.
// Testing the stored bits reads 16-bit floats as they are (an f16 inf is the overflow a loss
// scaler looks for) and needs no conversion.
#pragma once

#include <cstdint>

#include "core/cpu/isa.hpp"
#include "core/half.hpp"
#include "core/tensor.hpp"

namespace strata {

// The unsigned integer with T's bit pattern, and the mask of T's exponent field.
template <class T>
struct ExponentField;
template <>
struct ExponentField<float> {
  using bits_t = uint32_t;
  static constexpr bits_t mask = 0x7f800000u;
};
template <>
struct ExponentField<double> {
  using bits_t = uint64_t;
  static constexpr bits_t mask = 0x7ff0000000000000ull;
};
template <>
struct ExponentField<Half> {
  using bits_t = uint16_t;
  static constexpr bits_t mask = 0x7c00u;
};
template <>
struct ExponentField<BFloat16> {
  using bits_t = uint16_t;
  static constexpr bits_t mask = 0x7f80u;
};

}  // namespace strata

// Adds the number of inf and NaN elements of x (a floating tensor, any strides, not empty) to
// count (a 0-dim i64 tensor on x's device). The CUDA kernel adds on the device, asynchronously.
STRATA_DECLARE_CPU_KERNEL(void, count_nonfinite_kernel,
                          (const strata::Tensor& count, const strata::Tensor& x))

namespace strata::cuda {
void count_nonfinite_kernel(const Tensor& count, const Tensor& x);
}  // namespace strata::cuda
