// LossScaler: the overflow check (core's count_nonfinite, read once), the unscaling multiply, and
// DeepSpeed's update rule with its counters named as DeepSpeed names them (cur_iter,
// last_overflow_iter, cur_hysteresis).
#include "optim/loss_scaler.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <set>

#include "core/autograd_record.hpp"
#include "core/elementwise.hpp"
#include "core/reduce.hpp"

namespace strata::optim {
namespace {

// The shortest text that reads back as the same double: 65536, 0.5, 1e+20.
std::string number(double value) {
  char text[32];
  auto [end, error] = std::to_chars(text, text + sizeof text, value);
  return std::string(text, end);
}

void check_options(const LossScalerOptions& o) {
  STRATA_CHECK(std::isfinite(o.loss_scale) && o.loss_scale >= 0,
               "LossScaler: fp16.loss_scale must be 0 (dynamic) or a positive finite scale, got ",
               o.loss_scale);
  STRATA_CHECK(std::isfinite(o.min_loss_scale) && o.min_loss_scale >= 0,
               "LossScaler: fp16.min_loss_scale must be a finite scale >= 0 (0: no floor), got ",
               o.min_loss_scale);
  if (o.loss_scale > 0) return;  // the dynamic options are not used
  STRATA_CHECK(o.loss_scale_window >= 1,
               "LossScaler: fp16.loss_scale_window must be at least 1, got ", o.loss_scale_window);
  STRATA_CHECK(o.hysteresis >= 1, "LossScaler: fp16.hysteresis must be at least 1, got ",
               o.hysteresis);
  const double initial = std::ldexp(1.0, o.initial_scale_power);
  STRATA_CHECK(std::isfinite(initial) && initial > 0, "LossScaler: fp16.initial_scale_power ",
               o.initial_scale_power, " gives no finite positive scale 2^", o.initial_scale_power);
  STRATA_CHECK(initial >= o.min_loss_scale, "LossScaler: the initial scale 2^",
               o.initial_scale_power, " = ", number(initial), " is below fp16.min_loss_scale ",
               number(o.min_loss_scale), "; raise fp16.initial_scale_power or lower the floor");
}

}  // namespace

LossScaler::LossScaler(LossScalerOptions options) : options_(options) {
  check_options(options_);
  scale_ = dynamic() ? std::ldexp(1.0, options_.initial_scale_power) : options_.loss_scale;
  hysteresis_ = options_.hysteresis;
}

bool LossScaler::unscale_and_check(const std::vector<Tensor>& grads, double extra_factor) {
  STRATA_CHECK(std::isfinite(extra_factor) && extra_factor > 0,
               "LossScaler::unscale_and_check: extra_factor must be positive and finite, got ",
               extra_factor);
  std::vector<Tensor> present;
  for (const Tensor& g : grads) {
    if (g.defined()) present.push_back(g);
  }
  last_nonfinite_ = present.empty() ? 0 : count_nonfinite(present).item<int64_t>();
  if (last_nonfinite_ > 0) return true;
  const double factor = extra_factor / scale_;
  if (factor != 1.0) {
    autograd::NoGradGuard no_grad;
    for (const Tensor& g : present) mul_(g, factor);
  }
  return false;
}

void LossScaler::update(bool overflow) {
  last_event_.clear();
  if (overflow) {
    const std::string found =
        last_nonfinite_ > 0 ? " (" + std::to_string(last_nonfinite_) + " inf/NaN gradient elements)"
                            : "";
    if (!dynamic()) {
      last_event_ = "overflow" + found + ": step skipped, static scale " + number(scale_) + " kept";
    } else if (hysteresis_ > 1) {
      last_event_ = "overflow" + found + ": step skipped, scale " + number(scale_) +
                    " kept (hysteresis " + std::to_string(hysteresis_) + " -> " +
                    std::to_string(hysteresis_ - 1) + ")";
      --hysteresis_;
    } else {
      // With no floor, halving stops at the smallest positive double rather than reaching 0.
      const double floor = options_.min_loss_scale > 0 ? options_.min_loss_scale
                                                       : std::numeric_limits<double>::denorm_min();
      if (scale_ == floor) {
        fail("fp16 loss scaling: the gradients overflowed", found,
             " with the loss scale already at its floor (fp16.min_loss_scale = ",
             number(options_.min_loss_scale), ")",
             ", so it cannot be lowered and training cannot go on (skipped steps: ", overflows_ + 1,
             ", ", overflows_in_a_row_ + 1,
             " in a row). Gradients that stay inf or NaN at this scale mean the training diverged "
             "(a learning rate too high or too little warmup; a NaN loss shows it) or that "
             "activations overflow f16's range (|x| > 65504, e.g. attention scores or a sum of "
             "squares computed in f16), whatever the scale. Fixes: train in bf16 (\"bf16\": "
             "{\"enabled\": true}: f32's range, no loss scaling); lower the learning rate or "
             "lengthen the warmup; set gradient_clipping; or, if a burst of overflows drove the "
             "scale down, a larger fp16.min_loss_scale (and fp16.hysteresis) so it cannot "
             "collapse.");
      }
      const double next = std::max(scale_ / 2, floor);
      last_event_ = "overflow" + found + ": step skipped, scale " + number(scale_) + " -> " +
                    number(next) + " (hysteresis 1 left)";
      scale_ = next;
    }
    last_overflow_iteration_ = iteration_;
    ++overflows_;
    ++overflows_in_a_row_;
  } else {
    overflows_in_a_row_ = 0;
    if (dynamic()) {
      if (options_.consecutive_hysteresis) hysteresis_ = options_.hysteresis;
      // Clean steps since the last overflow (or the start), not counting this one.
      const int64_t stable = iteration_ - last_overflow_iteration_ - 1;
      if (stable > 0 && stable % options_.loss_scale_window == 0) {
        hysteresis_ = options_.hysteresis;
        last_event_ = "scale " + number(scale_) + " -> " + number(scale_ * 2) + " after " +
                      std::to_string(stable + 1) + " clean steps";
        scale_ *= 2;
      }
    }
  }
  ++iteration_;
}

std::string LossScaler::state_json() const {
  return "{\"scale\": " + number(scale_) + ", \"hysteresis\": " + std::to_string(hysteresis_) +
         ", \"iteration\": " + std::to_string(iteration_) +
         ", \"last_overflow_iteration\": " + std::to_string(last_overflow_iteration_) +
         ", \"overflows\": " + std::to_string(overflows_) +
         ", \"overflows_in_a_row\": " + std::to_string(overflows_in_a_row_) + "}";
}

void LossScaler::load_state_json(const std::string& json) {
  static const std::set<std::string> kFields = {"scale",     "hysteresis",
                                                "iteration", "last_overflow_iteration",
                                                "overflows", "overflows_in_a_row"};
  YAML::Node root;
  try {
    root = YAML::Load(json);
  } catch (const YAML::Exception& e) {
    fail("LossScaler::load_state_json: not valid JSON (", e.what(), "): ", json);
  }
  STRATA_CHECK(root.IsMap(), "LossScaler::load_state_json: expected a JSON object, got: ", json);
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    STRATA_CHECK(kFields.count(key), "LossScaler::load_state_json: unknown field '", key, "' in ",
                 json);
  }
  auto field = [&]<class T>(const char* name, T /*type*/) {
    STRATA_CHECK(root[name], "LossScaler::load_state_json: missing field '", name, "' in ", json);
    try {
      return root[name].as<T>();
    } catch (const YAML::Exception&) {
      fail("LossScaler::load_state_json: field '", name, "' is not ",
           std::is_integral_v<T> ? "an integer" : "a number", ": ", json);
    }
  };
  const double scale = field("scale", 0.0);
  const auto hysteresis = field("hysteresis", int64_t{});
  const auto iteration = field("iteration", int64_t{});
  const auto last_overflow = field("last_overflow_iteration", int64_t{});
  const auto overflows = field("overflows", int64_t{});
  const auto in_a_row = field("overflows_in_a_row", int64_t{});
  STRATA_CHECK(std::isfinite(scale) && scale > 0, "LossScaler::load_state_json: scale ", scale,
               " is not a positive finite scale");
  STRATA_CHECK(!dynamic() || scale >= options_.min_loss_scale,
               "LossScaler::load_state_json: scale ", number(scale),
               " is below fp16.min_loss_scale ", number(options_.min_loss_scale));
  STRATA_CHECK(hysteresis >= 1 && hysteresis <= std::numeric_limits<int>::max(),
               "LossScaler::load_state_json: hysteresis ", hysteresis, " is not at least 1");
  STRATA_CHECK(iteration >= 0 && last_overflow >= -1 && last_overflow < iteration,
               "LossScaler::load_state_json: last_overflow_iteration ", last_overflow,
               " must lie in [-1, iteration ", iteration, ")");
  STRATA_CHECK(in_a_row >= 0 && in_a_row <= overflows && overflows <= iteration,
               "LossScaler::load_state_json: expected 0 <= overflows_in_a_row (", in_a_row,
               ") <= overflows (", overflows, ") <= iteration (", iteration, ")");
  if (dynamic()) scale_ = scale;
  hysteresis_ = static_cast<int>(hysteresis);
  iteration_ = iteration;
  last_overflow_iteration_ = last_overflow;
  overflows_ = overflows;
  overflows_in_a_row_ = in_a_row;
  last_nonfinite_ = 0;
  last_event_.clear();
}

}  // namespace strata::optim
