// Engine: the training loop's one object, in DeepSpeed's shape. It owns the model, the optimizer
// and the LR schedule of a resolved config, lays the parameters and gradients out in flat buffers
// (zero/flat_parameters.hpp), and runs each step as DeepSpeed does:
//
//   Tensor loss = loss_fn(engine(batch.inputs), batch.targets);
//   engine.backward(loss);   // (loss * loss scale / gradient_accumulation_steps).backward()
//   engine.step();           // at the accumulation boundary: unscale, overflow check, clip,
//                            // optimizer step, LR schedule step, zero the gradients
//
// Words used here:
// - micro-step: one forward/backward on train_micro_batch_size_per_gpu samples; each ends with
//   step(). gradient_accumulation_steps micro-steps make one optimizer step (global step); the
//   last micro-step of each is the accumulation boundary.
// - true loss: the loss the caller computed, before any scaling. backward() returns it unchanged
//   and loss() reports its mean over the last step's micro-steps: the engine never hands back a
//   loss divided by the accumulation steps or multiplied by the loss scale.
// - skipped step: with fp16, a step whose gradients overflowed (inf or NaN after scaling): the
//   optimizer and the schedule do not step, the loss scale drops, and the reason is logged.
//
// Mixed precision: bf16.enabled converts the model's floating parameters and buffers to bf16;
// fp16.enabled to f16, and scales the loss with optim::LossScaler. f32 master copies of 16-bit
// parameters are kept in both cases: by the optimizer at stage 0 (optim/optimizer.hpp), as the
// compact partition masters at stages 1-2 (zero/partitioned_optimizer.hpp).
//
// Logging (rank 0) every steps_per_print global steps: a progress line (step, loss, lr, loss
// scale, grad norm, skipped steps, samples/s or tokens/s, ETA when the total is known), the
// wall-clock breakdown when wall_clock_breakdown is set, and a row of the same numbers in the
// metrics file when one is named. Only those steps read values back from the device.
//
// Data parallelism: given a process group of N ranks, the engine broadcasts the parameters from
// rank 0, and reduces the gradients over the group one unit of the flat buffers at a time
// (zero/partition.hpp, zero/gradient_reducer.hpp): launched during backward as units become ready
// with zero_optimization.overlap_comm, else after it, and waited for in step() (the timed reduce
// phase) before unscaling and clipping. loss() and the log report this rank's loss, as
// DeepSpeed's engine does.
//
// ZeRO (zero_optimization.stage; units of at most reduce_bucket_size elements, padded so that
// each rank owns an equal, 16-aligned slice of each):
// - stage 0: every rank holds everything; the accumulation boundary all-reduces each unit of the
//   flat gradients, earlier micro-steps communicate nothing.
// - stage 1: optimizer states and f32 masters partitioned: the flat gradients accumulate over the
//   micro-steps and the boundary reduce-scatters each unit in place, so a rank's slice of it holds
//   the average. Each rank updates its partition, and the parameters are all-gathered per unit
//   (at most allgather_bucket_size elements in flight).
// - stage 2: gradients partitioned too: there is no flat gradient buffer. Each micro-step's
//   gradients go from autograd's .grad into a bucket per unit, which is reduce-scattered and added
//   into this rank's compact gradient partition (every micro-step reduces, as in DeepSpeed).
//   One rank (no group) keeps flat gradients instead, as stage 1: it has nothing to scatter.
// At stages 1-2, fp16 overflow is agreed across the ranks (an overflow anywhere skips the step
// everywhere) and the global norm is the root of the ranks' summed squares. Under ZeRO the
// optimizer's parameter groups hold this rank's partition: 1-D f32 slices of the compact masters
// (the group count and options are unchanged, so schedules and get_lr() work); LAMB is refused.
//
// Memory (memory_report(), bytes per rank, with Psi parameters trained in bf16/f16 with Adam and N
// ranks): stage 0 holds 16 Psi (2 parameters + 2 gradients + 4 f32 masters + 8 Adam states),
// stage 1 4 Psi + 12 Psi / N, stage 2 2 Psi + 14 Psi / N, plus the padding of the units (at most
// 16 N - 1 elements each). Transients come on top: stage 1's f32 copy of the gradient partition at
// the step, stage 2's buckets of the units in flight during backward.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/tensor.hpp"
#include "io/config.hpp"
#include "io/data_loader.hpp"
#include "io/metrics_log.hpp"
#include "io/progress.hpp"
#include "nn/module.hpp"
#include "optim/lr_schedules.hpp"
#include "optim/optimizer.hpp"
#include "parallel/process_group.hpp"
#include "zero/flat_parameters.hpp"
#include "zero/gradient_reducer.hpp"
#include "zero/partitioned_optimizer.hpp"
#include "zero/stage3_parameters.hpp"
#include "zero/step_timers.hpp"

namespace strata::optim {
class LossScaler;  // optim/loss_scaler.hpp
}

