// Engine: micro-steps, the accumulation boundary, mixed precision and logging (engine.hpp).
#include "zero/engine.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "core/allocator.hpp"
#include "core/autograd_record.hpp"
#include "core/elementwise.hpp"
#include "core/error.hpp"
#include "core/factories.hpp"
#include "core/reduce.hpp"
#include "optim/clip_grad.hpp"
#include "optim/loss_scaler.hpp"

namespace strata::zero {
namespace {

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The parameters of every group of `optimizer`, in order: the flat layout.
std::vector<Tensor> optimized_parameters(const optim::Optimizer& optimizer) {
  std::vector<Tensor> params;
  for (const optim::ParamGroup& group : optimizer.param_groups())
    params.insert(params.end(), group.params.begin(), group.params.end());
  return params;
}

optim::LossScalerOptions scaler_options(const io::FP16Config& fp16) {
  return {.loss_scale = fp16.loss_scale,
          .initial_scale_power = static_cast<int>(fp16.initial_scale_power),
          .loss_scale_window = fp16.loss_scale_window,
          .hysteresis = static_cast<int>(fp16.hysteresis),
          .consecutive_hysteresis = fp16.consecutive_hysteresis,
          .min_loss_scale = fp16.min_loss_scale};
}

}  // namespace

Engine::Engine(io::Config config, std::shared_ptr<nn::Module> model,
               std::shared_ptr<optim::Optimizer> optimizer,
               std::shared_ptr<optim::LRScheduler> scheduler,
               std::shared_ptr<io::DataLoader> loader, LogOptions log,
               std::shared_ptr<dist::ProcessGroup> group)
    : config_(std::move(config)),
      module_(std::move(model)),
      optimizer_(std::move(optimizer)),
      scheduler_(std::move(scheduler)),
      loader_(std::move(loader)),
      log_(std::move(log)),
      group_(std::move(group)) {
  STRATA_CHECK(module_ && optimizer_, "Engine: a model and an optimizer are required");
  STRATA_CHECK(
      config_.train_batch_size && config_.train_micro_batch_size_per_gpu &&
          config_.gradient_accumulation_steps,
      "Engine: the config's batch sizes are not resolved; pass config.resolve(world_size)");
  if (config_.bf16.enabled) module_->to(DType::bf16);
  if (config_.fp16.enabled) {
    module_->to(DType::f16);
    scaler_ = std::make_unique<optim::LossScaler>(scaler_options(config_.fp16));
  }
  const io::ZeroConfig& zero = config_.zero_optimization;
  STRATA_CHECK(zero.stage >= 0 && zero.stage <= 3, "Engine: zero_optimization.stage ", zero.stage,
               " does not exist (stages 0 to 3 do)");
  // Stages 2-3 on one rank have nothing to reduce-scatter: they keep flat gradients, as stage 1.
  const bool staged = zero.stage >= 2 && group_;
  const bool stage3 = zero.stage == 3;
  const std::vector<Tensor> parameters = optimized_parameters(*optimizer_);
  flat_ = FlatParameters(
      parameters,
      {.world = zero.stage > 0 ? dp_size() : 1,
       .alignment = zero.stage > 0 ? kSliceAlignment : 1,
       .max_unit_numel = zero.reduce_bucket_size,
       .unit_starts = stage3 ? stage3_unit_starts(*module_, parameters,
                                                  zero.stage3_param_persistence_threshold)
                             : std::vector<size_t>{}},
      !staged, /*flat_params=*/!stage3, [this](const Shape& shape, TensorOptions options) {
        return group_ ? group_->empty_symmetric(shape, options) : empty(shape, options);
      });
  if (group_) {
    rank_ = group_->rank();
    if (!stage3) {
      for (const FlatBuffer& buffer : flat_.buffers()) group_->broadcast(buffer.params, 0);
    }
  }
  if (stage3) {
    stage3_ = std::make_unique<Stage3Parameters>(
        *module_, flat_, group_,
        Stage3Options{.schedule = {.prefetch_numel = zero.stage3_prefetch_bucket_size,
                                   .max_live_numel = zero.stage3_max_live_parameters,
                                   .max_reuse_distance = zero.stage3_max_reuse_distance},
                      .persistence_threshold = zero.stage3_param_persistence_threshold});
  }
  OptimizerOffload offload{zero.offload_optimizer, config_.aio, zero.sub_group_size};
  if (zero.cpu_offload && offload.config.device == "none") offload.config.device = "cpu";
  STRATA_CHECK(
      offload.config.device == "none" || zero.stage > 0, "Engine: offload_optimizer.device \"",
      offload.config.device,
      "\" needs zero_optimization.stage 1, 2 or 3: offload moves the partitioned optimizer");
  if (zero.stage > 0)
    partitioned_ = std::make_unique<PartitionedOptimizer>(
        flat_, optimizer_, group_, staged, zero.allgather_bucket_size, offload,
        stage3_ ? stage3_->partitions() : std::vector<Tensor>{});
  if (group_) {
    const Reduction reduction = zero.stage == 0 ? Reduction::allreduce
                                : staged        ? Reduction::staged
                                                : Reduction::reduce_scatter;
    reducer_ = GradientReducer::create(
        flat_, group_,
        {.reduction = reduction,
         .prescale_gradients = config_.prescale_gradients,
         .gradient_predivide_factor = config_.gradient_predivide_factor},
        partitioned_ ? partitioned_->compact_gradients() : std::vector<Tensor>{});
  }
  const Device device =
      flat_.buffers().empty() ? Device::cpu() : flat_.buffers()[0].params.device();
  window_loss_ = zeros({}, {DType::f32, device});
  timers_ = StepTimers(config_.wall_clock_breakdown && device.is_cuda());
  if (rank_ == 0) {
    if (!log_.metrics_path.empty()) metrics_ = std::make_unique<io::MetricsLog>(log_.metrics_path);
    progress_ = std::make_unique<io::Progress>(
        log_.total_steps,
        io::ProgressOptions{.every_steps = config_.steps_per_print,
                            .every_seconds = 0,
                            .unit = log_.tokens_per_sample > 0 ? "tokens" : "samples"},
        out());
  }
  last_log_time_ = seconds_now();
}

Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;

std::ostream& Engine::out() const { return log_.out ? *log_.out : std::cout; }

Tensor Engine::forward(const Tensor& input) {
  auto timed = timers_.time(Phase::forward);
  return (*module_)(input);
}

Tensor Engine::backward(const Tensor& loss) {
  STRATA_CHECK(loss.defined() && loss.numel() == 1, "Engine::backward: the loss must have one ",
               "element, got shape ", loss.defined() ? shape_str(loss.shape()) : "(undefined)");
  auto timed = timers_.time(Phase::backward);
  {
    autograd::NoGradGuard no_grad;
    window_loss_ = add(window_loss_, loss.detach().reshape({}).to(DType::f32));
  }
  const double factor = loss_scale() / static_cast<double>(gradient_accumulation_steps());
  // Stage 2 reduces every micro-step into the gradient partition; the others at the boundary.
  const bool reduce = reducer_ && (is_gradient_accumulation_boundary() || staged());
  if (reduce) reducer_->begin_backward(config_.zero_optimization.overlap_comm.value_or(false));
  if (factor == 1.0) {
    loss.backward();  // no multiply at all: the same gradients as a plain loss.backward()
  } else {
    mul(loss, factor).backward();
  }
  if (stage3_) stage3_->end_pass();
  if (reduce) reducer_->end_backward();
  return loss;
}

bool Engine::is_gradient_accumulation_boundary() const {
  return (micro_steps_ + 1) % gradient_accumulation_steps() == 0;
}

bool Engine::staged() const { return partitioned_ && !partitioned_->compact_gradients().empty(); }

void Engine::step() {
  const bool boundary = is_gradient_accumulation_boundary();
  ++micro_steps_;
  if (reducer_ && (boundary || staged())) {
    auto timed = timers_.time(Phase::reduce);
    const ReductionTimes times = reducer_->wait();
    window_reduction_.in_flight_ms += times.in_flight_ms;
    window_reduction_.waited_ms += times.waited_ms;
    step_reduction_.in_flight_ms += times.in_flight_ms;
    step_reduction_.waited_ms += times.waited_ms;
  }
  if (boundary) optimizer_step();
}

void Engine::optimizer_step() {
  flat_.check_intact();
  {
    autograd::NoGradGuard no_grad;
    step_loss_ = div(window_loss_, static_cast<double>(gradient_accumulation_steps()));
    window_loss_ = zeros({}, window_loss_.options());
  }
  last_reduction_ = step_reduction_;
  step_reduction_ = {};
  {
    auto timed = timers_.time(Phase::step);
    step_skipped_ = false;
    grad_norm_ = Tensor();
    // This rank's gradients: all of them at stage 0, its partition at stages 1-2.
    const std::vector<Tensor> grads =
        partitioned_ ? partitioned_->gradients() : flat_.grad_buffers();
    if (scaler_) {
      const double scale = scaler_->scale();
      step_skipped_ = scaler_->unscale_and_check(grads);
      if (partitioned_ && group_) {  // an overflow anywhere skips the step everywhere
        Tensor overflow = full({1}, step_skipped_ ? 1.0 : 0.0, DType::f32);
        group_->allreduce(overflow, dist::ReduceOp::max);
        step_skipped_ = overflow.item<float>() > 0;
      }
      scaler_->update(step_skipped_);
      if (step_skipped_) {
        ++skipped_steps_;
        if (rank_ == 0) {
          if (progress_) progress_->finish();
          out() << "step " << global_steps_ + 1 << " skipped: the gradients overflowed (inf or "
                << "NaN) at loss scale " << scale << "; " << scaler_->last_event() << '\n';
        }
      }
    }
    if (!step_skipped_) {
      if (config_.gradient_clipping > 0) {
        if (partitioned_) {
          grad_norm_ = partition_grad_norm(grads);
          optim::clip_grads_by_norm_(grads, grad_norm_, config_.gradient_clipping);
        } else {
          grad_norm_ = optim::clip_grad_norm_(flat_.parameters(), config_.gradient_clipping);
        }
      }
      if (partitioned_) {
        partitioned_->step();
        if (stage3_) stage3_->refresh_persistent();
      } else {
        optimizer_->step();
      }
      if (scheduler_) scheduler_->step();
    }
    if (partitioned_) {
      partitioned_->zero_grads();
    } else {
      flat_.zero_grads();
    }
  }
  ++global_steps_;
  global_samples_ += train_batch_size();
  timers_.end_step();
  const bool last = log_.total_steps > 0 && global_steps_ == log_.total_steps;
  if (rank_ == 0 && (global_steps_ % config_.steps_per_print == 0 || last)) log_step();
}

Tensor Engine::partition_grad_norm(const std::vector<Tensor>& grads) const {
  autograd::NoGradGuard no_grad;
  // The sum of squares of this rank's partition (padding is zero), in f64 as clip_grad_norm_
  // combines norms, summed over the ranks.
  const Device device = grads.empty() ? Device::cpu() : grads[0].device();
  Tensor total = zeros({1}, {DType::f64, device});
  for (const Tensor& g : grads) {
    Tensor n = norm(is_16bit_float(g.dtype()) ? g.to(DType::f32) : g).to(DType::f64);
    total = add(total, mul(n, n));
  }
  if (group_) group_->allreduce(total, dist::ReduceOp::sum);
  return sqrt(total).reshape({});
}

MemoryReport Engine::memory_report() const {
  auto bytes = [](const Tensor& t) {
    return t.defined() ? t.numel() * static_cast<int64_t>(element_size(t.dtype())) : 0;
  };
  MemoryReport report;
  for (const FlatBuffer& b : flat_.buffers()) {
    report.parameters += bytes(b.params);
    report.gradients += bytes(b.grads);
  }
  report.optimizer_states = optimizer_->state_bytes();
  if (partitioned_) {
    for (const Tensor& g : partitioned_->compact_gradients()) report.gradients += bytes(g);
    for (const Tensor& m : partitioned_->masters()) report.optimizer_states += bytes(m);
    for (const auto& nvme : partitioned_->nvme())
      report.optimizer_states += nvme->offloaded_bytes();
    report.offloaded = partitioned_->offloaded_bytes();
  }
  if (reducer_) report.gradients += reducer_->staged_bytes();
  if (stage3_) report.parameters += stage3_->held_bytes();
  const Device device =
      flat_.buffers().empty() ? Device::cpu() : flat_.buffers()[0].params.device();
  report.peak_allocated = static_cast<int64_t>(memory_stats(device).peak_bytes);
  return report;
}

std::vector<double> Engine::get_lr() const {
  std::vector<double> lrs;
  for (const optim::ParamGroup& group : optimizer_->param_groups()) lrs.push_back(group.options.lr);
  return lrs;
}

double Engine::get_global_grad_norm() const {
  return grad_norm_.defined() ? grad_norm_.item<double>() : NAN;
}

double Engine::loss() const { return step_loss_.defined() ? step_loss_.item<double>() : NAN; }

void Engine::finish_log_line() {
  if (progress_) progress_->finish();
}

double Engine::loss_scale() const { return scaler_ ? scaler_->scale() : 1.0; }

void Engine::log_step() {
  const double now = seconds_now();
  const double samples = static_cast<double>(global_samples_ - last_log_samples_);
  const double steps = samples / static_cast<double>(train_batch_size());
  const double samples_per_s = samples / std::max(now - last_log_time_, 1e-9);
  last_log_time_ = now;
  last_log_samples_ = global_samples_;

  const double loss_value = loss();
  const double lr = get_lr().empty() ? NAN : get_lr()[0];
  const double norm = get_global_grad_norm();
  std::vector<io::ProgressMetric> shown = {{"loss", loss_value}, {"lr", lr}};
  if (scaler_) shown.push_back({"loss_scale", loss_scale()});
  if (!std::isnan(norm)) shown.push_back({"grad_norm", norm});
  if (log_.tokens_per_sample > 0) shown.push_back({"samples/s", samples_per_s});
  shown.push_back({"skipped", static_cast<double>(skipped_steps_)});
  const double items =
      log_.tokens_per_sample > 0 ? samples * static_cast<double>(log_.tokens_per_sample) : samples;
  progress_->update(global_steps_, shown, items);

  io::MetricsRow row = {{"step", global_steps_},
                        {"samples", global_samples_},
                        {"loss", loss_value},
                        {"lr", lr},
                        {"loss_scale", loss_scale()},
                        {"grad_norm", norm},
                        {"samples_per_s", samples_per_s},
                        {"skipped_steps", skipped_steps_}};
  if (log_.tokens_per_sample > 0)
    row.push_back({"tokens_per_s", samples_per_s * static_cast<double>(log_.tokens_per_sample)});
  if (config_.wall_clock_breakdown) {
    const PhaseTimes& last = timers_.last_step();
    const PhaseTimes mean = timers_.window_mean();
    progress_->finish();
    // time (ms), this step / mean since the last log: forward 1.20 / 1.21 | backward ...
    std::ostringstream line;
    line << std::fixed << std::setprecision(2) << "time (ms), this step / mean since the last log:";
    for (int i = 0; i < kPhases; ++i) {
      const char* name = phase_name(static_cast<Phase>(i));
      line << (i ? " | " : " ") << name << ' ' << last[i] << " / " << mean[i];
      row.push_back({std::string(name) + "_ms", mean[i]});
    }
    if (reducer_) {
      // The reduction's time in flight, and the share of it hidden behind backward (not waited
      // for in step()): "| reduction in flight 3.10 / 3.02, hidden 92.5%".
      const ReductionTimes& w = window_reduction_;
      const double hidden =
          w.in_flight_ms > 0 ? std::max(0.0, 1.0 - w.waited_ms / w.in_flight_ms) : 0.0;
      line << " | reduction in flight " << last_reduction_.in_flight_ms << " / "
           << w.in_flight_ms / steps << ", hidden " << std::setprecision(1) << 100 * hidden << '%';
      row.push_back({"reduction_in_flight_ms", w.in_flight_ms / steps});
      row.push_back({"reduction_hidden", hidden});
    }
    out() << line.str() << '\n';
  }
  timers_.reset_window();
  window_reduction_ = {};
  if (metrics_) metrics_->write(row);
}

}  // namespace strata::zero
