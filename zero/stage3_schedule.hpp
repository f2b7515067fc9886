// Stage3Schedule: which ZeRO-3 units to gather, prefetch and release, as modules run. A pure
// bookkeeping component: it never communicates; the parameter coordinator
// (zero/stage3_parameters.hpp) carries out its plans.
//
// Words used here:
// - event: one module needing its units, in forward (its pre-hook) or backward (the gradient
//   reaching its output). An event acquires its units and later releases them.
// - pass: the events between two end_pass() calls: one forward and its backward in training, one
//   forward in evaluation. Passes with grad mode on and off keep separate traces.
// - trace: the events of the first pass of each kind, recorded in order. Later passes that follow
//   it prefetch from it: after an event is acquired, the units of the next events are gathered
//   asynchronously, up to prefetch_numel elements. A pass that departs from its trace (a
//   data-dependent path) stops prefetching and records a new trace in its place.
// - live: gathered, or being gathered. live_numel never exceeds max_live_numel except when the
//   units of one event alone exceed it (they must be gathered to run the module).
// - reuse distance: the elements the events between two uses of a unit gather. A unit whose next
//   use is within max_reuse_distance stays gathered instead of being released and gathered again.
//
//   Stage3Schedule schedule(unit_numel, options);
//   Plan plan = schedule.acquire(units);   // release plan.release, gather plan.fetch (blocking,
//                                          // or wait for its prefetch), start plan.prefetch
//   ...module runs...
//   release(schedule.release(units));
//   release(schedule.end_pass());          // after backward (training) or forward (evaluation)
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace strata::zero {

struct Stage3ScheduleOptions {
  int64_t prefetch_numel = 50'000'000;         // stage3_prefetch_bucket_size
  int64_t max_live_numel = 1'000'000'000;      // stage3_max_live_parameters
  int64_t max_reuse_distance = 1'000'000'000;  // stage3_max_reuse_distance
};

class Stage3Schedule {
 public:
  // What the coordinator does for one acquire, in this order: release `release`, make `fetch`
  // gathered (gather it, or wait for its prefetch), then start gathering `prefetch`.
  struct Plan {
    std::vector<size_t> release;
    std::vector<size_t> fetch;
    std::vector<size_t> prefetch;
  };

  // `unit_numel`: the gathered size of every unit the schedule may be asked about.
  Stage3Schedule(std::vector<int64_t> unit_numel, Stage3ScheduleOptions options);

  // An event with `grad_mode` (of the pass: the mode at its first event) needs `units`.
  Plan acquire(const std::vector<size_t>& units, bool grad_mode);
  // The event that acquired `units` is over: the units no other event holds and that are not
  // reused soon, to release now.
  std::vector<size_t> release(const std::vector<size_t>& units);
  // The pass is over: its trace is complete, and every live unit is returned, to release (the
  // optimizer step rewrites the partitions under them).
  std::vector<size_t> end_pass();

  bool is_live(size_t unit) const { return live_[unit]; }
  int64_t live_numel() const { return live_numel_; }
  // The most elements live at once since construction.
  int64_t peak_live_numel() const { return peak_live_numel_; }
  // Whether the pass kind `grad_mode` has a complete trace.
  bool traced(bool grad_mode) const { return trace_[grad_mode].complete; }
  // Units gathered ahead by prefetch since construction.
  int64_t prefetched_units() const { return prefetched_units_; }

 private:
  struct Trace {
    std::vector<std::vector<size_t>> events;
    bool complete = false;
  };
  // Where `unit` is next used after event `position` of the active trace and the elements the
  // events in between gather; npos when it is not used again this pass.
  struct NextUse {
    size_t event;
    int64_t distance;
  };
  static constexpr size_t npos = static_cast<size_t>(-1);
  NextUse next_use(size_t unit, size_t position) const;
  bool following_trace() const;
  void make_live(size_t unit);
  void make_released(size_t unit, std::vector<size_t>& out);

  std::vector<int64_t> unit_numel_;
  Stage3ScheduleOptions options_;
  std::vector<bool> live_;
  std::vector<int> holders_;  // events holding each unit now
  int64_t live_numel_ = 0, peak_live_numel_ = 0, prefetched_units_ = 0;

  Trace trace_[2];        // [grad_mode]
  bool in_pass_ = false;  // an event happened since the last end_pass
  bool pass_grad_mode_ = false;
  bool diverged_ = false;  // this pass left its trace
  size_t position_ = 0;    // events of this pass so far
  Trace recording_;        // this pass's events, when it records
};

}  // namespace strata::zero
