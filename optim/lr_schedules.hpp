// Learning-rate schedules with DeepSpeed's names, parameters, defaults and formulas
// (deepspeed/runtime/lr_schedules.py): LRRangeTest, OneCycle, WarmupLR, WarmupDecayLR,
// WarmupCosineLR. Each sets the lr of every parameter group of an optimizer (OneCycle also cycles
// betas[0]) and is stepped once per batch, after the optimizer's step.
//
// last_batch_iteration is the index of the last batch trained (-1 before the first); step() moves
// it on by one (or to a given index, when resuming) and sets the lrs for it. A schedule built with
// last_batch_iteration = -1 sets its starting lrs at once, as DeepSpeed's do.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "optim/optimizer.hpp"

namespace strata::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  void step() { step(last_batch_iteration_ + 1); }
  virtual void step(int64_t batch_iteration);
  // The lr of each group at last_batch_iteration.
  virtual std::vector<double> get_lr() const = 0;
  // The lrs the last step() (or the constructor) set.
  const std::vector<double>& get_last_lr() const;
  int64_t last_batch_iteration() const { return last_batch_iteration_; }

  // {"last_batch_iteration": n}: the rest is configuration.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 protected:
  LRScheduler(Optimizer& optimizer, int64_t last_batch_iteration)
      : optimizer_(optimizer), last_batch_iteration_(last_batch_iteration) {}
  void set_lrs(const std::vector<double>& lrs);

  Optimizer& optimizer_;
  int64_t last_batch_iteration_;
  std::vector<double> last_lr_;
};

struct LRRangeTestOptions {
  double lr_range_test_min_lr = 1e-3;
  int64_t lr_range_test_step_size = 2000;
  double lr_range_test_step_rate = 1.0;
  bool lr_range_test_staircase = false;
  int64_t last_batch_iteration = -1;
};

// lr = min_lr (1 + step_rate interval), interval = (last + 1) / step_size, floored when staircase.
class LRRangeTest final : public LRScheduler {
 public:
  explicit LRRangeTest(Optimizer& optimizer, LRRangeTestOptions options = {});
  std::vector<double> get_lr() const override;

 private:
  LRRangeTestOptions options_;
};

struct OneCycleOptions {
  double cycle_min_lr;
  double cycle_max_lr;
  double decay_lr_rate = 0.0;
  int64_t cycle_first_step_size = 2000;
  std::optional<int64_t> cycle_second_step_size;  // cycle_first_step_size when unset
  int64_t cycle_first_stair_count = 0;
  std::optional<int64_t> cycle_second_stair_count;  // cycle_first_stair_count when unset
  int64_t decay_step_size = 0;
  bool cycle_momentum = true;
  double cycle_min_mom = 0.8;
  double cycle_max_mom = 0.9;
  double decay_mom_rate = 0.0;
  int64_t last_batch_iteration = -1;
};

// One cycle of the lr from cycle_min_lr up to cycle_max_lr (first step size) and back (second),
// staircased when stair counts are given, then decay: lr = min_lr / (1 + decay_lr_rate k /
// decay_step_size) at k batches past the cycle. The momentum moves the other way, between
// cycle_max_mom and cycle_min_mom, as betas = (momentum, 0.99); as in DeepSpeed it is cycled only
// for optimizers with betas (momentum_cycled() is false otherwise).
class OneCycle final : public LRScheduler {
 public:
  OneCycle(Optimizer& optimizer, OneCycleOptions options);
  using LRScheduler::step;
  void step(int64_t batch_iteration) override;
  std::vector<double> get_lr() const override;
  // betas[0] of each group at last_batch_iteration.
  std::vector<double> get_mom() const;
  bool momentum_cycled() const { return cycle_momentum_; }

 private:
  double scale_factor() const;
  void set_momentum(double momentum);

  OneCycleOptions options_;
  double first_step_size_, second_step_size_, total_size_, step_ratio_;
  int64_t second_stair_count_;
  bool skip_lr_decay_, skip_mom_decay_, cycle_momentum_;
};

enum class WarmupType { log, linear };

struct WarmupLROptions {
  double warmup_min_lr = 0.0;
  std::optional<double> warmup_max_lr;  // the lr of the optimizer's first group when unset
  int64_t warmup_num_steps = 1000;
  WarmupType warmup_type = WarmupType::log;
  int64_t last_batch_iteration = -1;
};

// lr = min_lr + (max_lr - min_lr) gamma, gamma = log(last + 1) / log(warmup_num_steps) (log) or
// last / warmup_num_steps (linear) during the warm-up, then 1. warmup_num_steps counts at least 2.
class WarmupLR : public LRScheduler {
 public:
  explicit WarmupLR(Optimizer& optimizer, WarmupLROptions options = {});
  std::vector<double> get_lr() const override;

 protected:
  virtual double gamma() const;
  double warmup_gamma() const;  // during the warm-up
  int64_t warmup_num_steps_;

 private:
  double min_lr_, max_lr_;
  WarmupType warmup_type_;
};

struct WarmupDecayLROptions {
  int64_t total_num_steps;
  double warmup_min_lr = 0.0;
  double warmup_max_lr = 0.001;
  int64_t warmup_num_steps = 1000;
  WarmupType warmup_type = WarmupType::log;
  int64_t last_batch_iteration = -1;
};

// WarmupLR, then a linear decay to 0 at total_num_steps:
// gamma = max(0, (total - last) / max(1, total - warmup_num_steps)).
class WarmupDecayLR final : public WarmupLR {
 public:
  WarmupDecayLR(Optimizer& optimizer, WarmupDecayLROptions options);

 protected:
  double gamma() const override;

 private:
  int64_t total_num_steps_;
};

struct WarmupCosineLROptions {
  int64_t total_num_steps;
  double warmup_min_ratio = 0.0;
  int64_t warmup_num_steps = 1000;
  double cos_min_ratio = 0.0001;
  WarmupType warmup_type = WarmupType::log;
  int64_t last_batch_iteration = -1;
};

// lr = (each group's lr when the schedule was built) * ratio: the ratio warms up from
// warmup_min_ratio to 1 (log or linear), then follows a half cosine down to cos_min_ratio at
// total_num_steps, and stays there. The lr is 0 before the first step.
class WarmupCosineLR final : public LRScheduler {
 public:
  WarmupCosineLR(Optimizer& optimizer, WarmupCosineLROptions options);
  std::vector<double> get_lr() const override;
  double get_lr_ratio() const;

 private:
  WarmupCosineLROptions options_;
  int64_t warmup_num_steps_;
  std::vector<double> original_lrs_;
};

}  // namespace strata::optim
