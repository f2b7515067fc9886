// A job in which one rank skips a collective: every rank makes allreduce call 0 of the world group,
// then rank 1 goes on without making call 1 (it sleeps, as a rank that took another branch
// would compute), while the others wait in it. The hang watchdog (STRATA_DIST_TIMEOUT, set short by
// the test) must end the job naming the call and showing rank 1 idle after call 0
// (tests/parallel/CMakeLists.txt).
#include <chrono>
#include <thread>

#include "parallel/dist.hpp"
#include "parallel/mpi_process_group.hpp"
#include "strata.hpp"

int main() {
  using namespace strata;
  dist::InitGuard guard;
  auto group = dist::MpiProcessGroup::create_world();
  Tensor gradient = ones({2, 3});
  group->allreduce(gradient);                         // call 0, on every rank
  if (dist::rank() != 1) group->allreduce(gradient);  // call 1: rank 1 never makes it
  std::this_thread::sleep_for(std::chrono::seconds(60));
  return 0;
}
