// dist::init outside any launcher: rank 0 of a world of one, and MPI never initialised.
#include <doctest/doctest.h>

#include <cstdlib>

#include "core/error.hpp"
#include "parallel/dist.hpp"

using namespace strata;

TEST_CASE("outside a launcher the world is one rank and MPI stays uninitialised") {
  // The test must not inherit a launcher from whatever runs the suite.
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    ::unsetenv(name);
  CHECK(!dist::is_initialized());
  CHECK_THROWS_WITH_AS(dist::rank(), doctest::Contains("call dist::init() first"), Error);

  const dist::World& world = dist::init();
  CHECK(dist::is_initialized());
  CHECK(world.rank == 0);
  CHECK(world.world_size == 1);
  CHECK(world.local_rank == 0);
  CHECK(world.local_size == 1);
  CHECK(world.launcher == dist::Launcher::none);
  CHECK(!world.mpi);
  CHECK(world.cuda_device == -1);
  CHECK(dist::rank() == 0);
  CHECK(dist::world_size() == 1);
  CHECK(dist::local_rank() == 0);
  CHECK(dist::local_size() == 1);
  CHECK(&dist::init() == &world);  // idempotent: the same world

  dist::finalize();
  dist::finalize();  // idempotent
  CHECK(!dist::is_initialized());
  {
    dist::InitGuard guard;  // without MPI the world can start again
    CHECK(guard.world().world_size == 1);
  }
  CHECK(!dist::is_initialized());
}

TEST_CASE("the hang watchdog's timeout: 300 s unless set, 0 disables, negative is an error") {
  CHECK(dist::collective_timeout() == 300);  // STRATA_DIST_TIMEOUT is not set under CTest
  dist::set_collective_timeout(2.5);
  CHECK(dist::collective_timeout() == 2.5);
  dist::set_collective_timeout(0);
  CHECK(dist::collective_timeout() == 0);
  CHECK_THROWS_WITH_AS(dist::set_collective_timeout(-1),
                       doctest::Contains("dist::set_collective_timeout: -1 s; expected a number "
                                         "of seconds >= 0 (0 disables the hang watchdog)"),
                       Error);
  dist::set_collective_timeout(300);
}
