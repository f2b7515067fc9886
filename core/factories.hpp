// Functions that make new tensors: empty/zeros/ones/full, ranges, identity, random draws, and
// tensors from host data.
#pragma once

#include <vector>

#include "core/random.hpp"
#include "core/tensor.hpp"

namespace strata {

Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);

// [start, end) in steps of step, as numpy.arange.
Tensor arange(double start, double end, double step = 1.0, TensorOptions options = {});
inline Tensor arange(double end, TensorOptions options = {}) { return arange(0, end, 1, options); }
// `steps` evenly spaced values from start to end inclusive.
Tensor linspace(double start, double end, int64_t steps, TensorOptions options = {});
// n x m identity (m = n when negative).
Tensor eye(int64_t n, int64_t m = -1, TensorOptions options = {});

// Uniform in [0, 1), standard normal (Box-Muller), integers uniform in [low, high).
Tensor rand(const Shape& shape, TensorOptions options = {}, Generator& gen = default_generator());
Tensor randn(const Shape& shape, TensorOptions options = {}, Generator& gen = default_generator());
Tensor randint(int64_t low, int64_t high, const Shape& shape,
               TensorOptions options = {DType::i64, Device::cpu()},
               Generator& gen = default_generator());

// Copies host values into a new tensor of `shape` (and dtype of T) on `device`.
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
template <class T>
Tensor from_vector(const std::vector<T>& values) {
  return from_vector(values, {static_cast<int64_t>(values.size())});
}
// Copies numel(shape) elements of `dtype` from host memory at data.
Tensor from_blob(const void* data, const Shape& shape, DType dtype, Device device = Device::cpu());

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  STRATA_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
               "from_vector: ", values.size(), " values do not fill shape ", shape_str(shape),
               " (expected ", shape_numel(shape), ")");
  return from_blob(values.data(), shape, dtype_of<T>(), device);
}

}  // namespace strata
