// The DeepSpeed learning-rate schedules (formulas in lr_schedules.hpp).
#include "optim/lr_schedules.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace strata::optim {

void LRScheduler::step(int64_t batch_iteration) {
  last_batch_iteration_ = batch_iteration;
  set_lrs(get_lr());
}

void LRScheduler::set_lrs(const std::vector<double>& lrs) {
  std::vector<ParamGroup>& groups = optimizer_.param_groups();
  for (size_t g = 0; g < groups.size() && g < lrs.size(); ++g) groups[g].options.lr = lrs[g];
  last_lr_.clear();
  for (const ParamGroup& group : groups) last_lr_.push_back(group.options.lr);
}

const std::vector<double>& LRScheduler::get_last_lr() const {
  STRATA_CHECK(!last_lr_.empty(), "get_last_lr: no lr set yet; call step() first");
  return last_lr_;
}

StateDict LRScheduler::state_dict() const {
  StateDict state;
  state.scalars["last_batch_iteration"] = static_cast<double>(last_batch_iteration_);
  return state;
}

void LRScheduler::load_state_dict(const StateDict& state) {
  auto it = state.scalars.find("last_batch_iteration");
  STRATA_CHECK(it != state.scalars.end() && state.scalars.size() == 1 && state.tensors.empty(),
               "LRScheduler::load_state_dict: expected the one scalar last_batch_iteration, got ",
               state.scalars.size(), " scalars and ", state.tensors.size(), " tensors");
  last_batch_iteration_ = static_cast<int64_t>(it->second);
}

// LRRangeTest

LRRangeTest::LRRangeTest(Optimizer& optimizer, LRRangeTestOptions options)
    : LRScheduler(optimizer, options.last_batch_iteration), options_(options) {
  STRATA_CHECK(options.lr_range_test_step_size > 0,
               "LRRangeTest: lr_range_test_step_size must be positive, got ",
               options.lr_range_test_step_size);
  if (last_batch_iteration_ == -1)
    set_lrs(std::vector<double>(optimizer.param_groups().size(), options.lr_range_test_min_lr));
}

std::vector<double> LRRangeTest::get_lr() const {
  double interval = static_cast<double>(last_batch_iteration_ + 1) /
                    static_cast<double>(options_.lr_range_test_step_size);
  if (options_.lr_range_test_staircase) interval = std::floor(interval);
  double increase = 1 + options_.lr_range_test_step_rate * interval;
  return std::vector<double>(optimizer_.param_groups().size(),
                             options_.lr_range_test_min_lr * increase);
}

// OneCycle

OneCycle::OneCycle(Optimizer& optimizer, OneCycleOptions options)
    : LRScheduler(optimizer, options.last_batch_iteration), options_(options) {
  first_step_size_ = static_cast<double>(options.cycle_first_step_size);
  second_step_size_ =
      static_cast<double>(options.cycle_second_step_size.value_or(options.cycle_first_step_size));
  total_size_ = first_step_size_ + second_step_size_;
  STRATA_CHECK(first_step_size_ > 0 && second_step_size_ > 0,
               "OneCycle: cycle_first_step_size and cycle_second_step_size must be positive, got ",
               first_step_size_, " and ", second_step_size_);
  step_ratio_ = first_step_size_ / total_size_;
  second_stair_count_ = options.cycle_second_stair_count.value_or(options.cycle_first_stair_count);
  skip_lr_decay_ = options.decay_step_size == 0 || options.decay_lr_rate == 0;
  skip_mom_decay_ = options.decay_step_size == 0 || options.decay_mom_rate == 0;
  cycle_momentum_ = options.cycle_momentum && optimizer.has_betas();
  if (last_batch_iteration_ == -1) {
    set_lrs(std::vector<double>(optimizer.param_groups().size(), options.cycle_min_lr));
    if (cycle_momentum_) set_momentum(options.cycle_min_mom);
  }
}

double OneCycle::scale_factor() const {
  const double batch_iteration = static_cast<double>(last_batch_iteration_ + 1);
  const double cycle = std::floor(1 + batch_iteration / total_size_);
  const double x = 1 + batch_iteration / total_size_ - cycle;
  double scale;
  int64_t stair_count;
  if (x <= step_ratio_) {
    scale = x / step_ratio_;
    stair_count = options_.cycle_first_stair_count;
  } else {
    scale = (x - 1) / (step_ratio_ - 1);
    stair_count = second_stair_count_;
  }
  if (stair_count > 0) {
    // Stairs count from the integer position in the cycle, so a boundary is never a rounding
    // error below its stair.
    const double in_cycle = std::fmod(batch_iteration, total_size_);
    const double position = in_cycle <= first_step_size_
                                ? in_cycle * stair_count / first_step_size_
                                : (total_size_ - in_cycle) * stair_count / second_step_size_;
    scale = std::floor(position) / static_cast<double>(stair_count);
  }
  return scale;
}

std::vector<double> OneCycle::get_lr() const {
  double lr;
  if (static_cast<double>(last_batch_iteration_) < total_size_) {
    lr = options_.cycle_min_lr + (options_.cycle_max_lr - options_.cycle_min_lr) * scale_factor();
  } else if (skip_lr_decay_) {
    lr = options_.cycle_min_lr;
  } else {
    double decay_interval = (static_cast<double>(last_batch_iteration_) - total_size_ + 1) /
                            static_cast<double>(options_.decay_step_size);
    lr = options_.cycle_min_lr / (1 + options_.decay_lr_rate * decay_interval);
  }
  return std::vector<double>(optimizer_.param_groups().size(), lr);
}

