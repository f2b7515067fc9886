// How ZeRO splits the flat buffers (zero/flat_parameters.hpp) over the data-parallel ranks.
//
// A flat buffer is a sequence of *units*: each unit is a run of whole parameters in layout order,
// padded with zeros to a multiple of world * kSliceAlignment elements, and rank r owns the r-th of
// `world` equal *slices* of every unit. A unit is also the grain of communication: its gradients
// are reduce-scattered in one call (unit gradients [size] -> this rank's slice [slice]) and its
// parameters all-gathered in one call (slices -> unit parameters [size]), in place on the flat
// buffer and without copies. That is why ownership is sliced per unit rather than one [begin,
// end) range per rank: a unit's gradients are ready as soon as backward has passed its
// parameters, so every unit's reduce-scatter can start during backward (a true reduce-scatter with
// overlap, where one contiguous range per rank would make every unit wait for the end of
// backward).
//
// A rank's *partition* of a buffer is its slices of every unit laid end to end: a compact 1-D
// buffer of partition_numel() elements ("compact coordinates"). Each unit's slice starts at
// unit.compact_begin on every rank. The f32 master weights, the optimizer states and the gradient
// partition live in compact coordinates. The elements of one parameter group owned by one rank are
// one contiguous compact range (group_range), because compact order is layout order restricted
// to the rank's slices.
//
//   Unit 0 (params 0-2, padded)      Unit 1 (param 3, padded)
//   [ r0 slice | r1 slice ]          [ r0 slice | r1 slice ]      flat buffer, world 2
//   rank 0's partition: [ unit 0 slice | unit 1 slice ]           compact coordinates
//
// Stage 0 uses the same units as data-parallel buckets with world = 1 and no padding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace strata::zero {

// Slices are multiples of this many elements, so every slice starts 64-byte aligned for f32
// (vector loads in the update kernels, aligned MPI/NCCL buffers).
inline constexpr int64_t kSliceAlignment = 16;

// One unit of one flat buffer.
struct Unit {
  int64_t begin = 0;    // its first element in the flat buffer
  int64_t payload = 0;  // elements of its parameters; [begin + payload, begin + size) is padding
  int64_t slice = 0;    // elements each rank owns; size = slice * world
  int64_t compact_begin = 0;  // where every rank's slice of it starts in that rank's partition
  size_t first_member = 0;    // its parameters: FlatBuffer::members[first_member, end_member)
  size_t end_member = 0;
};

// How FlatParameters cuts a buffer into units.
struct UnitOptions {
  int world = 1;  // ranks sharing each unit; units are padded to multiples of world * alignment
  // 1 for stage 0 (no padding at all); kSliceAlignment for ZeRO stages 1-3.
  int64_t alignment = 1;
  // A unit closes before its payload would exceed this many elements; a parameter larger than it
  // is a unit by itself (reduce_bucket_size at stages 0-2).
  int64_t max_unit_numel = 500'000'000;
  // Parameter indices (in layout order, over all buffers) that must start a new unit: stage 3 cuts
  // units at module boundaries so that a module's forward gathers whole units.
  std::vector<size_t> unit_starts;
};

// The units of one buffer and what follows from them.
struct BufferUnits {
  int world = 1;
  std::vector<Unit> units;
  int64_t numel = 0;  // padded: the end of the last unit

  // The elements of one rank's partition: the sum of the slices.
  int64_t partition_numel() const;
  // Rank `rank`'s slice of unit `u` in flat coordinates: [first, second).
  std::pair<int64_t, int64_t> slice_range(size_t u, int rank) const;
  // The compact range [first, second) that rank `rank` owns of the flat range [begin, end) (a
  // parameter group's, or one parameter's): contiguous, possibly empty.
  std::pair<int64_t, int64_t> compact_range(int64_t begin, int64_t end, int rank) const;
};

}  // namespace strata::zero
