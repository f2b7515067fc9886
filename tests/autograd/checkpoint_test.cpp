// Activation checkpointing: the same gradients, bit for bit (dropout included), in less memory.
#include <doctest/doctest.h>

#include "strata.hpp"

namespace strata {
namespace {

// A block with dropout and a parameter, big enough that its intermediates dominate memory.
Tensor block(const Tensor& x, const Tensor& w) {
  Generator& generator = default_generator();
  Tensor h = gelu(matmul(x, w));
  h = dropout(h, 0.1, generator.draw(static_cast<uint64_t>(h.numel())));
  return tanh(h) * 0.5 + x;
}

struct Run {
  std::vector<float> x_grad, w_grad;
  size_t peak_bytes;
};

Run train_step(bool use_checkpoint) {
  manual_seed(7);
  Tensor x = randn({256, 256}).requires_grad_();
  Tensor w = (randn({256, 256}) * 0.05).detach().requires_grad_();
  manual_seed(11);  // the dropout stream
  reset_peak_memory_stats();
  size_t base = memory_stats().current_bytes;
  Tensor h = x;
  for (int layer = 0; layer < 4; ++layer) {
    h = use_checkpoint ? autograd::checkpoint(block, h, w) : block(h, w);
  }
  Tensor loss = sum(h * h);
  loss.backward();
  return {x.grad().to_vector<float>(), w.grad().to_vector<float>(),
          memory_stats().peak_bytes - base};
}

TEST_CASE("checkpointed gradients equal the plain ones bit for bit, at a lower peak") {
  Run plain = train_step(false);
  Run checkpointed = train_step(true);
  CHECK(checkpointed.x_grad == plain.x_grad);
  CHECK(checkpointed.w_grad == plain.w_grad);
  MESSAGE("peak bytes above the inputs: plain ", plain.peak_bytes, ", checkpointed ",
          checkpointed.peak_bytes);
  CHECK(checkpointed.peak_bytes < plain.peak_bytes * 2 / 3);
}

TEST_CASE("parameters inside a checkpoint get gradients when no input requires grad") {
  Tensor w = randn({4, 4}, DType::f64).requires_grad_();
  Tensor x = randn({2, 4}, DType::f64);
  Tensor y = autograd::checkpoint([&](const Tensor& in) { return matmul(in, w); }, x);
  sum(y).backward();
  Tensor expected = matmul(x.t(), ones({2, 4}, DType::f64));
  CHECK(w.grad().to_vector<double>() == expected.to_vector<double>());
}

}  // namespace
}  // namespace strata
