// strata::initialize (initialize.hpp).
#include "zero/initialize.hpp"

#include "core/error.hpp"
#include "parallel/dist.hpp"
#include "parallel/world_group.hpp"
#include "zero/from_config.hpp"

namespace strata {

Initialized initialize(const io::Config& config, std::shared_ptr<nn::Module> model,
                       InitializeOptions options) {
  STRATA_CHECK(model, "initialize: the model is null");
  std::shared_ptr<dist::ProcessGroup> group = options.group;
  if (!group && dist::is_initialized() && dist::world_size() > 1) {
    // NCCL for a model on a GPU where the build has it and each rank has its own GPU; else MPI.
    std::vector<Tensor> parameters = model->parameters();
    group = dist::create_world_group(dist::Backend::automatic,
                                     parameters.empty() ? Device::cpu() : parameters[0].device());
  }
  const int64_t dp_size = group ? group->size() : 1;
  const int64_t dp_rank = group ? group->rank() : 0;
  const io::Config resolved = config.resolve(dp_size);
  STRATA_CHECK(!(options.optimizer && !resolved.optimizer.type.empty()),
               "initialize: an optimizer was passed and the config names one too (optimizer.type ",
               resolved.optimizer.type, "); remove one of them");
  STRATA_CHECK(!(options.scheduler && !resolved.scheduler.type.empty()),
               "initialize: a scheduler was passed and the config names one too (scheduler.type ",
               resolved.scheduler.type, "); remove one of them");
  STRATA_CHECK(options.parameters.empty() || !options.optimizer,
               "initialize: parameters are for the config's optimizer; a passed optimizer "
               "already has its parameter groups");

  std::shared_ptr<optim::Optimizer> optimizer = options.optimizer;
  if (!optimizer)
    optimizer = zero::make_optimizer(
        resolved, options.parameters.empty() ? model->parameters() : options.parameters);
  std::shared_ptr<optim::LRScheduler> scheduler = options.scheduler;
  if (!scheduler) scheduler = zero::make_scheduler(resolved, *optimizer);
  std::shared_ptr<io::DataLoader> loader;
  if (options.dataset)
    loader = std::make_shared<io::DataLoader>(
        options.dataset,
        io::DataLoaderOptions{.batch_size = *resolved.train_micro_batch_size_per_gpu,
                              .shuffle = true,
                              .seed = static_cast<uint64_t>(resolved.seed),
                              .drop_last = resolved.dataloader_drop_last,
                              .num_replicas = dp_size,
                              .rank = dp_rank});
  return Initialized{zero::Engine(resolved, std::move(model), optimizer, scheduler, loader,
                                  std::move(options.log), std::move(group)),
                     optimizer, loader, scheduler};
}

}  // namespace strata
