// NcclProcessGroup: the ProcessGroup over an NCCL communicator, for CUDA tensors of this process's
// device (the device current when the world group was created: dist::init's, by local rank). In a
// build without NCCL (parallel/world_group.hpp: nccl_available()) this class is not compiled.
//
// Bootstrap: the group keeps an MPI communicator of the same ranks (a duplicate of MPI_COMM_WORLD
// for the world group); rank 0 makes NCCL's unique id and broadcasts it over MPI. Sub-groups split
// the MPI communicator and bootstrap a new NCCL communicator over it the same way. The cross-rank
// check of each op's first call (process_group.hpp) runs over that MPI communicator too, on the
// caller's thread.
//
// Streams (design decision 6): each group has a communication stream. A call records an event on
// the caller's current stream and makes the communication stream wait for it, so the collective
// reads the tensors only after the kernels queued before the call; it then queues the NCCL
// collective and a completion event. Nothing blocks the host: Work::wait() makes the caller's
// current stream wait for the completion event (kernels queued after wait() see the result; a copy
// to the host, which synchronises the stream, does too), is_completed() queries the event, and
// wait() rethrows an asynchronous NCCL error (ncclCommGetAsyncError) found by then. barrier's
// wait() alone blocks the host until every rank has reached it. A Work holds its tensors; when it
// is destroyed it makes the current stream wait for the collective first, so their memory (freed
// in the current stream's order by the CUDA pool) is reused only after NCCL is done with it.
//
// Reductions run in NCCL's own arithmetic: f16 and bf16 are reduced natively, each step of NCCL's
// ring or tree adding two 16-bit values in f32 and rounding the result back, so with more than two
// ranks the result is rounded several times (the MPI group rounds once, after an f32 sum); avg on
// floats multiplies each input by 1/size() before the sum (exact for powers of two), on integers
// divides the sum, truncating. bool travels as uint8; its sum and max are both NCCL's max (logical
// or). send/recv are NCCL's: matched by order between two ranks (the tag is checked, not sent),
// queued on the same stream as the collectives, and a send completes only once the peer has queued
// the matching recv: in a ring, let even ranks send first and odd ranks receive first.
#pragma once

#include <memory>

#include "parallel/process_group.hpp"

namespace strata::dist {

class NcclProcessGroup final : public ProcessGroup {
 public:
  // Every rank of dist::init's world, on the current CUDA device. Error when MPI is not
  // initialised (the unique id travels over it), lacks MPI_THREAD_MULTIPLE, or no GPU is
  // visible; NCCL's own error when two ranks share a GPU.
  static std::shared_ptr<NcclProcessGroup> create_world();
  // Waits for the queued collectives, then finalises and frees the communicator: NCCL's
  // finalisation waits for every rank, so destroy a group on all its ranks at the same point.
  ~NcclProcessGroup() override;

  std::string_view backend() const override { return "nccl"; }
  uint64_t sequence_number() const override;
  void set_debug_checks(bool on) override;
  // The CUDA device of this rank's communicator: every tensor must be on it, and it must be the
  // current device when a call is made.
  int device() const;

  std::shared_ptr<Work> allreduce_async(const Tensor& tensor, ReduceOp op) override;
  std::shared_ptr<Work> reduce_scatter_async(const Tensor& output, const Tensor& input,
                                             ReduceOp op) override;
  std::shared_ptr<Work> allgather_async(const Tensor& output, const Tensor& input) override;
  std::shared_ptr<Work> broadcast_async(const Tensor& tensor, int root) override;
  std::shared_ptr<Work> send_async(const Tensor& tensor, int dst, int tag) override;
  std::shared_ptr<Work> recv_async(const Tensor& tensor, int src, int tag) override;
  std::shared_ptr<Work> barrier_async() override;

  // Built by create_world() and split() (Impl is private to the .cpp).
  struct Impl;  // the communicators and the stream (nccl_process_group.cpp)
  NcclProcessGroup(std::unique_ptr<Impl> impl, int rank, std::vector<int> world_ranks);

 protected:
  std::shared_ptr<ProcessGroup> split(int color, int key) override;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::dist
