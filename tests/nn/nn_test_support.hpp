// Helpers shared by the nn tests: tensors from values, closeness against a reference, gradcheck
// with a readable failure.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "strata.hpp"

namespace strata::nn::support {

inline Tensor f64(std::vector<double> values, Shape shape) { return from_vector(values, shape); }

// Every element of actual within tol of expected (row-major).
inline void check_close(const Tensor& actual, const std::vector<double>& expected,
                        double tol = 1e-12) {
  std::vector<double> values = actual.to_vector<double>();
  REQUIRE(values.size() == expected.size());
  for (size_t i = 0; i < values.size(); ++i) {
    CHECK_MESSAGE(std::abs(values[i] - expected[i]) <= tol * (1 + std::abs(expected[i])),
                  "element ", i, ": ", values[i], " vs reference ", expected[i]);
  }
}

inline void check_gradients(const autograd::DifferentiableFn& fn,
                            const std::vector<Tensor>& inputs) {
  autograd::GradcheckResult result = autograd::gradcheck(fn, inputs);
  CHECK_MESSAGE(result.ok, result.message);
}

// Copies values into a parameter (or buffer) outside autograd.
inline void assign(const Tensor& target, const Tensor& values) {
  autograd::NoGradGuard no_grad;
  Tensor(target).copy_(values);
}

}  // namespace strata::nn::support
