// GradientReducer: buckets, hooks, launch order, averaging and timing (gradient_reducer.hpp).
#include "zero/gradient_reducer.hpp"

#include <algorithm>

#include "autograd/engine.hpp"
#include "core/elementwise.hpp"
#include "core/error.hpp"

namespace strata::zero {
namespace {

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::shared_ptr<GradientReducer> GradientReducer::create(const FlatParameters& flat,
                                                         std::shared_ptr<dist::ProcessGroup> group,
                                                         GradientReducerOptions options) {
  STRATA_CHECK(group, "GradientReducer: a process group is required");
  STRATA_CHECK(options.gradient_predivide_factor > 0,
               "GradientReducer: gradient_predivide_factor must be positive, got ",
               options.gradient_predivide_factor);
  std::shared_ptr<GradientReducer> reducer(new GradientReducer(std::move(group), options));
  reducer->grad_buffers_ = flat.grad_buffers();
  // Buffers and members from the end of the layout: backward reaches the last layers first.
  const std::vector<FlatBuffer>& buffers = flat.buffers();
  std::vector<std::pair<Tensor, size_t>> hooks;  // (parameter, its bucket)
  for (int b = static_cast<int>(buffers.size()) - 1; b >= 0; --b) {
    const FlatBuffer& buffer = buffers[b];
    for (size_t i = buffer.members.size(); i-- > 0;) {
      const int64_t begin = buffer.begins[i];
      const int64_t end = begin + buffer.members[i].numel();
      std::vector<Bucket>& all = reducer->buckets_;
      const bool fits =
          !all.empty() && all.back().buffer == b && all.back().end - begin <= options.bucket_size;
      if (fits) {
        all.back().begin = begin;
        ++reducer->bucket_sizes_.back();
      } else {
        all.push_back(Bucket{.buffer = b, .begin = begin, .end = end});
        reducer->bucket_sizes_.push_back(1);
      }
      hooks.emplace_back(buffer.members[i], all.size() - 1);
    }
  }
  std::weak_ptr<GradientReducer> weak = reducer;
  for (const auto& [param, bucket] : hooks)
    autograd::register_grad_ready_hook(param, [weak, bucket = bucket](const Tensor&) {
      if (std::shared_ptr<GradientReducer> self = weak.lock()) self->grad_ready(bucket);
    });
  return reducer;
}

void GradientReducer::begin_backward(bool overlap) {
  STRATA_CHECK(!reducing_, "GradientReducer: a reduction is already in progress; call wait() ",
               "(engine.step()) before the next accumulation boundary's backward");
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i].pending = bucket_sizes_[i];
  next_launch_ = 0;
  armed_ = overlap;
  reducing_ = true;
}

void GradientReducer::grad_ready(size_t bucket) {
  if (!armed_) return;
  poll();
  if (buckets_[bucket].pending > 0 && --buckets_[bucket].pending == 0) launch_ready(false);
}

void GradientReducer::end_backward() {
  armed_ = false;
  launch_ready(true);
}

void GradientReducer::launch_ready(bool all) {
  const double n = group_->size();
  const double predivide = options_.gradient_predivide_factor;
  while (next_launch_ < buckets_.size() && (all || buckets_[next_launch_].pending == 0)) {
    Bucket& bucket = buckets_[next_launch_++];
    Tensor slice = grad_buffers_[bucket.buffer].narrow(0, bucket.begin, bucket.end - bucket.begin);
    const double prescale = options_.prescale_gradients ? 1.0 / n : 1.0 / predivide;
    if (prescale != 1.0) mul_(slice, prescale);
    bucket.launched = seconds_now();
    bucket.completed = 0;
    bucket.work = group_->allreduce_async(slice, dist::ReduceOp::sum);
  }
}

void GradientReducer::poll() {
  for (size_t i = 0; i < next_launch_; ++i) {
    Bucket& bucket = buckets_[i];
    if (bucket.completed == 0 && bucket.work->is_completed()) bucket.completed = seconds_now();
  }
}

ReductionTimes GradientReducer::wait() {
  ReductionTimes times;
  if (!reducing_) return times;
  reducing_ = false;
  poll();
  for (Bucket& bucket : buckets_) {
    const double start = seconds_now();
    bucket.work->wait();
    const double end = seconds_now();
    times.waited_ms += (end - start) * 1e3;
    if (bucket.completed == 0) bucket.completed = end;
    bucket.work.reset();
  }
  // Buckets launch in order and a group runs its calls in order: merge neighbouring intervals.
  double span_begin = 0, span_end = 0;
  for (const Bucket& bucket : buckets_) {
    if (bucket.launched > span_end) {
      times.in_flight_ms += (span_end - span_begin) * 1e3;
      span_begin = bucket.launched;
    }
    span_end = std::max(span_end, bucket.completed);
  }
  times.in_flight_ms += (span_end - span_begin) * 1e3;
  const double n = group_->size();
  const double predivide = options_.gradient_predivide_factor;
  if (!options_.prescale_gradients && predivide != n)
    for (const Tensor& grads : grad_buffers_) mul_(grads, predivide / n);
  return times;
}

}  // namespace strata::zero
