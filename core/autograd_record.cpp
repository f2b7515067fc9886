// The autograd record: Tensor's autograd accessors, nodes, leaf accumulation and record().
#include "core/autograd_record.hpp"

#include <atomic>

#include "core/elementwise.hpp"

namespace strata {

using autograd::Meta;

bool Tensor::requires_grad() const {
  const auto& meta = autograd_meta();
  return meta && meta->requires_grad;
}

Tensor& Tensor::requires_grad_(bool requires_grad) {
  STRATA_CHECK(!requires_grad || is_floating(dtype()), "requires_grad_: a tensor of dtype ",
               dtype_name(dtype()), " cannot require grad; only floating-point tensors have ",
               "gradients (convert it with .to(DType::f32) first)");
  STRATA_CHECK(is_leaf(), "requires_grad_: this tensor was produced by ", grad_fn()->name(),
               " and already has a gradient path; requires_grad_ is for leaves (parameters, ",
               "inputs). Use detach().requires_grad_() for a new leaf with the same data");
  ensure_autograd_meta().requires_grad = requires_grad;
  return *this;
}

bool Tensor::is_leaf() const {
  const auto& meta = autograd_meta();
  return !meta || !meta->grad_fn;
}

Tensor Tensor::grad() const {
  const auto& meta = autograd_meta();
  return meta ? meta->grad : Tensor();
}

void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined()) {
    STRATA_CHECK(grad.shape() == shape() && grad.dtype() == dtype() && grad.device() == device(),
                 "set_grad: the gradient (", dtype_name(grad.dtype()), ", ", grad.device().str(),
                 ", ", shape_str(grad.shape()), ") must match the tensor (", dtype_name(dtype()),
                 ", ", device().str(), ", ", shape_str(shape()), ")");
  }
  ensure_autograd_meta().grad = grad;
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const {
  const auto& meta = autograd_meta();
  return meta ? meta->grad_fn : nullptr;
}

Tensor Tensor::detach() const { return with_geometry(shape(), strides(), offset()); }

void Tensor::set_data(const Tensor& data) const {
  STRATA_CHECK(data.defined(), "set_data: the new data is an undefined Tensor");
  STRATA_CHECK(!requires_grad() || is_floating(data.dtype()), "set_data: a tensor that requires ",
               "grad cannot take data of dtype ", dtype_name(data.dtype()));
  const Impl& source = data.impl();
  impl_->storage = source.storage;
  impl_->shape = source.shape;
  impl_->strides = source.strides;
  impl_->offset = source.offset;
  impl_->numel = source.numel;
  impl_->dtype = source.dtype;
  if (const auto& meta = impl_->autograd) {
    const Tensor& grad = meta->grad;
    bool grad_fits = grad.defined() && grad.shape() == shape() && grad.dtype() == dtype() &&
                     grad.device() == device();
    if (!grad_fits) meta->grad = Tensor();  // a gradient of the old shape/dtype/device is stale
    if (meta->accumulator) meta->accumulator->retarget(*this);
  }
}

Meta& Tensor::ensure_autograd_meta() const {
  if (!impl().autograd) impl_->autograd = std::make_shared<Meta>();
  return *impl_->autograd;
}

}  // namespace strata

namespace strata::autograd {

namespace {

std::atomic<uint64_t> next_sequence_nr{0};
thread_local bool grad_mode_enabled = true;

// A node whose backward is a closure (what record() makes).
class FunctionNode final : public Node {
 public:
  FunctionNode(std::string name, std::vector<Edge> next_edges, int num_outputs, BackwardFn backward)
      : Node(std::move(name), std::move(next_edges), num_outputs), backward_(std::move(backward)) {
    for (const Edge& edge : this->next_edges()) needs_grad_.push_back(edge.node != nullptr);
  }

  Grads apply(Grads grad_outputs) override {
    STRATA_CHECK(backward_, "backward through ", name(), " a second time: its saved tensors were ",
                 "freed by the previous backward(); pass retain_graph = true to the first ",
                 "backward() if you need to run it again");
    Grads grads = backward_(grad_outputs, needs_grad_);
    STRATA_CHECK(grads.size() == next_edges().size(), "the backward of ", name(), " returned ",
                 grads.size(), " gradients for ", next_edges().size(), " inputs");
    return grads;
  }

  void release_saved() override { backward_ = nullptr; }

 private:
  BackwardFn backward_;
  NeedsGrad needs_grad_;
};

}  // namespace

Node::Node(std::string name, std::vector<Edge> next_edges, int num_outputs)
    : name_(std::move(name)),
      next_edges_(std::move(next_edges)),
      num_outputs_(num_outputs),
      sequence_nr_(next_sequence_nr++) {}

Node::~Node() {
  // Nodes whose last owner is being destroyed are parked on one stack per thread and released by
  // the outermost destructor, so each release runs at constant stack depth.
  thread_local std::vector<std::shared_ptr<Node>> pending;
  thread_local bool draining = false;
  for (Edge& edge : next_edges_) {
    if (edge.node) pending.push_back(std::move(edge.node));
  }
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    std::shared_ptr<Node> next = std::move(pending.back());
    pending.pop_back();
    next.reset();  // may run ~Node of `next`, which parks its own edges
  }
  draining = false;
}

