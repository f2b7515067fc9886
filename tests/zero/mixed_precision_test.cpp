// The engine in bf16 and fp16 on the CPU (16-bit storage, f32 math): conversion of the model, f32
// master weights, loss scaling, overflow skipping and clipping after unscaling.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine_test_support.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

using namespace engine_test;

// The f32 masters the optimizer keeps, one per parameter.
void check_f32_masters(const optim::Optimizer& optimizer, size_t count) {
  optim::StateDict state = optimizer.state_dict();
  for (size_t i = 0; i < count; ++i) {
    const std::string key = "state." + std::to_string(i) + ".master";
    REQUIRE(state.tensors.count(key) == 1);
    CHECK(state.tensors.at(key).dtype() == DType::f32);
  }
}

TEST_CASE("bf16: bf16 weights and gradients, f32 masters, no loss scaling, and it trains") {
  io::Config config = sgd_config(8, 1);
  config.bf16.enabled = true;
  auto model = make_mlp(6);
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] = initialize(config, model, {.log = {.out = &log}});
  for (const Tensor& p : model->parameters()) {
    CHECK(p.dtype() == DType::bf16);
    CHECK(p.grad().dtype() == DType::bf16);
  }
  CHECK(engine.loss_scale() == 1);
  io::Example data = make_data(8, 5);
  data.inputs = data.inputs.to(DType::bf16);
  double first = 0;
  for (int step = 0; step < 30; ++step) {
    engine.backward(mlp_loss(engine.module(), data));
    engine.step();
    if (step == 0) first = engine.loss();
  }
  check_f32_masters(*optimizer, model->parameters().size());
  CHECK(optimizer->fused(0));
  CHECK(engine.loss() < first - 0.05);
}

io::Config fp16_config() {
  io::Config config = sgd_config(4, 1);
  config.fp16.enabled = true;
  config.fp16.initial_scale_power = 8;
  config.fp16.hysteresis = 1;
  return config;
}

TEST_CASE("fp16: scaled backward, unscaled gradients at the step, f32 masters") {
  io::Example data = make_data(4, 8);
  // The reference: the same (f16-rounded) weights in f32, a plain backward.
  auto reference = make_mlp(7);
  reference->to(DType::f16);
  reference->to(DType::f32);
  mlp_loss(*reference, data).backward();
  const std::vector<Tensor> grads = copies(grads_of(reference->parameters()));

  auto model = make_mlp(7);
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] =
      initialize(fp16_config(), model, {.log = {.out = &log}});
  for (const Tensor& p : model->parameters()) CHECK(p.dtype() == DType::f16);
  CHECK(engine.loss_scale() == 256);
  io::Example half = {data.inputs.to(DType::f16), data.targets};
  Tensor loss = mlp_loss(engine.module(), half);
  CHECK(engine.backward(loss).is_same(loss));
  std::vector<Tensor> scaled_expected;
  for (const Tensor& g : grads) scaled_expected.push_back(mul(g, 256.0));
  CHECK(max_difference(grads_of(model->parameters()), scaled_expected) < 256 * 2e-3);
  engine.step();
  CHECK_FALSE(engine.was_step_skipped());
  CHECK(engine.loss() == doctest::Approx(loss.item<double>()));  // the true loss, not scaled
  check_f32_masters(*optimizer, model->parameters().size());
  CHECK(optimizer->fused(0));
}

TEST_CASE("fp16: an overflowing step is skipped, logged, and the scale drops") {
  io::Config config = fp16_config();
  config.scheduler.type = "WarmupLR";
  config.scheduler.params.warmup_min_lr = 0.01;
  config.scheduler.params.warmup_max_lr = 0.1;
  config.scheduler.params.warmup_num_steps = 10;
  auto model = make_mlp(3);
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] = initialize(config, model, {.log = {.out = &log}});
  io::Example data = make_data(4, 2);
  data.inputs = data.inputs.to(DType::f16);
  const std::vector<Tensor> initial = copies(model->parameters());
  const double lr = engine.get_lr()[0];

  engine.backward(mlp_loss(engine.module(), data));
  // An inf in one gradient, as an overflowing backward leaves.
  Tensor grads = engine.flat_parameters().buffers()[0].grads;
  grads.narrow(0, 3, 1).fill_(std::numeric_limits<double>::infinity());
  engine.step();
  CHECK(engine.was_step_skipped());
  CHECK(engine.skipped_steps() == 1);
  CHECK(engine.global_steps() == 1);  // counted, as DeepSpeed counts it
  CHECK(max_difference(model->parameters(), initial) == 0);
  CHECK(engine.get_lr()[0] == lr);  // the schedule did not step
  CHECK(scheduler->last_batch_iteration() == -1);
  CHECK(engine.loss_scale() == 128);
  CHECK(std::isnan(engine.get_global_grad_norm()));
  CHECK(max_difference({grads}, {zeros({grads.numel()})}) == 0);
  CHECK(test::contains(log.str(), "step 1 skipped: the gradients overflowed"));

  engine.backward(mlp_loss(engine.module(), data));
  engine.step();
  CHECK_FALSE(engine.was_step_skipped());
  CHECK(engine.skipped_steps() == 1);
  CHECK(max_difference(model->parameters(), initial) > 0);
  CHECK(scheduler->last_batch_iteration() == 0);
}

TEST_CASE("fp16: clipping sees the unscaled gradients") {
  io::Config config = fp16_config();
  config.gradient_clipping = 0.01;
  io::Example data = make_data(4, 3);
  auto reference = make_mlp(8);
  reference->to(DType::f16);
  reference->to(DType::f32);
  mlp_loss(*reference, data).backward();
  double norm = 0;
  for (const Tensor& g : grads_of(reference->parameters())) norm += sum(mul(g, g)).item<double>();
  norm = std::sqrt(norm);
  REQUIRE(norm > 0.01);

  auto model = make_mlp(8);
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] = initialize(config, model, {.log = {.out = &log}});
  const std::vector<Tensor> initial = copies(model->parameters());
  engine.backward(mlp_loss(engine.module(), {data.inputs.to(DType::f16), data.targets}));
  engine.step();
  CHECK(engine.get_global_grad_norm() == doctest::Approx(norm).epsilon(1e-2));  // not x 256
  // SGD moved the weights by lr * (the clipped gradient), whose norm is the threshold.
  double moved = 0;
  std::vector<Tensor> now = copies(model->parameters());
  for (size_t i = 0; i < now.size(); ++i) {
    Tensor d = sub(now[i], initial[i]);
    moved += sum(mul(d, d)).item<double>();
  }
  CHECK(std::sqrt(moved) == doctest::Approx(0.1 * 0.01).epsilon(0.05));
}

TEST_CASE("fp16: an overflow at the minimum scale stops with the loss scaler's explanation") {
  io::Config config = fp16_config();
  config.fp16.initial_scale_power = 0;  // already at min_loss_scale 1
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] =
      initialize(config, make_mlp(2), {.log = {.out = &log}});
  engine.backward(
      mlp_loss(engine.module(), {make_data(4, 1).inputs.to(DType::f16), make_data(4, 1).targets}));
  Tensor(engine.flat_parameters().buffers()[0].grads).fill_(NAN);
  const std::string error = test::error_of([&] { engine.step(); });
  CHECK(test::contains(error, "the gradients overflowed"));
  CHECK(test::contains(error, "bf16"));
}

}  // namespace
}  // namespace strata
