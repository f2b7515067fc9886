// strata_bench_core: measures the machine's limits (FMA peak of one core, bf16 dot-product peak,
// STREAM triad), then Strata's GEMM side by side with the candidate libraries, and Strata's
// element-wise and normalisation kernels as a fraction of the triad. One JSON line per measurement.
#include "bench/bench.hpp"
#include "core/parallel.hpp"
#include "io/command_line.hpp"

namespace {

constexpr const char* kDescription =
    R"(Prints one JSON line per measurement: the FMA peak of one core (AVX2, AVX-512) and the bf16
dot-product peak; STREAM triad bandwidth on one thread and all threads; GEMM at 256^3 ... 2048^3
and the transformer shapes (4096x768x3072 forward and its two backward products), f32 and bf16, one
thread and all threads, for Strata and the candidate libraries side by side; and Strata's
add/mul/gelu/softmax/layer_norm/cast on 64M-element tensors as a fraction of the triad.
Each measurement is a warm-up call and the median of several timed repeats. fraction_of_peak is
GEMM GFLOP/s over the one-core peak (FMA for f32, bf16 dot product for bf16) times the threads, and
for ops the bandwidth over the triad's at the same thread count.

Threads: all threads means OpenMP's default (omp_get_max_threads, or OMP_NUM_THREADS).)";

}  // namespace

int main(int argc, char** argv) {
  using namespace strata::bench;
  Options options;
  strata::io::CommandLine cli("strata_bench_core", kDescription);
  cli.flag("quick", options.quick,
           "a small subset (256^3 and 512^3 GEMM, 16M-element tensors); runs in seconds");
  cli.flag("filter", options.filter,
           "only measurements whose bench or name contains this (e.g. gemm, triad, 1024)");
  cli.parse(argc, argv);
  options.max_threads = strata::get_num_threads();
  Limits limits = measure_peaks(options, {});
  limits = measure_triad(options, limits);
  bench_gemm(options, limits);
  bench_ops(options, limits);
  strata::set_num_threads(options.max_threads);
  return 0;
}
