// ShmCollectives: collectives between the ranks of one node through shared memory, used by
// MpiProcessGroup for large tensors when every rank of its group is on one node (MPI still carries
// everything else). Two paths:
//
// Symmetric tensors (zero copy). allocate() hands out tensors that every rank of the group maps:
// each rank creates a POSIX shared-memory object of the same size and maps every other rank's.
// A collective whose tensors live there runs with no copy at all: allreduce has rank r reduce the
// r-th 1/N slice straight out of every rank's tensor (in rank order 0..N-1) and write the result
// into every rank's tensor; reduce_scatter reads its chunk of every rank's input; allgather writes
// its piece into every rank's output (or, when only the input is symmetric, reads every rank's
// piece). A barrier before (every input written) and one after (every result written, every input
// read) are the only synchronisation. Per element a rank reads 1 and writes 1 at N = 2: this is
// what reaches memory speed (the engine keeps its flat gradient and parameter buffers there).
// Mappings are freed locally (munmap), so a symmetric tensor may die on any rank at any time, and
// their names are unlinked as soon as every rank has mapped them, so nothing outlives the job.
//
// Other tensors go through an MPI-3 window: one segment per rank, allocated once per group (grown
// on demand up to the chunk size per half: kDefaultChunkBytes, or STRATA_SHM_CHUNK_BYTES from the
// environment) and split into two halves used alternately. A tensor goes through in chunks of at
// most one half. allreduce, per chunk: rank r reduces slice r (1/N of the chunk). Each rank copies
// into its segment the slices the others reduce; sync; rank r reduces slice r over every rank, in
// rank order, into its tensor and into its segment; sync; each rank copies the others' reduced
// slices out. A half is rewritten two chunks later, after a sync that every rank reaches only once
// it has read it: two syncs per chunk for allreduce, one for reduce_scatter. allgather of such
// tensors stays on MPI: it moves data without temporaries (single-copy between local ranks), and
// through the window it measured up to 2x slower here (docs/BENCHMARKS.md).
//
// Why not MPI alone: OpenMPI's shared-memory collectives collapse on large messages (2 local
// ranks: allreduce bus bandwidth 5.9 GB/s at 1 MB, 0.37 GB/s at 64 MB, from page faults on its
// temporaries), while reducing out of shared memory stays at memory speed at any size.
//
// Both paths reduce every element in the same order with the same code whichever rank reduces
// it, so every rank gets identical bits; 16-bit floats accumulate in f32 and are rounded once.
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

  // Collective: a contiguous tensor of `shape` every rank of the group maps (contents
  // unspecified). Throws on every rank, naming the reason, when a rank cannot create or map it.
  Tensor allocate(const Shape& shape, DType dtype);
  // Where `tensor` starts in a symmetric allocation, in bytes, or -1 when it is not in one.
  int64_t symmetric_offset(const Tensor& tensor) const;

  // As ProcessGroup's, on contiguous CPU tensors of a numeric dtype (bool stays on MPI);
  // reduce_scatter's input must not overlap its output (copy it first). Symmetric tensors (on
  // every rank at the same offset: the caller checks) take the zero-copy path.
  void allreduce(const Tensor& tensor, ReduceOp op);
  void reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op);
  // Only with a symmetric output or input (else MPI's is faster).
  void allgather(const Tensor& output, const Tensor& input);

  ShmCollectives(MPI_Comm node, int rank, int size, size_t chunk_bytes);

 private:
  struct Mapping;  // one symmetric allocation: this rank's and every other rank's addresses

  // Makes each half hold at least `bytes` (capped at the chunk size); collective.
  void reserve(size_t bytes);
  void release();
  // Flips to the other half and returns it for `rank`.
  char* next_half(int rank);
  char* half(int rank) const { return segments_[rank] + phase_ * half_bytes_; }
  // Makes every rank's writes to the window visible to every other: a barrier between syncs.
  void sync();
  // The symmetric allocation that holds all of `tensor`, or null.
  std::shared_ptr<const Mapping> mapping_of(const Tensor& tensor) const;
  // The same tensor's elements as every rank maps them, by rank.
  std::vector<char*> on_every_rank(const Tensor& tensor) const;
  // A barrier between the phases of a zero-copy collective.
  void fence();
  // The node's barrier, sleeping while the other ranks are late.
  void barrier();

  MPI_Comm node_;
  int rank_, size_;
  size_t chunk_bytes_;
  MPI_Win win_ = MPI_WIN_NULL;
  size_t half_bytes_ = 0;
  std::vector<char*> segments_;
  int phase_ = 0;
  std::vector<std::weak_ptr<const Mapping>> mappings_;  // the live symmetric allocations
  uint64_t allocations_ = 0;                            // names them
};

}  // namespace strata::dist::detail
