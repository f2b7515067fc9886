// The parameters and gradients of the optimizer reference runs. Exact binary fractions computed
// without libm, so that the libtorch generator (tools/optim_reference) and the tests build the
// same bits. Plain C++: the generator includes it without Strata.
#pragma once

#include <cstdint>
#include <vector>

namespace strata::optim_reference {

// Three parameters; parameter 1 starts at zero (LAMB's ||p|| = 0 case).
inline const std::vector<std::vector<int64_t>> kShapes = {{3, 4}, {5}, {2, 3, 2}};
inline constexpr int kSteps = 5;

// Element i (row-major) of parameter k before the first step.
inline float initial_value(int k, int64_t i) {
  if (k == 1) return 0.0f;
  return static_cast<float>((i * 37 + k * 11) % 101 - 50) / 64.0f;
}

// Element i of the gradient of parameter k at step (1-based).
inline float grad_value(int k, int64_t i, int step) {
  return static_cast<float>((i * 53 + k * 17 + step * 29) % 97 - 48) / 32.0f;
}

}  // namespace strata::optim_reference
