// Activation checkpointing: run a segment of the forward without keeping its intermediate
// tensors, and recompute it during backward.
//
// Only the segment's inputs are kept. In backward the segment runs again with grad mode on and
// the random generator rewound to where the forward drew from it, so dropout masks are the same,
// and the gradients are exactly those of the plain run. Parameters used inside the segment get
// their gradients even when no input requires grad.
#pragma once

#include <functional>
#include <vector>

#include "core/tensor.hpp"

namespace strata::autograd {

using Segment = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs)>;

std::vector<Tensor> checkpoint(const Segment& segment, const std::vector<Tensor>& inputs);

// One output, any number of Tensor inputs: checkpoint([&](const Tensor& x) { return block(x); },
// x).
template <class Fn, class... Inputs>
Tensor checkpoint(Fn fn, const Inputs&... inputs) {
  Segment segment = [fn](const std::vector<Tensor>& args) {
    return [&]<size_t... I>(std::index_sequence<I...>) {
      return std::vector<Tensor>{fn(args[I]...)};
    }
    (std::index_sequence_for<Inputs...>{});
  };
  return checkpoint(segment, std::vector<Tensor>{inputs...})[0];
}

}  // namespace strata::autograd
