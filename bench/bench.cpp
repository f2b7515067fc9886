// The pieces of bench/bench.hpp that every CPU benchmark shares: measurement selection, the JSON
// line and the timing loop.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "bench/bench.hpp"

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
