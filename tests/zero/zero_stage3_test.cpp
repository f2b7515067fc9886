// ZeRO stage 3 through the engine under mpirun, against stage 0 on the same ranks: an MLP trained
// 20 steps with AdamW, a warm-up schedule, two parameter groups, gradient accumulation 2 and
// clipping by global norm, with every parameter partitioned or the biases persistent; fp16 with an
// overflow forced on rank 0 only, and bf16; a GPT whose head is tied to its embedding, built whole
// or partitioned (Stage3Init), called through its hooks or directly (Engine::forward with a
// callable), with evaluation and generate() on every rank; and a parameter unused in some steps.
// (Stage 3's memory against 16 Psi / N is checked with the other stages' in zero_stages_test.)
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "engine_test_support.hpp"
#include "parallel/mpi_process_group.hpp"
#include "strata.hpp"
#include "test_support.hpp"
#include "zero/from_config.hpp"
#include "zero/stage3_init.hpp"

using namespace strata;
using namespace strata::engine_test;

namespace {

constexpr int64_t kGlobalBatch = 16;
constexpr int64_t kSteps = 20;
constexpr int64_t kAccumulation = 2;
constexpr int64_t kOverflowStep = 6;  // fp16: rank 0's loss overflows in this step
constexpr uint64_t kModelSeed = 5;

std::shared_ptr<dist::ProcessGroup> world() {
  static std::shared_ptr<dist::ProcessGroup> group = dist::MpiProcessGroup::create_world();
  return group;
}

enum class Precision { f32, fp16, bf16 };

struct Setup {
  int stage = 0;
  Precision precision = Precision::f32;
  int64_t persistence = 0;  // stage3_param_persistence_threshold
};

io::Config train_config(const Setup& s, int64_t micro) {
  io::Config config = sgd_config(micro, kAccumulation);
  config.optimizer.type = "AdamW";
  config.optimizer.params.lr = 0.02;
  config.optimizer.params.weight_decay = 0.01;
  config.scheduler.type = "WarmupLR";
  config.scheduler.params.warmup_num_steps = 5;
  config.gradient_clipping = 0.3;  // clips most steps
  config.zero_optimization.stage = s.stage;
  config.zero_optimization.overlap_comm = true;
  config.zero_optimization.stage3_param_persistence_threshold = s.persistence;
  config.zero_optimization.stage3_prefetch_bucket_size = 64;
  config.zero_optimization.stage3_max_live_parameters = 200;
  config.zero_optimization.stage3_max_reuse_distance = 0;
  if (s.precision == Precision::fp16) {
    config.fp16.enabled = true;
    config.fp16.initial_scale_power = 10;
    config.fp16.hysteresis = 1;
  }
  config.bf16.enabled = s.precision == Precision::bf16;
  config.seed = 3;
  return config;
}

struct Run {
  std::vector<double> losses;  // the global batch's mean loss per step
  std::vector<Tensor> params;  // final, f32, whole
  int64_t skipped = 0;
};

// The engine's parameters, whole on every rank (gathered at stage 3).
std::vector<Tensor> final_params(const zero::Engine& engine) {
  std::vector<Tensor> params;
  for (const Tensor& p : engine.flat_parameters().parameters()) {
    params.push_back(engine.stage3_parameters() ? engine.stage3_parameters()->gather_full(p) : p);
  }
  return copies(params);
}

double mean_over_ranks(double value) {
  Tensor t = full({1}, value, DType::f64);
  world()->allreduce(t, dist::ReduceOp::avg);
  return t.item<double>();
}

// The MLP with a second parameter group (the last bias, its own lr), as zero_stages_test.
Run train_mlp(const Setup& s) {
  const int n = world()->size();
  const io::Config config = train_config(s, kGlobalBatch / (n * kAccumulation)).resolve(n);
  auto model = make_mlp(kModelSeed + static_cast<uint64_t>(world()->rank()));
  std::vector<Tensor> params = model->parameters();
  const Tensor last_bias = params.back();
  params.pop_back();
  auto optimizer = zero::make_optimizer(config, params);
  optimizer->add_param_group({last_bias}).options.lr = 0.05;
  auto scheduler = zero::make_scheduler(config, *optimizer);
  io::Example data = make_data(kGlobalBatch * kSteps, 11);
  auto loader = std::make_shared<io::DataLoader>(
      std::make_shared<io::TensorDataset>(data.inputs, data.targets),
      io::DataLoaderOptions{.batch_size = *config.train_micro_batch_size_per_gpu,
                            .seed = static_cast<uint64_t>(config.seed),
                            .num_replicas = n,
                            .rank = world()->rank()});
  std::ostringstream log;
  zero::Engine engine(config, model, optimizer, scheduler, loader, {.out = &log}, world());
  const DType dtype = engine.flat_parameters().buffers()[0].params.dtype();
  Run run;
  for (int64_t step = 0; step < kSteps; ++step) {
    for (int64_t micro = 0; micro < kAccumulation; ++micro) {
      std::optional<io::Example> batch = loader->next();
      REQUIRE(batch);
      Tensor loss = mlp_loss(engine.module(), {batch->inputs.to(dtype), batch->targets});
      if (s.precision == Precision::fp16 && step == kOverflowStep && micro == 0 &&
          engine.dp_rank() == 0)
        loss = mul(loss, 1e4);  // * loss scale overflows f16
      engine.backward(loss);
      engine.step();
    }
    run.losses.push_back(mean_over_ranks(engine.loss()));
  }
  run.params = final_params(engine);
  run.skipped = engine.skipped_steps();
  return run;
}

// Losses within `tolerance` relative, weights within `tolerance` of their largest magnitude.
void check_close(const Run& run, const Run& ref, double tolerance) {
  REQUIRE(run.losses.size() == ref.losses.size());
  for (size_t i = 0; i < ref.losses.size(); ++i) {
    CAPTURE(i);
    CHECK(run.losses[i] == doctest::Approx(ref.losses[i]).epsilon(tolerance));
  }
  REQUIRE(run.params.size() == ref.params.size());
  for (size_t i = 0; i < ref.params.size(); ++i) {
    CAPTURE(i);
    const double scale = amax(abs(ref.params[i])).item<double>();
    CHECK(max_difference({run.params[i]}, {ref.params[i]}) <= tolerance * scale);
  }
  CHECK(run.skipped == ref.skipped);
}

}  // namespace

