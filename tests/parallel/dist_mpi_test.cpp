// dist::init under mpirun (2 and 4 ranks, one node): each rank's world matches MPI's, and the
// ranks' views agree (gathered over MPI).
#include <doctest/doctest.h>
#include <mpi.h>

#include <vector>

#include "parallel/dist.hpp"

using namespace strata;

TEST_CASE("under mpirun each rank sees its rank, the world size and its local rank") {
  const dist::World& world = dist::world();  // initialised by mpi_test_main.cpp
  CHECK(world.mpi);
  CHECK(world.launcher == dist::Launcher::openmpi);
  int mpi_rank = -1, mpi_size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &mpi_size);
  CHECK(world.rank == mpi_rank);
  CHECK(world.world_size == mpi_size);
  CHECK(world.world_size >= 2);
  // One node: every rank is local, and OpenMPI numbers local ranks like world ranks.
  CHECK(world.local_rank == world.rank);
  CHECK(world.local_size == world.world_size);

  // Gathered, the ranks' worlds tile 0..n-1 with one shared size.
  int mine[4] = {world.rank, world.world_size, world.local_rank, world.local_size};
  std::vector<int> all(4 * world.world_size);
  MPI_Allgather(mine, 4, MPI_INT, all.data(), 4, MPI_INT, MPI_COMM_WORLD);
  for (int r = 0; r < world.world_size; ++r) {
    CHECK(all[4 * r + 0] == r);
    CHECK(all[4 * r + 1] == world.world_size);
    CHECK(all[4 * r + 2] == r);
    CHECK(all[4 * r + 3] == world.world_size);
  }
}

TEST_CASE(
    "init is idempotent under MPI, and MPI provides the threading the progress thread needs") {
  const dist::World& again = dist::init();
  CHECK(&again == &dist::world());
  int provided = MPI_THREAD_SINGLE;
  MPI_Query_thread(&provided);
  CHECK(dist::world().thread_multiple == (provided == MPI_THREAD_MULTIPLE));
  CHECK(provided >= MPI_THREAD_FUNNELED);
}
