// Shared pieces of the CPU benchmarks (strata_bench_core, strata_bench_cpu_adam): options, timing,
// the JSON line each measurement prints, and the machine limits (peaks, triad) that later sections
// report fractions of.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace strata::bench {

struct Options {
  bool quick = false;  // a small subset that runs in seconds
  std::string filter;  // run only measurements whose bench or name contains this
  int max_threads = 1;
  bool selected(const std::string& bench, const std::string& name) const;
};

// One measurement, printed as one JSON line.
struct Record {
  std::string bench, name, dtype, shape, library;
  int threads = 1;
  double seconds = 0;
  std::optional<double> gflops, gbps, fraction_of_peak;
};
void print(const Record& record);

// Calls fn once to warm up (page faults, JIT, caches), then times repeats, each sample long enough
// (inner iterations) for the clock to be exact; returns the median seconds per call.
double median_seconds(const std::function<void()>& fn, const Options& options);

// What the machine can do, measured at the start of the run.
struct Limits {
  double fma_f32_gflops = 0;   // one core, the widest FMA
  double dot_bf16_gflops = 0;  // one core, vdpbf16ps (0 without avx512_bf16)
  double triad_gbps_1 = 0;     // one thread
  double triad_gbps_all = 0;   // all threads
  double triad_gbps(int threads) const { return threads == 1 ? triad_gbps_1 : triad_gbps_all; }
};

Limits measure_peaks(const Options& options, Limits limits);
Limits measure_triad(const Options& options, Limits limits);
void bench_gemm(const Options& options, const Limits& limits);
void bench_ops(const Options& options, const Limits& limits);

}  // namespace strata::bench
