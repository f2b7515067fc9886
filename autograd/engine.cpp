// The backward engine: dependency counting, a ready queue ordered by recording order, gradient
// buffers summed per node input, and the release of saved tensors as nodes finish.
#include "autograd/engine.hpp"

#include <queue>
#include <unordered_map>

#include "core/elementwise.hpp"
#include "core/factories.hpp"

namespace strata::autograd {

namespace {

// How many edges lead into each node reachable from the roots (each must deliver before it runs).
std::unordered_map<Node*, int> count_dependencies(const std::vector<Edge>& roots) {
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack;
  for (const Edge& root : roots) {
    if (dependencies.emplace(root.node.get(), 0).second) stack.push_back(root.node.get());
  }
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const Edge& edge : node->next_edges()) {
      if (!edge.node) continue;
      auto [it, first_visit] = dependencies.emplace(edge.node.get(), 0);
      ++it->second;
      if (first_visit) stack.push_back(edge.node.get());
    }
  }
  return dependencies;
}

// Adds `grad` into slot `input_nr` of a node's gradient buffer (out of place: the incoming tensor
// may be shared with another consumer).
void accumulate(Grads& buffer, int input_nr, Tensor grad) {
  Tensor& slot = buffer[input_nr];
  slot = slot.defined() ? add(slot, grad) : std::move(grad);
}

struct LaterFirst {
  bool operator()(const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) const {
    return a->sequence_nr() < b->sequence_nr();
  }
};

}  // namespace

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& gradients,
              bool retain_graph) {
  STRATA_CHECK(gradients.empty() || gradients.size() == outputs.size(), "backward: got ",
               gradients.size(), " gradients for ", outputs.size(), " outputs");
  NoGradGuard no_grad;
  std::vector<Edge> roots;
  std::vector<Tensor> root_grads;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& output = outputs[i];
    STRATA_CHECK(output.defined() && output.requires_grad(), "backward: output ", i,
                 " does not require grad and has no grad_fn, so no gradient can flow from it; ",
                 "did you compute it under a NoGradGuard, or forget requires_grad_() on the ",
                 "parameters?");
    Tensor grad = gradients.empty() ? Tensor() : gradients[i];
    if (grad.defined()) {
      STRATA_CHECK(grad.shape() == output.shape(), "backward: the gradient of output ", i,
                   " has shape ", shape_str(grad.shape()), " but the output has shape ",
                   shape_str(output.shape()));
    } else {
      STRATA_CHECK(output.numel() == 1, "backward: output ", i, " has shape ",
                   shape_str(output.shape()), "; a gradient can be implied only for a ",
                   "one-element output (a loss). Pass backward(gradient) with dL/doutput");
      grad = ones(output.shape(), output.options());
    }
    roots.push_back(gradient_edge(output));
    root_grads.push_back(grad.dtype() == output.dtype() ? grad : grad.to(output.dtype()));
  }

  std::unordered_map<Node*, int> dependencies = count_dependencies(roots);
  std::unordered_map<Node*, Grads> buffers;
  auto buffer_of = [&](const Edge& edge) -> Grads& {
    Grads& buffer = buffers[edge.node.get()];
    if (buffer.empty()) buffer.resize(edge.node->num_outputs());
    return buffer;
  };
  std::priority_queue<std::shared_ptr<Node>, std::vector<std::shared_ptr<Node>>, LaterFirst> ready;
  for (size_t i = 0; i < roots.size(); ++i) {
    accumulate(buffer_of(roots[i]), roots[i].input_nr, root_grads[i]);
    // A root another root depends on runs only after that one has delivered.
    if (dependencies[roots[i].node.get()] == 0) {
      dependencies[roots[i].node.get()] = -1;  // queued
      ready.push(roots[i].node);
    }
  }

  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.top();
    ready.pop();
    Grads grad_outputs = std::move(buffers[node.get()]);
    buffers.erase(node.get());
    node->run_tensor_hooks(grad_outputs);
    bool any_gradient = false;
    for (const Tensor& grad : grad_outputs) any_gradient = any_gradient || grad.defined();
    Grads grad_inputs;
    if (any_gradient) grad_inputs = node->apply(std::move(grad_outputs));
    if (!retain_graph) node->release_saved();
    const std::vector<Edge>& edges = node->next_edges();
    for (size_t j = 0; j < edges.size(); ++j) {
      const Edge& edge = edges[j];
      if (!edge.node) continue;
      if (j < grad_inputs.size() && grad_inputs[j].defined()) {
        accumulate(buffer_of(edge), edge.input_nr, std::move(grad_inputs[j]));
      }
      if (--dependencies[edge.node.get()] == 0) ready.push(edge.node);
    }
  }
}

void register_hook(const Tensor& tensor, TensorHook hook) {
  STRATA_CHECK(tensor.defined() && tensor.requires_grad(), "register_hook: the tensor does not ",
               "require grad, so no gradient will ever reach it; call requires_grad_() on it (or ",
               "on the parameters it is computed from) first");
  Edge edge = gradient_edge(tensor);
  edge.node->add_tensor_hook(edge.input_nr, std::move(hook));
}

void register_grad_ready_hook(const Tensor& leaf, GradReadyHook hook) {
  STRATA_CHECK(leaf.defined() && leaf.requires_grad() && leaf.is_leaf(),
               "register_grad_ready_hook: expected a leaf that requires grad (a parameter); ",
               "call requires_grad_() on it first");
  accumulator_of(leaf)->add_ready_hook(std::move(hook));
}

}  // namespace strata::autograd

namespace strata {

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::backward({*this}, {gradient}, retain_graph);
}

}  // namespace strata
