// Activation layers: GELU (erf form, or GPT-2's tanh form), ReLU, SiLU, Tanh. Element-wise, any
// shape; each is core's op wrapped as a module so it can sit in a Sequential and be hooked.
#pragma once

#include "core/elementwise.hpp"
#include "nn/module.hpp"

namespace strata::nn {

class GELU : public Module {
 public:
  explicit GELU(GeluApproximation approximate = GeluApproximation::none);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& out) const override;

  GeluApproximation approximate;
};

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

class SiLU : public Module {
 public:
  SiLU() : Module("SiLU") {}
  Tensor forward(const Tensor& x) override;
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override;
};

}  // namespace strata::nn
