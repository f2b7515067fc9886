// GradientReducer: data parallelism's gradient reduction over a process group, on the flat
// gradient buffers (zero/flat_parameters.hpp).
//
// Buckets are [begin, end) slices of a flat gradient buffer of at most reduce_bucket_size
// elements, cut at parameter boundaries (a parameter larger than the size is a bucket by itself).
// They are numbered from the end of the layout, the order backward makes gradients ready, and
// always launched in that order, on every rank: a bucket whose gradients are ready waits for the
// buckets before it, so the ranks' collectives match whatever order the hooks fire in.
//
//   reducer.begin_backward(overlap);  // arms the gradient-ready hooks (overlap_comm)
//   loss.backward();                  // each bucket's allreduce_async starts once it is ready
//   reducer.end_backward();           // launches the buckets not launched yet
//   reducer.wait();                   // in step(): every bucket reduced and averaged
//
// Only the accumulation boundary's backward reduces: a backward without begin_backward leaves
// the hooks idle. Averaging follows DeepSpeed's allreduce_bucket: without prescale_gradients,
// g / predivide, sum over ranks, * predivide / N; with it, g / N, then the sum.
//
// Timing: each bucket is in flight from its launch until it is seen complete (polled, never
// blocking, as hooks fire, and by wait()). in_flight_ms is the union of those intervals, waited_ms
// the time wait() blocked: the rest was hidden behind backward.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.hpp"
#include "parallel/process_group.hpp"
#include "zero/flat_parameters.hpp"

namespace strata::zero {

struct GradientReducerOptions {
  int64_t bucket_size = 500'000'000;  // elements (zero_optimization.reduce_bucket_size)
  bool prescale_gradients = false;
  double gradient_predivide_factor = 1.0;
};

// One reduction's times, milliseconds.
struct ReductionTimes {
  double in_flight_ms = 0;  // the union of the buckets' launch-to-completion intervals
  double waited_ms = 0;     // the part wait() blocked for
};

class GradientReducer {
 public:
  // `flat` must outlive the reducer's use; registers one gradient-ready hook per parameter. The
  // hooks hold the reducer weakly: once it is gone they do nothing.
  static std::shared_ptr<GradientReducer> create(const FlatParameters& flat,
                                                 std::shared_ptr<dist::ProcessGroup> group,
                                                 GradientReducerOptions options);

  const std::shared_ptr<dist::ProcessGroup>& group() const { return group_; }
  // Each bucket as (buffer index, begin, end), in launch order.
  struct Bucket {
    int buffer = 0;
    int64_t begin = 0, end = 0;
    int pending = 0;  // gradients not ready yet in this backward
    std::shared_ptr<dist::Work> work;
    double launched = 0, completed = 0;  // seconds, steady clock; completed 0: not seen yet
  };
  const std::vector<Bucket>& buckets() const { return buckets_; }

  // The next backward reduces: with `overlap`, each bucket as soon as its gradients are ready.
  void begin_backward(bool overlap);
  // Launches the buckets the hooks did not (all of them without overlap).
  void end_backward();
  // Waits for every bucket and applies the post-scale. Returns this reduction's times.
  ReductionTimes wait();

 private:
  GradientReducer(std::shared_ptr<dist::ProcessGroup> group, GradientReducerOptions options)
      : group_(std::move(group)), options_(options) {}
  void grad_ready(size_t bucket);
  void launch_ready(bool all);
  void poll();

  std::shared_ptr<dist::ProcessGroup> group_;
  GradientReducerOptions options_;
  std::vector<Tensor> grad_buffers_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_sizes_;  // parameters per bucket: `pending` at the start of a backward
  size_t next_launch_ = 0;         // the first bucket not launched
  bool armed_ = false;             // hooks launch buckets in this backward
  bool reducing_ = false;          // begin_backward called, wait() not yet
};

}  // namespace strata::zero
