// main() of multi-rank doctest programs: the suite runs on every rank between dist::init and
// dist::finalize. A rank with failures ends the job through dist::abort, so ranks still inside a
// collective are not left waiting for it.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <string>

#include "parallel/dist.hpp"

int main(int argc, char** argv) {
  strata::dist::init();
  doctest::Context context(argc, argv);
  int status = context.run();
  if (status != 0)
    strata::dist::abort("doctest reported failures (status " + std::to_string(status) + ")");
  strata::dist::finalize();
  return 0;
}
