// Checkpoints across ZeRO layouts, under mpirun with 4 ranks: an MLP (AdamW, a warm-up schedule,
// two parameter groups, the second so small that most ranks own none of it, accumulation 2,
// clipping) trains 21 steps in seven legs of 3, each loading the checkpoint the leg before saved:
// stage 2 on 4 ranks -> stage 3 on 2 ranks (a sub-group; its weights saved only as the shards'
// f32 masters) -> stage 0 on 1 rank -> stage 1 on 2 ranks -> stage 3 on 4 ranks (the 16-bit
// weights gathered into the model group) -> stage 0 on 2 ranks (data parallel: rank 0 writes the
// one shard) -> stage 2 on 4 ranks. The losses equal those of an uninterrupted run on one process
// (f32), and `to-fp32`'s consolidation of every checkpoint equals the saving engine's weights. In
// bf16, a stage-2 save loaded at stage 0 and saved again consolidates to the same f32 masters, bit
// for bit. Also the errors for a missing shard, a damaged shard and a model with other parameters.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "engine_test_support.hpp"
#include "io/file.hpp"
#include "parallel/mpi_process_group.hpp"
#include "strata.hpp"
#include "test_support.hpp"
#include "zero/consolidate.hpp"
#include "zero/from_config.hpp"

using namespace strata;
using namespace strata::engine_test;

namespace {

constexpr int64_t kGlobalBatch = 16;
constexpr int64_t kAccumulation = 2;
constexpr int64_t kLegSteps = 3;
constexpr uint64_t kModelSeed = 5;

std::shared_ptr<dist::ProcessGroup> world() {
  static std::shared_ptr<dist::ProcessGroup> group = dist::MpiProcessGroup::create_world();
  return group;
}

struct Leg {
  int stage;
  int ranks;
  bool gather_weights = false;  // stage3_gather_16bit_weights_on_model_save
};
constexpr Leg kLegs[] = {{2, 4}, {3, 2}, {0, 1}, {1, 2}, {3, 4, true}, {0, 2}, {2, 4}};
constexpr int64_t kSteps = kLegSteps * std::size(kLegs);

// Units of at most 30 elements: the MLP's parameters of 32, 8, 24 and 3 elements make 4 units,
// padded to 16 * world elements at stages 1-3; at stage 3 none stays gathered between uses.
io::Config leg_config(int stage, bool bf16, int ranks, bool gather_weights = false) {
  io::Config config = sgd_config(kGlobalBatch / (ranks * kAccumulation), kAccumulation);
  config.optimizer.type = "AdamW";
  config.optimizer.params.lr = 0.02;
  config.optimizer.params.weight_decay = 0.01;
  config.scheduler.type = "WarmupLR";
  config.scheduler.params.warmup_num_steps = 5;
  config.gradient_clipping = 0.3;
  config.zero_optimization.stage = stage;
  config.zero_optimization.reduce_bucket_size = 30;
  config.zero_optimization.stage3_param_persistence_threshold = 0;
  config.zero_optimization.stage3_gather_16bit_weights_on_model_save = gather_weights;
  config.bf16.enabled = bf16;
  return config.resolve(ranks);
}

struct Trainer {
  std::ostringstream log;
  std::shared_ptr<dist::ProcessGroup> group;
  std::unique_ptr<zero::Engine> engine;

  // `group` null: one process. The optimizer's second group is the last layer's bias; with
  // `frozen_bias` the last bias is not optimized and the second group is the first layer's bias.
  Trainer(int stage, bool bf16, std::shared_ptr<dist::ProcessGroup> g,
          uint64_t model_seed = kModelSeed, bool frozen_bias = false, bool gather_weights = false)
      : group(std::move(g)) {
    const int n = group ? group->size() : 1;
    const io::Config config = leg_config(stage, bf16, n, gather_weights);
    auto model = make_mlp(model_seed);
    std::vector<Tensor> params = model->parameters();  // 0.weight, 0.bias, 2.weight, 2.bias
    Tensor second = params.back();
    params.pop_back();
    if (frozen_bias) {
      second = params[1];
      params.erase(params.begin() + 1);
    }
    auto optimizer = zero::make_optimizer(config, params);
    optimizer->add_param_group({second}).options.lr = 0.05;
    auto scheduler = zero::make_scheduler(config, *optimizer);
    engine = std::make_unique<zero::Engine>(config, model, optimizer, scheduler, nullptr,
                                            zero::LogOptions{.out = &log}, group);
  }

