// Flatten: merges dims start_dim..end_dim into one, e.g. [N, C, H, W] -> [N, C*H*W] (the default
// keeps the batch dim). A view when the strides allow it.
#pragma once

#include <cstdint>

#include "nn/module.hpp"

namespace strata::nn {

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& out) const override;

  int64_t start_dim, end_dim;
};

}  // namespace strata::nn
