// LossScaler: the scale through overflow/clean patterns against traces worked by hand from
// DeepSpeed's DynamicLossScaler.update_scale (static scale, hysteresis, consecutive_hysteresis,
// window doubling, the floor, the error at the minimum), unscale_and_check on f32/bf16/f16
// gradients, and the checkpoint state's JSON round trip.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "strata.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

using optim::LossScaler;
using optim::LossScalerOptions;
using test::contains;
using test::error_of;

constexpr bool O = true;   // an overflowing step
constexpr bool C = false;  // a clean step
const double kInf = std::numeric_limits<double>::infinity();

// The scale after each update() of `steps`.
std::vector<double> scales(LossScaler& scaler, const std::vector<bool>& steps) {
  std::vector<double> out;
  for (bool overflow : steps) {
    scaler.update(overflow);
    out.push_back(scaler.scale());
  }
  return out;
}

LossScalerOptions dynamic_options(int power, int64_t window, int hysteresis, bool consecutive,
                                  double min_scale = 1) {
  LossScalerOptions o;
  o.initial_scale_power = power;
  o.loss_scale_window = window;
  o.hysteresis = hysteresis;
  o.consecutive_hysteresis = consecutive;
  o.min_loss_scale = min_scale;
  return o;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  Tensor x = a.contiguous(), y = b.contiguous();
  return x.dtype() == y.dtype() && x.shape() == y.shape() &&
         std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}

TEST_CASE("DeepSpeed's defaults: dynamic, 2^16, window 1000, hysteresis 2, floor 1") {
  LossScaler scaler;
  CHECK(scaler.dynamic());
  CHECK(scaler.scale() == 65536);
  CHECK(scaler.overflows() == 0);
  scaler.update(O);
  CHECK(scaler.scale() == 65536);  // hysteresis 2: the first overflow only spends one unit
  CHECK(scaler.last_event() == "overflow: step skipped, scale 65536 kept (hysteresis 2 -> 1)");
  scaler.update(O);
  CHECK(scaler.scale() == 32768);
  CHECK(scaler.last_event() == "overflow: step skipped, scale 65536 -> 32768 (hysteresis 1 left)");
  CHECK(scaler.overflows() == 2);
  scaler.update(C);
  CHECK(scaler.last_event() == "");
}

TEST_CASE("a static scale never changes, and overflowing steps are counted") {
  LossScalerOptions options;
  options.loss_scale = 128;
  LossScaler scaler(options);
  CHECK_FALSE(scaler.dynamic());
  CHECK(scales(scaler, {O, O, O, C, C, C, C, O, C, C, C, C, C}) == std::vector<double>(13, 128.0));
  CHECK(scaler.overflows() == 4);
  scaler.update(O);
  CHECK(scaler.last_event() == "overflow: step skipped, static scale 128 kept");
  // Overflows at a static scale never throw, however many in a row (DeepSpeed's static scaler).
  for (int i = 0; i < 50; ++i) scaler.update(O);
  CHECK(scaler.scale() == 128);

  LossScalerOptions disabled;
  disabled.loss_scale = 1;
  CHECK(LossScaler(disabled).scale() == 1);
}

// Hand-worked (DeepSpeed: stable_interval = cur_iter - last_overflow_iter - 1; double when it is a
// positive multiple of the window; halve when cur_hysteresis == 1, else decrement it):
//   iter 0 O: hysteresis 2 -> 1, 16 | iter 1 O: halve, 8 (last overflow 1)
//   iters 2..4 C: stable 0, 1, 2 | iter 5 C: stable 3 = window: double, 16, hysteresis back to 2
//   iter 6 C | iter 7 O: hysteresis 2 -> 1, 16 | iter 8 C: stable 0, hysteresis stays 1
//   iters 9..12 O: halve each time: 8, 4, 2, 1 | iter 13 O: at the floor: the error.
TEST_CASE("hysteresis 2 halves on the second overflow; window doubling; the floor and its error") {
  LossScaler scaler(dynamic_options(4, 3, 2, false));
  CHECK(scales(scaler, {O, O, C, C, C, C, C, O, C, O, O, O, O}) ==
        std::vector<double>{16, 8, 8, 8, 8, 16, 16, 16, 16, 8, 4, 2, 1});
  CHECK(scaler.overflows() == 7);
  const std::string state = scaler.state_json();
  const std::string message = error_of([&] { scaler.update(O); });
  CHECK(contains(message, "already at its floor (fp16.min_loss_scale = 1)"));
  CHECK(contains(message, "skipped steps: 8, 5 in a row"));
  CHECK(contains(message, "learning rate"));
  CHECK(contains(message, "65504"));
  CHECK(contains(message, "\"bf16\": {\"enabled\": true}"));
  CHECK(contains(message, "larger fp16.min_loss_scale"));
  CHECK(scaler.state_json() == state);  // the failed update changed nothing
  CHECK(scaler.scale() == 1);
}

