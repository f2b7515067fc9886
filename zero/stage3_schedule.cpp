// Stage3Schedule: the trace, prefetch window, live limit and reuse distance of ZeRO-3 gathers.
#include "zero/stage3_schedule.hpp"

#include <algorithm>
#include <utility>

#include "core/error.hpp"

namespace strata::zero {

Stage3Schedule::Stage3Schedule(std::vector<int64_t> unit_numel, Stage3ScheduleOptions options)
    : unit_numel_(std::move(unit_numel)),
      options_(options),
      live_(unit_numel_.size(), false),
      holders_(unit_numel_.size(), 0) {
  STRATA_CHECK(
      options.prefetch_numel >= 0 && options.max_live_numel >= 0 && options.max_reuse_distance >= 0,
      "Stage3Schedule: prefetch size (", options.prefetch_numel, "), max live (",
      options.max_live_numel, ") and max reuse distance (", options.max_reuse_distance,
      ") must not be negative");
}

bool Stage3Schedule::following_trace() const {
  return trace_[pass_grad_mode_].complete && !diverged_;
}

Stage3Schedule::NextUse Stage3Schedule::next_use(size_t unit, size_t position) const {
  const auto& events = trace_[pass_grad_mode_].events;
  int64_t distance = 0;
  for (size_t event = position; event < events.size(); ++event) {
    const auto& units = events[event];
    if (std::binary_search(units.begin(), units.end(), unit)) return {event, distance};
    for (size_t other : units) distance += unit_numel_[other];
  }
  return {npos, distance};
}

void Stage3Schedule::make_live(size_t unit) {
  live_[unit] = true;
  live_numel_ += unit_numel_[unit];
  peak_live_numel_ = std::max(peak_live_numel_, live_numel_);
}

void Stage3Schedule::make_released(size_t unit, std::vector<size_t>& out) {
  live_[unit] = false;
  live_numel_ -= unit_numel_[unit];
  out.push_back(unit);
}

Stage3Schedule::Plan Stage3Schedule::acquire(const std::vector<size_t>& units, bool grad_mode) {
  for (size_t i = 0; i < units.size(); ++i) {
    STRATA_CHECK(units[i] < unit_numel_.size() && (i == 0 || units[i - 1] < units[i]),
                 "Stage3Schedule::acquire: units must be sorted, distinct and below ",
                 unit_numel_.size());
  }
  if (!in_pass_) {
    in_pass_ = true;
    pass_grad_mode_ = grad_mode;
    diverged_ = false;
    position_ = 0;
    recording_ = {};
  }
  const Trace& trace = trace_[pass_grad_mode_];
  if (following_trace() && (position_ >= trace.events.size() || trace.events[position_] != units)) {
    diverged_ = true;
  }
  recording_.events.push_back(units);
  ++position_;

  Plan plan;
  int64_t needed = 0;
  for (size_t unit : units) {
    if (!live_[unit]) needed += unit_numel_[unit];
  }
  // Over the live limit: release units no event holds, those used farthest ahead (or never) first.
  if (live_numel_ + needed > options_.max_live_numel) {
    std::vector<std::pair<size_t, size_t>> idle;  // (next use, unit)
    for (size_t unit = 0; unit < live_.size(); ++unit) {
      if (live_[unit] && holders_[unit] == 0 &&
          !std::binary_search(units.begin(), units.end(), unit)) {
        idle.emplace_back(following_trace() ? next_use(unit, position_).event : npos, unit);
      }
    }
    std::sort(idle.begin(), idle.end(), std::greater<>());
    for (auto& [use, unit] : idle) {
      if (live_numel_ + needed <= options_.max_live_numel) break;
      make_released(unit, plan.release);
    }
  }
  for (size_t unit : units) {
    if (!live_[unit]) {
      make_live(unit);
      plan.fetch.push_back(unit);
    }
    ++holders_[unit];
  }

  // Prefetch: the units of the next events, in order, while the window of upcoming elements
  // (gathered already or not) stays within prefetch_numel and the live ones within the limit.
  if (following_trace()) {
    std::vector<bool> counted(unit_numel_.size(), false);
    int64_t window = 0;
    for (size_t event = position_; event < trace.events.size(); ++event) {
      for (size_t unit : trace.events[event]) {
        if (counted[unit] || holders_[unit] > 0) continue;
        counted[unit] = true;
        window += unit_numel_[unit];
        if (window > options_.prefetch_numel) return plan;
        if (live_[unit]) continue;
        if (live_numel_ + unit_numel_[unit] > options_.max_live_numel) return plan;
        make_live(unit);
        plan.prefetch.push_back(unit);
        ++prefetched_units_;
      }
    }
  }
  return plan;
}

std::vector<size_t> Stage3Schedule::release(const std::vector<size_t>& units) {
  std::vector<size_t> released;
  for (size_t unit : units) {
    STRATA_CHECK(unit < holders_.size() && holders_[unit] > 0, "Stage3Schedule::release: unit ",
                 unit, " is not held by any event");
    if (--holders_[unit] > 0 || !live_[unit]) continue;
    if (following_trace()) {
      NextUse use = next_use(unit, position_);
      if (use.event != npos && use.distance <= options_.max_reuse_distance) continue;
    }
    make_released(unit, released);
  }
  return released;
}

std::vector<size_t> Stage3Schedule::end_pass() {
  std::vector<size_t> released;
  for (size_t unit = 0; unit < live_.size(); ++unit) {
    holders_[unit] = 0;
    if (live_[unit]) make_released(unit, released);
  }
  if (in_pass_) {
    Trace& trace = trace_[pass_grad_mode_];
    if (!trace.complete || diverged_ || position_ != trace.events.size()) {
      trace = std::move(recording_);
      trace.complete = true;
    }
  }
  recording_ = {};
  in_pass_ = false;
  return released;
}

}  // namespace strata::zero
