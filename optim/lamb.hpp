// LAMB (You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes"), as
// DeepSpeed's FusedLamb: Adam's moments, then a per-parameter trust ratio ||p|| / ||update||,
// clamped to [min_coeff, max_coeff], scales each parameter's step. On a flat group the ratio is
// still computed per parameter (each is a segment of the flat range).
#pragma once

#include <array>

#include "optim/optimizer.hpp"

namespace strata::optim {

// FusedLamb's defaults.
struct LambOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool bias_correction = true;
  double max_coeff = 10.0;
  double min_coeff = 0.01;
};

class Lamb final : public Optimizer {
 public:
  Lamb(std::vector<Tensor> params, LambOptions options);
  const char* name() const override { return "LAMB"; }
  bool has_betas() const override { return true; }

 protected:
  std::vector<StateSpec> state_specs(const GroupOptions& options) const override;
  void check_options(const GroupOptions& options) const override;
  void update(const GroupOptions& options, const UpdateRange& range) const override;
};

}  // namespace strata::optim