  // Steps [first, first + count) of the data: each rank takes its share of every micro-step's
  // rows. The global batch's mean loss of each step.
  std::vector<double> train(const io::Example& data, int64_t first, int64_t count) {
    const int n = group ? group->size() : 1;
    const int rank = group ? group->rank() : 0;
    const int64_t micro = kGlobalBatch / (n * kAccumulation);
    const DType dtype = engine->flat_parameters().buffers()[0].params.dtype();
    std::vector<double> losses;
    for (int64_t step = first; step < first + count; ++step) {
      for (int64_t k = 0; k < kAccumulation; ++k) {
        const io::Example batch = rows(
            data, step * kGlobalBatch + k * (kGlobalBatch / kAccumulation) + rank * micro, micro);
        engine->backward(mlp_loss(engine->module(), {batch.inputs.to(dtype), batch.targets}));
        engine->step();
      }
      Tensor loss = full({1}, engine->loss(), DType::f64);
      if (group) group->allreduce(loss, dist::ReduceOp::avg);
      losses.push_back(loss.item<double>());
    }
    return losses;
  }

  // The model's parameters by name, in f32 (at stage 3 gathered: a collective).
  std::map<std::string, Tensor> weights() {
    const nn::Module& module = engine->module();
    const zero::Stage3Parameters* stage3 = engine->stage3_parameters();
    const nn::OrderedDict<Tensor> all =
        stage3 ? stage3->full_state_dict(module) : module.state_dict();
    const nn::OrderedDict<Tensor> named = module.named_parameters();
    std::map<std::string, Tensor> out;
    for (const auto& [name, param] : named.items()) out[name] = all.at(name).to(DType::f32).clone();
    return out;
  }
};

std::filesystem::path shared_dir(const char* name) {
  const auto dir = std::filesystem::temp_directory_path() / name;
  if (world()->rank() == 0) std::filesystem::remove_all(dir);
  world()->barrier();
  return dir;
}

// The group of the first `ranks` ranks (collective over the world): the world itself for all
// of them, null for one rank (a plain one-process engine) and on ranks outside.
std::shared_ptr<dist::ProcessGroup> first_ranks(int ranks) {
  if (ranks == world()->size()) return world();
  std::vector<int> members;
  for (int r = 0; r < ranks; ++r) members.push_back(r);
  auto group = world()->new_group(members);
  return ranks == 1 ? nullptr : group;
}

std::map<std::string, Tensor> consolidated(const std::filesystem::path& dir, const std::string& tag,
                                           int expected_shards) {
  const auto out = dir / (tag + ".fp32.safetensors");
  std::ostringstream progress;
  const zero::ConsolidateResult result = zero::consolidate_fp32(dir, tag, out, &progress);
  CHECK(result.shards == expected_shards);
  CHECK(result.tensors == 4);
  CHECK(test::contains(progress.str(), "4/4"));
  std::map<std::string, Tensor> tensors;
  for (auto& [name, tensor] : io::load_safetensors(out).tensors) tensors[name] = tensor;
  return tensors;
}

void check_equal(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  REQUIRE(a.size() == b.size());
  for (const auto& [name, tensor] : a) {
    CAPTURE(name);
    REQUIRE(b.count(name));
    CHECK(tensor.dtype() == DType::f32);
    CHECK(tensor.shape() == b.at(name).shape());
    CHECK(max_difference({tensor}, {b.at(name)}) == 0);
  }
}

}  // namespace

