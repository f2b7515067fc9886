// The engine on one rank in f32: flat buffers, gradient accumulation, the true loss, clipping,
// schedules at the boundary, what initialize builds, and logging.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "engine_test_support.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

using namespace engine_test;

TEST_CASE("initialize lays the parameters and gradients out in flat buffers") {
  auto model = make_mlp(1);
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] =
      initialize(sgd_config(2, 1), model, {.log = {.out = &log}});
  CHECK(loader == nullptr);
  CHECK(scheduler == nullptr);
  REQUIRE(engine.flat_parameters().buffers().size() == 1);
  const zero::FlatBuffer& flat = engine.flat_parameters().buffers()[0];
  CHECK(flat.params.numel() == model->num_parameters());
  int64_t begin = 0;
  for (const Tensor& p : model->parameters()) {
    CHECK(p.storage().is_same(flat.params.storage()));
    CHECK(p.offset() == begin);
    CHECK(p.grad().storage().is_same(flat.grads.storage()));
    CHECK(p.grad().offset() == begin);
    begin += p.numel();
  }
  CHECK(max_difference({flat.grads}, {zeros({flat.grads.numel()})}) == 0);

  io::Example data = make_data(2, 7);
  engine.backward(mlp_loss(engine.module(), data));
  engine.step();
  CHECK(optimizer->fused(0));                  // one kernel over the flat group
  for (const Tensor& p : model->parameters())  // zeroed in place, still views of the buffer
    CHECK(p.grad().storage().is_same(flat.grads.storage()));
  CHECK(max_difference({flat.grads}, {zeros({flat.grads.numel()})}) == 0);
}

TEST_CASE("a caller's optimizer with two groups: each group is a flat range, each fused") {
  auto model = make_mlp(1);
  std::vector<Tensor> params = model->parameters();  // weight, bias, weight, bias
  auto optimizer = std::make_shared<optim::AdamW>(std::vector<Tensor>{params[0], params[2]},
                                                  optim::AdamWOptions{.weight_decay = 0.1});
  optimizer->add_param_group(std::vector<Tensor>{params[1], params[3]}).options.weight_decay = 0;
  io::Config config = sgd_config(2, 1);
  config.optimizer = {};
  std::ostringstream log;
  auto [engine, own, loader, scheduler] =
      initialize(config, model, {.optimizer = optimizer, .log = {.out = &log}});
  const zero::FlatBuffer& flat = engine.flat_parameters().buffers()[0];
  CHECK(params[0].offset() == 0);
  CHECK(params[2].offset() == params[0].numel());
  CHECK(params[1].offset() == params[0].numel() + params[2].numel());
  CHECK(params[3].storage().is_same(flat.params.storage()));
  engine.backward(mlp_loss(engine.module(), make_data(2, 1)));
  engine.step();
  CHECK(optimizer->fused(0));
  CHECK(optimizer->fused(1));
}

TEST_CASE("gradients accumulated over k micro-steps equal those of the single large batch") {
  const int64_t micro = 2, k = 4;
  io::Example data = make_data(micro * k, 3);
  auto reference = make_mlp(5);
  mlp_loss(*reference, data).backward();
  const std::vector<Tensor> big_batch_grads = copies(grads_of(reference->parameters()));

  auto model = make_mlp(5);
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] =
      initialize(sgd_config(micro, k), model, {.log = {.out = &log}});
  CHECK(engine.train_batch_size() == micro * k);
  const std::vector<Tensor> initial = copies(model->parameters());
  double loss_sum = 0;
  for (int64_t i = 0; i < k; ++i) {
    CHECK(engine.is_gradient_accumulation_boundary() == (i == k - 1));
    Tensor loss = mlp_loss(engine.module(), rows(data, i * micro, micro));
    Tensor returned = engine.backward(loss);
    CHECK(returned.is_same(loss));  // the true loss, not divided by k
    loss_sum += loss.item<double>();
    if (i == k - 1) {
      CHECK(max_difference(grads_of(model->parameters()), big_batch_grads) < 1e-6);
    }
    engine.step();
    if (i < k - 1) {  // no update before the boundary
      CHECK(max_difference(model->parameters(), initial) == 0);
      CHECK(engine.global_steps() == 0);
      CHECK(std::isnan(engine.loss()));
    }
  }
  CHECK(engine.global_steps() == 1);
  CHECK(engine.global_samples() == micro * k);
  CHECK(engine.micro_steps() == k);
  CHECK(engine.loss() == doctest::Approx(loss_sum / k).epsilon(1e-6));
  // p - lr * (the large batch's gradient)
  std::vector<Tensor> expected;
  for (size_t i = 0; i < initial.size(); ++i)
    expected.push_back(sub(initial[i], mul(big_batch_grads[i], 0.1)));
  CHECK(max_difference(model->parameters(), expected) < 1e-6);
}

