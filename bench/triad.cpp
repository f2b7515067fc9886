// STREAM triad, a[i] = b[i] + s * c[i], on 64M-element f32 arrays (16M with --quick): the memory
// bandwidth that element-wise kernels are judged against. The arrays come from Strata's allocator
// (huge-page backed) and are touched once before timing with the same static split as the timed
// loop. Bytes counted as STREAM does: two reads and one write per element.
#include <omp.h>

#include "bench/bench.hpp"
#include "core/factories.hpp"

namespace strata::bench {
namespace {

__attribute__((target("avx2,fma"))) void triad(float* a, const float* b, const float* c,
                                               float scalar, int64_t n, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] = b[i] + scalar * c[i];
}

void fill(float* x, float value, int64_t n, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] = value;
}

}  // namespace

Limits measure_triad(const Options& options, Limits limits) {
  const int64_t n = options.quick ? (int64_t{16} << 20) : (int64_t{64} << 20);
  Tensor a = empty({n}), b = empty({n}), c = empty({n});
  float *pa = a.data<float>(), *pb = b.data<float>(), *pc = c.data<float>();
  for (int threads : {1, options.max_threads}) {
    fill(pa, 0.0f, n, threads);
    fill(pb, 1.0f, n, threads);
    fill(pc, 2.0f, n, threads);
    double seconds = median_seconds([&] { triad(pa, pb, pc, 3.0f, n, threads); }, options);
    double gbps = 3.0 * sizeof(float) * n / seconds / 1e9;
    (threads == 1 ? limits.triad_gbps_1 : limits.triad_gbps_all) = gbps;
    if (options.selected("triad", "triad")) {
      print({.bench = "triad",
             .name = "triad",
             .dtype = "f32",
             .shape = "[" + std::to_string(n) + "]",
             .library = "openmp",
             .threads = threads,
             .seconds = seconds,
             .gbps = gbps});
    }
    if (options.max_threads == 1) break;
  }
  return limits;
}

}  // namespace strata::bench
