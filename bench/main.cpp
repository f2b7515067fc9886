// strata_bench_core: measures the machine's limits (FMA peak of one core, bf16 dot-product peak,
// STREAM triad), then Strata's GEMM side by side with the candidate libraries, and Strata's
// element-wise and normalisation kernels as a fraction of the triad. One JSON line per measurement.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "bench/bench.hpp"
#include "core/parallel.hpp"
#include "io/command_line.hpp"

namespace strata::bench {

bool Options::selected(const std::string& bench, const std::string& name) const {
  return filter.empty() || bench.find(filter) != std::string::npos ||
         name.find(filter) != std::string::npos;
}

void print(const Record& r) {
  std::printf(R"({"bench":"%s","name":"%s","dtype":"%s","shape":"%s","threads":%d,"seconds":%.6g)",
              r.bench.c_str(), r.name.c_str(), r.dtype.c_str(), r.shape.c_str(), r.threads,
              r.seconds);
  if (r.gflops) std::printf(R"(,"gflops":%.1f)", *r.gflops);
  if (r.gbps) std::printf(R"(,"gbps":%.2f)", *r.gbps);
  if (r.fraction_of_peak) std::printf(R"(,"fraction_of_peak":%.3f)", *r.fraction_of_peak);
  std::printf(R"(,"library":"%s"})"
              "\n",
              r.library.c_str());
  std::fflush(stdout);
}

double median_seconds(const std::function<void()>& fn, const Options& options) {
  using clock = std::chrono::steady_clock;
  auto time = [&](int calls) {
    auto start = clock::now();
    for (int i = 0; i < calls; ++i) fn();
    return std::chrono::duration<double>(clock::now() - start).count() / calls;
  };
  time(1);  // warm-up
  const double first = time(1);
  const int calls = std::max(1, static_cast<int>(0.02 / std::max(first, 1e-9)));
  std::vector<double> samples(options.quick ? 3 : 7);
  for (double& s : samples) s = time(calls);
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

}  // namespace strata::bench

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
