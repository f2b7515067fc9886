// Topology: DeepSpeed's rank order (last axis fastest), rank <-> coordinates, each axis's groups,
// on 2x2x2 and other shapes, and the errors for layouts that do not fit the world.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "parallel/topology.hpp"

using namespace strata::dist;
using Groups = std::vector<std::vector<int>>;

namespace {

// Every group of `axis` through brute force: ranks whose coordinates differ only on `axis`.
Groups reference_groups(const Topology& topo, const char* axis) {
  Groups groups;
  size_t a = 0;
  while (topo.axes()[a].name != axis) ++a;
  for (int r = 0; r < topo.world_size(); ++r) {
    std::vector<int> group;
    for (int q = 0; q < topo.world_size(); ++q) {
      std::vector<int> cr = topo.coordinates(r), cq = topo.coordinates(q);
      cr[a] = cq[a] = 0;
      if (cr == cq) group.push_back(q);
    }
    if (std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
  }
  return groups;
}

// Properties every topology has: coordinates round-trip, and each axis's groups partition the
// world, match group_ranks of their members, and order members by their coordinate on the axis.
void check_consistent(const Topology& topo) {
  for (int r = 0; r < topo.world_size(); ++r) CHECK(topo.rank(topo.coordinates(r)) == r);
  for (const Topology::Axis& axis : topo.axes()) {
    Groups groups = topo.axis_groups(axis.name);
    CHECK(groups == reference_groups(topo, axis.name.c_str()));
    CHECK(static_cast<int>(groups.size()) == topo.world_size() / axis.size);
    for (const std::vector<int>& group : groups) {
      CHECK(static_cast<int>(group.size()) == axis.size);
      for (int i = 0; i < axis.size; ++i) {
        CHECK(topo.group_ranks(group[i], axis.name) == group);
        CHECK(topo.coordinate(group[i], axis.name) == i);
      }
    }
  }
}

}  // namespace

TEST_CASE("2x2x2 pipe/data/model: DeepSpeed's order, model fastest") {
  Topology topo = Topology::pipe_data_model(2, 2, 2, 8);
  for (int r = 0; r < 8; ++r)
    CHECK(topo.coordinates(r) == std::vector<int>{r / 4, r / 2 % 2, r % 2});
  CHECK(topo.rank(std::vector<int>{1, 0, 1}) == 5);
  CHECK(topo.coordinate(6, "pipe") == 1);
  CHECK(topo.coordinate(6, "data") == 1);
  CHECK(topo.coordinate(6, "model") == 0);
  CHECK(topo.group_ranks(5, "data") == std::vector<int>{5, 7});
  CHECK(topo.group_ranks(5, "model") == std::vector<int>{4, 5});
  CHECK(topo.group_ranks(5, "pipe") == std::vector<int>{1, 5});
  CHECK(topo.axis_groups("model") == Groups{{0, 1}, {2, 3}, {4, 5}, {6, 7}});
  CHECK(topo.axis_groups("data") == Groups{{0, 2}, {1, 3}, {4, 6}, {5, 7}});
  CHECK(topo.axis_groups("pipe") == Groups{{0, 4}, {1, 5}, {2, 6}, {3, 7}});
  check_consistent(topo);
}

TEST_CASE("1x4x1: pure data parallelism") {
  Topology topo = Topology::pipe_data_model(1, 4, 1, 4);
  CHECK(topo.axis_groups("data") == Groups{{0, 1, 2, 3}});
  CHECK(topo.axis_groups("model") == Groups{{0}, {1}, {2}, {3}});
  CHECK(topo.axis_groups("pipe") == Groups{{0}, {1}, {2}, {3}});
  CHECK(topo.coordinates(3) == std::vector<int>{0, 3, 0});
  check_consistent(topo);
}

TEST_CASE("2x1x3: pipeline of two stages, each tensor parallel over three ranks") {
  Topology topo = Topology::pipe_data_model(2, 1, 3, 6);
  CHECK(topo.axis_groups("model") == Groups{{0, 1, 2}, {3, 4, 5}});
  CHECK(topo.axis_groups("pipe") == Groups{{0, 3}, {1, 4}, {2, 5}});
  CHECK(topo.axis_groups("data") == Groups{{0}, {1}, {2}, {3}, {4}, {5}});
  CHECK(topo.coordinates(4) == std::vector<int>{1, 0, 1});
  check_consistent(topo);
}

TEST_CASE("any axis names and count: 3x2 (x, y) and a single axis") {
  Topology xy({{"x", 3}, {"y", 2}}, 6);
  CHECK(xy.coordinates(3) == std::vector<int>{1, 1});  // (x, y) and (x, y + 1) are adjacent ranks
  CHECK(xy.axis_size("x") == 3);
  check_consistent(xy);
  check_consistent(Topology({{"data", 5}}, 5));
}

TEST_CASE("layouts that do not fit the world, and bad queries, are errors") {
  CHECK_THROWS_WITH_AS(
      Topology::pipe_data_model(2, 2, 2, 6),
      doctest::Contains("pipe=2 x data=2 x model=2 holds 8 ranks but the world has 6"),
      strata::Error);
  CHECK_THROWS_WITH_AS(Topology::pipe_data_model(1, 0, 4, 4),
                       doctest::Contains("'data' has size 0"), strata::Error);
  CHECK_THROWS_WITH_AS(Topology({{"data", 2}, {"data", 2}}, 4), doctest::Contains("appears twice"),
                       strata::Error);
  CHECK_THROWS_WITH_AS(Topology({}, 1), doctest::Contains("at least one axis"), strata::Error);
  Topology topo = Topology::pipe_data_model(2, 2, 2, 8);
  CHECK_THROWS_WITH_AS(topo.coordinates(8), doctest::Contains("rank 8 is outside the world of 8"),
                       strata::Error);
  CHECK_THROWS_WITH_AS(topo.group_ranks(0, "tensor"), doctest::Contains("no axis 'tensor'"),
                       strata::Error);
  CHECK_THROWS_WITH_AS(topo.rank(std::vector<int>{0, 2, 0}),
                       doctest::Contains("coordinate 2 is outside axis 'data' of size 2"),
                       strata::Error);
  CHECK_THROWS_WITH_AS(topo.rank(std::vector<int>{0, 1}), doctest::Contains("2 coordinates given"),
                       strata::Error);
}
