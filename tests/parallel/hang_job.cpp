// Jobs that hang, for the hang watchdog (STRATA_DIST_TIMEOUT, set short by the test), which must
// end them naming the call (tests/parallel/CMakeLists.txt). Every rank makes allreduce call 0 of
// the world group, then, by the argument:
//   skip  rank 1 goes on without making call 1 (it sleeps, as a rank that took another branch
//         would compute) while the others wait in it: the board shows rank 1 idle after call 0
//   recv  rank 0 waits for a message rank 1 never sends
#include <chrono>
#include <cstring>
#include <thread>

#include "parallel/dist.hpp"
#include "parallel/mpi_process_group.hpp"
#include "strata.hpp"

int main(int argc, char** argv) {
  using namespace strata;
  dist::InitGuard guard;
  const bool skip = argc < 2 || std::strcmp(argv[1], "skip") == 0;
  auto group = dist::MpiProcessGroup::create_world();
  Tensor gradient = ones({2, 3});
  group->allreduce(gradient);                                 // call 0, on every rank
  if (skip && dist::rank() != 1) group->allreduce(gradient);  // call 1: rank 1 never makes it
  if (!skip && dist::rank() == 0) group->recv(gradient, 1, 5);
  std::this_thread::sleep_for(std::chrono::seconds(60));
  return 0;
}
