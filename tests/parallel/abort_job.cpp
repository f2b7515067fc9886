// A 2-rank job in which rank 1 throws while rank 0 waits for it in MPI_Barrier. dist::init's
// terminate handler must end the whole job with rank 1's message (tests/parallel/CMakeLists.txt).
#include <mpi.h>

#include <stdexcept>

#include "parallel/dist.hpp"

int main() {
  strata::dist::InitGuard guard;
  if (strata::dist::rank() == 1) throw std::runtime_error("rank 1 fails on purpose");
  MPI_Barrier(MPI_COMM_WORLD);  // never completes: rank 1 never arrives
  return 0;
}