namespace strata::zero {

struct LogOptions {
  std::filesystem::path
      metrics_path;               // a JSON Lines (or .csv) file of the logged steps; empty: none
  int64_t total_steps = 0;        // global steps the run will take: the ETA (0: unknown)
  int64_t tokens_per_sample = 0;  // > 0: tokens/s in the log (a GPT's context length)
  std::ostream* out = nullptr;    // where rank 0 logs; std::cout when null
};

// What load_checkpoint restores besides the model's weights.
struct LoadOptions {
  bool load_optimizer_states = true;     // states, steps and f32 masters
  bool load_lr_scheduler_states = true;  // the schedule's position
  // Only the weights: no optimizer, schedule, loss scale, counters, RNG or loader position.
  bool load_module_only = false;
};

// The bytes one rank holds for training state (Engine::memory_report), at the time of the call.
struct MemoryReport {
  int64_t parameters = 0;        // the flat parameter buffers (padding included)
  int64_t gradients = 0;         // flat gradients, stage 2's gradient partition and its buckets
  int64_t optimizer_states = 0;  // the optimizer's states and f32 masters (ZeRO's compact ones)
  int64_t offloaded = 0;         // of the above, held off the device: in CPU memory or NVMe files
  int64_t total() const { return parameters + gradients + optimizer_states; }
  int64_t peak_allocated = 0;  // the device allocator's high-water mark (core/allocator.hpp)
};

struct LoadedCheckpoint {
  std::filesystem::path path;  // DIR/<tag>
  std::string client_state;    // the JSON object save_checkpoint was given
};

class Engine {
 public:
  // `config` is resolved for this world size (io::Config::resolve). Converts the model for bf16 or
  // fp16, then lays out the optimizer's parameters (group by group, in order) in flat buffers;
  // the optimizer must not have stepped yet. `scheduler` (may be null) steps `optimizer`;
  // `loader` (may be null) is the loader whose position checkpoints keep. `group` (may be null:
  // one rank) is the data-parallel group, its size the world size `config` was resolved for; the
  // parameters are broadcast from its rank 0 here (collective: every rank constructs its engine).
  Engine(io::Config config, std::shared_ptr<nn::Module> model,
         std::shared_ptr<optim::Optimizer> optimizer, std::shared_ptr<optim::LRScheduler> scheduler,
         std::shared_ptr<io::DataLoader> loader = nullptr, LogOptions log = {},
         std::shared_ptr<dist::ProcessGroup> group = nullptr);
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) = delete;

  // The model's forward through its operator(), timed: engine(x) for a model that takes one
  // tensor. A model with another signature is called through a callable: engine.forward([&] {
  // return model->forward(idx, targets); }).
  Tensor forward(const Tensor& input);
  template <class Call>
  requires std::is_invocable_v<Call> std::invoke_result_t<Call> forward(Call&& call) {
    auto timed = timers_.time(Phase::forward);
    if (!stage3_) return call();
    Stage3Parameters::RootCall root(*stage3_);  // the root's gathers, around a direct forward
    auto output = call();
    if constexpr (std::is_same_v<decltype(output), Tensor>) root.set_output(output);
    return output;
  }
  Tensor operator()(const Tensor& input) { return forward(input); }

  // Runs backward on loss * loss scale / gradient_accumulation_steps, accumulating into the flat
  // gradients (at stage 2, reduce-scattered into this rank's gradient partition), and returns
  // `loss` unchanged (the true loss). `loss` has one element.
  Tensor backward(const Tensor& loss);
  // Ends a micro-step. At the accumulation boundary: unscales and checks the gradients (fp16; an
  // overflow skips the step), clips them by global norm (gradient_clipping > 0), steps the
  // optimizer and the schedule, zeroes the gradients, and logs when due.
  void step();

  // True while the current micro-step (the one whose backward runs before the next step()) is
  // the last of its accumulation window.
  bool is_gradient_accumulation_boundary() const;

  int64_t global_steps() const { return global_steps_; }
  int64_t global_samples() const { return global_samples_; }
  int64_t micro_steps() const { return micro_steps_; }
  int64_t skipped_steps() const { return skipped_steps_; }
  bool was_step_skipped() const { return step_skipped_; }
  // The lr of each parameter group.
  std::vector<double> get_lr() const;
  // The global gradient norm of the last step, after unscaling and before clipping; NaN when it
  // was not computed (gradient_clipping 0, or a skipped step). Reads the device.
  double get_global_grad_norm() const;
  // The mean true loss of the last step's micro-steps (NaN before the first step). Reads the
  // device.
  double loss() const;
  // The current loss scale: 1 without fp16.
  double loss_scale() const;

