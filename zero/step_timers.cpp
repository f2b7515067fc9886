// The wall-clock breakdown of training steps (step_timers.hpp).
#include "zero/step_timers.hpp"

#include "core/device.hpp"

namespace strata::zero {

StepTimers::Scope::Scope(StepTimers& timers, Phase phase) : timers_(timers), phase_(phase) {
  if (timers_.synchronize_) cuda_synchronize();
  start_ = std::chrono::steady_clock::now();
}

StepTimers::Scope::~Scope() {
  if (timers_.synchronize_) cuda_synchronize();
  const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - start_;
  timers_.current_[static_cast<int>(phase_)] += ms.count();
}

void StepTimers::end_step() {
  last_step_ = current_;
  for (int i = 0; i < kPhases; ++i) window_sum_[i] += current_[i];
  current_ = {};
  ++window_steps_;
}

PhaseTimes StepTimers::window_mean() const {
  PhaseTimes mean{};
  for (int i = 0; i < kPhases; ++i)
    mean[i] = window_steps_ > 0 ? window_sum_[i] / static_cast<double>(window_steps_) : 0.0;
  return mean;
}

void StepTimers::reset_window() {
  window_sum_ = {};
  window_steps_ = 0;
}

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::forward: return "forward";
    case Phase::backward: return "backward";
    case Phase::reduce: return "reduce";
    case Phase::step: return "step";
  }
  return "?";
}

}  // namespace strata::zero
