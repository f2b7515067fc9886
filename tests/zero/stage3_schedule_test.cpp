// Stage3Schedule on its own: tracing, the prefetch window, the live limit, the reuse distance and
// a pass that leaves its trace.
#include <doctest/doctest.h>

#include <vector>

#include "core/error.hpp"
#include "zero/stage3_schedule.hpp"

namespace strata::zero {
namespace {

using Units = std::vector<size_t>;

// One event: acquire then release, as a leaf module's forward does; returns the plan.
Stage3Schedule::Plan run_event(Stage3Schedule& schedule, const Units& units, Units* released,
                               bool grad_mode = true) {
  Stage3Schedule::Plan plan = schedule.acquire(units, grad_mode);
  *released = schedule.release(units);
  return plan;
}

TEST_CASE("the first pass gathers on demand and records the trace; later passes prefetch") {
  // Four units of 10 elements used in order 0 1 2 3 (forward) then 3 2 1 0 (backward).
  Stage3Schedule schedule({10, 10, 10, 10},
                          {.prefetch_numel = 20, .max_live_numel = 100, .max_reuse_distance = 0});
  const std::vector<Units> order = {{0}, {1}, {2}, {3}, {3}, {2}, {1}, {0}};
  Units released;
  for (const Units& event : order) {
    Stage3Schedule::Plan plan = run_event(schedule, event, &released);
    CHECK(plan.fetch == event);
    CHECK(plan.prefetch.empty());
    CHECK(released == event);  // no reuse distance: released right after use
  }
  CHECK(schedule.end_pass().empty());
  CHECK(schedule.traced(true));
  CHECK_FALSE(schedule.traced(false));

  // Second pass: the first event fetches unit 0 and prefetches the next 20 elements (units 1, 2).
  Stage3Schedule::Plan plan = run_event(schedule, {0}, &released);
  CHECK(plan.fetch == Units{0});
  CHECK(plan.prefetch == Units{1, 2});
  plan = run_event(schedule, {1}, &released);
  CHECK(plan.fetch.empty());           // prefetched
  CHECK(plan.prefetch == Units{3});    // window: units 2 (live) and 3
  CHECK(schedule.live_numel() == 20);  // units 2 and 3, ahead
  plan = run_event(schedule, {2}, &released);
  CHECK(plan.fetch.empty());
  // The window: unit 3 (live), then unit 2 (held now) and unit 1 of the backward.
  CHECK(plan.prefetch == Units{1});
  CHECK(schedule.live_numel() == 20);  // unit 2 released after its use, 3 and 1 ahead
  for (const Units& event : std::vector<Units>(order.begin() + 3, order.end())) {
    run_event(schedule, event, &released);
  }
  CHECK(schedule.end_pass().empty());
  CHECK(schedule.prefetched_units() > 0);
}

TEST_CASE("the live limit bounds prefetch and evicts idle units") {
  Stage3Schedule schedule(
      {10, 10, 10, 10}, {.prefetch_numel = 1000, .max_live_numel = 20, .max_reuse_distance = 1000});
  Units released;
  for (size_t unit : {0, 1, 2, 3}) run_event(schedule, {unit}, &released);
  CHECK(schedule.peak_live_numel() <= 20);  // reuse kept nothing in a first pass: no trace yet
  schedule.end_pass();
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t unit : {0, 1, 2, 3}) {
      run_event(schedule, {unit}, &released);
      CHECK(schedule.live_numel() <= 20);
    }
    schedule.end_pass();
  }
  CHECK(schedule.peak_live_numel() == 20);
  CHECK(schedule.live_numel() == 0);

  // One event larger than the limit is still gathered whole.
  Stage3Schedule::Plan plan = schedule.acquire({0, 1, 2}, true);
  CHECK(plan.fetch == Units{0, 1, 2});
  CHECK(schedule.live_numel() == 30);
  CHECK(schedule.release({0, 1, 2}).size() == 3);  // diverged from the trace: nothing kept
  schedule.end_pass();
}

TEST_CASE("a unit used again within the reuse distance stays gathered") {
  // Tied weights: unit 0 is used at the start and the end of the forward, and unit 1 in between.
  auto run_pass = [](Stage3Schedule& schedule, Units* fetched) {
    fetched->clear();
    Units released;
    for (const Units& event : std::vector<Units>{{0}, {1}, {2}, {0}}) {
      Stage3Schedule::Plan plan = run_event(schedule, event, &released);
      fetched->insert(fetched->end(), plan.fetch.begin(), plan.fetch.end());
      fetched->insert(fetched->end(), plan.prefetch.begin(), plan.prefetch.end());
    }
    schedule.end_pass();
  };
  Units fetched;
  Stage3Schedule near({4, 8, 8},
                      {.prefetch_numel = 0, .max_live_numel = 100, .max_reuse_distance = 16});
  run_pass(near, &fetched);
  CHECK(fetched == Units{0, 1, 2, 0});  // the tracing pass releases after every use
  run_pass(near, &fetched);
  CHECK(fetched == Units{0, 1, 2});  // 16 elements between the uses of unit 0: kept

  Stage3Schedule far({4, 8, 8},
                     {.prefetch_numel = 0, .max_live_numel = 100, .max_reuse_distance = 15});
  run_pass(far, &fetched);
  run_pass(far, &fetched);
  CHECK(fetched == Units{0, 1, 2, 0});
}

TEST_CASE("a pass that leaves its trace stops prefetching and becomes the new trace") {
  Stage3Schedule schedule({10, 10, 10},
                          {.prefetch_numel = 100, .max_live_numel = 100, .max_reuse_distance = 0});
  Units released;
  for (size_t unit : {0, 1, 2}) run_event(schedule, {unit}, &released);
  schedule.end_pass();
  // Unit 1 is skipped this pass (a parameter unused in some steps).
  Stage3Schedule::Plan plan = run_event(schedule, {0}, &released);
  CHECK(plan.prefetch == Units{1, 2});
  plan = run_event(schedule, {2}, &released);
  CHECK(plan.fetch.empty());
  CHECK(plan.prefetch.empty());
  CHECK(schedule.end_pass() == Units{1});  // the prefetched, unused unit
  plan = run_event(schedule, {0}, &released);
  CHECK(plan.prefetch == Units{2});  // the new trace: 0 then 2
  schedule.end_pass();

  // Evaluation passes keep their own trace.
  plan = run_event(schedule, {0}, &released, false);
  CHECK(plan.prefetch.empty());
  CHECK(schedule.end_pass().empty());
  CHECK(schedule.traced(false));
}

TEST_CASE("nested events hold a unit until the last releases it") {
  Stage3Schedule schedule({10, 10}, {});
  schedule.acquire({0}, true);
  Stage3Schedule::Plan plan = schedule.acquire({0, 1}, true);
  CHECK(plan.fetch == Units{1});
  CHECK(schedule.release({0, 1}) == Units{1});
  CHECK(schedule.release({0}) == Units{0});
  CHECK_THROWS_WITH_AS(schedule.release({0}), doctest::Contains("not held"), Error);
  CHECK_THROWS_WITH_AS(schedule.acquire({1, 0}, true), doctest::Contains("sorted"), Error);
}

}  // namespace
}  // namespace strata::zero
