// Strata's element-wise and normalisation kernels on 64M-element f32 tensors (16M with --quick),
// through the public API, as bandwidth and as a fraction of the same run's triad at the same thread
// count. Bytes are the least the op must move: each input read once, each output written once.
#include <functional>
#include <string>
#include <vector>

#include "bench/bench.hpp"
#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "core/nn_ops.hpp"
#include "core/parallel.hpp"

namespace strata::bench {
namespace {

struct OpBench {
  std::string name;
  double bytes_per_element;
  std::function<void(const Tensor& x, const Tensor& y)> run;  // x, y: [rows, 1024] f32
};

}  // namespace

void bench_ops(const Options& options, const Limits& limits) {
  constexpr int64_t kRow = 1024;
  const int64_t rows = (options.quick ? (int64_t{16} << 20) : (int64_t{64} << 20)) / kRow;
  // Values in a range where every op is well defined, filled once (this also faults the pages in).
  Tensor x = full({rows, kRow}, 0.5), y = full({rows, kRow}, 1.5);
  Tensor weight = ones({kRow}), bias = zeros({kRow});
  const std::vector<OpBench> ops = {
      {"add", 12, [](const Tensor& a, const Tensor& b) { add(a, b); }},
      {"mul", 12, [](const Tensor& a, const Tensor& b) { mul(a, b); }},
      {"gelu", 8, [](const Tensor& a, const Tensor&) { gelu(a); }},
      {"softmax", 8, [](const Tensor& a, const Tensor&) { softmax(a, -1); }},
      {"layer_norm", 8, [&](const Tensor& a, const Tensor&) { layer_norm(a, weight, bias, 1e-5); }},
      {"cast_f32_bf16", 6, [](const Tensor& a, const Tensor&) { a.to(DType::bf16); }},
  };
  const std::string shape = "[" + std::to_string(rows) + ", " + std::to_string(kRow) + "]";
  for (const OpBench& op : ops) {
    if (!options.selected("ops", op.name)) continue;
    for (int threads : {1, options.max_threads}) {
      set_num_threads(threads);
      double seconds = median_seconds([&] { op.run(x, y); }, options);
      double gbps = op.bytes_per_element * x.numel() / seconds / 1e9;
      print({.bench = "ops",
             .name = op.name,
             .dtype = "f32",
             .shape = shape,
             .library = "strata",
             .threads = threads,
             .seconds = seconds,
             .gbps = gbps,
             .fraction_of_peak = gbps / limits.triad_gbps(threads)});
      if (options.max_threads == 1) break;
    }
  }
  set_num_threads(options.max_threads);
}

}  // namespace strata::bench
