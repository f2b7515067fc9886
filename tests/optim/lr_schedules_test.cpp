// DeepSpeed's LR schedules at several steps, against values worked out from the formulas of
// deepspeed/runtime/lr_schedules.py; OneCycle's momentum; schedule state dicts.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "strata.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

using doctest::Approx;

// The lr of group 0 after stepping the schedule to batch iteration `to`.
template <class Schedule>
double lr_at(Schedule& schedule, optim::Optimizer& optimizer, int64_t to) {
  schedule.step(to);
  CHECK(schedule.get_last_lr().at(0) == optimizer.param_groups()[0].options.lr);
  return optimizer.param_groups()[0].options.lr;
}

TEST_CASE("WarmupLR: log and linear warm-up, then the maximum") {
  Tensor p = ones({1}).requires_grad_();
  optim::SGD sgd({p}, {.lr = 0.02});
  optim::WarmupLR log_warmup(sgd, {.warmup_max_lr = 0.01, .warmup_num_steps = 100});
  CHECK(sgd.param_groups()[0].options.lr == 0.0);  // min lr before the first step
  log_warmup.step();
  CHECK(log_warmup.last_batch_iteration() == 0);
  CHECK(sgd.param_groups()[0].options.lr == 0.0);                    // log(1) = 0
  CHECK(lr_at(log_warmup, sgd, 9) == Approx(0.005).epsilon(1e-12));  // log 10 / log 100
  CHECK(lr_at(log_warmup, sgd, 99) == Approx(0.01).epsilon(1e-12));
  CHECK(lr_at(log_warmup, sgd, 500) == 0.01);

  optim::WarmupLR linear(sgd, {.warmup_min_lr = 0.001,
                               .warmup_max_lr = 0.011,
                               .warmup_num_steps = 100,
                               .warmup_type = optim::WarmupType::linear});
  CHECK(lr_at(linear, sgd, 25) == Approx(0.0035).epsilon(1e-12));
  CHECK(lr_at(linear, sgd, 100) == Approx(0.011).epsilon(1e-12));

  // warmup_max_lr defaults to the optimizer's lr; warmup_num_steps counts at least 2.
  optim::SGD other({p}, {.lr = 0.3});
  optim::WarmupLR from_optimizer(other,
                                 {.warmup_num_steps = 1, .warmup_type = optim::WarmupType::linear});
  CHECK(lr_at(from_optimizer, other, 1) == Approx(0.15).epsilon(1e-12));
  CHECK(test::contains(test::error_of([&] { optim::WarmupLR bad(other, {.warmup_num_steps = 0}); }),
                       "warmup_num_steps must be positive"));
}

TEST_CASE("WarmupDecayLR: warm-up, then linear decay to 0 at total_num_steps") {
  Tensor p = ones({1}).requires_grad_();
  optim::Adam adam({p}, {});
  optim::WarmupDecayLR schedule(adam, {.total_num_steps = 1000,
                                       .warmup_max_lr = 0.01,
                                       .warmup_num_steps = 100,
                                       .warmup_type = optim::WarmupType::linear});
  CHECK(lr_at(schedule, adam, 50) == Approx(0.005).epsilon(1e-12));
  CHECK(lr_at(schedule, adam, 100) == Approx(0.01).epsilon(1e-12));
  CHECK(lr_at(schedule, adam, 550) == Approx(0.005).epsilon(1e-12));  // (1000 - 550) / 900
  CHECK(lr_at(schedule, adam, 1000) == 0.0);
  CHECK(lr_at(schedule, adam, 1200) == 0.0);
  // The default warmup_max_lr is DeepSpeed's 0.001, and the warm-up log.
  optim::WarmupDecayLR defaults(adam, {.total_num_steps = 10});
  CHECK(lr_at(defaults, adam, 9) == Approx(0.001 * std::log(10.0) / std::log(1000.0)));
}

TEST_CASE("WarmupCosineLR: ratio warm-up from warmup_min_ratio, cosine down to cos_min_ratio") {
  Tensor p = ones({1}).requires_grad_();
  optim::AdamW adamw({p}, {.lr = 0.1});
  optim::WarmupCosineLR schedule(adamw, {.total_num_steps = 1000,
                                         .warmup_min_ratio = 0.1,
                                         .warmup_num_steps = 100,
                                         .cos_min_ratio = 0.01,
                                         .warmup_type = optim::WarmupType::linear});
  CHECK(adamw.param_groups()[0].options.lr == 0.0);  // 0 before the first step
  CHECK(lr_at(schedule, adamw, 0) == Approx(0.01).epsilon(1e-12));
  CHECK(lr_at(schedule, adamw, 50) == Approx(0.055).epsilon(1e-12));
  CHECK(lr_at(schedule, adamw, 99) == Approx(0.0991).epsilon(1e-12));
  double first_cosine = 0.01 + 0.99 * (1 + std::cos(std::numbers::pi / 900)) / 2;
  CHECK(lr_at(schedule, adamw, 100) == Approx(0.1 * first_cosine).epsilon(1e-12));
  CHECK(lr_at(schedule, adamw, 549) == Approx(0.0505).epsilon(1e-12));  // half way: cos = 0
  CHECK(lr_at(schedule, adamw, 999) == Approx(0.001).epsilon(1e-12));
  CHECK(lr_at(schedule, adamw, 5000) == Approx(0.001).epsilon(1e-12));

  optim::AdamW other({p}, {.lr = 0.1});
  optim::WarmupCosineLR log_warmup(
      other, {.total_num_steps = 1000, .warmup_min_ratio = 0.1, .warmup_num_steps = 100});
  CHECK(lr_at(log_warmup, other, 9) == Approx(0.1 * 0.55).epsilon(1e-12));  // log 10 / log 100
}

