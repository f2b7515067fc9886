// The autograd record: what reverse-mode differentiation keeps for each tensor and each op call.
//
// The words of Strata's autograd, defined once:
// - gradient: for a tensor x, dL/dx, where L is the tensor backward() starts from (a scalar loss,
//   or any tensor together with a given gradient).
// - node: the backward of one recorded op call. Given the gradients of the op's outputs it returns
//   the gradients of its inputs; its edges lead to the nodes that want those input gradients.
// - leaf: a tensor that requires grad and was not produced by a recorded op (a parameter). Its
//   gradient accumulates into `.grad()` through its GradAccumulator node, which then fires the
//   leaf's gradient-ready hooks.
// - record (Meta): a tensor's requires_grad flag, its .grad, the node that produced it (grad_fn)
//   and which of that node's outputs it is.
//
// Every differentiable op in core records itself right after its forward, with its derivative as a
// closure beside it (record(...)); the engine that runs the nodes in reverse is
// autograd/engine.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace strata::autograd {

class Node;
using Grads = std::vector<Tensor>;

// Where a gradient goes: gradient input `input_nr` of `node`. A null node means the input needs
// no gradient.
struct Edge {
  std::shared_ptr<Node> node;
  int input_nr = 0;
};

// A tensor hook sees a gradient before it is used, and may return a replacement (an undefined
// return keeps the gradient as it is).
using TensorHook = std::function<Tensor(const Tensor& grad)>;
// A gradient-ready hook sees a leaf's .grad once this backward's last contribution is in it.
using GradReadyHook = std::function<void(const Tensor& grad)>;

class Node {
 public:
  Node(std::string name, std::vector<Edge> next_edges, int num_outputs);
  // Frees the graph behind this node iteratively: a chain of any length is released without
  // recursing once per node on the C++ stack.
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Gradients for the inputs (one per next edge, undefined where no gradient flows) from the
  // gradients of the outputs (undefined for an output no gradient reached; never all undefined).
  virtual Grads apply(Grads grad_outputs) = 0;
  // Frees the tensors saved for apply; backward() calls it as soon as the node has run, unless
  // the graph is retained.
  virtual void release_saved() {}

  const std::string& name() const { return name_; }
  const std::vector<Edge>& next_edges() const { return next_edges_; }
  int num_outputs() const { return num_outputs_; }
  // Creation order: among ready nodes the engine runs the most recent first, so a backward visits
  // nodes in the reverse order of the forward.
  uint64_t sequence_nr() const { return sequence_nr_; }

  // Tensor hooks on output `output` of this node (for a leaf, on its accumulator's input).
  void add_tensor_hook(int output, TensorHook hook);
  // Runs the tensor hooks on the gradients of the outputs, in registration order.
  void run_tensor_hooks(Grads& grad_outputs) const;

 private:
  std::string name_;
  std::vector<Edge> next_edges_;
  int num_outputs_;
  uint64_t sequence_nr_;
  std::vector<std::pair<int, TensorHook>> tensor_hooks_;
};

struct Meta;

// The node of a leaf: adds the incoming gradient into the leaf's .grad (in place when .grad
// exists, so a .grad that is a view into a flat gradient buffer stays one), then fires the leaf's
// gradient-ready hooks. One accumulator per leaf, so a leaf used several times (tied embeddings)
// is accumulated once per backward, after the engine has summed all its uses.
class GradAccumulator final : public Node {
 public:
  explicit GradAccumulator(const Tensor& leaf);
  Grads apply(Grads grad_outputs) override;
  void add_ready_hook(GradReadyHook hook) { ready_hooks_.push_back(std::move(hook)); }
  // The leaf's data changed shape or dtype (Tensor::set_data): accumulate in the new one.
  void retarget(const Tensor& leaf);

 private:
  std::weak_ptr<Meta> leaf_;  // weak: the leaf's Meta owns this node
  Shape shape_;
  DType dtype_;
  std::vector<GradReadyHook> ready_hooks_;
};

struct Meta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;  // null for a leaf
  int output_nr = 0;
  std::shared_ptr<GradAccumulator> accumulator;  // a leaf's, made on first use
};

// The accumulator of a leaf that requires grad (made on first use).
std::shared_ptr<GradAccumulator> accumulator_of(const Tensor& leaf);
// Where the gradient of `tensor` goes: its grad_fn's output, or its accumulator for a leaf, or
// nowhere (a null node) when it does not require grad.
Edge gradient_edge(const Tensor& tensor);

// Grad mode: whether ops record. Thread-local, on by default.
class GradMode {
 public:
  static bool enabled();
  static void set_enabled(bool enabled);
};

// Turns recording off for a scope (evaluation, optimizer updates, forward of composite ops).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Turns recording back on inside a NoGradGuard (e.g. the recomputation of a checkpoint).
class EnableGradGuard {
 public:
  EnableGradGuard() : previous_(GradMode::enabled()) { GradMode::set_enabled(true); }
  ~EnableGradGuard() { GradMode::set_enabled(previous_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any defined tensor among `tensors` requires grad: the op records.
template <class... Tensors>
bool should_record(const Tensors&... tensors) {
  return GradMode::enabled() && ((tensors.defined() && tensors.requires_grad()) || ...);
}
bool should_record(const std::vector<Tensor>& tensors);

// Which of `inputs` want a gradient; a backward closure skips the others.
using NeedsGrad = std::vector<bool>;
// Gradients of the inputs from the gradients of the outputs.
using BackwardFn = std::function<Grads(const Grads& grad_outputs, const NeedsGrad& needs_grad)>;

// Records one op call: a node named `name` with an edge per input, whose apply runs `backward`,
// becomes the grad_fn of each output (output i of the node is outputs[i]). The closure owns what
// it captured (saved tensors) until the node runs without retain_graph; capture tensors through
// saved(), never the outputs themselves (an output owns its node: that would be a cycle).
void record(std::string name, const std::vector<Tensor>& inputs,
            const std::vector<Tensor*>& outputs, BackwardFn backward);

// Records `output` of a one-input op (a view, a copy, a reduction) when `input` requires grad and
// grad mode is on, with backward(output's gradient) as the input's gradient. Returns output.
Tensor record_unary(std::string name, const Tensor& input, Tensor output,
                    std::function<Tensor(const Tensor& grad)> backward);

// A tensor to keep for backward: the same data without the autograd record.
inline Tensor saved(const Tensor& tensor) { return tensor.defined() ? tensor.detach() : tensor; }

// Rejects an in-place op on a tensor that requires grad while grad mode is on (the recorded graph
// would silently use the overwritten values).
void check_inplace(const Tensor& tensor, const char* op);

}  // namespace strata::autograd