TEST_CASE("the doubling comes after loss_scale_window clean steps, counted as DeepSpeed does") {
  // From the start (last_overflow_iter = -1): stable 0, 1, 2, 3 -> double on the 4th step, then
  // every 3 steps.
  LossScaler scaler(dynamic_options(4, 3, 2, false));
  CHECK(scales(scaler, {C, C, C, C, C, C, C}) == std::vector<double>{16, 16, 16, 32, 32, 32, 64});
  CHECK(scaler.last_event() == "scale 32 -> 64 after 7 clean steps");
}

TEST_CASE("without consecutive_hysteresis, overflows count down across clean steps") {
  // iter 0 O: 2 -> 1 | iter 1 C: not refilled | iter 2 O: halve.
  LossScaler scaler(dynamic_options(4, 3, 2, false));
  CHECK(scales(scaler, {O, C, O}) == std::vector<double>{16, 16, 8});
}

TEST_CASE("consecutive_hysteresis refills after each clean step: only overflows in a row halve") {
  // iters 0..4 O C O C O: every clean step refills to 2, so no halving | iter 5 O: halve, 8
  // iters 6..8 C: stable 0, 1, 2 | iter 9 C: stable 3: double, 16.
  LossScaler scaler(dynamic_options(4, 3, 2, true));
  CHECK(scales(scaler, {O, C, O, C, O, O, C, C, C, C}) ==
        std::vector<double>{16, 16, 16, 16, 16, 8, 8, 8, 8, 16});
}

TEST_CASE("hysteresis 1 halves on every overflow, down to a floor that need not be a power of 2") {
  LossScaler scaler(dynamic_options(3, 3, 1, false, 3));
  CHECK(scales(scaler, {O, O}) == std::vector<double>{4, 3});
  CHECK(scaler.last_event() == "overflow: step skipped, scale 4 -> 3 (hysteresis 1 left)");
  CHECK(contains(error_of([&] { scaler.update(O); }), "fp16.min_loss_scale = 3"));
}

TEST_CASE("options out of range name their fp16 key") {
  auto error_for = [](LossScalerOptions o) { return error_of([&] { LossScaler scaler(o); }); };
  LossScalerOptions o;
  o.hysteresis = 0;
  CHECK(contains(error_for(o), "fp16.hysteresis must be at least 1, got 0"));
  o = {};
  o.loss_scale_window = 0;
  CHECK(contains(error_for(o), "fp16.loss_scale_window"));
  o = {};
  o.loss_scale = -1;
  CHECK(contains(error_for(o), "fp16.loss_scale"));
  o = {};
  o.min_loss_scale = kInf;
  CHECK(contains(error_for(o), "fp16.min_loss_scale"));
  o = {};
  o.initial_scale_power = 2;
  o.min_loss_scale = 8;
  CHECK(contains(error_for(o), "the initial scale 2^2 = 4 is below fp16.min_loss_scale 8"));
  o = {};
  o.initial_scale_power = 5000;
  CHECK(contains(error_for(o), "fp16.initial_scale_power 5000"));
}

TEST_CASE("unscale_and_check: clean f32 gradients are multiplied by extra_factor / scale") {
  LossScalerOptions options;
  options.loss_scale = 1024;
  LossScaler scaler(options);
  Tensor a = from_vector(std::vector<float>{1024, -2048, 3072, 0.5f});
  Tensor b = from_vector(std::vector<float>{6e4f, -1e-3f}).reshape({1, 2});
  CHECK_FALSE(scaler.unscale_and_check({a, Tensor(), b}, 0.5));
  CHECK(scaler.last_nonfinite() == 0);
  CHECK(a.to_vector<float>() == std::vector<float>{0.5f, -1, 1.5f, 0.5f / 2048});
  CHECK(b.to_vector<float>() == std::vector<float>{6e4f / 2048, -1e-3f / 2048});

  // A factor that is not a power of 2: one f32 multiply by the factor rounded to f32.
  Tensor c = from_vector(std::vector<float>{3, 7, -11});
  CHECK_FALSE(scaler.unscale_and_check({c}, 1.0 / 3));
  const float factor = static_cast<float>(1.0 / 3 / 1024);
  CHECK(c.to_vector<float>() == std::vector<float>{3 * factor, 7 * factor, -11 * factor});

  // The disabled scaler leaves clean gradients as they are; no gradients at all are clean.
  LossScalerOptions disabled_options;
  disabled_options.loss_scale = 1;
  LossScaler disabled(disabled_options);
  Tensor d = from_vector(std::vector<float>{1.25f, -3});
  CHECK_FALSE(disabled.unscale_and_check({d}));
  CHECK(d.to_vector<float>() == std::vector<float>{1.25f, -3});
  CHECK_FALSE(disabled.unscale_and_check({}));
  CHECK(contains(error_of([&] { scaler.unscale_and_check({d}, 0); }), "extra_factor"));
}