TEST_CASE("OneCycle: lr up and down, momentum the other way, stairs, then decay") {
  Tensor p = ones({1}).requires_grad_();
  optim::Adam adam({p}, {});
  optim::OneCycle cycle(adam, {.cycle_min_lr = 0.01,
                               .cycle_max_lr = 0.1,
                               .decay_lr_rate = 0.5,
                               .cycle_first_step_size = 10,
                               .decay_step_size = 10,
                               .decay_mom_rate = 0.1});
  CHECK(cycle.momentum_cycled());
  CHECK(adam.param_groups()[0].options.lr == 0.01);
  CHECK(adam.param_groups()[0].options.betas[0] == 0.8);
  CHECK(adam.param_groups()[0].options.betas[1] == 0.99);  // DeepSpeed sets betas to (mom, 0.99)
  auto momentum = [&] { return adam.param_groups()[0].options.betas[0]; };
  CHECK(lr_at(cycle, adam, 0) == Approx(0.019).epsilon(1e-12));
  CHECK(momentum() == Approx(0.89).epsilon(1e-12));
  CHECK(lr_at(cycle, adam, 9) == Approx(0.1).epsilon(1e-12));
  CHECK(momentum() == Approx(0.8).epsilon(1e-12));
  CHECK(lr_at(cycle, adam, 14) == Approx(0.055).epsilon(1e-12));
  CHECK(momentum() == Approx(0.85).epsilon(1e-12));
  CHECK(lr_at(cycle, adam, 19) == Approx(0.01).epsilon(1e-12));
  CHECK(lr_at(cycle, adam, 29) == Approx(0.01 / 1.5).epsilon(1e-12));  // one decay interval
  CHECK(momentum() == Approx(0.99).epsilon(1e-12));
  CHECK(cycle.get_mom().at(0) == momentum());

  optim::Adam stairs_optimizer({p}, {});
  optim::OneCycle stairs(stairs_optimizer, {.cycle_min_lr = 0.01,
                                            .cycle_max_lr = 0.1,
                                            .cycle_first_step_size = 10,
                                            .cycle_first_stair_count = 2});
  CHECK(lr_at(stairs, stairs_optimizer, 3) == Approx(0.01).epsilon(1e-12));   // stair 0
  CHECK(lr_at(stairs, stairs_optimizer, 4) == Approx(0.055).epsilon(1e-12));  // stair 1 of 2
  CHECK(lr_at(stairs, stairs_optimizer, 12) == Approx(0.055).epsilon(1e-12));
  CHECK(lr_at(stairs, stairs_optimizer, 25) == Approx(0.01).epsilon(1e-12));  // no decay

  // As in DeepSpeed, an optimizer without betas keeps its momentum.
  optim::SGD sgd({p}, {.lr = 0.1, .momentum = 0.5});
  optim::OneCycle no_betas(sgd, {.cycle_min_lr = 0.01, .cycle_max_lr = 0.1});
  CHECK_FALSE(no_betas.momentum_cycled());
  no_betas.step();
  CHECK(sgd.param_groups()[0].options.momentum == 0.5);
}

TEST_CASE("LRRangeTest: continuous and staircase increase") {
  Tensor p = ones({1}).requires_grad_();
  optim::SGD sgd({p}, {.lr = 0.5});
  optim::LRRangeTest continuous(
      sgd,
      {.lr_range_test_min_lr = 0.001, .lr_range_test_step_size = 10, .lr_range_test_step_rate = 2});
  CHECK(sgd.param_groups()[0].options.lr == 0.001);
  CHECK(lr_at(continuous, sgd, 4) == Approx(0.002).epsilon(1e-12));
  CHECK(lr_at(continuous, sgd, 9) == Approx(0.003).epsilon(1e-12));
  optim::LRRangeTest staircase(sgd, {.lr_range_test_min_lr = 0.001,
                                     .lr_range_test_step_size = 10,
                                     .lr_range_test_step_rate = 2,
                                     .lr_range_test_staircase = true});
  CHECK(lr_at(staircase, sgd, 4) == Approx(0.001).epsilon(1e-12));
  CHECK(lr_at(staircase, sgd, 9) == Approx(0.003).epsilon(1e-12));
}

TEST_CASE("schedules resume from their state dict; every group gets the lr") {
  Tensor a = ones({1}).requires_grad_();
  Tensor b = ones({1}).requires_grad_();
  optim::Adam adam({a}, {});
  adam.add_param_group({b});
  optim::WarmupDecayLR schedule(adam, {.total_num_steps = 50, .warmup_num_steps = 10});
  for (int i = 0; i < 7; ++i) schedule.step();
  optim::StateDict state = schedule.state_dict();
  CHECK(state.scalars.at("last_batch_iteration") == 6);
  CHECK(adam.param_groups()[1].options.lr == adam.param_groups()[0].options.lr);

  optim::Adam resumed_adam({a}, {});
  resumed_adam.add_param_group({b});
  optim::WarmupDecayLR resumed(
      resumed_adam, {.total_num_steps = 50, .warmup_num_steps = 10, .last_batch_iteration = 0});
  resumed.load_state_dict(state);
  schedule.step();
  resumed.step();
  CHECK(resumed.last_batch_iteration() == 7);
  CHECK(resumed.get_last_lr() == schedule.get_last_lr());
  state.scalars["extra"] = 1;
  CHECK(test::contains(test::error_of([&] { resumed.load_state_dict(state); }),
                       "expected the one scalar last_batch_iteration"));
}

}  // namespace
}  // namespace strata