TEST_CASE(
    "checkpoints: stage 2 x4 -> 3 x2 -> 0 x1 -> 1 x2 -> 3 x4 -> 0 x2 -> 2 x4 trains as one run") {
  REQUIRE(world()->size() == 4);
  const io::Example data = make_data(kGlobalBatch * kSteps, 11);
  const auto dir = shared_dir("strata_checkpoint_layouts_f32");

  std::vector<double> straight;
  if (world()->rank() == 0) straight = Trainer(0, false, nullptr).train(data, 0, kSteps);

  std::vector<double> resumed;
  std::vector<std::map<std::string, Tensor>> saved_weights;  // rank 0's, per leg
  for (size_t leg = 0; leg < std::size(kLegs); ++leg) {
    auto group = first_ranks(kLegs[leg].ranks);
    if (world()->rank() < kLegs[leg].ranks) {
      Trainer trainer(kLegs[leg].stage, false, group, kModelSeed + 10 * leg,  // other init
                      /*frozen_bias=*/false, kLegs[leg].gather_weights);
      if (leg > 0) trainer.engine->load_checkpoint(dir, "leg" + std::to_string(leg - 1));
      CHECK(trainer.engine->global_steps() == kLegSteps * static_cast<int64_t>(leg));
      const std::vector<double> losses =
          trainer.train(data, kLegSteps * static_cast<int64_t>(leg), kLegSteps);
      resumed.insert(resumed.end(), losses.begin(), losses.end());
      trainer.engine->save_checkpoint(dir, "leg" + std::to_string(leg));
      saved_weights.push_back(trainer.weights());
    }
    world()->barrier();
  }
  if (world()->rank() != 0) return;
  REQUIRE(resumed.size() == straight.size());
  for (size_t i = 0; i < straight.size(); ++i) {
    CAPTURE(i);
    CHECK(resumed[i] == doctest::Approx(straight[i]).epsilon(1e-5));
  }

  // The manifests record each layout; to-fp32 gives the saving engine's weights from any of them.
  for (size_t leg = 0; leg < std::size(kLegs); ++leg) {
    CAPTURE(leg);
    const std::string tag = "leg" + std::to_string(leg);
    const io::CheckpointReader reader(dir, tag);
    CHECK(reader.manifest().layout.zero_stage == kLegs[leg].stage);
    CHECK(reader.manifest().layout.world_size == kLegs[leg].ranks);
    const int world = kLegs[leg].stage == 0 ? 1 : kLegs[leg].ranks;
    CHECK(reader.manifest().layout.partitioning.at("partition_world") == world);
    // Ranks 2 and 3 of 4 own only padding of these small units: to-fp32 reads 2 shards of 4.
    check_equal(consolidated(dir, tag, std::min(world, 2)), saved_weights[leg]);
    // A stage-3 save gathers the weights into the model group only when asked to (the MLP has no
    // buffers, so without them there is no model group); otherwise they are the masters alone.
    const bool gathered = kLegs[leg].stage != 3 || kLegs[leg].gather_weights;
    CHECK(reader.has_group("model") == gathered);
    CHECK(reader.manifest().layout.partitioning.count("model_parameters") == (gathered ? 0 : 1));
    if (gathered) {
      std::map<std::string, Tensor> model;
      for (auto& [name, tensor] : reader.read_tensors("model")) model[name] = tensor;
      check_equal(model, saved_weights[leg]);
    }
  }

  // Errors, on rank 0 alone: a shard missing or damaged, a model with other parameters.
  const auto broken = dir / "broken";
  std::filesystem::create_directories(broken);
  std::filesystem::copy(dir / "leg0", broken / "leg0", std::filesystem::copy_options::recursive);
  std::filesystem::remove(broken / "leg0" / "optimizer.rank3.safetensors");
  Trainer one(0, false, nullptr);
  std::string error = test::error_of([&] { one.engine->load_checkpoint(broken, "leg0"); });
  CHECK(
      test::contains(error, "was saved by 4 ranks, each writing its optimizer shard, and lacks 1"));
  CHECK(test::contains(error, "optimizer.rank3.safetensors (listed in the manifest, not on disk)"));
  {
    std::fstream shard(broken / "leg0" / "optimizer.rank1.safetensors",
                       std::ios::in | std::ios::out | std::ios::binary);
    shard.seekp(-3, std::ios::end);
    shard.put('\x7f');
  }
  std::filesystem::copy(dir / "leg0" / "optimizer.rank3.safetensors", broken / "leg0");
  error = test::error_of([&] { one.engine->load_checkpoint(broken, "leg0"); });
  CHECK(test::contains(error, "optimizer.rank1.safetensors\" fails its CRC-32 check"));
  error = test::error_of([&] { zero::consolidate_fp32(broken, "leg0", broken / "out", nullptr); });
  CHECK(test::contains(error, "optimizer.rank1.safetensors\" fails its CRC-32 check"));
  CHECK_FALSE(std::filesystem::exists(broken / "out"));

  // The same model with another set of optimized parameters: the layouts differ by name.
  Trainer frozen(0, false, nullptr, kModelSeed, /*frozen_bias=*/true);
  error = test::error_of([&] { frozen.engine->load_checkpoint(dir, "leg0"); });
  CHECK(test::contains(error,
                       "the checkpoint (first) and this model (second) do not hold the "
                       "same parameters (1 differences):\n  \"2.bias\" [3] is in the first only"));
}

