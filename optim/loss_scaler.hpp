// LossScaler: fp16 loss scaling with DeepSpeed's rules (its fp16 config block), one implementation
// for every ZeRO stage.
//
// A training step with it: backward on loss * scale(); unscale_and_check(gradients) finds any inf
// or NaN and, when there is none, divides the gradients by the scale; the optimizer steps only when
// it returned false; update(overflow) then adjusts the scale:
// - static (loss_scale > 0): the scale never changes; overflowing steps are still skipped.
// - dynamic (loss_scale == 0): starts at 2^initial_scale_power, with the hysteresis counter at
//   `hysteresis`. An overflow while the counter is above 1 decrements it and keeps the scale; an
//   overflow with the counter at 1 halves the scale (never below min_loss_scale) and leaves the
//   counter at 1. A clean step preceded by a positive multiple of loss_scale_window clean steps
//   since the last overflow (or the start) doubles the scale and refills the counter. With
//   consecutive_hysteresis every clean step refills it, so only `hysteresis` overflows in a row
//   halve the scale; without, overflows count down across clean steps until the next doubling.
//   These are DeepSpeed's DynamicLossScaler rules exactly, including its counting: the doubling
//   comes on the (window + 1)-th clean step in a row, then every window clean steps.
// - An overflow with the scale already at min_loss_scale throws strata::Error, naming the likely
//   causes and the fixes (DeepSpeed stops there too, with no explanation).
// A static scale of 1 is the disabled scaler of bf16 and f32 training: scale() is 1, and
// unscale_and_check only looks for inf/NaN.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace strata::optim {

// DeepSpeed's fp16 block, with its defaults.
struct LossScalerOptions {
  double loss_scale = 0;                // > 0: static scale; 0: dynamic
  int initial_scale_power = 16;         // dynamic: starts at 2^initial_scale_power
  int64_t loss_scale_window = 1000;     // dynamic: double after this many consecutive clean steps
  int hysteresis = 2;                   // dynamic: overflows tolerated before the scale is halved
  bool consecutive_hysteresis = false;  // refill hysteresis after each clean step
  double min_loss_scale = 1;            // floor (0: none)
};

class LossScaler {
 public:
  // Throws naming the fp16 key when an option is out of range (negative or non-finite loss_scale,
  // loss_scale_window or hysteresis below 1, a starting scale below min_loss_scale, ...).
  explicit LossScaler(LossScalerOptions options = {});

  double scale() const { return scale_; }
  bool dynamic() const { return options_.loss_scale == 0; }
  const LossScalerOptions& options() const { return options_; }

  // One pass over the gradients (the flat gradient buffers: usually one or two tensors, on one
  // device; undefined ones are skipped): true when any element is inf or NaN, and then no gradient
  // is changed. Otherwise multiplies every gradient in place by extra_factor / scale()
  // (extra_factor: e.g. 1 / accumulation steps; 1 when unused), and returns false. One device-side
  // count and one host read of it per call, whatever the number of tensors. 16-bit gradients are
  // checked as stored (an f16 inf is the overflow) and multiplied in f32, rounded once: unscaled
  // f16 values below 2^-14 lose precision and below 2^-25 become 0, so unscale f32 gradients where
  // that matters.
  bool unscale_and_check(const std::vector<Tensor>& grads, double extra_factor = 1.0);
  // The number of inf/NaN gradient elements the last unscale_and_check found.
  int64_t last_nonfinite() const { return last_nonfinite_; }

  // Applies one step's outcome to the scale (the rules above). Throws strata::Error on an overflow
  // that would halve a scale already at min_loss_scale, and then changes nothing.
  void update(bool overflow);

  int64_t overflows() const { return overflows_; }  // total skipped steps so far
  // What the last update() did, for the log ("" when it left everything as it was), e.g.
  // "overflow: step skipped, scale 65536 -> 32768 (hysteresis 1 left)".
  std::string last_event() const { return last_event_; }

  // Checkpoint state as a JSON object: scale, hysteresis (DeepSpeed's cur_hysteresis), iteration
  // (update() calls so far), last_overflow_iteration (-1: none yet), overflows and
  // overflows_in_a_row. load_state_json takes such an object back, exactly; it throws naming a
  // missing, unknown or out-of-range field. A static scaler keeps its configured scale and takes
  // the counters only, so a checkpoint can resume under a changed static loss_scale.
  std::string state_json() const;
  void load_state_json(const std::string& json);

 private:
  LossScalerOptions options_;
  double scale_;
  int hysteresis_;  // DeepSpeed's cur_hysteresis: an overflow halves the scale at 1, else counts
                    // down
  int64_t iteration_ = 0;                 // update() calls so far
  int64_t last_overflow_iteration_ = -1;  // iteration of the latest overflow; -1: none yet
  int64_t overflows_ = 0;
  int64_t overflows_in_a_row_ = 0;
  int64_t last_nonfinite_ = 0;
  std::string last_event_;
};

}  // namespace strata::optim
