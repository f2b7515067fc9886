// GradientReducer: the gradient reduction of data parallelism and of ZeRO stages 1-2 over a
// process group, one collective per unit of the flat buffers (zero/partition.hpp).
//
// Three reductions, one mechanism:
// - allreduce (stage 0): each unit of the flat gradients is all-reduced in place; every rank ends
//   with the average of the whole gradient.
// - reduce_scatter (stage 1): each unit of the flat gradients is reduce-scattered in place into
//   this rank's slice of it; only the slices hold the average afterwards.
// - staged (stage 2, no flat gradients): the gradient-ready hook copies each parameter's .grad into
//   a zeroed bucket the size of its unit (allocated on the unit's first gradient) and drops the
//   .grad; a unit's bucket is reduce-scattered and its average added into this rank's compact
//   gradient partition (`partitions`, one per buffer) as soon as it is seen complete, which frees
//   the bucket. A complete unit is launched at once in every reducing backward, overlap_comm or
//   not, and once the buckets held pass two of the largest unit, backward waits for the oldest
//   in flight: the staged gradients stay near two units, never the full gradient (DeepSpeed's
//   stage 2 reduces its buckets the same way, whatever overlap_comm says).
//
// Units are launched from the end of the layout, the order backward makes gradients ready, and
// always in that order on every rank: a unit whose gradients are ready waits for the units before
// it, so the ranks' collectives match whatever order the hooks fire in.
//
//   reducer.begin_backward(overlap);  // arms the gradient-ready hooks (overlap_comm)
//   loss.backward();                  // each unit's collective starts once it is ready
//   reducer.end_backward();           // launches the units not launched yet
//   reducer.wait();                   // every unit reduced and averaged
//
// A backward without begin_backward leaves the collectives idle (the staged copies still happen:
// they accumulate into the buckets until the next reduction). Averaging follows DeepSpeed's
// allreduce_bucket: without prescale_gradients, g / predivide, sum over ranks, * predivide / N;
// with it, g / N, then the sum.
//
// Timing: each unit is in flight from its launch until it is seen complete (polled, never
// blocking, as hooks fire, and by wait()). in_flight_ms is the union of those intervals, waited_ms
// the time wait() (and a staged backward held at its bound) blocked: the rest was hidden behind
// backward.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.hpp"
#include "parallel/process_group.hpp"
#include "zero/flat_parameters.hpp"

namespace strata::zero {

enum class Reduction { allreduce, reduce_scatter, staged };

struct GradientReducerOptions {
  Reduction reduction = Reduction::allreduce;
  bool prescale_gradients = false;
  double gradient_predivide_factor = 1.0;
};

// One reduction's times, milliseconds.
struct ReductionTimes {
  double in_flight_ms = 0;  // the union of the units' launch-to-completion intervals
  double waited_ms = 0;     // the part wait() blocked for
};

class GradientReducer {
 public:
  // `flat` must outlive the reducer's use; its units are the buckets (world = the group's size
  // for the reduce-scatters). `partitions` (staged only): this rank's gradient partition of each
  // buffer, [partition_numel] in the buffer's dtype. Registers one gradient-ready hook per
  // parameter; the hooks hold the reducer weakly: once it is gone they do nothing.
  static std::shared_ptr<GradientReducer> create(const FlatParameters& flat,
                                                 std::shared_ptr<dist::ProcessGroup> group,
                                                 GradientReducerOptions options,
                                                 std::vector<Tensor> partitions = {});

  const std::shared_ptr<dist::ProcessGroup>& group() const { return group_; }
  // Each unit as (buffer index, unit index, flat begin, end), in launch order.
  struct Bucket {
    int buffer = 0;
    size_t unit = 0;
    int64_t begin = 0, end = 0;
    int pending = 0;  // gradients not ready yet in this backward
    std::shared_ptr<dist::Work> work;
    double launched = 0, completed = 0;  // seconds, steady clock; completed 0: not seen yet
    Tensor staging;                      // staged: [end - begin], the unit's gradients
    Tensor reduced;                      // staged: [slice], the average in flight
  };
  const std::vector<Bucket>& buckets() const { return buckets_; }
  // Bytes of staged gradients held now (buckets and their reduce-scatter outputs).
  int64_t staged_bytes() const;

  // The next backward reduces: with `overlap`, each unit as soon as its gradients are ready.
  void begin_backward(bool overlap);
  // Launches the units the hooks did not (all of them without overlap).
  void end_backward();
  // Waits for every unit and applies the post-scale. Returns this reduction's times.
  ReductionTimes wait();

 private:
  GradientReducer(std::shared_ptr<dist::ProcessGroup> group, GradientReducerOptions options)
      : group_(std::move(group)), options_(options) {}
  void grad_ready(size_t bucket, int buffer, size_t member);
  void launch_ready(bool all);
  void poll();
  // Staged: while the buckets held exceed staged_limit_, waits for the oldest unit in flight.
  void bound_staged();
  // The bucket's collective is done: post-scale, and (staged) add into the partition.
  void finish(Bucket& bucket);
  double post_scale() const;

  std::shared_ptr<dist::ProcessGroup> group_;
  GradientReducerOptions options_;
  std::vector<FlatBuffer> buffers_;  // the layout (shared tensors)
  std::vector<Tensor> partitions_;   // staged
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_sizes_;  // parameters per unit: `pending` at the start of a backward
  size_t next_launch_ = 0;         // the first unit not launched
  bool armed_ = false;             // hooks launch units in this backward
  bool reducing_ = false;          // begin_backward called, wait() not yet
  int64_t staged_limit_ = 0;       // staged: bytes of buckets held before backward waits
  double backward_waited_ms_ = 0;  // staged: blocked in bound_staged() during this reduction
};

}  // namespace strata::zero
