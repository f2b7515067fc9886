// The optimizer and the LR schedule of a config (from_config.hpp).
#include "zero/from_config.hpp"

#include "core/error.hpp"
#include "optim/adagrad.hpp"
#include "optim/adam.hpp"
#include "optim/lamb.hpp"
#include "optim/sgd.hpp"

namespace strata::zero {
namespace {

optim::WarmupType warmup_type(const std::optional<std::string>& name) {
  return name.value_or("log") == "linear" ? optim::WarmupType::linear : optim::WarmupType::log;
}

}  // namespace

std::shared_ptr<optim::Optimizer> make_optimizer(const io::Config& config,
                                                 std::vector<Tensor> parameters) {
  const std::string& type = config.optimizer.type;
  const io::OptimizerParams& p = config.optimizer.params;
  if (type == "Adam" || type == "AdamW") {
    const optim::AdamOptions options{.lr = *p.lr,
                                     .betas = *p.betas,
                                     .eps = *p.eps,
                                     .weight_decay = *p.weight_decay,
                                     .amsgrad = *p.amsgrad};
    if (type == "Adam" && !*p.adam_w_mode)
      return std::make_shared<optim::Adam>(std::move(parameters), options);
    return std::make_shared<optim::AdamW>(std::move(parameters),
                                          optim::AdamWOptions{.lr = options.lr,
                                                              .betas = options.betas,
                                                              .eps = options.eps,
                                                              .weight_decay = options.weight_decay,
                                                              .amsgrad = options.amsgrad});
  }
  if (type == "Lamb")
    return std::make_shared<optim::Lamb>(std::move(parameters),
                                         optim::LambOptions{.lr = *p.lr,
                                                            .betas = *p.betas,
                                                            .eps = *p.eps,
                                                            .weight_decay = *p.weight_decay,
                                                            .bias_correction = *p.bias_correction,
                                                            .max_coeff = *p.max_coeff,
                                                            .min_coeff = *p.min_coeff});
  if (type == "SGD")
    return std::make_shared<optim::SGD>(std::move(parameters),
                                        optim::SGDOptions{.lr = *p.lr,
                                                          .momentum = *p.momentum,
                                                          .dampening = *p.dampening,
                                                          .weight_decay = *p.weight_decay,
                                                          .nesterov = *p.nesterov});
  if (type == "Adagrad")
    return std::make_shared<optim::Adagrad>(
        std::move(parameters),
        optim::AdagradOptions{.lr = *p.lr,
                              .lr_decay = *p.lr_decay,
                              .weight_decay = *p.weight_decay,
                              .initial_accumulator_value = *p.initial_accumulator_value,
                              .eps = *p.eps});
  fail("initialize: the config names no optimizer (optimizer.type is ",
       type.empty() ? "empty" : "'" + type + "'",
       "): set optimizer.type (Adam, AdamW, Lamb, SGD, Adagrad) or pass an optimizer");
}

std::shared_ptr<optim::LRScheduler> make_scheduler(const io::Config& config,
                                                   optim::Optimizer& optimizer) {
  const std::string& type = config.scheduler.type;
  const io::SchedulerParams& p = config.scheduler.params;
  if (type.empty()) return nullptr;
  const int64_t last = *p.last_batch_iteration;
  if (type == "WarmupLR")
    return std::make_shared<optim::WarmupLR>(
        optimizer, optim::WarmupLROptions{.warmup_min_lr = *p.warmup_min_lr,
                                          .warmup_max_lr = p.warmup_max_lr,
                                          .warmup_num_steps = *p.warmup_num_steps,
                                          .warmup_type = warmup_type(p.warmup_type),
                                          .last_batch_iteration = last});
  if (type == "WarmupDecayLR")
    return std::make_shared<optim::WarmupDecayLR>(
        optimizer, optim::WarmupDecayLROptions{.total_num_steps = *p.total_num_steps,
                                               .warmup_min_lr = *p.warmup_min_lr,
                                               .warmup_max_lr = *p.warmup_max_lr,
                                               .warmup_num_steps = *p.warmup_num_steps,
                                               .warmup_type = warmup_type(p.warmup_type),
                                               .last_batch_iteration = last});
  if (type == "WarmupCosineLR")
    return std::make_shared<optim::WarmupCosineLR>(
        optimizer, optim::WarmupCosineLROptions{.total_num_steps = *p.total_num_steps,
                                                .warmup_min_ratio = *p.warmup_min_ratio,
                                                .warmup_num_steps = *p.warmup_num_steps,
                                                .cos_min_ratio = *p.cos_min_ratio,
                                                .warmup_type = warmup_type(p.warmup_type),
                                                .last_batch_iteration = last});
  if (type == "OneCycle")
    return std::make_shared<optim::OneCycle>(
        optimizer, optim::OneCycleOptions{.cycle_min_lr = *p.cycle_min_lr,
                                          .cycle_max_lr = *p.cycle_max_lr,
                                          .decay_lr_rate = *p.decay_lr_rate,
                                          .cycle_first_step_size = *p.cycle_first_step_size,
                                          .cycle_second_step_size = p.cycle_second_step_size,
                                          .cycle_first_stair_count = *p.cycle_first_stair_count,
                                          .cycle_second_stair_count = p.cycle_second_stair_count,
                                          .decay_step_size = *p.decay_step_size,
                                          .cycle_momentum = *p.cycle_momentum,
                                          .cycle_min_mom = *p.cycle_min_mom,
                                          .cycle_max_mom = *p.cycle_max_mom,
                                          .decay_mom_rate = *p.decay_mom_rate,
                                          .last_batch_iteration = last});
  if (type == "LRRangeTest")
    return std::make_shared<optim::LRRangeTest>(
        optimizer, optim::LRRangeTestOptions{.lr_range_test_min_lr = *p.lr_range_test_min_lr,
                                             .lr_range_test_step_size = *p.lr_range_test_step_size,
                                             .lr_range_test_step_rate = *p.lr_range_test_step_rate,
                                             .lr_range_test_staircase = *p.lr_range_test_staircase,
                                             .last_batch_iteration = last});
  fail("initialize: unknown scheduler.type '", type,
       "' (WarmupLR, WarmupDecayLR, WarmupCosineLR, OneCycle, LRRangeTest)");
}

}  // namespace strata::zero
