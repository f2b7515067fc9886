// Seeded collective inputs and their serial references, shared by the process group tests.
//
// Inputs are multiples of 1/8 in [-8, 8] (integers in [-64, 64] for integer dtypes): exact in every
// dtype, and so are their sums over 4 ranks, so the references are exact whatever order a backend
// sums in, and results compare bit for bit.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/factories.hpp"
#include "parallel/process_group.hpp"

namespace strata::test {

using dist::ReduceOp;

// Element i of rank r's input number `seed`, as a double that every dtype holds exactly.
inline double input_value(uint64_t seed, int rank, int64_t i, DType dtype) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(rank) * 0xBF58476D1CE4E5B9ull +
               static_cast<uint64_t>(i);
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  int k = static_cast<int>(x % 129) - 64;  // [-64, 64]
  return is_floating(dtype) ? k / 8.0 : k;
}

inline std::vector<double> input_values(uint64_t seed, int rank, int64_t n, DType dtype) {
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = input_value(seed, rank, i, dtype);
  return values;
}

inline Tensor tensor_of(const std::vector<double>& values, DType dtype) {
  return from_vector<double>(values, {static_cast<int64_t>(values.size())}).to(dtype);
}

// The reduction over ranks of element i, as the group defines it: an exact sum or max, and avg
// as that sum divided in the accumulation type (f64 for f64, f32 for f32 and 16-bit floats,
// truncating for integers), then rounded to the dtype.
inline std::vector<double> reference(uint64_t seed, int ranks, int64_t n, DType dtype,
                                     ReduceOp op) {
  std::vector<double> out(n);
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0, max = -1e300;
    for (int r = 0; r < ranks; ++r) {
      double v = input_value(seed, r, i, dtype);
      sum += v;
      max = std::max(max, v);
    }
    if (op == ReduceOp::max)
      out[i] = max;
    else if (op == ReduceOp::sum)
      out[i] = sum;
    else if (dtype == DType::f64)
      out[i] = sum / ranks;
    else if (is_floating(dtype))
      out[i] = static_cast<float>(sum) / static_cast<float>(ranks);
    else
      out[i] = static_cast<double>(static_cast<int64_t>(sum) / ranks);
  }
  return tensor_of(out, dtype).to(DType::f64).to_vector<double>();  // rounded as the dtype
}

// The number of elements where got (on any device) differs from want (shown with the first one).
inline int64_t mismatches(const Tensor& got, const std::vector<double>& want) {
  std::vector<double> values = got.to(Device::cpu()).to(DType::f64).to_vector<double>();
  REQUIRE(values.size() == want.size());
  int64_t count = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] == want[i]) continue;
    if (count++ == 0) MESSAGE("element ", i, ": got ", values[i], ", want ", want[i]);
  }
  return count;
}

}  // namespace strata::test
