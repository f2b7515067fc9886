// Topology (parallel/topology.hpp): row-major rank <-> coordinates over named axes.
#include "parallel/topology.hpp"

#include <sstream>

#include "core/error.hpp"

namespace strata::dist {

namespace {

std::string describe(const std::vector<Topology::Axis>& axes) {
  std::ostringstream out;
  for (size_t i = 0; i < axes.size(); ++i)
    out << (i ? " x " : "") << axes[i].name << "=" << axes[i].size;
  return out.str();
}

}  // namespace

Topology::Topology(std::vector<Axis> axes, int world_size)
    : axes_(std::move(axes)), strides_(axes_.size()), world_size_(world_size) {
  STRATA_CHECK(!axes_.empty(), "Topology: needs at least one axis");
  long long product = 1;
  for (size_t i = 0; i < axes_.size(); ++i) {
    STRATA_CHECK(!axes_[i].name.empty(), "Topology: axis ", i, " has no name");
    STRATA_CHECK(axes_[i].size >= 1, "Topology: axis '", axes_[i].name, "' has size ",
                 axes_[i].size, "; every axis needs at least 1");
    for (size_t j = 0; j < i; ++j)
      STRATA_CHECK(axes_[j].name != axes_[i].name, "Topology: axis '", axes_[i].name,
                   "' appears twice");
    product *= axes_[i].size;
  }
  STRATA_CHECK(product == world_size, "Topology: ", describe(axes_), " holds ", product,
               " ranks but the world has ", world_size,
               "; choose axis sizes whose product is the world size");
  int stride = 1;
  for (size_t i = axes_.size(); i-- > 0;) {
    strides_[i] = stride;
    stride *= axes_[i].size;
  }
}

Topology Topology::pipe_data_model(int pipe, int data, int model, int world_size) {
  return Topology({{"pipe", pipe}, {"data", data}, {"model", model}}, world_size);
}

int Topology::axis_index(std::string_view axis) const {
  for (size_t i = 0; i < axes_.size(); ++i)
    if (axes_[i].name == axis) return static_cast<int>(i);
  fail("Topology: no axis '", axis, "' in ", describe(axes_));
}

void Topology::check_rank(int rank, const char* op) const {
  STRATA_CHECK(rank >= 0 && rank < world_size_, "Topology::", op, ": rank ", rank,
               " is outside the world of ", world_size_);
}

std::vector<int> Topology::coordinates(int rank) const {
  check_rank(rank, "coordinates");
  std::vector<int> coords(axes_.size());
  for (size_t i = 0; i < axes_.size(); ++i) coords[i] = rank / strides_[i] % axes_[i].size;
  return coords;
}

int Topology::coordinate(int rank, std::string_view axis) const {
  check_rank(rank, "coordinate");
  int i = axis_index(axis);
  return rank / strides_[i] % axes_[i].size;
}

int Topology::rank(std::span<const int> coordinates) const {
  STRATA_CHECK(coordinates.size() == axes_.size(), "Topology::rank: ", coordinates.size(),
               " coordinates given for the ", axes_.size(), " axes ", describe(axes_));
  int rank = 0;
  for (size_t i = 0; i < axes_.size(); ++i) {
    STRATA_CHECK(coordinates[i] >= 0 && coordinates[i] < axes_[i].size,
                 "Topology::rank: coordinate ", coordinates[i], " is outside axis '", axes_[i].name,
                 "' of size ", axes_[i].size);
    rank += coordinates[i] * strides_[i];
  }
  return rank;
}

std::vector<int> Topology::group_ranks(int rank, std::string_view axis) const {
  check_rank(rank, "group_ranks");
  int i = axis_index(axis);
  int first = rank - rank / strides_[i] % axes_[i].size * strides_[i];  // coordinate 0 on `axis`
  std::vector<int> ranks(axes_[i].size);
  for (int c = 0; c < axes_[i].size; ++c) ranks[c] = first + c * strides_[i];
  return ranks;
}

std::vector<std::vector<int>> Topology::axis_groups(std::string_view axis) const {
  int i = axis_index(axis);
  std::vector<std::vector<int>> groups;
  groups.reserve(world_size_ / axes_[i].size);
  for (int r = 0; r < world_size_; ++r)
    if (coordinate(r, axis) == 0) groups.push_back(group_ranks(r, axis));
  return groups;
}

}  // namespace strata::dist
