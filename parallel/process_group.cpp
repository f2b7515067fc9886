// ProcessGroup's backend-independent part (parallel/process_group.hpp): sub-groups from rank lists
// and from a Topology's axes, both built on the backend's split.
#include "parallel/process_group.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/factories.hpp"
#include "parallel/topology.hpp"

namespace strata::dist {

std::string_view reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::avg: return "avg";
    case ReduceOp::max: return "max";
  }
  return "?";
}

Tensor ProcessGroup::empty_symmetric(const Shape& shape, TensorOptions options) {
  return empty(shape, options);
}

std::shared_ptr<ProcessGroup> ProcessGroup::new_group(const std::vector<int>& ranks) {
  STRATA_CHECK(!ranks.empty(), "ProcessGroup::new_group: the rank list is empty");
  std::vector<int> sorted = ranks;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    STRATA_CHECK(sorted[i] >= 0 && sorted[i] < size(), "ProcessGroup::new_group: rank ", sorted[i],
                 " is outside this group of ", size(), " ranks");
    STRATA_CHECK(i == 0 || sorted[i] != sorted[i - 1], "ProcessGroup::new_group: rank ", sorted[i],
                 " is listed twice");
  }
  auto me = std::find(ranks.begin(), ranks.end(), rank());
  if (me == ranks.end()) return split(-1, 0);
  return split(0, static_cast<int>(me - ranks.begin()));
}

std::shared_ptr<ProcessGroup> ProcessGroup::topology_group(const Topology& topology,
                                                           std::string_view axis) {
  STRATA_CHECK(topology.world_size() == size(), "ProcessGroup::topology_group: the topology has ",
               topology.world_size(), " ranks but this group has ", size());
  std::vector<std::vector<int>> groups = topology.axis_groups(axis);
  for (size_t color = 0; color < groups.size(); ++color) {
    auto me = std::find(groups[color].begin(), groups[color].end(), rank());
    if (me != groups[color].end())
      return split(static_cast<int>(color), static_cast<int>(me - groups[color].begin()));
  }
  fail("ProcessGroup::topology_group: rank ", rank(), " is in no group of axis ", axis);
}

}  // namespace strata::dist
