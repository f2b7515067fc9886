// Adam (Kingma & Ba) and AdamW (decoupled weight decay, Loshchilov & Hutter), with amsgrad, as
// torch.optim.Adam and torch.optim.AdamW.
#pragma once

#include <array>

#include "optim/optimizer.hpp"

namespace strata::optim {

// The options of Adam and AdamW, which differ only in weight_decay's default (0 and 1e-2, as in
// PyTorch).
template <double kDefaultWeightDecay>
struct AdamFamilyOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = kDefaultWeightDecay;
  bool amsgrad = false;
};
using AdamOptions = AdamFamilyOptions<0.0>;
using AdamWOptions = AdamFamilyOptions<1e-2>;

// Adam adds weight_decay * p to the gradient; AdamW multiplies p by 1 - lr * weight_decay.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options);
  const char* name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  bool has_betas() const override { return true; }

 protected:
  Adam(std::vector<Tensor> params, const GroupOptions& options, bool decoupled);
  std::vector<StateSpec> state_specs(const GroupOptions& options) const override;
  void check_options(const GroupOptions& options) const override;
  void update(const GroupOptions& options, const UpdateRange& range) const override;

 private:
  bool decoupled_;
};

class AdamW final : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options);
};

}  // namespace strata::optim