TEST_CASE("checkpoints: bf16 masters move from stage 2 x4 to stage 0 x1 bit for bit") {
  const io::Example data = make_data(kGlobalBatch * kSteps, 11);
  const auto dir = shared_dir("strata_checkpoint_layouts_bf16");
  {
    Trainer trainer(2, true, world());
    trainer.train(data, 0, kLegSteps);
    trainer.engine->save_checkpoint(dir, "zero2");
  }
  world()->barrier();
  if (world()->rank() != 0) return;
  Trainer trainer(0, true, nullptr, kModelSeed + 1);
  trainer.engine->load_checkpoint(dir, "zero2");
  trainer.engine->save_checkpoint(dir, "stage0");
  const std::map<std::string, Tensor> masters = consolidated(dir, "zero2", 2);
  check_equal(consolidated(dir, "stage0", 1), masters);
  // The 16-bit weights are the masters rounded, and the stage-0 optimizer holds the masters.
  for (const auto& [name, weight] : trainer.weights()) {
    CAPTURE(name);
    CHECK(max_difference({weight}, {masters.at(name).to(DType::bf16).to(DType::f32)}) == 0);
  }
  // Training goes on from there on the one process, with finite losses.
  for (double loss : trainer.train(data, kLegSteps, kLegSteps)) CHECK(std::isfinite(loss));
}

TEST_CASE("checkpoints: bf16 weights move from stage 2 x4 into stage 3 x2 partitions bit for bit") {
  const io::Example data = make_data(kGlobalBatch * kSteps, 11);
  const auto dir = shared_dir("strata_checkpoint_layouts_bf16_stage3");
  {
    Trainer trainer(2, true, world());
    trainer.train(data, 0, kLegSteps);
    trainer.engine->save_checkpoint(dir, "zero2");
  }
  world()->barrier();
  auto pair = first_ranks(2);
  if (world()->rank() < 2) {
    // The partitions are filled from the saved 16-bit weights, the masters from the shards: the
    // gathered weights are the masters rounded, and a save without gathering keeps the masters.
    Trainer trainer(3, true, pair, kModelSeed + 1);
    trainer.engine->load_checkpoint(dir, "zero2");
    const std::map<std::string, Tensor> weights = trainer.weights();
    trainer.engine->save_checkpoint(dir, "zero3");
    if (world()->rank() == 0) {
      const std::map<std::string, Tensor> masters = consolidated(dir, "zero2", 2);
      check_equal(consolidated(dir, "zero3", 2), masters);
      for (const auto& [name, weight] : weights) {
        CAPTURE(name);
        CHECK(max_difference({weight}, {masters.at(name).to(DType::bf16).to(DType::f32)}) == 0);
      }
    }
    // And from the masters alone (no model group): a fresh stage-3 engine gets the same weights.
    Trainer again(3, true, pair, kModelSeed + 2);
    again.engine->load_checkpoint(dir, "zero3");
    check_equal(again.weights(), weights);
    for (double loss : again.train(data, kLegSteps, kLegSteps)) CHECK(std::isfinite(loss));
  }
  world()->barrier();
}

TEST_CASE("checkpoints: a save that fails on one rank fails on every rank, the last tag intact") {
  const io::Example data = make_data(kGlobalBatch * kSteps, 11);
  const auto dir = shared_dir("strata_checkpoint_layouts_failure");
  Trainer trainer(2, false, world());
  trainer.train(data, 0, 1);
  trainer.engine->save_checkpoint(dir, "good");
  trainer.train(data, 1, 1);
  std::string error;
  {
    // Rank 1's disk is full: its shard cannot be written.
    std::optional<test::FileSizeLimit> full;
    if (world()->rank() == 1) full.emplace(64);
    error = test::error_of([&] { trainer.engine->save_checkpoint(dir, "bad"); });
  }
  if (world()->rank() == 1) {
    CHECK(test::contains(error, "writing group \"optimizer\" of rank 1 of tag \"bad\" failed"));
  } else {
    CHECK(test::contains(error, "save_checkpoint: writing a rank's files failed on another rank"));
  }
  world()->barrier();
  CHECK_FALSE(std::filesystem::exists(dir / "bad"));
  CHECK_FALSE(std::filesystem::exists(dir / "bad.partial"));
  CHECK(io::read_file(dir / "latest", "test") == "good\n");
  // The engine can still save and load.
  trainer.engine->save_checkpoint(dir, "again");
  trainer.engine->load_checkpoint(dir, "good");
  CHECK(trainer.engine->global_steps() == 1);
}
