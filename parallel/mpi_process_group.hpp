// MpiProcessGroup: the ProcessGroup over an MPI communicator, for CPU tensors, and for CUDA tensors
// through pinned host memory (parallel/host_staging.hpp: copied to the host on the caller's current
// stream, reduced there, copied back before the Work completes; a CUDA tensor must be on the
// current device). For CUDA tensors the NCCL group (parallel/nccl_process_group.hpp) is the fast
// path; this one works in every build and with several ranks on one GPU.
//
// create_world() builds the group of every rank of dist::init's world (over a duplicate of
// MPI_COMM_WORLD, so its traffic never matches the program's own MPI calls); new_group and
// topology_group split it. Each group owns progress threads that run its queued calls in order
// (one for collectives, one for sends, one for receives); this needs MPI_THREAD_MULTIPLE
// (World::thread_multiple), since several groups' threads and the program may be inside MPI at
// once. When every rank is on one node, allreduce and reduce_scatter of large tensors go
// through a shared-memory window instead of MPI (parallel/shm_collectives.hpp). <mpi.h> stays in
// the .cpp.
#pragma once

#include <memory>

#include "parallel/process_group.hpp"

namespace strata::dist {

class MpiProcessGroup final : public ProcessGroup {
 public:
  // Error when dist::init() has not set up an MPI world, or MPI lacks MPI_THREAD_MULTIPLE.
  static std::shared_ptr<MpiProcessGroup> create_world();
  // Finishes the queued calls, stops the progress thread and frees the communicator and the
  // shared-memory window. Freeing the window (MPI_Win_free) waits for every rank of the group:
  // destroy a group on all its ranks at the same point of the program, as it was created (the
  // hang watchdog reports a rank that does not). While an exception unwinds, the group is
  // abandoned instead, never freed: the other ranks may be waiting for this one in its calls
  // (dist::finalize then ends the job, see parallel/dist.hpp).
  ~MpiProcessGroup() override;

  std::string_view backend() const override { return "mpi"; }
  uint64_t sequence_number() const override;
  void set_debug_checks(bool on) override;
  // Whether this group's large collectives go through shared memory: every rank on one node.
  bool shared_memory() const;

  std::shared_ptr<Work> allreduce_async(const Tensor& tensor, ReduceOp op) override;
  std::shared_ptr<Work> reduce_scatter_async(const Tensor& output, const Tensor& input,
                                             ReduceOp op) override;
  std::shared_ptr<Work> allgather_async(const Tensor& output, const Tensor& input) override;
  std::shared_ptr<Work> broadcast_async(const Tensor& tensor, int root) override;
  std::shared_ptr<Work> send_async(const Tensor& tensor, int dst, int tag) override;
  std::shared_ptr<Work> recv_async(const Tensor& tensor, int src, int tag) override;
  std::shared_ptr<Work> barrier_async() override;
  // On one node, CPU tensors every rank maps (parallel/shm_collectives.hpp).
  Tensor empty_symmetric(const Shape& shape, TensorOptions options) override;

  // Built by create_world() and the sub-group calls (Impl is private to the .cpp).
  struct Impl;  // the communicator and the progress threads (mpi_process_group.cpp)
  MpiProcessGroup(std::unique_ptr<Impl> impl, int rank, std::vector<int> world_ranks);

 protected:
  std::shared_ptr<ProcessGroup> split(int color, int key) override;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::dist
