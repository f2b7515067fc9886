// libtorch's AdamW in strata_bench_cpu_adam, f32 on the same problem as Strata's: the C++
// torch::optim::AdamW (one op per line of the update, each a pass over memory), and the
// multi-tensor form that PyTorch 1.13's Python AdamW uses with foreach=True (_multi_tensor_adamw,
// through at::_foreach_*). 1.13 has no fused CPU AdamW (fused=True came later, for CUDA first).
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "bench/cpu_adam.hpp"

namespace strata::bench {
namespace {

constexpr double kLr = 1e-3, kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8, kWeightDecay = 1e-2;

// PyTorch 1.13's _multi_tensor_adamw, op for op, over lists of tensors.
struct ForeachAdamW {
  std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
  int64_t steps = 0;

  void step() {
    ++steps;
    at::_foreach_mul_(params, 1 - kLr * kWeightDecay);
    at::_foreach_mul_(exp_avgs, kBeta1);
    at::_foreach_add_(exp_avgs, grads, 1 - kBeta1);
    at::_foreach_mul_(exp_avg_sqs, kBeta2);
    at::_foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - kBeta2);
    const double step_size = kLr / (1 - std::pow(kBeta1, steps));
    const double bias_correction2_sqrt = std::sqrt(1 - std::pow(kBeta2, steps));
    std::vector<torch::Tensor> denom = at::_foreach_sqrt(exp_avg_sqs);
    at::_foreach_div_(denom, bias_correction2_sqrt);
    at::_foreach_add_(denom, kEps);
    at::_foreach_addcdiv_(params, exp_avgs, denom, -step_size);
  }
};

}  // namespace

void bench_torch_adamw(const AdamBench& bench, const Options& options, const Limits& limits) {
  torch::NoGradGuard no_grad;
  {
    torch::Tensor p = torch::full({bench.params}, 0.5);
    p.mutable_grad() = torch::full({bench.params}, 1e-3);
    torch::optim::AdamW adamw({p}, torch::optim::AdamWOptions(kLr)
                                       .betas({kBeta1, kBeta2})
                                       .eps(kEps)
                                       .weight_decay(kWeightDecay));
    for (int64_t threads : bench.threads) {
      at::set_num_threads(static_cast<int>(threads));
      const double seconds = median_seconds([&] { adamw.step(); }, options);
      print_adam(bench, limits, "adamw", "f32", "libtorch", static_cast<int>(threads), seconds);
    }
  }
  ForeachAdamW foreach;
  foreach
    .params = {torch::full({bench.params}, 0.5)};
  foreach
    .grads = {torch::full({bench.params}, 1e-3)};
  foreach
    .exp_avgs = {torch::zeros({bench.params})};
  foreach
    .exp_avg_sqs = {torch::zeros({bench.params})};
  for (int64_t threads : bench.threads) {
    at::set_num_threads(static_cast<int>(threads));
    const double seconds = median_seconds(
        [&] {
          foreach
            .step();
        },
        options);
    print_adam(bench, limits, "adamw_foreach", "f32", "libtorch", static_cast<int>(threads),
               seconds);
  }
}

}  // namespace strata::bench
