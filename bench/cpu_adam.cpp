// strata_bench_cpu_adam: AdamW on 100M parameters through Strata's optimizer (the fused CPU kernel,
// optim/cpu/adam_kernels.cpp), f32 and 16-bit with f32 masters, on each thread count, as bandwidth
// beside the STREAM triad of the same run; and libtorch's AdamW on the same problem when libtorch
// is found. One JSON line per measurement. Not a test: run it (--help).
#include <algorithm>

#include "bench/cpu_adam.hpp"
#include "core/cpu/isa.hpp"
#include "core/factories.hpp"
#include "core/parallel.hpp"
#include "io/command_line.hpp"
#include "optim/adam.hpp"

namespace strata::bench {

void print_adam(const AdamBench& bench, const Limits& limits, const std::string& name,
                const std::string& dtype, const std::string& library, int threads, double seconds) {
  const double gbps = kAdamBytesPerParam * bench.params / seconds / 1e9;
  print({.bench = "cpu_adam",
         .name = name,
         .dtype = dtype,
         .shape = "[" + std::to_string(bench.params) + "]",
         .library = library,
         .threads = threads,
         .seconds = seconds,
         .gbps = gbps,
         .fraction_of_peak = gbps / limits.triad_gbps(threads)});
}

namespace {

DType dtype_named(const std::string& name) {
  for (DType dtype : {DType::f32, DType::bf16, DType::f16})
    if (name == dtype_name(dtype)) return dtype;
  fail("strata_bench_cpu_adam: unknown dtype '", name, "'; use f32, bf16 or f16");
}

void bench_strata_adamw(const AdamBench& bench, const Options& options, const Limits& limits) {
  for (const std::string& name : bench.dtypes) {
    const DType dtype = dtype_named(name);
    // Values where every step stays finite and normal; the first step (in median_seconds'
    // warm-up) makes the states and faults their pages in.
    Tensor p = full({bench.params}, 0.5, dtype);
    p.requires_grad_();
    p.set_grad(full({bench.params}, 1e-3, dtype));
    optim::AdamW adamw({p}, {});
    for (int64_t threads : bench.threads) {
      set_num_threads(static_cast<int>(threads));
      const double seconds = median_seconds([&] { adamw.step(); }, options);
      print_adam(bench, limits, "adamw", name,
                 "strata_" + std::string(cpu::isa_name(cpu::active_isa())),
                 static_cast<int>(threads), seconds);
    }
  }
}

constexpr const char* kDescription =
    R"(Prints one JSON line per measurement: the STREAM triad on one thread and on the most threads
asked for, then one AdamW step on --params parameters for each thread count: Strata's optimizer
(library strata_<isa>: the kernel the machine runs, avx512 or avx2; STRATA_CPU_ISA=avx2 forces the
fallback) in each --dtypes (16-bit parameters keep f32 masters), and libtorch's torch::optim::AdamW
and its multi-tensor (foreach) form in f32 when built with libtorch. gbps counts 28 bytes per
parameter (read p, g, m, v; write p, m, v); fraction_of_peak is gbps over the triad's at the same
thread count. Each figure is the median of several timed steps after a warm-up step.)";

}  // namespace
}  // namespace strata::bench

int main(int argc, char** argv) {
  using namespace strata::bench;
  Options options;
  AdamBench bench;
  strata::io::CommandLine cli("strata_bench_cpu_adam", kDescription);
  cli.flag("params", bench.params, "parameters updated per step");
  cli.flag("threads", bench.threads, "thread counts to measure");
  cli.flag("dtypes", bench.dtypes, "Strata's parameter dtypes: f32, bf16, f16");
  cli.flag("torch", bench.torch, "measure libtorch's AdamW too (when built with libtorch)");
  cli.flag("quick", options.quick, "3 timed steps per measurement instead of 7");
  cli.parse(argc, argv);
  options.max_threads =
      static_cast<int>(*std::max_element(bench.threads.begin(), bench.threads.end()));
  const Limits limits = measure_triad(options, {});
  bench_strata_adamw(bench, options, limits);
#ifdef STRATA_BENCH_TORCH
  if (bench.torch) bench_torch_adamw(bench, options, limits);
#endif
  return 0;
}
