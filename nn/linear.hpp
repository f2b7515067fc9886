// Linear: y = x W^T + b, for x [..., in_features] -> [..., out_features].
#pragma once

#include <cstdint>

#include "nn/module.hpp"

namespace strata::nn {

class Linear : public Module {
 public:
  // libtorch's initialisation: W and b uniform in +-1/sqrt(in_features).
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  void pretty_print(std::ostream& out) const override;

  int64_t in_features, out_features;
  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features]; undefined without bias
};

}  // namespace strata::nn
