// ZeRO-Offload under mpirun (2 ranks): stages 1 and 2 with offload_optimizer.device "cpu" and
// "nvme" (to a temporary folder, in small pipelined chunks) against the same stage without
// offload: the same losses and final weights, bit for bit, over 20 steps of a tiny GPT with AdamW
// in two parameter groups (one that a rank owns nothing of), gradient accumulation 2, clipping, in
// f32 and bf16. With NVMe the masters and optimizer states
// are not in memory: the allocator holds less by at least their size, and the memory report
// counts them as offloaded. Checkpoints carry NVMe-offloaded states: 10 steps with NVMe offload,
// saved, loaded without offload for 10 more (and the reverse) give the losses of 20 straight.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "engine_test_support.hpp"
#include "parallel/mpi_process_group.hpp"
#include "strata.hpp"

using namespace strata;
using namespace strata::engine_test;

namespace {

constexpr int64_t kMicroBatch = 2, kAccumulation = 2, kSteps = 20;
constexpr int64_t kContext = 8, kVocab = 16;

std::shared_ptr<dist::ProcessGroup> world() {
  static std::shared_ptr<dist::ProcessGroup> group = dist::MpiProcessGroup::create_world();
  return group;
}

std::shared_ptr<nn::Module> make_gpt() {
  manual_seed(5);
  return std::make_shared<nn::GPT>(nn::GPTConfig{
      .vocab_size = kVocab, .block_size = kContext, .n_layer = 1, .n_head = 2, .n_embd = 32});
}

std::shared_ptr<io::TensorDataset> tokens() {
  Generator gen(11);
  const int64_t n = kMicroBatch * kAccumulation * world()->size() * kSteps;
  Tensor t = randint(0, kVocab, {n, kContext + 1}, DType::i64, gen);
  return std::make_shared<io::TensorDataset>(t.narrow(1, 0, kContext).contiguous(),
                                             t.narrow(1, 1, kContext).contiguous());
}

// A folder every rank agrees on, removed at the end.
struct SharedTempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / "strata_offload_test";
  SharedTempDir() {
    if (world()->rank() == 0) {
      std::filesystem::remove_all(path);
      std::filesystem::create_directories(path);
    }
    world()->barrier();
  }
  ~SharedTempDir() {
    world()->barrier();
    if (world()->rank() == 0) std::filesystem::remove_all(path);
  }
};

io::Config config(int stage, bool bf16, const std::string& offload,
                  const std::filesystem::path& nvme_path) {
  io::Config c = sgd_config(kMicroBatch, kAccumulation);
  c.optimizer = {};  // the test's own AdamW (adamw_with_two_groups)
  c.gradient_clipping = 0.5;
  c.bf16.enabled = bf16;
  c.zero_optimization.stage = stage;
  c.zero_optimization.reduce_bucket_size = 500;  // several units
  io::OffloadOptimizerConfig& o = c.zero_optimization.offload_optimizer;
  o.device = offload;
  if (offload == "nvme") {
    o.nvme_path = nvme_path.string();
    o.pipeline_read = o.pipeline_write = true;
    o.buffer_count = 9;
    c.zero_optimization.sub_group_size = 1000;  // chunks of 1024: several per partition
    c.aio.block_size = 4096;
    c.aio.thread_count = 2;
  }
  c.seed = 3;
  return c;
}

// AdamW over all parameters but the last (ln_f's bias), and a second group of that one with a lr of
// its own: a group so small that a rank owns nothing of it.
std::shared_ptr<optim::Optimizer> adamw_with_two_groups(nn::Module& model) {
  std::vector<Tensor> params = model.parameters();
  Tensor last = params.back();
  params.pop_back();
  auto adamw =
      std::make_shared<optim::AdamW>(params, optim::AdamWOptions{.lr = 0.01, .weight_decay = 0.1});
  adamw->add_param_group({last}).options.lr = 0.05;
  return adamw;
}

struct Run {
  std::vector<double> losses;
  std::vector<Tensor> params;
  zero::MemoryReport report;
  int64_t live_bytes = 0;  // the allocator's live bytes after training, over those before
  bool owns_second_group = false;
};

// Where a run starts and ends: it loads `load` from `dir` first and saves `save` after, when
// given, and trains `steps` steps.
struct Legs {
  std::filesystem::path dir;
  std::string load, save;
  int64_t steps = kSteps;
};

