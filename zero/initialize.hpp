// strata::initialize: DeepSpeed's deepspeed.initialize in C++. From a config and a model it builds
// what the config names and the caller did not bring (the optimizer, the LR schedule, a data
// loader over a given dataset) and the Engine that composes them:
//
//   auto model = std::make_shared<nn::GPT>(gpt_config);
//   auto [engine, optimizer, loader, scheduler] =
//       strata::initialize(io::load_config("ds_config.json"), model, {.dataset = train});
//   for (const io::Example& batch : *loader) {
//     engine.backward(cross_entropy(engine(batch.inputs), batch.targets));
//     engine.step();
//   }
#pragma once

#include <memory>
#include <vector>

#include "core/tensor.hpp"
#include "io/config.hpp"
#include "io/data_loader.hpp"
#include "io/dataset.hpp"
#include "nn/module.hpp"
#include "optim/lr_schedules.hpp"
#include "optim/optimizer.hpp"
#include "parallel/process_group.hpp"
#include "zero/engine.hpp"

namespace strata {

struct InitializeOptions {
  // The caller's optimizer, or null to build config.optimizer (then over `parameters`). Giving
  // both is an error, as in DeepSpeed.
  std::shared_ptr<optim::Optimizer> optimizer;
  // The caller's schedule (over `optimizer`), or null to build config.scheduler (none when its
  // type is empty). Giving both is an error.
  std::shared_ptr<optim::LRScheduler> scheduler;
  // When given, a DataLoader over it: train_micro_batch_size_per_gpu, shuffled with config.seed,
  // dataloader_drop_last.
  std::shared_ptr<const io::Dataset> dataset;
  // What the config's optimizer trains: the model's parameters when empty (DeepSpeed's
  // model_parameters).
  std::vector<Tensor> parameters;
  zero::LogOptions log;
  // The data-parallel group. Null: the world's group (dist::create_world_group, automatic: NCCL
  // for a model on CUDA when the build has NCCL and each rank has a GPU, else MPI) when
  // dist::init() has been called and found more than one rank, else none (one rank, no MPI).
  std::shared_ptr<dist::ProcessGroup> group;
};

// What initialize returns, in DeepSpeed's order: auto [engine, optimizer, loader, scheduler].
// loader and scheduler are null when there is none.
struct Initialized {
  zero::Engine engine;
  std::shared_ptr<optim::Optimizer> optimizer;
  std::shared_ptr<io::DataLoader> loader;
  std::shared_ptr<optim::LRScheduler> scheduler;
};

// `config` is resolved here for the data-parallel size (validated, batch triad inferred, defaults
// filled); the loader reads this rank's shard (io/distributed_sampler.hpp). Collective over the
// group: every rank calls it.
Initialized initialize(const io::Config& config, std::shared_ptr<nn::Module> model,
                       InitializeOptions options = {});

}  // namespace strata
