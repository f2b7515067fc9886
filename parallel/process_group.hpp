// ProcessGroup (design decision 7): the collectives of a set of ranks, over any backend.
//
// Words: a *group* is an ordered set of processes; a process's *rank* is its index in the group,
// its *world rank* its index in the job. Every rank of a group calls the same collectives in the
// same order; each collective (sub-group creation included) gets the group's next *sequence
// number* (0, 1, 2, ...), so a diagnostic can say which call a rank is in. send/recv, between two
// ranks only, take none.
//
// Each collective has a synchronous form and an asynchronous one (`_async`) that returns a Work
// handle: the call is queued and progresses while the caller computes; wait() blocks until it is
// done and rethrows its error (a mismatch between the ranks' calls, an MPI failure). On a CUDA
// backend (NCCL) "done" is in stream order: wait() makes the caller's current CUDA stream wait for
// the collective instead of blocking the host (nccl_process_group.hpp). Calls on one group run in
// the order they were made, synchronous and asynchronous alike. The tensors must stay untouched
// until the Work completes (the handle keeps them alive).
//
// Tensors: contiguous, of any dtype, on a device the backend supports. Reductions (sum, avg, max)
// of f16/bf16 accumulate in f32 (the MPI backend; NCCL rounds after each of its steps, see
// nccl_process_group.hpp): the elements are converted to an f32 scratch, reduced, and rounded
// back once, so a result does not depend on the number of ranks beyond the order of the f32 sum.
// avg divides the sum by size() (integers: truncating, as NCCL's average); on bool, sum and max are
// logical or, and avg is an error.
//
// The first call of each collective on a group (every call, with set_debug_checks(true) or
// STRATA_DIST_DEBUG=1 in the environment) first compares the ranks' calls: op, dtype, element
// count, reduce op or root, and sequence number. A mismatch is an error on every rank that names
// each rank's call, instead of a hang or a silent corruption.
//
// Sub-groups: new_group(ranks) and topology_group(topology, axis) are collective over this group:
// every rank calls them, in the same order. They return null on ranks outside the new group.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"

namespace strata::dist {

class Topology;

enum class ReduceOp { sum, avg, max };
std::string_view reduce_op_name(ReduceOp op);

// The handle of an asynchronous collective.
class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the collective is done (CUDA backends: orders the current stream after it);
  // rethrows its error (on every call of wait()).
  virtual void wait() = 0;
  // True once the collective has finished, successfully or not. Never blocks.
  virtual bool is_completed() = 0;
  // The group's sequence number of this call.
  virtual uint64_t sequence_number() const = 0;
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return static_cast<int>(world_ranks_.size()); }
  // The world rank of each rank of this group, in group order.
  const std::vector<int>& world_ranks() const { return world_ranks_; }
  virtual std::string_view backend() const = 0;
  // The number of calls made on this group so far (the next call's sequence number).
  virtual uint64_t sequence_number() const = 0;
  // Check every call's agreement across ranks, not only each op's first (costs one small
  // allgather per call).
  virtual void set_debug_checks(bool on) = 0;

  // tensor [n] on every rank -> the reduction over ranks, in place.
  virtual std::shared_ptr<Work> allreduce_async(const Tensor& tensor, ReduceOp op) = 0;
  // input [size() * n] flat -> output [n]: rank r gets the reduction of every rank's chunk r.
  virtual std::shared_ptr<Work> reduce_scatter_async(const Tensor& output, const Tensor& input,
                                                     ReduceOp op) = 0;
  // input [n] -> output [size() * n] flat: rank r's input at elements [r n, (r + 1) n).
  virtual std::shared_ptr<Work> allgather_async(const Tensor& output, const Tensor& input) = 0;
  // tensor on every rank <- root's tensor.
  virtual std::shared_ptr<Work> broadcast_async(const Tensor& tensor, int root) = 0;
  // Point to point, matched by (peer, tag); recv's tensor must have the sender's byte size.
  virtual std::shared_ptr<Work> send_async(const Tensor& tensor, int dst, int tag) = 0;
  virtual std::shared_ptr<Work> recv_async(const Tensor& tensor, int src, int tag) = 0;
  virtual std::shared_ptr<Work> barrier_async() = 0;

  // An uninitialised contiguous tensor in memory that every rank of the group can reach directly,
  // for buffers a program reduces or gathers again and again (the engine's flat gradients and
  // parameters): collectives on it skip every copy. The MPI group on one node maps it into every
  // rank's address space; a backend without such memory returns an ordinary tensor. Collective:
  // every rank calls it, in the same order, with the same shape and options. A view of it counts
  // when every rank passes the same view.
  virtual Tensor empty_symmetric(const Shape& shape, TensorOptions options);

  void allreduce(const Tensor& tensor, ReduceOp op = ReduceOp::sum) {
    allreduce_async(tensor, op)->wait();
  }
  void reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op = ReduceOp::sum) {
    reduce_scatter_async(output, input, op)->wait();
  }
  void allgather(const Tensor& output, const Tensor& input) {
    allgather_async(output, input)->wait();
  }
  void broadcast(const Tensor& tensor, int root) { broadcast_async(tensor, root)->wait(); }
  void send(const Tensor& tensor, int dst, int tag = 0) { send_async(tensor, dst, tag)->wait(); }
  void recv(const Tensor& tensor, int src, int tag = 0) { recv_async(tensor, src, tag)->wait(); }
  void barrier() { barrier_async()->wait(); }

  // A group of `ranks` (ranks of this group, in the new group's order; no repeats), null on ranks
  // not in it. Like torch.distributed.new_group: every rank of this group calls it.
  std::shared_ptr<ProcessGroup> new_group(const std::vector<int>& ranks);
  // This rank's group along `axis` of a topology of this group's ranks (topology.world_size() ==
  // size()): the ranks sharing every other coordinate, ordered along the axis.
  std::shared_ptr<ProcessGroup> topology_group(const Topology& topology, std::string_view axis);

 protected:
  ProcessGroup(int rank, std::vector<int> world_ranks)
      : rank_(rank), world_ranks_(std::move(world_ranks)) {}
  // The backend's communicator split, collective over this group: ranks with the same color >= 0
  // form a group, ordered by key; color < 0 joins none (returns null).
  virtual std::shared_ptr<ProcessGroup> split(int color, int key) = 0;

 private:
  int rank_;
  std::vector<int> world_ranks_;
};

}  // namespace strata::dist
