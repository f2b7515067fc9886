// What the MPI and NCCL process groups share over MPI (the NCCL group keeps the MPI communicator it
// was bootstrapped from): MPI error checks, the ranks of a split, and the cross-rank comparison of
// collective calls that every group runs (process_group.hpp: the first call of each op, or every
// call with debug checks): each rank describes its call as a signature, the signatures are
// gathered, and a mismatch is an error on every rank naming each rank's call. Internal to
// strata_parallel (includes <mpi.h>).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"

namespace strata::dist::detail {

// MPI's error code as a strata::Error: "ProcessGroup(<backend>) <op>: MPI failed: <MPI's text>".
void mpi_check(int rc, std::string_view backend, std::string_view op);

// The ranks of `child` (a communicator split from `parent`), as ranks of `parent`, in child order.
std::vector<int> ranks_in_parent(MPI_Comm parent, MPI_Comm child);

// Whether STRATA_DIST_DEBUG=1 asks for debug checks from the start.
bool debug_checks_from_env();

// The collectives whose calls are compared across ranks.
enum class Collective : int64_t { allreduce, reduce_scatter, allgather, broadcast, barrier };
std::string_view collective_name(Collective op);

// How a collective moves its data where ranks could choose differently: through MPI or a copy,
// or with no copy because a tensor is symmetric (ProcessGroup::empty_symmetric), at an offset in
// its allocation that must be the same on every rank. Part of the compared call.
struct DataPath {
  enum Kind : int64_t { copy, symmetric_tensor, symmetric_output, symmetric_input };
  Kind kind = copy;
  int64_t offset = -1;
};

class CallCheck {
 public:
  // comm: the group's ranks, in group order. backend names the group in messages ("mpi").
  CallCheck(MPI_Comm comm, std::string_view backend);

  // Compares this call with every rank's on the first call of `op`, or on every call when `debug`:
  // collective over comm, so every rank of the group must reach it for the same call. `tensor`
  // is null for barrier; `extra` is the reduce op (allreduce, reduce_scatter) or the root
  // (broadcast). Every rank sees the same table, so all of them throw, or none.
  void check(Collective op, const Tensor* tensor, int64_t extra, uint64_t sequence, bool debug,
             DataPath path = {});

 private:
  MPI_Comm comm_;
  int size_ = 1;
  std::string_view backend_;
  bool checked_[5] = {};  // each op's first call compared
};

}  // namespace strata::dist::detail
