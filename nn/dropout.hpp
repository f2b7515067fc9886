// Dropout: in training, zeroes each element with probability p and scales the rest by 1 / (1 - p),
// with the mask drawn from the default Generator's Philox stream (so a seed, and activation
// checkpointing's saved RNG state, reproduce it). The identity in evaluation.
#pragma once

#include "nn/module.hpp"

namespace strata::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& out) const override;

  double p;
};

}  // namespace strata::nn
