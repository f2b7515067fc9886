// dist::init/finalize (parallel/dist.hpp): the world from the launcher and MPI, the GPU by local
// rank, and the terminate handler that turns one rank's failure into the end of the whole job.
#include "parallel/dist.hpp"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>

#include "core/cuda_memory.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "parallel/mpi_running.hpp"
#include "parallel/watchdog.hpp"

namespace strata::dist {

namespace {

struct State {
  std::mutex mutex;
  bool initialized = false;
  bool owns_mpi = false;  // init() called MPI_Init_thread, so finalize() calls MPI_Finalize
  bool mpi_finalized = false;
  std::string abandoned;  // what detail::mark_abandoned reported, if anything
  World world;
};

State& state() {
  static State instance;
  return instance;
}

void on_terminate() {
  std::string what = "std::terminate called without an active exception";
  if (std::exception_ptr error = std::current_exception()) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = std::string("uncaught exception: ") + e.what();
    } catch (...) {
      what = "uncaught exception of a type not derived from std::exception";
    }
  }
  dist::abort(what);
}

// Rank and world size from MPI; local rank from the launcher when its numbers describe MPI's world
// (it knows how it placed the processes), else from the processes that share this node's memory.
void read_mpi_world(World& world, const LaunchEnv& env) {
  MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world.world_size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world.rank, MPI_INFO_NULL, &node);
  int node_rank = 0;
  MPI_Comm_rank(node, &node_rank);
  MPI_Comm_size(node, &world.local_size);
  MPI_Comm_free(&node);
  bool env_is_mpi_world = env.rank == world.rank &&
                          (!env.world_size || *env.world_size == world.world_size) &&
                          env.local_rank && *env.local_rank < world.local_size;
  world.local_rank = env_is_mpi_world ? *env.local_rank : node_rank;
  int provided = MPI_THREAD_SINGLE;
  MPI_Query_thread(&provided);
  world.thread_multiple = provided == MPI_THREAD_MULTIPLE;
}

}  // namespace

const World& init() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  if (s.initialized) return s.world;
  LaunchEnv env = launch_env();
  bool use_mpi = env.launcher != Launcher::none || detail::mpi_running();
  STRATA_CHECK(!use_mpi || !s.mpi_finalized,
               "dist::init: called after dist::finalize(), but MPI cannot be initialised twice in "
               "one process; call finalize() once, at the end of the program");
  World world;
  world.launcher = env.launcher;
  if (use_mpi) {
    collective_timeout();  // a malformed STRATA_DIST_TIMEOUT is an error here, before MPI starts
    if (!detail::mpi_running()) {
      int provided = MPI_THREAD_SINGLE;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
      s.owns_mpi = true;
    }
    world.mpi = true;
    read_mpi_world(world, env);
    detail::start_watchdog();
    std::set_terminate(on_terminate);
    if (cuda_device_count() > 0) {
      world.cuda_device = cuda::device_for_local_rank(world.local_rank);
      cuda::set_device(world.cuda_device);
    }
  }
  s.world = world;
  s.initialized = true;
  return s.world;
}

void finalize() {
  State& s = state();
  std::unique_lock lock(s.mutex);
  if (!s.initialized) return;
  if (!s.abandoned.empty()) {
    // No lock for abort, which reads the state (and may be reached from a handler holding it).
    std::string what = s.abandoned;
    lock.unlock();
    dist::abort("dist::finalize after an error: " + what +
                "; the other ranks may be waiting in its calls, so the job ends here");
  }
  if (s.world.mpi && detail::mpi_running()) detail::stop_watchdog();
  if (s.owns_mpi && detail::mpi_running()) {
    MPI_Finalize();
    s.mpi_finalized = true;
  }
  s.owns_mpi = false;
  s.initialized = false;
}

bool is_initialized() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.initialized;
}

const World& world() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  STRATA_CHECK(s.initialized, "dist::world: the world is not initialised; call dist::init() first");
  return s.world;
}

int rank() { return world().rank; }
int world_size() { return world().world_size; }
int local_rank() { return world().local_rank; }
int local_size() { return world().local_size; }

void abort(std::string_view message) {
  // No lock: abort may run from the terminate handler of a thread that holds it.
  const State& s = state();
  int rank = s.initialized ? s.world.rank : 0;
  std::fprintf(stderr, "rank %d: %.*s\n", rank, static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
  if (detail::mpi_running()) MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

namespace detail {

void mark_abandoned(const std::string& what) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  if (s.abandoned.empty()) s.abandoned = what;
}

bool mpi_running() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

}  // namespace detail

}  // namespace strata::dist
