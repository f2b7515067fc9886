// The wall-clock breakdown of training steps (config wall_clock_breakdown): milliseconds spent in
// forward, backward, gradient reduction and the optimizer step, per optimizer step (the sum over
// its micro-steps) and averaged over the steps since the last print. On CUDA the device is
// synchronised at each phase boundary when `synchronize` is set, so the times are the device's;
// otherwise they are host times (which on CUDA measure only the launches).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace strata::zero {

enum class Phase { forward, backward, reduce, step };
inline constexpr int kPhases = 4;

// Milliseconds per phase, indexed by Phase.
using PhaseTimes = std::array<double, kPhases>;

class StepTimers {
 public:
  explicit StepTimers(bool synchronize = false) : synchronize_(synchronize) {}

  // Times one phase from construction to destruction.
  class Scope {
   public:
    Scope(StepTimers& timers, Phase phase);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    StepTimers& timers_;
    Phase phase_;
    std::chrono::steady_clock::time_point start_;
  };
  Scope time(Phase phase) { return Scope(*this, phase); }

  // Closes an optimizer step: its times become last_step() and join the window.
  void end_step();
  const PhaseTimes& last_step() const { return last_step_; }
  // The mean per step since reset_window() (zeros before any step).
  PhaseTimes window_mean() const;
  void reset_window();

 private:
  bool synchronize_;
  PhaseTimes current_{}, last_step_{}, window_sum_{};
  int64_t window_steps_ = 0;
};

// "forward", "backward", "reduce", "step".
const char* phase_name(Phase phase);

}  // namespace strata::zero
