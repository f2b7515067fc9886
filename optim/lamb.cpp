// LAMB: options, state and the step's coefficients; the update is optim/cpu/lamb_kernels.cpp.
#include "optim/lamb.hpp"

#include <cmath>

#include "core/dispatch.hpp"

namespace strata::optim {
namespace {

GroupOptions group_options(const LambOptions& o) {
  GroupOptions group;
  group.lr = o.lr;
  group.betas = o.betas;
  group.eps = o.eps;
  group.weight_decay = o.weight_decay;
  group.bias_correction = o.bias_correction;
  group.max_coeff = o.max_coeff;
  group.min_coeff = o.min_coeff;
  return group;
}

}  // namespace

Lamb::Lamb(std::vector<Tensor> params, LambOptions options) : Optimizer(group_options(options)) {
  add_param_group(std::move(params));
}

std::vector<StateSpec> Lamb::state_specs(const GroupOptions&) const {
  return {{"exp_avg", 0.0}, {"exp_avg_sq", 0.0}};
}

void Lamb::check_options(const GroupOptions& options) const {
  require_non_negative("lr", options.lr);
  require_non_negative("eps", options.eps);
  require_non_negative("weight_decay", options.weight_decay);
  require_unit_interval("betas[0]", options.betas[0]);
  require_unit_interval("betas[1]", options.betas[1]);
  STRATA_CHECK(options.min_coeff >= 0 && options.min_coeff <= options.max_coeff,
               "LAMB: need 0 <= min_coeff <= max_coeff, got min_coeff ", options.min_coeff,
               " and max_coeff ", options.max_coeff);
}

void Lamb::update(const GroupOptions& options, const UpdateRange& range) const {
  static const KernelTable<void(const UpdateRange&, const LambStep&)> kernels{
      "LAMB::step", STRATA_CPU_KERNEL(lamb_kernel), STRATA_CUDA_KERNEL(lamb_kernel)};
  const double t = static_cast<double>(range.step);
  LambStep step;
  step.step_size = options.bias_correction
                       ? options.lr * std::sqrt(1 - std::pow(options.betas[1], t)) /
                             (1 - std::pow(options.betas[0], t))
                       : options.lr;
  step.beta1 = options.betas[0];
  step.beta2 = options.betas[1];
  step.eps = options.eps;
  step.weight_decay = options.weight_decay;
  step.max_coeff = options.max_coeff;
  step.min_coeff = options.min_coeff;
  kernels(range.param.device())(range, step);
}

}  // namespace strata::optim