  // Saves DIR/<tag> (tag "global_step<N>" when empty) and points DIR/latest at it
  // (io/checkpoint_writer.hpp): the model's weights by module path name, the optimizer's state
  // (f32 masters included), the schedule, the loss scaler, the default generator's Philox state,
  // the counters, the loader's position, and `client_state` (a JSON object). Call it after step()
  // at an accumulation boundary. Returns DIR/<tag>. Collective over the data-parallel group:
  // each rank holding a partition writes its optimizer shard (zero/optimizer_shards.hpp), and DIR
  // must be on a file system every rank shares.
  std::filesystem::path save_checkpoint(const std::filesystem::path& dir, std::string tag = {},
                                        std::string_view client_state = "{}");
  // Loads DIR/<tag> (the tag DIR/latest names when empty) into this engine, which has the same
  // model, optimizer and schedule types as the one that saved it, at any ZeRO stage and world
  // size: each rank reads the pieces of its partition from the saved shards (zero/reshard.hpp);
  // every file is verified before it is read. Training then continues as the saving run did.
  LoadedCheckpoint load_checkpoint(const std::filesystem::path& dir, std::string tag = {},
                                   LoadOptions options = {});

  // Ends the log's progress line on a terminal, so that the caller's own output can follow.
  void finish_log_line();

  nn::Module& module() { return *module_; }
  const std::shared_ptr<optim::Optimizer>& optimizer() const { return optimizer_; }
  const std::shared_ptr<optim::LRScheduler>& lr_scheduler() const { return scheduler_; }
  const std::shared_ptr<io::DataLoader>& loader() const { return loader_; }
  const io::Config& config() const { return config_; }
  const FlatParameters& flat_parameters() const { return flat_; }
  const StepTimers& timers() const { return timers_; }
  // The data-parallel group and its size and rank (null, 1 and 0 on one rank).
  const std::shared_ptr<dist::ProcessGroup>& group() const { return group_; }
  int dp_size() const { return group_ ? group_->size() : 1; }
  int dp_rank() const { return rank_; }
  // The gradient reduction of the last step, summed over its micro-steps (zeros on one rank).
  const ReductionTimes& last_reduction() const { return last_reduction_; }
  int zero_stage() const { return static_cast<int>(config_.zero_optimization.stage); }
  // Stages 1-2: the partitioned optimizer (its masters, gradient partition and the map of the
  // rebound optimizer's state entries to compact ranges, for checkpoints); null at stage 0.
  const PartitionedOptimizer* partitioned_optimizer() const { return partitioned_.get(); }
  // Stage 3: the partitioned parameters (gather_full / full_state_dict for a consolidated save);
  // null below.
  Stage3Parameters* stage3_parameters() const { return stage3_.get(); }
  // This rank's bytes for parameters, gradients and optimizer states, and the allocator's peak.
  MemoryReport memory_report() const;
  int64_t gradient_accumulation_steps() const { return *config_.gradient_accumulation_steps; }
  int64_t train_batch_size() const { return *config_.train_batch_size; }
  int64_t train_micro_batch_size_per_gpu() const { return *config_.train_micro_batch_size_per_gpu; }

 private:
  // The boundary part of step().
  void optimizer_step();
  // Stage 2 with a group: gradients reduce-scattered every micro-step into the partition.
  bool staged() const;
  // Stages 1-2: the global norm of the gradient partitions, summed over the ranks (f64 []).
  Tensor partition_grad_norm(const std::vector<Tensor>& grads) const;
  // The log line, the breakdown and the metrics row of the step just taken.
  void log_step();
  std::ostream& out() const;

  io::Config config_;
  std::shared_ptr<nn::Module> module_;
  std::shared_ptr<optim::Optimizer> optimizer_;
  std::shared_ptr<optim::LRScheduler> scheduler_;
  std::shared_ptr<io::DataLoader> loader_;
  LogOptions log_;
  FlatParameters flat_;
  std::unique_ptr<optim::LossScaler> scaler_;          // fp16 only
  std::shared_ptr<dist::ProcessGroup> group_;          // data parallel; null on one rank
  std::shared_ptr<GradientReducer> reducer_;           // with group_
  std::unique_ptr<PartitionedOptimizer> partitioned_;  // stages 1-3
  std::unique_ptr<Stage3Parameters> stage3_;           // stage 3
  int rank_ = 0;                                       // the data-parallel rank: 0 on one rank
  // The last step's; the sum since the log; the sum over this step's micro-steps so far.
  ReductionTimes last_reduction_, window_reduction_, step_reduction_;

  int64_t micro_steps_ = 0, global_steps_ = 0, global_samples_ = 0, skipped_steps_ = 0;
  bool step_skipped_ = false;
  Tensor window_loss_;  // f32 []: the sum of the true losses of this accumulation window
  Tensor step_loss_;    // f32 []: the mean true loss of the last step
  Tensor grad_norm_;    // f64 []: the last step's global norm, undefined when not computed

  StepTimers timers_;
  std::unique_ptr<io::MetricsLog> metrics_;
  std::unique_ptr<io::Progress> progress_;
  double last_log_time_ = 0;  // seconds, steady clock
  int64_t last_log_samples_ = 0;
};

}  // namespace strata::zero
