// Activation checkpointing: a node whose backward replays the segment and backpropagates through
// the replay with a nested engine run.
#include "autograd/checkpoint.hpp"

#include "autograd/engine.hpp"
#include "core/random.hpp"

namespace strata::autograd {

std::vector<Tensor> checkpoint(const Segment& segment, const std::vector<Tensor>& inputs) {
  const PhiloxState rng_before = default_generator().state();
  std::vector<Tensor> outputs;
  {
    NoGradGuard no_intermediates;
    outputs = segment(inputs);
  }
  if (!GradMode::enabled()) return outputs;

  std::vector<Tensor> kept;
  std::vector<bool> input_requires_grad;
  for (const Tensor& input : inputs) {
    kept.push_back(saved(input));
    input_requires_grad.push_back(input.requires_grad());
  }
  std::vector<Tensor*> recorded_outputs;
  for (Tensor& output : outputs) {
    if (is_floating(output.dtype())) recorded_outputs.push_back(&output);
  }
  record("checkpoint", inputs, recorded_outputs,
         [segment, kept, input_requires_grad, rng_before](const Grads& grad_outputs,
                                                          const NeedsGrad&) {
           std::vector<Tensor> leaves;
           for (size_t i = 0; i < kept.size(); ++i) {
             Tensor leaf = kept[i].detach();
             if (input_requires_grad[i]) leaf.requires_grad_();
             leaves.push_back(leaf);
           }
           Generator& generator = default_generator();
           const PhiloxState rng_now = generator.state();
           generator.set_state(rng_before);
           std::vector<Tensor> replayed;
           {
             EnableGradGuard record_replay;
             replayed = segment(leaves);
           }
           generator.set_state(rng_now);

           std::vector<Tensor> roots, root_grads;
           size_t next_grad = 0;
           for (const Tensor& output : replayed) {
             if (!is_floating(output.dtype())) continue;
             const Tensor& grad = grad_outputs[next_grad++];
             if (grad.defined() && output.requires_grad()) {
               roots.push_back(output);
               root_grads.push_back(grad);
             }
           }
           if (!roots.empty()) backward(roots, root_grads);
           Grads grads;
           for (const Tensor& leaf : leaves) grads.push_back(leaf.grad());
           return grads;
         });
  return outputs;
}

}  // namespace strata::autograd
