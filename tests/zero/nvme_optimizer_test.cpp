// NvmeOptimizer against the resident optimizer: the same parameters and states bit for bit after
// several steps, for Adam(W) (with amsgrad switched on mid-run), SGD with momentum and Adagrad,
// with f32 and bf16 gradients, a changing learning rate, chunks that do not divide the partition,
// and every pipelining setting; only the chunk buffers stay in memory; LAMB and a missing nvme_path
// are refused by name.
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <memory>

#include "core/allocator.hpp"
#include "core/factories.hpp"
#include "core/random.hpp"
#include "io/io_files.hpp"
#include "optim/adagrad.hpp"
#include "optim/adam.hpp"
#include "optim/lamb.hpp"
#include "optim/sgd.hpp"
#include "zero/nvme_optimizer.hpp"

using namespace strata;

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() &&
         std::memcmp(a.data_ptr(), b.data_ptr(), static_cast<size_t>(a.numel()) * 4) == 0;
}

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(Tensor)>;

// Trains `steps` steps both ways and compares parameters after each step and states at the end.
void check_parity(const MakeOptimizer& make, DType grad_dtype, io::OffloadOptimizerConfig offload,
                  const std::vector<std::string>& states, bool switch_amsgrad = false) {
  const int64_t n = 10'007;
  test::TempDir dir;
  offload.device = "nvme";
  offload.nvme_path = dir.path().string();
  Tensor resident = randn({n}), partition = resident.clone();
  resident.requires_grad_();
  auto reference = make(resident);
  auto shadow = make(partition);  // the optimizer bound to the partition, as ZeRO rebinds it
  zero::NvmeOptimizer nvme(*shadow, 0, partition, 3000, offload, {}, "rank0");
  CHECK(nvme.chunk() == 3072);
  for (int step = 0; step < 6; ++step) {
    if (switch_amsgrad && step == 3) {
      reference->param_groups()[0].options.amsgrad = true;
      shadow->param_groups()[0].options.amsgrad = true;
    }
    for (auto* o : {reference.get(), shadow.get()}) o->param_groups()[0].options.lr *= 0.9;
    Tensor grad = randn({n}).to(grad_dtype);
    resident.set_grad(grad.to(DType::f32));
    reference->step();
    int64_t next = 0;
    nvme.step(grad, [&](int64_t begin, const Tensor& master) {
      CHECK(begin == next);
      next += master.numel();
      partition.narrow(0, begin, master.numel()).copy_(master);
    });
    CHECK(next == n);
    INFO("step ", step);
    REQUIRE(same_bits(partition, resident));
  }
  CHECK(nvme.steps() == 6);
  CHECK(same_bits(nvme.master(), resident));
  optim::StateDict expected = reference->state_dict();
  for (const std::string& name : states) {
    INFO("state ", name);
    CHECK(same_bits(nvme.state(name), expected.tensors.at("state.0." + name)));
  }
}

std::vector<io::OffloadOptimizerConfig> pipelines() {
  std::vector<io::OffloadOptimizerConfig> all;
  for (bool read : {false, true})
    for (bool write : {false, true}) {
      io::OffloadOptimizerConfig c;
      c.pipeline_read = read;
      c.pipeline_write = write;
      c.buffer_count = 12;  // room for three slots of Adam's master, exp_avg, exp_avg_sq
      all.push_back(c);
    }
  io::OffloadOptimizerConfig scarce;  // buffer_count leaves room for one slot only
  scarce.pipeline_read = scarce.pipeline_write = true;
  scarce.buffer_count = 3;
  all.push_back(scarce);
  return all;
}

}  // namespace

TEST_CASE("NvmeOptimizer: AdamW and Adam equal the resident optimizer bit for bit") {
  for (const io::OffloadOptimizerConfig& offload : pipelines()) {
    INFO("pipeline_read ", offload.pipeline_read, " pipeline_write ", offload.pipeline_write,
         " buffer_count ", offload.buffer_count);
    check_parity(
        [](Tensor p) {
          return std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, optim::AdamWOptions{});
        },
        DType::f32, offload, {"exp_avg", "exp_avg_sq"});
  }
  check_parity(
      [](Tensor p) {
        return std::make_unique<optim::Adam>(std::vector<Tensor>{p},
                                             optim::AdamOptions{.weight_decay = 0.1});
      },
      DType::bf16, pipelines()[3], {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, true);
}