TEST_CASE("unscale_and_check: inf or NaN anywhere in f32/bf16/f16 gradients leaves all untouched") {
  const double nan = std::nan("");
  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    CAPTURE(dtype_name(dtype));
    for (double bad : {kInf, -kInf, nan}) {
      CAPTURE(bad);
      LossScaler scaler;
      Tensor clean = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}).to(dtype);
      // The bad value in a transposed view of the second buffer, with finite neighbours.
      Tensor other = from_vector(std::vector<double>{7, bad, 9, bad, 11, 12}, {3, 2}).to(dtype);
      const Tensor clean_before = clean.clone(), other_before = other.clone();
      CHECK(scaler.unscale_and_check({clean, other.transpose(0, 1)}));
      CHECK(scaler.last_nonfinite() == 2);
      CHECK(same_bits(clean, clean_before));
      CHECK(same_bits(other, other_before));
      scaler.update(true);
      CHECK(scaler.last_event() ==
            "overflow (2 inf/NaN gradient elements): step skipped, scale 65536 kept (hysteresis "
            "2 -> 1)");
    }
  }
}

TEST_CASE("unscale_and_check: 16-bit values are checked as stored, and unscaled in f32") {
  // 7e4 is finite in f32 and bf16 but rounds to inf in f16: the f16 overflow a scaler exists for.
  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    CAPTURE(dtype_name(dtype));
    LossScaler scaler;
    Tensor g = from_vector(std::vector<double>{7e4, 6e4, -3, 1e-3}).to(dtype);
    const Tensor before = g.clone();
    const bool overflow = scaler.unscale_and_check({g});
    CHECK(overflow == (dtype == DType::f16));
    if (overflow) {
      CHECK(same_bits(g, before));
      continue;
    }
    // One rounding of the f32 product into the 16-bit storage.
    Tensor expected = mul(before.to(DType::f32), 1.0 / 65536).to(dtype);
    CHECK(same_bits(g, expected));
  }
  LossScaler scaler;
  Tensor g = from_vector(std::vector<double>{6e4, -6e4, 1}).to(DType::f16);
  CHECK_FALSE(scaler.unscale_and_check({g}));
  CHECK(g.to_vector<float>() == std::vector<float>{static_cast<float>(Half(6e4f / 65536)),
                                                   static_cast<float>(Half(-6e4f / 65536)),
                                                   1.0f / 65536});
}

TEST_CASE("the checkpoint state round-trips: a resumed scaler continues exactly") {
  LossScalerOptions options = dynamic_options(10, 4, 3, false, 0.25);
  LossScaler scaler(options);
  const std::vector<bool> first = {O, O, O, O, C, C, C, C, C, O, C, O,
                                   O, O, O, O, O, O, O, O, O, O, O};
  scales(scaler, first);
  CHECK(scaler.scale() < 1);  // below 1 with this floor: the JSON carries a fraction
  const std::string state = scaler.state_json();
  CHECK(state ==
        "{\"scale\": 0.25, \"hysteresis\": 1, \"iteration\": 23, \"last_overflow_iteration\": 22, "
        "\"overflows\": 17, \"overflows_in_a_row\": 12}");

  LossScaler resumed(options);
  resumed.load_state_json(state);
  CHECK(resumed.state_json() == state);
  CHECK(resumed.overflows() == 17);
  const std::vector<bool> second = {C, C, C, C, C, C, C, C, C, O, C, O, C};
  CHECK(scales(resumed, second) == scales(scaler, second));
  CHECK(resumed.state_json() == scaler.state_json());

  // A static scaler keeps its configured scale and takes the counters.
  LossScalerOptions static_options;
  static_options.loss_scale = 512;
  LossScaler fixed(static_options);
  fixed.load_state_json(state);
  CHECK(fixed.scale() == 512);
  CHECK(fixed.overflows() == 17);
}

TEST_CASE("a damaged checkpoint state is an error naming the field") {
  LossScaler scaler;
  const std::string good = scaler.state_json();
  auto load = [&](const std::string& json) {
    return error_of([&] { scaler.load_state_json(json); });
  };
  CHECK(contains(load("{\"scale\": 65536}"), "missing field 'hysteresis'"));
  std::string extra = good;
  extra.insert(1, "\"scael\": 1, ");
  CHECK(contains(load(extra), "unknown field 'scael'"));
  std::string text = good;
  text.replace(text.find("\"hysteresis\": 2"), 15, "\"hysteresis\": \"two\"");
  CHECK(contains(load(text), "field 'hysteresis' is not an integer"));
  std::string negative = good;
  negative.replace(negative.find("65536"), 5, "-4");
  CHECK(contains(load(negative), "scale -4 is not a positive finite scale"));
  CHECK(contains(load("[1, 2]"), "expected a JSON object"));
  CHECK(contains(load("{\"scale\": "), "not valid JSON"));
  CHECK(scaler.state_json() == good);  // nothing was loaded
}

}  // namespace
}  // namespace strata
