// Training with the engine: a tiny GPT matches the hand-written loop of samples/gpt/train_gpt.cpp
// step for step (the same f32 losses and weights, with dropout, AdamW, a cosine schedule and
// clipping), and an MLP trains from a data loader with gradient accumulation.
#include <doctest/doctest.h>

#include <vector>

#include "engine_test_support.hpp"

namespace strata {
namespace {

using namespace engine_test;

constexpr int64_t kSteps = 6, kBatch = 4, kContext = 8;

std::shared_ptr<nn::GPT> tiny_gpt() {
  manual_seed(11);
  return std::make_shared<nn::GPT>(nn::GPTConfig{.vocab_size = 16,
                                                 .block_size = kContext,
                                                 .n_layer = 1,
                                                 .n_head = 2,
                                                 .n_embd = 16,
                                                 .dropout = 0.1});
}

Tensor tiny_corpus() {
  Generator gen(3);
  return randint(0, 16, {512}, DType::i64, gen);
}

Tensor gpt_loss(const Tensor& logits, const io::TokenBatch& batch) {
  return nn::functional::cross_entropy(logits.flatten(0, 1), batch.targets.flatten());
}

struct Run {
  std::vector<float> losses;
  std::vector<Tensor> weights;
};

// samples/gpt/train_gpt.cpp's loop.
Run hand_written() {
  auto model = tiny_gpt();
  optim::AdamW optimizer(model->parameters(),
                         {.lr = 1e-2, .betas = {0.9, 0.95}, .weight_decay = 0.1});
  optim::WarmupCosineLR schedule(optimizer, {.total_num_steps = kSteps,
                                             .warmup_num_steps = 2,
                                             .cos_min_ratio = 0.1,
                                             .warmup_type = optim::WarmupType::linear});
  Tensor tokens = tiny_corpus();
  Generator batches(5);
  manual_seed(21);  // dropout
  Run run;
  for (int64_t step = 1; step <= kSteps; ++step) {
    io::TokenBatch batch = io::sample_token_windows(tokens, kBatch, kContext, batches);
    Tensor loss = gpt_loss((*model)(batch.inputs), batch);
    optimizer.zero_grad();
    loss.backward();
    optim::clip_grad_norm_(model->parameters(), 1.0);
    optimizer.step();
    schedule.step();
    run.losses.push_back(loss.item<float>());
  }
  run.weights = copies(model->parameters());
  return run;
}

Run with_engine() {
  io::Config config;
  config.train_micro_batch_size_per_gpu = kBatch;
  config.optimizer.type = "AdamW";
  config.optimizer.params = {
      .lr = 1e-2, .betas = std::array<double, 2>{0.9, 0.95}, .weight_decay = 0.1};
  config.scheduler.type = "WarmupCosineLR";
  config.scheduler.params = {.warmup_num_steps = 2,
                             .warmup_type = "linear",
                             .total_num_steps = kSteps,
                             .cos_min_ratio = 0.1};
  config.gradient_clipping = 1.0;
  config.steps_per_print = 2;
  auto model = tiny_gpt();
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] =
      initialize(config, model, {.log = {.total_steps = kSteps, .out = &log}});
  Tensor tokens = tiny_corpus();
  Generator batches(5);
  manual_seed(21);
  Run run;
  for (int64_t step = 1; step <= kSteps; ++step) {
    io::TokenBatch batch = io::sample_token_windows(tokens, kBatch, kContext, batches);
    Tensor loss = engine.backward(gpt_loss(engine(batch.inputs), batch));
    engine.step();
    run.losses.push_back(loss.item<float>());
    CHECK(engine.loss() == loss.item<float>());
  }
  CHECK(engine.global_steps() == kSteps);
  CHECK(optimizer->fused(0));
  run.weights = copies(model->parameters());
  return run;
}

TEST_CASE("a tiny GPT trains with the engine exactly as with the hand-written loop") {
  Run expected = hand_written();
  Run actual = with_engine();
  CHECK(actual.losses == expected.losses);  // bit for bit
  CHECK(max_difference(actual.weights, expected.weights) == 0);
  CHECK(actual.losses.back() < actual.losses.front());
}

TEST_CASE("an MLP learns from the engine's data loader with gradient accumulation") {
  io::Example data = make_data(64, 12);
  data.targets = argmax(data.inputs.narrow(1, 0, 3), 1);  // a rule it can learn
  io::Config config = sgd_config(8, 2);
  config.optimizer.params.lr = 0.5;
  std::ostringstream log;
  auto model = make_mlp(12);
  auto full_loss = [&] {
    autograd::NoGradGuard no_grad;
    return mlp_loss(*model, data).item<double>();
  };
  const double before = full_loss();
  auto [engine, optimizer, loader, scheduler] =
      initialize(config, model,
                 {.dataset = std::make_shared<io::TensorDataset>(data.inputs, data.targets),
                  .log = {.out = &log}});
  for (int epoch = 0; epoch < 20; ++epoch) {
    for (const io::Example& batch : *loader) {
      engine.backward(mlp_loss(engine.module(), batch));
      engine.step();
    }
  }
  CHECK(engine.global_steps() == 20 * 4);
  CHECK(engine.global_samples() == 20 * 64);
  CHECK(full_loss() < 0.5 * before);
}

}  // namespace
}  // namespace strata
