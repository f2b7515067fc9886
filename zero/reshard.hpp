// Resharding partitioned state between two ZeRO layouts: which elements of a rank's partition
// (zero/partition.hpp) under one layout come from which rank's partition under another. It is what
// lets a checkpoint saved at one stage and world size load at any other: the saved partitions and
// the loading rank's partition are both described by a PartitionLayout, and a plan of copies maps
// one onto the other through the parameters, which both layouts hold whole (by name).
//
// Words: a *layout* is the units of every flat buffer plus each buffer's member parameters (name,
// flat begin, shape); a *piece* is one contiguous copy from a source
// rank's partition of a source buffer into the destination partition. Elements of the destination
// partition that no piece covers are padding (zeros).
//
//   ReshardPlan plan = reshard_plan(saved, current, /*buffer=*/0, /*rank=*/dp_rank);
//   for (const ReshardPiece& piece : plan.pieces)   // read piece.count elements of
//     ...                                           // saved rank piece.src_rank's buffer
//                                                   // piece.src_buffer at piece.src_offset
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "zero/partition.hpp"

namespace strata::zero {

// One parameter of a flat buffer, as a layout records it.
struct MemberLayout {
  std::string name;   // the module path name ("h.0.attn.c_attn.weight")
  int64_t begin = 0;  // in the flat buffer
  Shape shape;
  int64_t numel() const { return shape_numel(shape); }
  bool operator==(const MemberLayout&) const = default;
};

// One flat buffer: its units (their first_member/end_member index `members`) and its members in
// layout order.
struct BufferLayout {
  DType dtype = DType::f32;  // the parameters' dtype (the partitioned state itself is f32)
  BufferUnits units;
  std::vector<MemberLayout> members;
};

// Every buffer of a model's flat parameters, cut for `world` ranks (units.world of each buffer).
struct PartitionLayout {
  int world = 1;
  std::vector<BufferLayout> buffers;
};

// One copy: `count` elements from rank src_rank's partition of buffer src_buffer (compact offset
// src_offset) to the destination partition (compact offset dst_offset).
struct ReshardPiece {
  size_t src_buffer = 0;
  int src_rank = 0;
  int64_t src_offset = 0;
  int64_t dst_offset = 0;
  int64_t count = 0;
  bool operator==(const ReshardPiece&) const = default;
};

struct ReshardPlan {
  int64_t numel = 0;                 // the destination partition's elements
  std::vector<ReshardPiece> pieces;  // by dst_offset; adjacent runs merged
};

// The copies that fill rank `rank`'s partition of to.buffers[buffer] from the partitions of
// `from`. Throws, naming every parameter, unless both layouts hold the same parameters with the
// same shapes (each exactly once).
ReshardPlan reshard_plan(const PartitionLayout& from, const PartitionLayout& to, size_t buffer,
                         int rank);

// Reads `count` f32 elements of rank `rank`'s partition of buffer `buffer`, starting at compact
// offset `offset`, into `out`.
using PartitionSource =
    std::function<void(size_t buffer, int rank, int64_t offset, int64_t count, float* out)>;

// Runs a plan: an f32 [plan.numel] tensor on the CPU, padding zeroed.
Tensor apply_reshard(const ReshardPlan& plan, const PartitionSource& source);

// Throws, naming every difference, unless two layouts hold the same parameters with the same
// shapes. `what` says which layouts ("the checkpoint ... and this model").
void check_same_parameters(const PartitionLayout& from, const PartitionLayout& to,
                           const std::string& what);

}  // namespace strata::zero
