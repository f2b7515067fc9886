// Adagrad (Duchi et al.) with learning-rate decay and weight decay, as torch.optim.Adagrad.
#pragma once

#include "optim/optimizer.hpp"

namespace strata::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
};

class Adagrad final : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, AdagradOptions options);
  const char* name() const override { return "Adagrad"; }

 protected:
  std::vector<StateSpec> state_specs(const GroupOptions& options) const override;
  void check_options(const GroupOptions& options) const override;
  void update(const GroupOptions& options, const UpdateRange& range) const override;
};

}  // namespace strata::optim