TEST_CASE("the LR schedule steps at accumulation boundaries only") {
  io::Config config = sgd_config(2, 3);
  config.scheduler.type = "WarmupLR";
  config.scheduler.params.warmup_num_steps = 10;
  config.scheduler.params.warmup_max_lr = 0.1;
  config.scheduler.params.warmup_type = "linear";
  auto model = make_mlp(2);
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] = initialize(config, model, {.log = {.out = &log}});
  REQUIRE(scheduler != nullptr);
  // The same schedule on an optimizer that the engine does not drive.
  auto shadow_params = make_mlp(2)->parameters();
  optim::SGD shadow(shadow_params, {.lr = 0.1});
  optim::WarmupLR expected(
      shadow,
      {.warmup_max_lr = 0.1, .warmup_num_steps = 10, .warmup_type = optim::WarmupType::linear});
  io::Example data = make_data(2, 1);
  for (int64_t micro_step = 1; micro_step <= 9; ++micro_step) {
    engine.backward(mlp_loss(engine.module(), data));
    engine.step();
    if (micro_step % 3 == 0) expected.step();
    CHECK(engine.get_lr()[0] == expected.get_last_lr()[0]);
    CHECK(scheduler->last_batch_iteration() == engine.global_steps() - 1);
  }
  CHECK(engine.global_steps() == 3);
}

TEST_CASE("gradient clipping by global norm; the norm before clipping is reported") {
  io::Config config = sgd_config(4, 1);
  config.gradient_clipping = 0.01;
  io::Example data = make_data(4, 9);
  auto reference = make_mlp(4);
  mlp_loss(*reference, data).backward();
  std::vector<Tensor> grads = copies(grads_of(reference->parameters()));
  double norm = 0;
  for (const Tensor& g : grads) norm += sum(mul(g, g)).item<double>();
  norm = std::sqrt(norm);
  REQUIRE(norm > 0.01);

  auto model = make_mlp(4);
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] = initialize(config, model, {.log = {.out = &log}});
  const std::vector<Tensor> initial = copies(model->parameters());
  CHECK(std::isnan(engine.get_global_grad_norm()));
  engine.backward(mlp_loss(engine.module(), data));
  engine.step();
  CHECK(engine.get_global_grad_norm() == doctest::Approx(norm).epsilon(1e-5));
  const double coefficient = 0.01 / (norm + 1e-6);
  std::vector<Tensor> expected;
  for (size_t i = 0; i < initial.size(); ++i)
    expected.push_back(sub(initial[i], mul(grads[i], 0.1 * coefficient)));
  CHECK(max_difference(model->parameters(), expected) < 1e-7);
}

