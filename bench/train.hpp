// Shared pieces of strata_bench_train: the two models, the timing of training steps, and the
// libraries' step functions (libtorch's only where Debian's libtorch-dev is installed).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace strata::bench {

// A GPT-2-shaped model and the batch it trains on.
struct TrainModel {
  std::string name;
  int64_t vocab = 0, block = 0, layers = 0, heads = 0, width = 0;  // block: wpe's rows
  int64_t batch = 0, context = 0;                                  // one step: batch x context
  int warmup_steps = 0, timed_steps = 0;
  int64_t tokens_per_step() const { return batch * context; }
  // nanoGPT's estimate: 6 N + 12 L C T, with N the parameters without wpe (the position table is
  // a lookup; wte counts because the tied LM head is a product).
  double flops_per_token() const;
};

const std::vector<TrainModel>& train_models();
const TrainModel& train_model(const std::string& name);

// What one training step costs, in steady state.
struct StepTiming {
  double median_seconds = 0;
  double median_cpu_seconds = 0;  // process CPU time, all threads
  double loss = 0;                // the last step's, to show the step did real work
};

// Runs warmup_steps untimed steps, then timed_steps timed ones; the median of the timed.
StepTiming time_steps(const TrainModel& model, const std::function<double()>& step);

// One measurement of a library: builds the model and its AdamW, trains on random tokens.
StepTiming train_strata(const TrainModel& model, int threads);
StepTiming train_torch(const TrainModel& model, int threads);
std::string openblas_core();  // the kernels OpenBLAS runs ("" when it is not loaded)

// The GEMM-bound limit: Strata's GEMMs at the model's own shapes and layouts (forward, and the
// two backward products of each), timed one by one; print_each prints a JSON line per product.
struct GemmBound {
  double gemm_seconds_per_step = 0;  // the sum over all the step's GEMMs
  double gemm_flops_per_step = 0;
  double gflops() const { return gemm_flops_per_step / gemm_seconds_per_step * 1e-9; }
};
GemmBound measure_gemm_bound(const TrainModel& model, int threads, bool print_each);

}  // namespace strata::bench
