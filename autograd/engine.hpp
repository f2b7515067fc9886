// The backward engine: runs the recorded nodes in reverse, from the tensors backward() starts at
// down to the leaves, and the hooks that attach to that walk.
//
// The walk is a loop over a ready queue, not recursion, so a chain of any length runs in constant
// C++ stack. A node runs once all of its consumers have passed it their gradients; among ready
// nodes the most recently recorded runs first (reverse of the forward order, deterministic).
// Each node's saved tensors are freed right after it runs unless the graph is retained.
#pragma once

#include <vector>

#include "core/autograd_record.hpp"

namespace strata::autograd {

// Accumulates d(sum_i <outputs[i], gradients[i]>)/d(leaf) into every leaf's .grad. A gradient
// may be omitted (undefined, or `gradients` empty) for a one-element output: it is then 1.
// Nodes run under grad mode off; their saved tensors are freed unless retain_graph.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& gradients = {},
              bool retain_graph = false);

// Calls `hook` with each gradient that reaches `tensor` in a backward, before it is used (for a
// leaf: before it is accumulated into .grad). The hook may return a replacement gradient of the
// same shape, or an undefined tensor to keep it.
void register_hook(const Tensor& tensor, TensorHook hook);

// Calls `hook` with the leaf's .grad once per backward, after that backward's last contribution to
// it has been accumulated (a leaf used several times still fires once). Data parallelism and ZeRO
// start their gradient reductions here while the rest of the backward runs.
void register_grad_ready_hook(const Tensor& leaf, GradReadyHook hook);

}  // namespace strata::autograd
