#include "core/parallel.hpp"

#include <omp.h>

#include "core/error.hpp"

namespace strata {

void set_num_threads(int threads) {
  STRATA_CHECK(threads >= 1, "set_num_threads: expected at least 1 thread, got ", threads);
  omp_set_num_threads(threads);
}

int get_num_threads() { return omp_get_max_threads(); }

bool in_parallel_region() { return omp_in_parallel() != 0; }

}  // namespace strata
