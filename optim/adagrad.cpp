// Adagrad: options, state and the step's coefficients; the update is
// optim/cpu/adagrad_kernels.cpp.
#include "optim/adagrad.hpp"

#include "core/dispatch.hpp"

namespace strata::optim {
namespace {

GroupOptions group_options(const AdagradOptions& o) {
  GroupOptions group;
  group.lr = o.lr;
  group.lr_decay = o.lr_decay;
  group.weight_decay = o.weight_decay;
  group.initial_accumulator_value = o.initial_accumulator_value;
  group.eps = o.eps;
  return group;
}

}  // namespace

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions options)
    : Optimizer(group_options(options)) {
  add_param_group(std::move(params));
}

std::vector<StateSpec> Adagrad::state_specs(const GroupOptions& options) const {
  return {{"sum", options.initial_accumulator_value}};
}

void Adagrad::check_options(const GroupOptions& options) const {
  require_non_negative("lr", options.lr);
  require_non_negative("lr_decay", options.lr_decay);
  require_non_negative("weight_decay", options.weight_decay);
  require_non_negative("initial_accumulator_value", options.initial_accumulator_value);
  require_non_negative("eps", options.eps);
}

void Adagrad::update(const GroupOptions& options, const UpdateRange& range) const {
  static const KernelTable<void(const UpdateRange&, const AdagradStep&)> kernels{
      "Adagrad::step", STRATA_CPU_KERNEL(adagrad_kernel), STRATA_CUDA_KERNEL(adagrad_kernel)};
  AdagradStep step;
  step.clr = options.lr / (1 + static_cast<double>(range.step - 1) * options.lr_decay);
  step.weight_decay = options.weight_decay;
  step.eps = options.eps;
  kernels(range.param.device())(range, step);
}

}  // namespace strata::optim
