// The hang watchdog: one thread per process that ends the whole job when a call of a process
// group has been in flight longer than the collective timeout (dist::set_collective_timeout,
// STRATA_DIST_TIMEOUT), after printing the call this rank waits in and what every rank of its
// node is doing. A rank that skips a collective, or makes them in another order, leaves the others
// waiting forever: this turns that hang into an error that names the call.
//
// Words: a *lane* is a thread of a process group that runs its calls one at a time (the MPI
// group's collectives, sends and receives). Each lane owns a CallTracker and brackets every call
// with begin() and end(). The *board* is a shared-memory window over the ranks of this node
// (MPI_Win_allocate_shared, made by dist::init): each rank mirrors its trackers into its own slot,
// so a stuck rank's watchdog reads what the node's other ranks are doing without a collective,
// which would hang too. Ranks on other nodes are not on the board; their own watchdogs report them.
//
// Internal to parallel/ and its backends (no <mpi.h> here, so a NCCL backend can track its calls
// the same way).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

namespace strata::dist::detail {

struct CallRecord;  // one lane's call in flight or last call (watchdog.cpp)

class CallTracker {
 public:
  // `group` names the group in reports ("[0, 1, 2, 3]"), `lane` the lane ("collectives").
  CallTracker(std::string_view group, std::string_view lane);
  ~CallTracker();
  CallTracker(const CallTracker&) = delete;
  CallTracker& operator=(const CallTracker&) = delete;

  // The lane starts a call: `call` describes it ("allreduce(sum) f32 [3, 4]"); `sequence` is the
  // group's number of the call (collective) or of the next collective (a send or a receive).
  void begin(uint64_t sequence, bool collective, std::string_view call);
  // The call returned (successfully or not).
  void end();

 private:
  std::unique_ptr<CallRecord> record_;  // the state; mirrored on the board while there is one
  CallRecord* board_ = nullptr;         // this tracker's record in this rank's board slot
  friend struct Watchdog;
};

// Called by dist::init / dist::finalize of a world that uses MPI: collective over MPI_COMM_WORLD
// (they create and free the board), and start and stop the watchdog thread.
void start_watchdog();
void stop_watchdog();

}  // namespace strata::dist::detail
