// SGD: options, state and the step's coefficients; the update is optim/cpu/sgd_kernels.cpp.
#include "optim/sgd.hpp"

#include "core/dispatch.hpp"

namespace strata::optim {
namespace {

GroupOptions group_options(const SGDOptions& o) {
  GroupOptions group;
  group.lr = o.lr;
  group.momentum = o.momentum;
  group.dampening = o.dampening;
  group.weight_decay = o.weight_decay;
  group.nesterov = o.nesterov;
  return group;
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options) : Optimizer(group_options(options)) {
  add_param_group(std::move(params));
}

std::vector<StateSpec> SGD::state_specs(const GroupOptions& options) const {
  if (options.momentum == 0) return {};
  return {{"momentum_buffer", 0.0}};
}

void SGD::check_options(const GroupOptions& options) const {
  STRATA_CHECK(options.lr >= 0, "SGD: lr must be >= 0, got ", options.lr,
               " (SGD has no default learning rate: set SGDOptions::lr)");
  require_non_negative("momentum", options.momentum);
  require_non_negative("weight_decay", options.weight_decay);
  STRATA_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
               "SGD: nesterov needs momentum > 0 and dampening 0, got momentum ", options.momentum,
               " and dampening ", options.dampening);
}

void SGD::update(const GroupOptions& options, const UpdateRange& range) const {
  static const KernelTable<void(const UpdateRange&, const SgdStep&)> kernels{
      "SGD::step", STRATA_CPU_KERNEL(sgd_kernel), STRATA_CUDA_KERNEL(sgd_kernel)};
  SgdStep step{options.lr,        options.weight_decay, options.momentum,
               options.dampening, options.nesterov,     range.step == 1};
  kernels(range.param.device())(range, step);
}

}  // namespace strata::optim
