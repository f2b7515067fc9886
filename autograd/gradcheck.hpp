// gradcheck: compares the gradients autograd computes for a function with central finite
// differences. For users' own ops as much as for Strata's.
//
// The function's output is projected on a fixed random direction v (so one backward checks the
// whole Jacobian against v), and each element of each input that requires grad is perturbed by
// ±eps. Use f64 inputs: in f32 finite differences are too coarse for tight tolerances.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace strata::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  uint64_t seed = 0;  // of the projection direction
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;  // |analytical - numerical| at the worst element
  std::string message;       // the worst element of each failing input, or "ok"
  explicit operator bool() const { return ok; }
};

using DifferentiableFn = std::function<Tensor(const std::vector<Tensor>& inputs)>;

GradcheckResult gradcheck(const DifferentiableFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace strata::autograd