TEST_CASE("initialize: optimizer from the caller or the config, a loader over a dataset") {
  auto model = make_mlp(1);
  auto optimizer = std::make_shared<optim::Adam>(model->parameters(), optim::AdamOptions{});
  io::Config named = sgd_config(2, 1);
  CHECK(test::contains(test::error_of([&] { initialize(named, model, {.optimizer = optimizer}); }),
                       "the config names one too"));

  io::Config config = sgd_config(4, 2);
  config.optimizer = {};
  config.seed = 42;
  io::Example data = make_data(16, 2);
  std::ostringstream log;
  auto [engine, own, loader, scheduler] =
      initialize(config, model,
                 {.optimizer = optimizer,
                  .dataset = std::make_shared<io::TensorDataset>(data.inputs, data.targets),
                  .log = {.out = &log}});
  CHECK(own == optimizer);
  CHECK(engine.optimizer() == optimizer);
  REQUIRE(loader != nullptr);
  CHECK(loader->options().batch_size == 4);
  CHECK(loader->options().seed == 42);
  CHECK(loader->num_batches() == 4);
  CHECK_FALSE(loader->options().drop_last);

  config.dataloader_drop_last = true;
  io::Example odd = make_data(18, 2);
  auto other = make_mlp(1);
  auto dropping = initialize(
      config, other,
      {.optimizer = std::make_shared<optim::SGD>(other->parameters(), optim::SGDOptions{.lr = 0.1}),
       .dataset = std::make_shared<io::TensorDataset>(odd.inputs, odd.targets),
       .log = {.out = &log}});
  CHECK(dropping.loader->num_batches() == 4);  // 18 / 4, the short batch dropped

  // The config's optimizer, with its type's defaults: DeepSpeed's Adam decays decoupled.
  io::Config adam = sgd_config(2, 1);
  adam.optimizer.type = "adam";
  adam.optimizer.params = {.lr = 0.01};
  auto built = initialize(adam, make_mlp(1), {.log = {.out = &log}});
  CHECK(std::string(built.optimizer->name()) == "AdamW");
  CHECK(built.optimizer->param_groups()[0].options.lr == 0.01);
}

TEST_CASE("forward through a callable, for models whose call takes other arguments") {
  auto model = make_mlp(1);
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] =
      initialize(sgd_config(2, 1), model, {.log = {.out = &log}});
  io::Example data = make_data(2, 3);
  Tensor direct = engine(data.inputs);
  Tensor called = engine.forward([&] { return model->forward(data.inputs); });
  CHECK(max_difference({called}, {direct}) == 0);
  engine.backward(nn::functional::cross_entropy(called, data.targets));
  engine.step();
  CHECK(engine.timers().last_step()[static_cast<int>(zero::Phase::forward)] > 0);
  CHECK(engine.timers().last_step()[static_cast<int>(zero::Phase::backward)] > 0);
}

TEST_CASE("zero_grad(set_to_none) on the model breaks the flat layout: a clear error") {
  auto model = make_mlp(1);
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] =
      initialize(sgd_config(2, 1), model, {.log = {.out = &log}});
  model->zero_grad();
  engine.backward(mlp_loss(engine.module(), make_data(2, 1)));
  CHECK(test::contains(test::error_of([&] { engine.step(); }), "was replaced"));
}

TEST_CASE("logging every steps_per_print steps: the line, the breakdown and the metrics rows") {
  const auto path = std::filesystem::temp_directory_path() / "strata_engine_metrics.jsonl";
  io::Config config = sgd_config(2, 2);
  config.steps_per_print = 2;
  config.wall_clock_breakdown = true;
  config.gradient_clipping = 1.0;
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] = initialize(
      config, make_mlp(3),
      {.log = {.metrics_path = path, .total_steps = 4, .tokens_per_sample = 8, .out = &log}});
  io::Example data = make_data(2, 4);
  for (int i = 0; i < 8; ++i) {
    engine.backward(mlp_loss(engine.module(), data));
    engine.step();
  }
  const std::string text = log.str();
  CHECK(test::contains(text, "step 4/4"));
  CHECK(test::contains(text, "loss "));
  CHECK(test::contains(text, "grad_norm "));
  CHECK(test::contains(text, "tokens/s"));
  CHECK(test::contains(text, "ETA"));
  CHECK(test::contains(text, "time (ms), this step / mean since the last log: forward "));
  CHECK(test::contains(text, "| reduce 0.00 / 0.00 |"));
  std::vector<io::MetricsRow> rows = io::read_metrics(path);
  REQUIRE(rows.size() == 2);
  CHECK(*io::number_field(rows[1], "step") == 4);
  CHECK(*io::number_field(rows[1], "samples") == 16);
  CHECK(*io::number_field(rows[1], "loss") == engine.loss());
  CHECK(*io::number_field(rows[1], "grad_norm") == engine.get_global_grad_norm());
  CHECK(*io::number_field(rows[1], "skipped_steps") == 0);
  CHECK(*io::number_field(rows[1], "tokens_per_s") > 0);
  CHECK(*io::number_field(rows[1], "forward_ms") >= 0);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace strata
