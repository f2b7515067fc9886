// Shared by the engine tests: a small MLP built from a seed (so two copies start equal), data for
// it, configs, and reference gradients from a plain loss.backward().
#pragma once

#include <memory>
#include <sstream>
#include <vector>

#include "strata.hpp"

namespace strata::engine_test {

// 4 -> 8 -> 3, the same weights for the same seed.
inline std::shared_ptr<nn::Sequential> make_mlp(uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(8, 3)});
}

// n examples: inputs f32 [n, 4], targets i64 [n] in [0, 3).
inline io::Example make_data(int64_t n, uint64_t seed) {
  Generator gen(seed);
  return {randn({n, 4}, {}, gen), randint(0, 3, {n}, DType::i64, gen)};
}

// Rows [begin, begin + n) of a batch.
inline io::Example rows(const io::Example& data, int64_t begin, int64_t n) {
  return {data.inputs.narrow(0, begin, n), data.targets.narrow(0, begin, n)};
}

inline Tensor mlp_loss(nn::Module& model, const io::Example& batch) {
  return nn::functional::cross_entropy(model(batch.inputs), batch.targets);
}

// SGD with lr 0.1, micro-batch `micro`, `accumulation` micro-steps per step, no printing.
inline io::Config sgd_config(int64_t micro, int64_t accumulation) {
  io::Config config;
  config.train_micro_batch_size_per_gpu = micro;
  config.gradient_accumulation_steps = accumulation;
  config.optimizer.type = "SGD";
  config.optimizer.params.lr = 0.1;
  config.steps_per_print = 1000;
  return config;
}

// Copies of the values of tensors (parameters or gradients) in f32.
inline std::vector<Tensor> copies(const std::vector<Tensor>& tensors) {
  std::vector<Tensor> out;
  for (const Tensor& t : tensors) out.push_back(t.to(DType::f32).clone());
  return out;
}

inline std::vector<Tensor> grads_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const Tensor& p : params) out.push_back(p.grad());
  return out;
}

// The largest |a - b| over lists of tensors of the same shapes.
inline double max_difference(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst =
        std::max(worst, amax(abs(sub(a[i].to(DType::f64), b[i].to(DType::f64)))).item<double>());
  return worst;
}

}  // namespace strata::engine_test
