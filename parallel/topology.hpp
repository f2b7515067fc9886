// Topology: the ranks of a job laid out on a grid of named axes, as DeepSpeed's ProcessTopology.
//
// Ranks are numbered row-major over the axes in the order given: the last axis varies fastest.
// pipe_data_model() is DeepSpeed's PipeModelDataParallelTopology, axes (pipe, data, model): the
// ranks of one model-parallel group are adjacent (on one node, where tensor parallelism's traffic
// is heaviest), and pipeline stages are farthest apart. With pipe = data = model = 2:
//   rank:   0  1  2  3  4  5  6  7
//   pipe:   0  0  0  0  1  1  1  1
//   data:   0  0  1  1  0  0  1  1
//   model:  0  1  0  1  0  1  0  1
// The group of an axis through a rank is the ranks that share every other coordinate: rank 5's
// data group is {5, 7}, its model group {4, 5}, its pipe group {1, 5}.
//
// Pure functions of the layout. The seam to communication: a ProcessGroup is built from one of
// axis_groups(axis)'s rank lists; every rank of the world walks axis_groups in the same order, so
// collective communicator creation (MPI_Comm_split, NCCL's split) matches on every rank.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata::dist {

class Topology {
 public:
  struct Axis {
    std::string name;
    int size = 1;
  };

  // Error when an axis is unnamed, repeated or smaller than 1, or when the sizes do not multiply
  // to world_size.
  Topology(std::vector<Axis> axes, int world_size);
  // DeepSpeed's PipeModelDataParallelTopology: axes pipe, data, model.
  static Topology pipe_data_model(int pipe, int data, int model, int world_size);

  const std::vector<Axis>& axes() const { return axes_; }
  int world_size() const { return world_size_; }
  int axis_size(std::string_view axis) const { return axes_[axis_index(axis)].size; }

  // rank -> one coordinate per axis, in axis order, and back.
  std::vector<int> coordinates(int rank) const;
  int coordinate(int rank, std::string_view axis) const;
  int rank(std::span<const int> coordinates) const;

  // The ranks that share every coordinate but `axis` with `rank`, ordered along `axis` (a rank's
  // index in its group is its coordinate on the axis).
  std::vector<int> group_ranks(int rank, std::string_view axis) const;
  // Every group of `axis`: world_size / axis_size(axis) lists, ordered by their first rank
  // (DeepSpeed's get_axis_comm_lists). Each rank is in exactly one.
  std::vector<std::vector<int>> axis_groups(std::string_view axis) const;

 private:
  int axis_index(std::string_view axis) const;
  void check_rank(int rank, const char* op) const;

  std::vector<Axis> axes_;
  std::vector<int> strides_;  // rank = sum(coordinate[i] * strides_[i]); the last stride is 1
  int world_size_ = 1;
};

}  // namespace strata::dist
