// The data-parallel engine under mpirun: an MLP, a tiny GPT and a tiny CNN of the Fashion-MNIST
// sample (nn/models) trained 20 steps with DP = the world size, gradient accumulation 1 and 2, at
// one global batch, against a single-process engine (DP = 1) run on every rank with the whole
// global batch: the same losses and final weights (f32, 1e-5 relative); overlap_comm on and off
// bitwise identical; the same parameters on every rank; no communication on non-boundary
// micro-steps.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "engine_test_support.hpp"
#include "parallel/mpi_process_group.hpp"
#include "strata.hpp"
#include "zero/from_config.hpp"

using namespace strata;
using namespace strata::engine_test;

namespace {

constexpr int64_t kGlobalBatch = 16;
constexpr int64_t kSteps = 20;
constexpr uint64_t kModelSeed = 5;

std::shared_ptr<dist::ProcessGroup> world() {
  static std::shared_ptr<dist::ProcessGroup> group = dist::MpiProcessGroup::create_world();
  return group;
}

enum class Model { mlp, gpt, cnn };
constexpr int64_t kContext = 8, kVocab = 16;
constexpr int64_t kImageSize = 8, kClasses = 10;

std::shared_ptr<nn::Module> make_model(Model model, uint64_t seed) {
  if (model == Model::mlp) return make_mlp(seed);
  manual_seed(seed);
  if (model == Model::cnn)
    return std::make_shared<nn::CNNClassifier>(nn::CNNConfig{.image_size = kImageSize,
                                                             .channels1 = 4,
                                                             .channels2 = 8,
                                                             .hidden = 16,
                                                             .num_classes = kClasses,
                                                             .dropout = 0.0});
  return std::make_shared<nn::GPT>(nn::GPTConfig{
      .vocab_size = kVocab, .block_size = kContext, .n_layer = 1, .n_head = 2, .n_embd = 16});
}

// One epoch of kSteps global batches: MLP examples, token windows and their next tokens, or
// images and labels.
std::shared_ptr<io::TensorDataset> dataset(Model model) {
  const int64_t n = kGlobalBatch * kSteps;
  if (model == Model::mlp) {
    io::Example data = make_data(n, 11);
    return std::make_shared<io::TensorDataset>(data.inputs, data.targets);
  }
  Generator gen(11);
  if (model == Model::cnn)
    return std::make_shared<io::TensorDataset>(randn({n, 1, kImageSize, kImageSize}, {}, gen),
                                               randint(0, kClasses, {n}, DType::i64, gen));
  Tensor tokens = randint(0, kVocab, {n, kContext + 1}, DType::i64, gen);
  return std::make_shared<io::TensorDataset>(tokens.narrow(1, 0, kContext).contiguous(),
                                             tokens.narrow(1, 1, kContext).contiguous());
}

Tensor model_loss(Model model, nn::Module& module, const io::Example& batch) {
  if (model == Model::gpt)
    return nn::functional::cross_entropy(module(batch.inputs).flatten(0, 1),
                                         batch.targets.flatten());
  return mlp_loss(module, batch);  // logits [N, classes]: the CNN's too
}

struct Variant {
  bool overlap = true;
  bool prescale = false;
  double predivide = 1.0;
};

// Micro-batch `micro`, `accumulation` micro-steps a step, buckets of 30 elements (the MLP's 4
// parameters of 3, 24, 8 and 32 elements make 3 buckets, one parameter larger than the size).
// AdamW for the MLP; SGD with momentum for the GPT and the CNN, whose attention key bias and
// convolution biases (before batch norm) have a zero true gradient: Adam would turn its rounding
// noise, which depends on the summation order, into full-size steps.
io::Config train_config(Model model, int64_t micro, int64_t accumulation, const Variant& v) {
  io::Config config = sgd_config(micro, accumulation);
  if (model == Model::mlp) {
    config.optimizer.type = "AdamW";
    config.optimizer.params.lr = 0.01;
  } else {
    config.optimizer.params.momentum = 0.9;
  }
  config.zero_optimization.reduce_bucket_size = 30;
  config.zero_optimization.overlap_comm = v.overlap;
  config.prescale_gradients = v.prescale;
  config.gradient_predivide_factor = v.predivide;
  config.seed = 3;
  return config;
}

struct Run {
  std::vector<double> losses;  // the global batch's mean loss per step
  std::vector<Tensor> params;  // final, f32
};

// kSteps steps of `engine`, each micro-step on next_batch(); `loss_of` turns its loss() into the
// global batch's.
template <class NextBatch, class GlobalLoss>
Run train(Model model, zero::Engine& engine, NextBatch next_batch, GlobalLoss loss_of) {
  Run run;
  for (int64_t step = 0; step < kSteps; ++step) {
    for (int64_t micro = 0; micro < engine.gradient_accumulation_steps(); ++micro) {
      std::optional<io::Example> batch = next_batch();
      REQUIRE(batch);
      engine.backward(model_loss(model, engine.module(), *batch));
      engine.step();
    }
    run.losses.push_back(loss_of(engine.loss()));
  }
  run.params = copies(engine.flat_parameters().parameters());
  return run;
}

// One process, no group: the reference, each step on the whole global batch. In micro-batches of
// kGlobalBatch / accumulation; for the CNN, whose batch norm normalises over each micro-batch, in
// the ranks' own micro-batches instead (the N shards of the distributed sampler read in turn,
// N * accumulation micro-steps a step), so that every forward sees the batch one rank's does.
Run reference(Model kind, int64_t accumulation) {
  const int64_t shards = kind == Model::cnn ? world()->size() : 1;
  io::Config config =
      train_config(kind, kGlobalBatch / (shards * accumulation), shards * accumulation, {})
          .resolve(1);
  auto model = make_model(kind, kModelSeed);
  auto optimizer = zero::make_optimizer(config, model->parameters());
  std::vector<std::shared_ptr<io::DataLoader>> loaders;
  for (int64_t rank = 0; rank < shards; ++rank)
    loaders.push_back(std::make_shared<io::DataLoader>(
        dataset(kind), io::DataLoaderOptions{.batch_size = *config.train_micro_batch_size_per_gpu,
                                             .seed = static_cast<uint64_t>(config.seed),
                                             .num_replicas = shards,
                                             .rank = rank}));
  std::ostringstream log;
  zero::Engine engine(config, model, optimizer, nullptr, nullptr, {.out = &log});
  int64_t micro_steps = 0;
  return train(
      kind, engine, [&] { return loaders[micro_steps++ % shards]->next(); },
      [](double loss) { return loss; });
}

// DP = the world size through initialize. Each rank starts from its own weights: the broadcast
// from rank 0 must make them rank 0's, the reference's.
Run data_parallel(Model kind, int64_t accumulation, const Variant& v) {
  const int n = world()->size();
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] =
      initialize(train_config(kind, kGlobalBatch / (n * accumulation), accumulation, v),
                 make_model(kind, kModelSeed + static_cast<uint64_t>(world()->rank())),
                 {.dataset = dataset(kind), .log = {.out = &log}, .group = world()});
  REQUIRE(engine.dp_size() == n);
  REQUIRE(engine.train_batch_size() == kGlobalBatch);
  return train(
      kind, engine, [&] { return loader->next(); },
      [](double loss) {
        Tensor t = full({1}, loss, DType::f64);
        world()->allreduce(t, dist::ReduceOp::avg);
        return t.item<double>();
      });
}

