// Engine::save_checkpoint and load_checkpoint (engine.hpp). Groups and sections of a tag:
//   model (tensors)         the module's state_dict, by module path name, in the model's dtype
//   optimizer (tensors)     the optimizer's StateDict tensors (state.<i>.exp_avg, .master, ...)
//   optimizer (section)     its scalars (options of each group, steps)
//   lr_scheduler (section)  the schedule's scalars, when there is a schedule
//   loss_scaler (section)   the fp16 loss scaler's state, with fp16
//   engine (section)        counters, the default generator's Philox state, the loader position
//   client_state (section)  the caller's JSON object
#include <utility>

#include "core/error.hpp"
#include "core/random.hpp"
#include "io/checkpoint_reader.hpp"
#include "io/checkpoint_writer.hpp"
#include "optim/loss_scaler.hpp"
#include "zero/checkpoint_state.hpp"
#include "zero/engine.hpp"

namespace strata::zero {

std::filesystem::path Engine::save_checkpoint(const std::filesystem::path& dir, std::string tag,
                                              std::string_view client_state) {
  STRATA_CHECK(zero_stage() == 0, "save_checkpoint: not supported yet at ZeRO stage ", zero_stage(),
               " (checkpoints of partitioned optimizer state are being built)");
  STRATA_CHECK(micro_steps_ % gradient_accumulation_steps() == 0,
               "save_checkpoint: called inside an accumulation window (micro-step ", micro_steps_,
               " of windows of ", gradient_accumulation_steps(),
               "); save after the step() that ends a window, so no gradient is lost");
  require_json_object(client_state, "save_checkpoint: client_state");
  if (tag.empty()) tag = "global_step" + std::to_string(global_steps_);
  io::CheckpointWriter writer(dir, tag, {.world_size = 1, .zero_stage = 0});
  writer.add_tensors("model", module_->state_dict().items());
  const optim::StateDict optimizer = optimizer_->state_dict();
  writer.add_tensors("optimizer", optimizer.tensors);
  writer.add_section("optimizer", scalars_to_json(optimizer.scalars));
  if (scheduler_)
    writer.add_section("lr_scheduler", scalars_to_json(scheduler_->state_dict().scalars));
  if (scaler_) writer.add_section("loss_scaler", scaler_->state_json());
  EngineState state{.global_steps = global_steps_,
                    .global_samples = global_samples_,
                    .micro_steps = micro_steps_,
                    .skipped_steps = skipped_steps_,
                    .rng = default_generator().state()};
  if (loader_) state.loader = loader_->state();
  writer.add_section("engine", to_json(state));
  writer.add_section("client_state", client_state);
  return writer.commit();
}

LoadedCheckpoint Engine::load_checkpoint(const std::filesystem::path& dir, std::string tag,
                                         LoadOptions options) {
  STRATA_CHECK(zero_stage() == 0, "load_checkpoint: not supported yet at ZeRO stage ", zero_stage(),
               " (checkpoints of partitioned optimizer state are being built)");
  io::CheckpointReader reader(dir, std::move(tag));
  const nn::OrderedDict<Tensor> own = module_->state_dict();
  io::NamedTensors weights = reader.read_tensors("model", io::specs_of(own.items()));
  nn::OrderedDict<Tensor> dict;
  for (auto& [name, tensor] : weights) dict.insert(name, tensor);
  module_->load_state_dict(dict);
  LoadedCheckpoint loaded{reader.path(), reader.read_section("client_state")};
  if (options.load_module_only) return loaded;

  if (options.load_optimizer_states) {
    optim::StateDict optimizer;
    for (auto& [name, tensor] : reader.read_tensors("optimizer")) optimizer.tensors[name] = tensor;
    optimizer.scalars =
        scalars_from_json(reader.read_section("optimizer"), "checkpoint section \"optimizer\"");
    optimizer_->load_state_dict(optimizer);
  }
  if (options.load_lr_scheduler_states && scheduler_) {
    STRATA_CHECK(reader.has_section("lr_scheduler"), "load_checkpoint: ", reader.path().string(),
                 " has no LR schedule state, and this engine has a schedule; pass "
                 "load_lr_scheduler_states = false to start the schedule afresh");
    optim::StateDict schedule;
    schedule.scalars = scalars_from_json(reader.read_section("lr_scheduler"),
                                         "checkpoint section \"lr_scheduler\"");
    scheduler_->load_state_dict(schedule);
  }
  if (scaler_) {
    STRATA_CHECK(reader.has_section("loss_scaler"), "load_checkpoint: ", reader.path().string(),
                 " was saved without fp16 loss scaling, and this engine has fp16 enabled");
    scaler_->load_state_json(reader.read_section("loss_scaler"));
  }
  const EngineState state = engine_state_from_json(reader.read_section("engine"));
  global_steps_ = state.global_steps;
  global_samples_ = state.global_samples;
  micro_steps_ = state.micro_steps;
  skipped_steps_ = state.skipped_steps;
  default_generator().set_state(state.rng);
  if (loader_) {
    STRATA_CHECK(state.loader, "load_checkpoint: ", reader.path().string(),
                 " holds no data-loader position, and this engine has a loader");
    loader_->load_state(*state.loader);
  }
  return loaded;
}

}  // namespace strata::zero
