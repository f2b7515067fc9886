// Adam and AdamW: options, state and the step's coefficients; the update is
// optim/cpu/adam_kernels.cpp.
#include "optim/adam.hpp"

#include <cmath>

#include "core/dispatch.hpp"

namespace strata::optim {
namespace {

template <class Options>
GroupOptions group_options(const Options& o) {
  GroupOptions group;
  group.lr = o.lr;
  group.betas = o.betas;
  group.eps = o.eps;
  group.weight_decay = o.weight_decay;
  group.amsgrad = o.amsgrad;
  return group;
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, const GroupOptions& options, bool decoupled)
    : Optimizer(options), decoupled_(decoupled) {
  add_param_group(std::move(params));
}

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam(std::move(params), group_options(options), false) {}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : Adam(std::move(params), group_options(options), true) {}

std::vector<StateSpec> Adam::state_specs(const GroupOptions& options) const {
  if (options.amsgrad) return {{"exp_avg", 0.0}, {"exp_avg_sq", 0.0}, {"max_exp_avg_sq", 0.0}};
  return {{"exp_avg", 0.0}, {"exp_avg_sq", 0.0}};
}

void Adam::check_options(const GroupOptions& options) const {
  require_non_negative("lr", options.lr);
  require_non_negative("eps", options.eps);
  require_non_negative("weight_decay", options.weight_decay);
  require_unit_interval("betas[0]", options.betas[0]);
  require_unit_interval("betas[1]", options.betas[1]);
}

void Adam::update(const GroupOptions& options, const UpdateRange& range) const {
  static const KernelTable<void(const UpdateRange&, const AdamStep&)> kernels{
      "Adam::step", STRATA_CPU_KERNEL(adam_kernel), STRATA_CUDA_KERNEL(adam_kernel)};
  const double t = static_cast<double>(range.step);
  AdamStep step;
  step.lr = options.lr;
  step.weight_decay = options.weight_decay;
  step.beta1 = options.betas[0];
  step.beta2 = options.betas[1];
  step.eps = options.eps;
  step.step_size = options.lr / (1 - std::pow(options.betas[0], t));
  step.bias_correction2_sqrt = std::sqrt(1 - std::pow(options.betas[1], t));
  step.amsgrad = options.amsgrad;
  step.decoupled = decoupled_;
  kernels(range.param.device())(range, step);
}

}  // namespace strata::optim