void check_close(const Run& run, const Run& ref) {
  for (int64_t i = 0; i < kSteps; ++i) {
    CAPTURE(i);
    CHECK(run.losses[i] == doctest::Approx(ref.losses[i]).epsilon(1e-5));
  }
  for (size_t i = 0; i < ref.params.size(); ++i) {
    CAPTURE(i);
    const double scale = amax(abs(ref.params[i])).item<double>();
    CHECK(max_difference({run.params[i]}, {ref.params[i]}) <= 1e-5 * scale);
  }
}

}  // namespace

TEST_CASE("data parallel: the same losses and weights as one process at the same global batch") {
  for (Model kind : {Model::mlp, Model::gpt, Model::cnn})
    for (int64_t accumulation : {1, 2}) {
      CAPTURE(static_cast<int>(kind));
      CAPTURE(accumulation);
      const Run ref = reference(kind, accumulation);
      const Run overlapped = data_parallel(kind, accumulation, {.overlap = true});
      const Run after_backward = data_parallel(kind, accumulation, {.overlap = false});
      check_close(overlapped, ref);
      // The same buckets in the same order: bitwise the same, overlapped or not.
      CHECK(overlapped.losses == after_backward.losses);
      CHECK(max_difference(overlapped.params, after_backward.params) == 0);
      // DeepSpeed's scalings reach the same average.
      check_close(data_parallel(kind, accumulation, {.prescale = true}), ref);
      check_close(data_parallel(kind, accumulation, {.predivide = 2.0}), ref);

      // Every rank ends with rank 0's parameters, bit for bit.
      for (const Tensor& param : overlapped.params) {
        Tensor root = param.clone();
        world()->broadcast(root, 0);
        CHECK(max_difference({param}, {root}) == 0);
      }
    }
}

TEST_CASE("data parallel: one reduction per accumulation boundary, timed") {
  std::ostringstream log;
  io::Config config = train_config(Model::mlp, 1, 2, {.overlap = true});
  config.wall_clock_breakdown = true;
  config.steps_per_print = 1;
  auto [engine, optimizer, loader, scheduler] =
      initialize(config, make_mlp(kModelSeed),
                 {.dataset = dataset(Model::mlp), .log = {.out = &log}, .group = world()});
  const size_t buckets = 3;
  for (int step = 0; step < 2; ++step) {
    const uint64_t before = world()->sequence_number();
    engine.backward(mlp_loss(engine.module(), *loader->next()));
    engine.step();
    CHECK(world()->sequence_number() == before);  // not a boundary: no communication
    engine.backward(mlp_loss(engine.module(), *loader->next()));
    CHECK(world()->sequence_number() == before + buckets);  // launched during backward
    engine.step();
    CHECK(world()->sequence_number() == before + buckets);
    const zero::ReductionTimes& times = engine.last_reduction();
    CHECK(times.in_flight_ms > 0);
    CHECK(times.waited_ms >= 0);
    CHECK(times.waited_ms <= times.in_flight_ms + 1e-6);
  }
  if (world()->rank() == 0) CHECK(log.str().find("reduction in flight") != std::string::npos);
}

TEST_CASE("data parallel: initialize takes the world's group by default and shards the loader") {
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] =
      initialize(train_config(Model::mlp, 2, 1, {}), make_mlp(kModelSeed),
                 {.dataset = dataset(Model::mlp), .log = {.out = &log}});
  const int n = world()->size();
  CHECK(engine.dp_size() == n);
  CHECK(engine.dp_rank() == world()->rank());
  CHECK(engine.train_batch_size() == 2 * n);
  CHECK(loader->options().num_replicas == n);
  CHECK(loader->options().rank == world()->rank());
  CHECK(loader->num_batches() == kGlobalBatch * kSteps / (2 * n));
}
