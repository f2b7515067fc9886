// The data-parallel engine under mpirun: an MLP trained with DP = the world size, gradient
// accumulation 1 and 2, at one global batch, against a single-process engine run on every rank
// with the whole global batch: the same losses and final weights (f32, 1e-5 relative); overlap_comm
// on and off bitwise identical; the same parameters on every rank; no communication on
// non-boundary micro-steps.
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
constexpr int64_t kSteps = 12;
constexpr uint64_t kModelSeed = 5;

std::shared_ptr<dist::ProcessGroup> world() {
  static std::shared_ptr<dist::ProcessGroup> group = dist::MpiProcessGroup::create_world();
  return group;
}

std::shared_ptr<io::TensorDataset> dataset() {
  io::Example data = make_data(kGlobalBatch * kSteps, 11);
  return std::make_shared<io::TensorDataset>(data.inputs, data.targets);
}

struct Variant {
  bool overlap = true;
  bool prescale = false;
  double predivide = 1.0;
};

// AdamW over the MLP, micro-batch `micro`, `accumulation` micro-steps a step, buckets of 30
// elements (the MLP's 4 parameters of 3, 24, 8 and 32 elements make 3 buckets, one parameter
// larger than the size).
io::Config adamw_config(int64_t micro, int64_t accumulation, const Variant& v) {
  io::Config config = sgd_config(micro, accumulation);
  config.optimizer.type = "AdamW";
  config.optimizer.params.lr = 0.01;
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

// kSteps steps of `engine` over its loader; `loss_of` turns its loss() into the global batch's.
template <class GlobalLoss>
Run train(zero::Engine& engine, io::DataLoader& loader, GlobalLoss loss_of) {
  Run run;
  for (int64_t step = 0; step < kSteps; ++step) {
    for (int64_t micro = 0; micro < engine.gradient_accumulation_steps(); ++micro) {
      std::optional<io::Example> batch = loader.next();
      REQUIRE(batch);
      engine.backward(mlp_loss(engine.module(), *batch));
      engine.step();
    }
    run.losses.push_back(loss_of(engine.loss()));
  }
  run.params = copies(engine.flat_parameters().parameters());
  return run;
}

// One process, no group, micro-batch kGlobalBatch / accumulation: the reference.
Run reference(int64_t accumulation) {
  io::Config config = adamw_config(kGlobalBatch / accumulation, accumulation, {}).resolve(1);
  auto model = make_mlp(kModelSeed);
  auto optimizer = zero::make_optimizer(config, model->parameters());
  auto loader = std::make_shared<io::DataLoader>(
      dataset(), io::DataLoaderOptions{.batch_size = *config.train_micro_batch_size_per_gpu,
                                       .seed = static_cast<uint64_t>(config.seed)});
  std::ostringstream log;
  zero::Engine engine(config, model, optimizer, nullptr, loader, {.out = &log});
  return train(engine, *loader, [](double loss) { return loss; });
}

// DP = the world size through initialize. Each rank starts from its own weights: the broadcast
// from rank 0 must make them rank 0's, the reference's.
Run data_parallel(int64_t accumulation, const Variant& v) {
  const int n = world()->size();
  std::ostringstream log;
  auto [engine, optimizer, loader, scheduler] =
      initialize(adamw_config(kGlobalBatch / (n * accumulation), accumulation, v),
                 make_mlp(kModelSeed + static_cast<uint64_t>(world()->rank())),
                 {.dataset = dataset(), .log = {.out = &log}, .group = world()});
  REQUIRE(engine.dp_size() == n);
  REQUIRE(engine.train_batch_size() == kGlobalBatch);
  return train(engine, *loader, [](double loss) {
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
  for (int64_t accumulation : {1, 2}) {
    CAPTURE(accumulation);
    const Run ref = reference(accumulation);
    const Run overlapped = data_parallel(accumulation, {.overlap = true});
    const Run after_backward = data_parallel(accumulation, {.overlap = false});
    check_close(overlapped, ref);
    // The same buckets in the same order: bitwise the same, overlapped or not.
    CHECK(overlapped.losses == after_backward.losses);
    CHECK(max_difference(overlapped.params, after_backward.params) == 0);
    // DeepSpeed's scalings reach the same average.
    check_close(data_parallel(accumulation, {.prescale = true}), ref);
    check_close(data_parallel(accumulation, {.predivide = 2.0}), ref);

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
  io::Config config = adamw_config(1, 2, {.overlap = true});
  config.wall_clock_breakdown = true;
  config.steps_per_print = 1;
  auto [engine, optimizer, loader, scheduler] = initialize(
      config, make_mlp(kModelSeed), {.dataset = dataset(), .log = {.out = &log}, .group = world()});
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