void Node::add_tensor_hook(int output, TensorHook hook) {
  STRATA_CHECK(output >= 0 && output < num_outputs_, "add_tensor_hook: ", name_, " has ",
               num_outputs_, " outputs, got output ", output);
  tensor_hooks_.emplace_back(output, std::move(hook));
}

void Node::run_tensor_hooks(Grads& grad_outputs) const {
  for (const auto& [output, hook] : tensor_hooks_) {
    if (!grad_outputs[output].defined()) continue;
    Tensor replaced = hook(grad_outputs[output]);
    if (replaced.defined()) grad_outputs[output] = std::move(replaced);
  }
}

GradAccumulator::GradAccumulator(const Tensor& leaf)
    : Node("GradAccumulator", {}, 1),
      leaf_(leaf.autograd_meta()),
      shape_(leaf.shape()),
      dtype_(leaf.dtype()) {}

void GradAccumulator::retarget(const Tensor& leaf) {
  shape_ = leaf.shape();
  dtype_ = leaf.dtype();
}

Grads GradAccumulator::apply(Grads grad_outputs) {
  std::shared_ptr<Meta> leaf = leaf_.lock();
  // The leaf is gone (only the graph kept its accumulator alive): nobody can read the gradient.
  if (!leaf) return {};
  Tensor incoming = std::move(grad_outputs[0]);
  STRATA_CHECK(incoming.shape() == shape_, "backward: a gradient of shape ",
               shape_str(incoming.shape()), " reached a leaf of shape ", shape_str(shape_),
               " (a backward function returned a wrongly shaped gradient)");
  if (incoming.dtype() != dtype_) incoming = incoming.to(dtype_);
  if (!leaf->grad.defined()) {
    // Keep the engine's buffer when nothing else can see it and it is dense; otherwise copy, so
    // that a later in-place accumulation cannot write into a tensor shared with another gradient
    // or into an expanded (stride-0) view.
    bool keep = incoming.has_unique_data() && incoming.is_contiguous();
    leaf->grad = keep ? incoming : incoming.clone();
  } else {
    add_(leaf->grad, incoming);
  }
  for (const GradReadyHook& hook : ready_hooks_) hook(leaf->grad);
  return {};
}

std::shared_ptr<GradAccumulator> accumulator_of(const Tensor& leaf) {
  STRATA_CHECK(leaf.is_leaf() && leaf.requires_grad(), "accumulator_of: expected a leaf that ",
               "requires grad (call requires_grad_() on it first)");
  const std::shared_ptr<Meta>& meta = leaf.autograd_meta();
  if (!meta->accumulator) meta->accumulator = std::make_shared<GradAccumulator>(leaf);
  return meta->accumulator;
}

Edge gradient_edge(const Tensor& tensor) {
  if (!tensor.defined() || !tensor.requires_grad()) return {};
  const std::shared_ptr<Meta>& meta = tensor.autograd_meta();
  if (meta->grad_fn) return {meta->grad_fn, meta->output_nr};
  return {accumulator_of(tensor), 0};
}

bool GradMode::enabled() { return grad_mode_enabled; }
void GradMode::set_enabled(bool enabled) { grad_mode_enabled = enabled; }

bool should_record(const std::vector<Tensor>& tensors) {
  if (!GradMode::enabled()) return false;
  for (const Tensor& tensor : tensors) {
    if (tensor.defined() && tensor.requires_grad()) return true;
  }
  return false;
}

void record(std::string name, const std::vector<Tensor>& inputs,
            const std::vector<Tensor*>& outputs, BackwardFn backward) {
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& input : inputs) edges.push_back(gradient_edge(input));
  auto node = std::make_shared<FunctionNode>(std::move(name), std::move(edges),
                                             static_cast<int>(outputs.size()), std::move(backward));
  for (size_t i = 0; i < outputs.size(); ++i) {
    Tensor& output = *outputs[i];
    STRATA_CHECK(is_floating(output.dtype()), node->name(), ": output ", i, " has dtype ",
                 dtype_name(output.dtype()), ", which cannot carry a gradient");
    Meta& meta = output.ensure_autograd_meta();
    meta.requires_grad = true;
    meta.grad_fn = node;
    meta.output_nr = static_cast<int>(i);
  }
}

Tensor record_unary(std::string name, const Tensor& input, Tensor output,
                    std::function<Tensor(const Tensor& grad)> backward) {
  if (should_record(input)) {
    record(std::move(name), {input}, {&output},
           [backward = std::move(backward)](const Grads& grad, const NeedsGrad&) {
             return Grads{backward(grad[0])};
           });
  }
  return output;
}

void check_inplace(const Tensor& tensor, const char* op) {
  STRATA_CHECK(!(GradMode::enabled() && tensor.requires_grad()), op, ": in-place update of a ",
               "tensor that requires grad (", shape_str(tensor.shape()),
               ") while grad mode is on; ",
               "the recorded graph would use the overwritten values. Update parameters inside a ",
               "NoGradGuard (as optimizers do), or use the out-of-place op");
}

}  // namespace strata::autograd
