// strata_bench_cpu_adam's measurements, shared by its Strata and libtorch halves.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench.hpp"

namespace strata::bench {

// Every AdamW step reads p, g, m, v and writes p, m, v: 28 bytes per f32 parameter. A 16-bit
// parameter with an f32 master reads g (2), master, m, v and writes master, m, v and p (2): 28 too.
inline constexpr double kAdamBytesPerParam = 28;

struct AdamBench {
  int64_t params = 100'000'000;
  std::vector<int64_t> threads = {1, 2};
  std::vector<std::string> dtypes = {"f32", "bf16"};
  bool torch = true;
};

// Prints one record of a step that took `seconds`, as bandwidth and as a fraction of the triad.
void print_adam(const AdamBench& bench, const Limits& limits, const std::string& name,
                const std::string& dtype, const std::string& library, int threads, double seconds);

// libtorch's AdamW (torch::optim::AdamW, and 1.13's multi-tensor form through at::_foreach_*),
// f32 only; defined in cpu_adam_torch.cpp where libtorch is found.
void bench_torch_adamw(const AdamBench& bench, const Options& options, const Limits& limits);

}  // namespace strata::bench
