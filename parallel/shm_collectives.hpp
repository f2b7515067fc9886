// ShmCollectives: allreduce and reduce_scatter between the ranks of one node through an MPI-3
// shared-memory window, used by MpiProcessGroup for large tensors when every rank of its group is
// on one node (MPI still carries everything else). allgather stays on MPI: it moves data without
// temporaries (single-copy between local ranks), and through the window it measured up to 2x slower
// here (docs/BENCHMARKS.md).
//
// Why: OpenMPI's shared-memory collectives collapse on large messages (2 local ranks: allreduce bus
// bandwidth 5.9 GB/s at 1 MB, 0.37 GB/s at 64 MB, from page faults on its temporaries), while
// reducing straight out of a window every rank maps stays at memory speed at any size.
//
// How: the window holds one segment per rank, allocated once per group (grown on demand up to
// the chunk size per half: kDefaultChunkBytes, or STRATA_SHM_CHUNK_BYTES from the environment) and
// split into two halves used alternately. A tensor goes through in chunks of at most one half.
// allreduce, per chunk: rank r reduces slice r (1/N of the chunk). Each rank copies into its
// segment the slices the others reduce; sync; rank r reduces slice r over every rank, in rank order
// 0..N-1 (its own slice read from its tensor, the others' from their segments), into its tensor and
// into its segment; sync; each rank copies the others' reduced slices out. Every element is reduced
// in the same order by the same code whichever rank reduces it, so every rank gets identical bits.
// 16-bit floats accumulate in f32 and are rounded once. Per element a rank reads 2 and writes 2 at
// N = 2 (3 reads as N grows), against 2 reads and 1 write for a zero-copy reduction of tensors that
// already live in the window, which user tensors do not. A half is rewritten two chunks later,
// after a sync that every rank reaches only once it has read it: two syncs per chunk for allreduce,
// one for reduce_scatter.
//
// Internal to strata_parallel (includes <mpi.h>; not installed). Not thread-safe: one group's
// collective lane calls it.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.hpp"
#include "parallel/process_group.hpp"

namespace strata::dist::detail {

class ShmCollectives {
 public:
  // Collectives below this many bytes (the tensor for allreduce, the input for reduce_scatter) stay
  // on MPI, whose small-message latency is lower.
  static constexpr size_t kMinBytes = size_t{256} << 10;
  // The most bytes one half of a rank's segment holds: a chunk. Measured on 2 ranks (docs/
  // BENCHMARKS.md): larger chunks mean fewer syncs, which matter most on a loaded machine.
  static constexpr size_t kDefaultChunkBytes = size_t{16} << 20;

  // Collective over comm. Null when comm's ranks are not all on one node. The chunk size is
  // STRATA_SHM_CHUNK_BYTES when set (at least 4096; the same on every rank), else the default.
  static std::unique_ptr<ShmCollectives> create(MPI_Comm comm);
  ~ShmCollectives();

  // As ProcessGroup's, on contiguous CPU tensors of a numeric dtype (bool stays on MPI);
  // reduce_scatter's input must not overlap its output (copy it first).
  void allreduce(const Tensor& tensor, ReduceOp op);
  void reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op);

  ShmCollectives(MPI_Comm node, int rank, int size, size_t chunk_bytes);

 private:
  // Makes each half hold at least `bytes` (capped at the chunk size); collective.
  void reserve(size_t bytes);
  void release();
  // Flips to the other half and returns it for `rank`.
  char* next_half(int rank);
  char* half(int rank) const { return segments_[rank] + phase_ * half_bytes_; }
  // Makes every rank's writes to the window visible to every other: a barrier between syncs.
  void sync();

  MPI_Comm node_;
  int rank_, size_;
  size_t chunk_bytes_;
  MPI_Win win_ = MPI_WIN_NULL;
  size_t half_bytes_ = 0;
  std::vector<char*> segments_;
  int phase_ = 0;
};

}  // namespace strata::dist::detail
