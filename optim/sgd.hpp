// Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay, as
// torch.optim.SGD.
#pragma once

#include <limits>

#include "optim/optimizer.hpp"

namespace strata::optim {

struct SGDOptions {
  double lr = std::numeric_limits<double>::quiet_NaN();  // required, as in PyTorch
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;  // needs momentum > 0 and dampening 0
};

class SGD final : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  const char* name() const override { return "SGD"; }

 protected:
  std::vector<StateSpec> state_specs(const GroupOptions& options) const override;
  void check_options(const GroupOptions& options) const override;
  void update(const GroupOptions& options, const UpdateRange& range) const override;
};

}  // namespace strata::optim
