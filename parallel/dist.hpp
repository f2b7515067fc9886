// The process's place in a multi-process job: strata::dist::init() and the World it returns.
//
// Under a launcher (mpirun, srun, see parallel/launch_env.hpp) init() initialises MPI and reads
// rank and world size from MPI_COMM_WORLD, and the local rank (the process's index among those on
// its node) from the launcher, or from MPI's shared-memory communicator when the launcher's numbers
// do not describe MPI's world. With CUDA devices visible it then makes device
// cuda::device_for_local_rank(local_rank) current. Outside any launcher the world is one process,
// rank 0, and MPI is never initialised: a single-process program needs no MPI at run time.
//
// MPI is initialised with MPI_Init_thread asking for MPI_THREAD_MULTIPLE: non-blocking collectives
// will be driven by a progress thread while the caller computes, so two threads call MPI. When the
// library provides less (World::thread_multiple false), every MPI call must come from one thread.
//
// Failure: after init() in a multi-process job, an exception that escapes on any rank (a
// std::terminate) prints "rank r: ..." and ends the whole job through MPI_Abort, so no rank is
// left waiting in a collective. dist::abort does the same on purpose.
//
// Hangs: under MPI, init() starts the hang watchdog (parallel/watchdog.hpp). A process group's
// call in flight for longer than collective_timeout() seconds prints the call (group, op, sequence
// number) and what every rank of this node is doing, then ends the job through MPI_Abort.
//
// MPI stays out of this header: the ProcessGroup (parallel/mpi_process_group.hpp) includes <mpi.h>
// in its own sources and builds its communicators on MPI_COMM_WORLD, and from Topology's rank
// lists.
#pragma once

#include <exception>
#include <string_view>

#include "parallel/launch_env.hpp"

namespace strata::dist {

struct World {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // index among this node's processes
  int local_size = 1;  // processes on this node
  Launcher launcher = Launcher::none;
  bool mpi = false;              // MPI is initialised (by init(), or by the program before it)
  bool thread_multiple = false;  // MPI provides MPI_THREAD_MULTIPLE
  int cuda_device = -1;          // the device init() made current, -1 when it chose none
};

// Initialises the world on the first call and returns it; later calls return the same world.
// Error when called again after finalize() in a job that uses MPI (MPI cannot start twice).
const World& init();
// Finalises MPI if init() initialised it. Idempotent; a no-op before init(). Collective: it frees
// the watchdog's board. After a process group was abandoned (destroyed while an exception
// unwound, see MpiProcessGroup's destructor), it ends the job through abort() instead, since the
// other ranks may be waiting in that group's calls.
void finalize();
bool is_initialized();

// The world of init(); error if init() has not been called.
const World& world();
int rank();
int world_size();
int local_rank();
int local_size();

// Prints "rank r: <message>" to stderr and ends the job: every rank through MPI_Abort when MPI is
// initialised, else this process, with exit status 1.
[[noreturn]] void abort(std::string_view message);

// The hang watchdog's timeout in seconds, for this process: STRATA_DIST_TIMEOUT from the
// environment until set, else 300 (a generous bound: a checkpoint that rank 0 writes while the
// others wait in a collective must fit in it). 0 disables the watchdog.
void set_collective_timeout(double seconds);
double collective_timeout();

// init() on construction, finalize() on destruction: the scope of main() that uses the world.
// While an exception unwinds it does not finalize: MPI_Finalize waits for the other ranks, which
// may be waiting in a collective for this one; exiting without it makes the launcher end the job.
class InitGuard {
 public:
  InitGuard() { init(); }
  ~InitGuard() {
    if (std::uncaught_exceptions() == 0) finalize();
  }
  InitGuard(const InitGuard&) = delete;
  InitGuard& operator=(const InitGuard&) = delete;
  const World& world() const { return dist::world(); }
};

}  // namespace strata::dist