TEST_CASE("NvmeOptimizer: SGD with momentum and Adagrad equal the resident optimizer") {
  check_parity(
      [](Tensor p) {
        return std::make_unique<optim::SGD>(
            std::vector<Tensor>{p},
            optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
      },
      DType::f16, pipelines()[3], {"momentum_buffer"});
  check_parity(
      [](Tensor p) {
        return std::make_unique<optim::Adagrad>(
            std::vector<Tensor>{p}, optim::AdagradOptions{.initial_accumulator_value = 0.5});
      },
      DType::f32, pipelines()[1], {"sum"});
}

TEST_CASE("NvmeOptimizer: only the chunk buffers are resident") {
  test::TempDir dir;
  io::OffloadOptimizerConfig offload;
  offload.device = "nvme";
  offload.nvme_path = dir.path().string();
  offload.pipeline_read = offload.pipeline_write = true;
  offload.buffer_count = 9;
  const int64_t n = 1 << 20;  // 4 MiB of master values, 8 MiB of Adam states on disk
  Tensor partition = randn({n});
  optim::AdamW shadow({partition}, {});
  zero::NvmeOptimizer nvme(shadow, 0, partition, 1 << 16, offload, {}, "rank0");
  reset_peak_memory_stats();
  Tensor grad = randn({n});
  const size_t with_grad = memory_stats().current_bytes;
  nvme.step(grad, [](int64_t, const Tensor&) {});
  CHECK(nvme.offloaded_bytes() == 3 * n * 4);
  // Three slots of master + exp_avg + exp_avg_sq chunks: 9 buffers of 64K elements, freed after.
  CHECK(nvme.buffer_bytes() == 9 * (int64_t{1} << 16) * 4);
  CHECK(memory_stats().current_bytes == with_grad);
  const size_t step_peak = memory_stats().peak_bytes - with_grad;
  CHECK(step_peak <= static_cast<size_t>(nvme.buffer_bytes()) + (size_t{1} << 20));
  CHECK(step_peak < static_cast<size_t>(n) * 4);  // not even one state is ever whole in memory
}

TEST_CASE("NvmeOptimizer: LAMB and a missing nvme_path are refused by name") {
  test::TempDir dir;
  Tensor partition = randn({100});
  io::OffloadOptimizerConfig offload;
  offload.device = "nvme";
  optim::AdamW adamw({partition}, {});
  CHECK_THROWS_WITH(zero::NvmeOptimizer(adamw, 0, partition, 1000, offload, {}, "r"),
                    doctest::Contains("offload_optimizer.nvme_path is not set"));
  offload.nvme_path = dir.path().string();
  optim::Lamb lamb({partition}, {});
  CHECK_THROWS_WITH(zero::NvmeOptimizer(lamb, 0, partition, 1000, offload, {}, "r"),
                    doctest::Contains("LAMB's trust ratio needs whole parameters"));
}

TEST_CASE("Optimizer::update_range checks the group and the state count") {
  Tensor p = randn({8});
  optim::AdamW adamw({p}, {});
  CHECK(adamw.group_state_specs(0).size() == 2);
  optim::UpdateRange range;
  range.param = p;
  range.grad = randn({8});
  range.states = {zeros({8})};
  range.segments = {0, 8};
  CHECK_THROWS_WITH(adamw.update_range(0, range),
                    doctest::Contains("1 state tensors given, the group's options need 2"));
  CHECK_THROWS_WITH(adamw.update_range(1, range), doctest::Contains("no parameter group 1"));
  CHECK_THROWS_WITH(adamw.group_state_specs(-1), doctest::Contains("no parameter group -1"));
}