TEST_CASE("zero-3: an MLP matches stage 0 in f32, partitioned whole or with persistent biases") {
  const Run stage0 = train_mlp({.stage = 0});
  for (int64_t persistence : {0, 10}) {
    CAPTURE(persistence);
    check_close(train_mlp({.stage = 3, .persistence = persistence}), stage0, 1e-5);
  }
}

TEST_CASE("zero-3: fp16 with an overflow on one rank, and bf16, match stage 0") {
  for (Precision precision : {Precision::fp16, Precision::bf16}) {
    CAPTURE(precision == Precision::fp16);
    const Run stage0 = train_mlp({.stage = 0, .precision = precision});
    CHECK(stage0.skipped == (precision == Precision::fp16 ? 1 : 0));
    // As stage 2, each micro-step's averaged gradient is rounded to 16 bits before it is
    // accumulated into the partition: 16-bit roundings apart from stage 0 (zero_stages_test).
    check_close(train_mlp({.stage = 3, .precision = precision}), stage0,
                precision == Precision::fp16 ? 4e-3 : 2e-2);
  }
}

TEST_CASE("zero-3: a GPT with a tied head, built whole or partitioned, matches stage 0") {
  constexpr int64_t kContext = 8, kVocab = 16;
  const int n = world()->size();
  Generator gen(11);
  Tensor tokens = randint(0, kVocab, {kGlobalBatch * kSteps, kContext + 1}, DType::i64, gen);
  auto data = std::make_shared<io::TensorDataset>(tokens.narrow(1, 0, kContext).contiguous(),
                                                  tokens.narrow(1, 1, kContext).contiguous());
  const nn::GPTConfig gpt{
      .vocab_size = kVocab, .block_size = kContext, .n_layer = 2, .n_head = 2, .n_embd = 16};
  struct GptRun {
    Run run;
    std::vector<float> logits;       // of an evaluation batch, after training
    std::vector<int64_t> generated;  // generate() after training
  };
  auto run = [&](int stage, int64_t persistence, bool partitioned_construction) {
    io::Config config = sgd_config(kGlobalBatch / (n * kAccumulation), kAccumulation);
    config.optimizer.params.momentum = 0.9;
    config.gradient_clipping = 1.0;
    config.zero_optimization.stage = stage;
    config.zero_optimization.overlap_comm = true;
    config.zero_optimization.stage3_param_persistence_threshold = persistence;
    config.zero_optimization.stage3_prefetch_bucket_size = 600;
    config.zero_optimization.stage3_max_live_parameters = 3000;
    config.zero_optimization.stage3_max_reuse_distance = 1000;
    manual_seed(kModelSeed);
    std::shared_ptr<nn::GPT> model;
    if (partitioned_construction) {
      zero::Stage3Init init(world());
      model = std::make_shared<nn::GPT>(gpt);
    } else {
      model = std::make_shared<nn::GPT>(gpt);
    }
    std::ostringstream log;
    auto [engine, optimizer, loader, scheduler] =
        initialize(config, model, {.dataset = data, .log = {.out = &log}, .group = world()});
    GptRun result;
    for (int64_t step = 0; step < kSteps; ++step) {
      for (int64_t micro = 0; micro < kAccumulation; ++micro) {
        std::optional<io::Example> batch = loader->next();
        REQUIRE(batch);
        // The second micro-step calls GPT::forward directly, past the root's hooks, through
        // the engine's callable forward.
        Tensor logits = micro == 0 ? engine.module()(batch->inputs)
                                   : engine.forward([&] { return model->forward(batch->inputs); });
        engine.backward(
            nn::functional::cross_entropy(logits.flatten(0, 1), batch->targets.flatten()));
        engine.step();
      }
      result.run.losses.push_back(engine.loss());
    }
    result.run.params = final_params(engine);
    {
      autograd::NoGradGuard no_grad;
      result.logits = (*model)(tokens.narrow(0, 0, 2).narrow(1, 0, kContext)).to_vector<float>();
    }
    Generator sampling(4);
    result.generated = model->generate(tokens.narrow(0, 0, 2).narrow(1, 0, 3), 4, 1.0, 0, sampling)
                           .to_vector<int64_t>();
    return result;
  };
  const GptRun stage0 = run(0, 0, false);
  for (int64_t persistence : {0, 64}) {
    for (bool partitioned_construction : {false, true}) {
      CAPTURE(persistence);
      CAPTURE(partitioned_construction);
      const GptRun stage3 = run(3, persistence, partitioned_construction);
      check_close(stage3.run, stage0.run, 1e-5);
      REQUIRE(stage3.logits.size() == stage0.logits.size());
      for (size_t i = 0; i < stage0.logits.size(); ++i) {
        CHECK(stage3.logits[i] == doctest::Approx(stage0.logits[i]).epsilon(1e-4));
      }
      CHECK(stage3.generated == stage0.generated);
    }
  }
}

