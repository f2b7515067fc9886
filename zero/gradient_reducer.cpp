// GradientReducer: units as buckets, hooks, launch order, the three reductions, averaging and
// timing (gradient_reducer.hpp).
#include "zero/gradient_reducer.hpp"

#include <algorithm>

#include "autograd/engine.hpp"
#include "core/elementwise.hpp"
#include "core/error.hpp"
#include "core/factories.hpp"

namespace strata::zero {
namespace {

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::shared_ptr<GradientReducer> GradientReducer::create(const FlatParameters& flat,
                                                         std::shared_ptr<dist::ProcessGroup> group,
                                                         GradientReducerOptions options,
                                                         std::vector<Tensor> partitions) {
  STRATA_CHECK(group, "GradientReducer: a process group is required");
  STRATA_CHECK(options.gradient_predivide_factor > 0,
               "GradientReducer: gradient_predivide_factor must be positive, got ",
               options.gradient_predivide_factor);
  const bool staged = options.reduction == Reduction::staged;
  STRATA_CHECK(staged != flat.flat_gradients(), "GradientReducer: the ",
               staged ? "staged reduction needs parameters without" : "flat reductions need",
               " flat gradient buffers");
  STRATA_CHECK(
      !staged || partitions.size() == flat.buffers().size(),
      "GradientReducer: the staged reduction needs one gradient partition per buffer, got ",
      partitions.size(), " for ", flat.buffers().size());
  std::shared_ptr<GradientReducer> reducer(new GradientReducer(std::move(group), options));
  reducer->buffers_ = flat.buffers();
  reducer->partitions_ = std::move(partitions);
  // Indices only: a hook that held its parameter would keep it (and its buffer) alive forever
  // through the parameter's own accumulator.
  struct Hook {
    size_t bucket;
    int buffer;
    size_t member;
  };
  // Buffers and units from the end of the layout: backward reaches the last layers first.
  const std::vector<FlatBuffer>& buffers = reducer->buffers_;
  for (int b = static_cast<int>(buffers.size()) - 1; b >= 0; --b) {
    const BufferUnits& units = buffers[b].units;
    STRATA_CHECK(
        options.reduction == Reduction::allreduce || units.world == reducer->group_->size(),
        "GradientReducer: units cut for ", units.world, " ranks, the group has ",
        reducer->group_->size());
    for (size_t u = units.units.size(); u-- > 0;) {
      const Unit& unit = units.units[u];
      const int64_t size = unit.slice * units.world;
      reducer->staged_limit_ =
          std::max(reducer->staged_limit_,
                   2 * size * static_cast<int64_t>(element_size(buffers[b].params.dtype())));
      reducer->buckets_.push_back(
          Bucket{.buffer = b, .unit = u, .begin = unit.begin, .end = unit.begin + size});
      reducer->bucket_sizes_.push_back(static_cast<int>(unit.end_member - unit.first_member));
      for (size_t i = unit.first_member; i < unit.end_member; ++i) {
        const Hook hook{reducer->buckets_.size() - 1, b, i};
        autograd::register_grad_ready_hook(
            buffers[b].members[i],
            [weak = std::weak_ptr<GradientReducer>(reducer), hook](const Tensor&) {
              if (std::shared_ptr<GradientReducer> self = weak.lock())
                self->grad_ready(hook.bucket, hook.buffer, hook.member);
            });
      }
    }
  }
  return reducer;
}

int64_t GradientReducer::staged_bytes() const {
  int64_t bytes = 0;
  for (const Bucket& bucket : buckets_)
    for (const Tensor* t : {&bucket.staging, &bucket.reduced})
      if (t->defined()) bytes += t->numel() * static_cast<int64_t>(element_size(t->dtype()));
  return bytes;
}

void GradientReducer::begin_backward(bool overlap) {
  STRATA_CHECK(!reducing_, "GradientReducer: a reduction is already in progress; call wait() ",
               "(engine.step()) before the next reducing backward");
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i].pending = bucket_sizes_[i];
  next_launch_ = 0;
  armed_ = overlap;
  reducing_ = true;
}

void GradientReducer::grad_ready(size_t index, int buffer, size_t member) {
  Bucket& bucket = buckets_[index];
  if (options_.reduction == Reduction::staged) {
    STRATA_CHECK(!bucket.work, "GradientReducer: a gradient reached a unit whose reduction is ",
                 "still in flight; run one backward per engine.step()");
    const FlatBuffer& flat = buffers_[buffer];
    const Tensor& param = flat.members[member];
    if (!bucket.staging.defined())
      bucket.staging = zeros({bucket.end - bucket.begin}, {param.dtype(), param.device()});
    bucket.staging.narrow(0, flat.begins[member] - bucket.begin, param.numel())
        .view(param.shape())
        .copy_(param.grad());
    param.set_grad(Tensor());  // the next backward allocates a fresh one
  }
  const bool staged = options_.reduction == Reduction::staged;
  if (!armed_ && !(staged && reducing_)) return;
  poll();
  if (bucket.pending > 0 && --bucket.pending == 0) launch_ready(false);
  if (staged) bound_staged();
}

void GradientReducer::bound_staged() {
  for (size_t i = 0; i < next_launch_ && staged_bytes() > staged_limit_; ++i) {
    Bucket& oldest = buckets_[i];
    if (!oldest.work) continue;  // finished already
    const double start = seconds_now();
    oldest.work->wait();
    oldest.completed = seconds_now();
    backward_waited_ms_ += (oldest.completed - start) * 1e3;
    finish(oldest);
  }
}

void GradientReducer::end_backward() {
  armed_ = false;
  launch_ready(true);
}

void GradientReducer::launch_ready(bool all) {
  const double n = group_->size();
  const double prescale =
      options_.prescale_gradients ? 1.0 / n : 1.0 / options_.gradient_predivide_factor;
  while (next_launch_ < buckets_.size() && (all || buckets_[next_launch_].pending == 0)) {
    Bucket& bucket = buckets_[next_launch_++];
    const FlatBuffer& flat = buffers_[bucket.buffer];
    Tensor input;
    if (options_.reduction == Reduction::staged) {
      if (!bucket.staging.defined())  // no member had a gradient in this backward
        bucket.staging = zeros({bucket.end - bucket.begin}, flat.params.options());
      input = bucket.staging;
    } else {
      input = flat.grads.narrow(0, bucket.begin, bucket.end - bucket.begin);
    }
    if (prescale != 1.0) mul_(input, prescale);
    bucket.launched = seconds_now();
    bucket.completed = 0;
    if (options_.reduction == Reduction::allreduce) {
      bucket.work = group_->allreduce_async(input, dist::ReduceOp::sum);
      continue;
    }
    Tensor output;
    if (options_.reduction == Reduction::staged) {
      bucket.reduced = empty({flat.units.units[bucket.unit].slice}, flat.params.options());
      output = bucket.reduced;
    } else {
      auto [first, last] = flat.units.slice_range(bucket.unit, group_->rank());
      output = flat.grads.narrow(0, first, last - first);
    }
    bucket.work = group_->reduce_scatter_async(output, input, dist::ReduceOp::sum);
  }
}

double GradientReducer::post_scale() const {
  const double n = group_->size();
  const double predivide = options_.gradient_predivide_factor;
  return !options_.prescale_gradients && predivide != n ? predivide / n : 1.0;
}

void GradientReducer::finish(Bucket& bucket) {
  const FlatBuffer& flat = buffers_[bucket.buffer];
  const double scale = post_scale();
  switch (options_.reduction) {
    case Reduction::allreduce:
      if (scale != 1.0) mul_(flat.grads.narrow(0, bucket.begin, bucket.end - bucket.begin), scale);
      break;
    case Reduction::reduce_scatter: {
      auto [first, last] = flat.units.slice_range(bucket.unit, group_->rank());
      if (scale != 1.0) mul_(flat.grads.narrow(0, first, last - first), scale);
      break;
    }
    case Reduction::staged: {
      const Unit& unit = flat.units.units[bucket.unit];
      if (scale != 1.0) mul_(bucket.reduced, scale);
      add_(partitions_[bucket.buffer].narrow(0, unit.compact_begin, unit.slice), bucket.reduced);
      bucket.staging = Tensor();
      bucket.reduced = Tensor();
      break;
    }
  }
  bucket.work.reset();
}

void GradientReducer::poll() {
  for (size_t i = 0; i < next_launch_; ++i) {
    Bucket& bucket = buckets_[i];
    if (bucket.completed == 0 && bucket.work && bucket.work->is_completed()) {
      bucket.work->wait();  // rethrows a failure
      bucket.completed = seconds_now();
      finish(bucket);
    }
  }
}

ReductionTimes GradientReducer::wait() {
  ReductionTimes times;
  if (!reducing_) return times;
  reducing_ = false;
  times.waited_ms = backward_waited_ms_;
  backward_waited_ms_ = 0;
  poll();
  for (Bucket& bucket : buckets_) {
    if (!bucket.work) continue;  // finished while polled
    const double start = seconds_now();
    bucket.work->wait();
    const double end = seconds_now();
    times.waited_ms += (end - start) * 1e3;
    bucket.completed = end;
    finish(bucket);
  }
  // Units launch in order and a group runs its calls in order: merge neighbouring intervals.
  double span_begin = 0, span_end = 0;
  for (const Bucket& bucket : buckets_) {
    if (bucket.launched > span_end) {
      times.in_flight_ms += (span_end - span_begin) * 1e3;
      span_begin = bucket.launched;
    }
    span_end = std::max(span_end, bucket.completed);
  }
  times.in_flight_ms += (span_end - span_begin) * 1e3;
  return times;
}

}  // namespace strata::zero
