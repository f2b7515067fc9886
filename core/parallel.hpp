// The process's one thread pool. Strata's own loops and oneDNN's GEMMs share OpenMP's pool, so two
// runtimes never spin against each other on the same cores.
#pragma once

#include <algorithm>
#include <cstdint>

namespace strata {

void set_num_threads(int threads);
int get_num_threads();
bool in_parallel_region();

// Calls fn(chunk_begin, chunk_end) over [begin, end) split across the pool, or once on the calling
// thread when the range holds no more than grain items or we are already inside the pool.
template <class Fn>
void parallel_for(int64_t begin, int64_t end, int64_t grain, Fn&& fn) {
  int64_t n = end - begin;
  if (n <= 0) return;
  int threads = get_num_threads();
  if (n <= grain || threads == 1 || in_parallel_region()) {
    fn(begin, end);
    return;
  }
  int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
#pragma omp parallel for num_threads(static_cast <int>(chunks)) schedule(static, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t chunk_begin = begin + n * c / chunks;
    int64_t chunk_end = begin + n * (c + 1) / chunks;
    fn(chunk_begin, chunk_end);
  }
}

}  // namespace strata