namespace {

// A parameter that only every third step uses.
struct Sometimes : nn::Module {
  Sometimes() : Module("Sometimes") {
    first = register_module("first", std::make_shared<nn::Linear>(4, 8));
    second = register_module("second", std::make_shared<nn::Linear>(8, 3));
    gain = register_parameter("gain", ones({8}));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = tanh((*first)(x));
    if (use_gain) h = h * gain;
    return (*second)(h);
  }
  std::shared_ptr<nn::Linear> first, second;
  Tensor gain;
  bool use_gain = false;
};

}  // namespace

TEST_CASE("zero-3: a parameter unused in some steps") {
  auto run = [](int stage) {
    const int n = world()->size();
    io::Config config = train_config({.stage = stage}, kGlobalBatch / (n * kAccumulation));
    config.scheduler = {};
    config = config.resolve(n);
    manual_seed(kModelSeed);
    auto model = std::make_shared<Sometimes>();
    auto optimizer = zero::make_optimizer(config, model->parameters());
    std::ostringstream log;
    zero::Engine engine(config, model, optimizer, nullptr, nullptr, {.out = &log}, world());
    io::Example data = make_data(kGlobalBatch * kSteps, 11);
    Run result;
    for (int64_t step = 0; step < 9; ++step) {
      model->use_gain = step % 3 == 1;
      for (int64_t micro = 0; micro < kAccumulation; ++micro) {
        const int64_t micro_batch = *config.train_micro_batch_size_per_gpu;
        const int64_t begin = ((step * kAccumulation + micro) * n + world()->rank()) * micro_batch;
        engine.backward(mlp_loss(engine.module(), rows(data, begin, micro_batch)));
        engine.step();
      }
      result.losses.push_back(mean_over_ranks(engine.loss()));
    }
    result.params = final_params(engine);
    return result;
  };
  check_close(run(3), run(0), 1e-5);
}
