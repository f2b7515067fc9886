// Units, slices and compact coordinates (partition.hpp).
#include "zero/partition.hpp"

#include <algorithm>

namespace strata::zero {

int64_t BufferUnits::partition_numel() const {
  return units.empty() ? 0 : units.back().compact_begin + units.back().slice;
}

std::pair<int64_t, int64_t> BufferUnits::slice_range(size_t u, int rank) const {
  const Unit& unit = units[u];
  const int64_t first = unit.begin + unit.slice * rank;
  return {first, first + unit.slice};
}

std::pair<int64_t, int64_t> BufferUnits::compact_range(int64_t begin, int64_t end, int rank) const {
  // The number of elements rank `rank` owns before flat position `pos`: monotone in `pos`, so the
  // owned part of [begin, end) is the compact range between the counts at its two ends.
  auto owned_before = [&](int64_t pos) -> int64_t {
    auto after = std::upper_bound(units.begin(), units.end(), pos,
                                  [](int64_t p, const Unit& unit) { return p < unit.begin; });
    if (after == units.begin()) return 0;
    const Unit& unit = *(after - 1);
    const int64_t first = unit.begin + unit.slice * rank;
    return unit.compact_begin + std::clamp<int64_t>(pos - first, 0, unit.slice);
  };
  return {owned_before(begin), owned_before(std::max(begin, end))};
}

}  // namespace strata::zero