Run train(const io::Config& c, const Legs& legs = {}) {
  Run run;
  std::ostringstream log;
  const size_t before = memory_stats().current_bytes;
  {
    auto model = make_gpt();
    auto [engine, optimizer, loader, scheduler] =
        initialize(c, model,
                   {.optimizer = adamw_with_two_groups(*model),
                    .dataset = tokens(),
                    .log = {.out = &log},
                    .group = world()});
    if (!legs.load.empty()) engine.load_checkpoint(legs.dir, legs.load);
    for (int64_t step = 0; step < legs.steps; ++step) {
      for (int64_t micro = 0; micro < kAccumulation; ++micro) {
        std::optional<io::Example> batch = loader->next();
        REQUIRE(batch);
        Tensor logits = engine.module()(batch->inputs);
        engine.backward(
            nn::functional::cross_entropy(logits.flatten(0, 1), batch->targets.flatten()));
        engine.step();
      }
      run.losses.push_back(engine.loss());
    }
    if (!legs.save.empty()) engine.save_checkpoint(legs.dir, legs.save);
    run.params = copies(engine.flat_parameters().parameters());
    run.report = engine.memory_report();
    for (const zero::PartitionEntry& e : engine.partitioned_optimizer()->entries())
      run.owns_second_group = run.owns_second_group || e.group == 1;
    run.live_bytes =
        static_cast<int64_t>(memory_stats().current_bytes) - static_cast<int64_t>(before);
  }
  return run;
}

bool same_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].numel() != b[i].numel() ||
        std::memcmp(a[i].data_ptr(), b[i].data_ptr(), static_cast<size_t>(a[i].numel()) * 4))
      return false;
  return true;
}

}  // namespace

TEST_CASE("offload: CPU and NVMe offload equal no offload bit for bit at stages 1 and 2") {
  SharedTempDir dir;
  for (int stage : {1, 2})
    for (bool bf16 : {false, true}) {
      CAPTURE(stage);
      CAPTURE(bf16);
      const Run plain = train(config(stage, bf16, "none", dir.path));
      CHECK(plain.report.offloaded == 0);
      // Some rank owns nothing of the second group (the case an empty entry list must survive).
      Tensor owners = full({1}, plain.owns_second_group ? 1.0 : 0.0);
      world()->allreduce(owners, dist::ReduceOp::sum);
      CHECK(owners.item<float>() < world()->size());
      for (const std::string device : {"cpu", "nvme"}) {
        CAPTURE(device);
        const Run offloaded = train(config(stage, bf16, device, dir.path));
        CHECK(offloaded.losses == plain.losses);
        CHECK(same_bits(offloaded.params, plain.params));
        // The same states, wherever they are: f32 masters and AdamW's two states.
        CHECK(offloaded.report.optimizer_states == plain.report.optimizer_states);
        CHECK(offloaded.report.offloaded == offloaded.report.optimizer_states);
        if (device == "nvme") {
          // Not in memory: the allocator holds less by at least the masters and states.
          CHECK(plain.live_bytes - offloaded.live_bytes >= plain.report.optimizer_states);
        }
      }
      // The swap folders are gone with their engines (on every rank).
      world()->barrier();
      CHECK(std::filesystem::is_empty(dir.path));
    }
}

TEST_CASE("offload: needs a ZeRO stage, and nvme needs a usable nvme_path") {
  SharedTempDir dir;
  CHECK_THROWS_WITH(train(config(0, false, "cpu", dir.path)),
                    doctest::Contains("needs zero_optimization.stage 1 or 2"));
  io::Config missing = config(1, false, "nvme", dir.path);
  missing.zero_optimization.offload_optimizer.nvme_path = (dir.path / "absent").string();
  CHECK_THROWS_WITH(train(missing), doctest::Contains("absent' does not exist"));
}

TEST_CASE("offload: checkpoints move NVMe-offloaded optimizer states in and out of memory") {
  SharedTempDir dir;
  const std::filesystem::path checkpoints = dir.path / "checkpoints";
  for (bool bf16 : {false, true}) {
    CAPTURE(bf16);
    const Run straight = train(config(2, bf16, "none", dir.path));
    const std::vector<double> tail(straight.losses.begin() + kSteps / 2, straight.losses.end());
    for (const std::string first : {"nvme", "none"}) {
      const std::string second = first == "nvme" ? "none" : "nvme";
      CAPTURE(first);
      const std::string tag = first + (bf16 ? "_bf16" : "_f32");
      train(config(2, bf16, first, dir.path),
            {.dir = checkpoints, .save = tag, .steps = kSteps / 2});
      const Run resumed = train(config(2, bf16, second, dir.path),
                                {.dir = checkpoints, .load = tag, .steps = kSteps / 2});
      CHECK(resumed.losses == tail);
      CHECK(same_bits(resumed.params, straight.params));
    }
  }
  world()->barrier();
  if (world()->rank() == 0) std::filesystem::remove_all(checkpoints);
}