std::vector<double> OneCycle::get_mom() const {
  double momentum;
  if (static_cast<double>(last_batch_iteration_) < total_size_) {
    momentum =
        options_.cycle_max_mom - (options_.cycle_max_mom - options_.cycle_min_mom) * scale_factor();
  } else if (skip_mom_decay_) {
    momentum = options_.cycle_max_mom;
  } else {
    double decay_interval = (static_cast<double>(last_batch_iteration_) - total_size_ + 1) /
                            static_cast<double>(options_.decay_step_size);
    momentum = options_.cycle_max_mom * (1 + options_.decay_mom_rate * decay_interval);
  }
  return std::vector<double>(optimizer_.param_groups().size(), momentum);
}

void OneCycle::set_momentum(double momentum) {
  for (ParamGroup& group : optimizer_.param_groups()) group.options.betas = {momentum, 0.99};
}

void OneCycle::step(int64_t batch_iteration) {
  LRScheduler::step(batch_iteration);
  if (cycle_momentum_) set_momentum(get_mom().at(0));
}

// WarmupLR and WarmupDecayLR

namespace {

int64_t checked_warmup_steps(const char* schedule, int64_t warmup_num_steps) {
  STRATA_CHECK(warmup_num_steps > 0, schedule, ": warmup_num_steps must be positive, got ",
               warmup_num_steps);
  return std::max<int64_t>(2, warmup_num_steps);
}

// The warm-up fraction at `last` (< warmup_num_steps), from 0 towards 1.
double warmup_fraction(WarmupType type, int64_t last, int64_t warmup_num_steps) {
  if (type == WarmupType::log) {
    const double inverse_log_warm_up = 1.0 / std::log(static_cast<double>(warmup_num_steps));
    return inverse_log_warm_up * std::log(static_cast<double>(last + 1));
  }
  return static_cast<double>(last) / static_cast<double>(warmup_num_steps);
}

}  // namespace

WarmupLR::WarmupLR(Optimizer& optimizer, WarmupLROptions options)
    : LRScheduler(optimizer, options.last_batch_iteration),
      warmup_num_steps_(checked_warmup_steps("WarmupLR", options.warmup_num_steps)),
      min_lr_(options.warmup_min_lr),
      warmup_type_(options.warmup_type) {
  STRATA_CHECK(options.warmup_max_lr || !optimizer.param_groups().empty(),
               "WarmupLR: no warmup_max_lr given and the optimizer has no group to take it from");
  max_lr_ = options.warmup_max_lr.value_or(optimizer.param_groups()[0].options.lr);
  if (last_batch_iteration_ == -1) set_lrs(get_lr());
}

std::vector<double> WarmupLR::get_lr() const {
  // Before the first step (last < 0) DeepSpeed gives min_lr.
  double g = last_batch_iteration_ < 0 ? 0.0 : gamma();
  return std::vector<double>(optimizer_.param_groups().size(), min_lr_ + (max_lr_ - min_lr_) * g);
}

double WarmupLR::warmup_gamma() const {
  return warmup_fraction(warmup_type_, last_batch_iteration_, warmup_num_steps_);
}

double WarmupLR::gamma() const {
  return last_batch_iteration_ < warmup_num_steps_ ? warmup_gamma() : 1.0;
}

WarmupDecayLR::WarmupDecayLR(Optimizer& optimizer, WarmupDecayLROptions options)
    : WarmupLR(optimizer, {.warmup_min_lr = options.warmup_min_lr,
                           .warmup_max_lr = options.warmup_max_lr,
                           .warmup_num_steps = options.warmup_num_steps,
                           .warmup_type = options.warmup_type,
                           .last_batch_iteration = options.last_batch_iteration}),
      total_num_steps_(options.total_num_steps) {}

double WarmupDecayLR::gamma() const {
  if (last_batch_iteration_ < warmup_num_steps_) return warmup_gamma();
  return std::max(0.0,
                  static_cast<double>(total_num_steps_ - last_batch_iteration_) /
                      std::max(1.0, static_cast<double>(total_num_steps_ - warmup_num_steps_)));
}

// WarmupCosineLR

WarmupCosineLR::WarmupCosineLR(Optimizer& optimizer, WarmupCosineLROptions options)
    : LRScheduler(optimizer, options.last_batch_iteration),
      options_(options),
      warmup_num_steps_(checked_warmup_steps("WarmupCosineLR", options.warmup_num_steps)) {
  for (const ParamGroup& group : optimizer.param_groups())
    original_lrs_.push_back(group.options.lr);
  if (last_batch_iteration_ == -1) set_lrs(get_lr());
}

double WarmupCosineLR::get_lr_ratio() const {
  if (last_batch_iteration_ < 0) return 0.0;
  if (last_batch_iteration_ < warmup_num_steps_) {
    double fraction =
        warmup_fraction(options_.warmup_type, last_batch_iteration_, warmup_num_steps_);
    return options_.warmup_min_ratio + fraction * (1 - options_.warmup_min_ratio);
  }
  double real_last_step = static_cast<double>(last_batch_iteration_ - warmup_num_steps_ + 1);
  double real_total_steps =
      std::max<double>(1, static_cast<double>(options_.total_num_steps - warmup_num_steps_));
  double progress = std::min(1.0, real_last_step / real_total_steps);
  double cosine = (1 + std::cos(std::numbers::pi * progress)) / 2;
  return std::max(0.0, options_.cos_min_ratio + (1 - options_.cos_min_ratio) * cosine);
}

std::vector<double> WarmupCosineLR::get_lr() const {
  std::vector<double> lrs;
  double ratio = get_lr_ratio();
  for (double lr : original_lrs_) lrs.push_back(lr * ratio);
  return lrs;
}

}  // namespace strata::optim
