// nn::Module: the base of every layer and model, shaped like libtorch's.
//
// A module owns named parameters (tensors that train), buffers (state that does not, such as batch
// norm's running statistics) and submodules, each in registration order. Names compose with dots
// ("h.0.attn.c_attn.weight"), and those names are what state_dict(), checkpoints and the
// parallel engines address.
//
// Every call goes through operator(): forward pre-hooks, then the virtual forward(), then forward
// hooks (design decision 11: ZeRO-3 gathers and releases parameters there, profilers time there).
// A module whose forward takes other arguments adds its own overload that goes through
// hooked_call(), so the same hooks run.
//
// Layers hold their parameters as Tensor members (handles) as well as registering them. Handles
// stay valid across to(device|dtype), which re-points every handle with Tensor::set_data instead of
// replacing the tensor.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "nn/ordered_dict.hpp"

namespace strata::nn {

class Module;

// Forward hooks see the module and the inputs of the call; a post-hook also sees the output.
using ForwardPreHook = std::function<void(Module& module, const std::vector<Tensor>& inputs)>;
using ForwardHook =
    std::function<void(Module& module, const std::vector<Tensor>& inputs, const Tensor& output)>;
// Identifies a registered hook, for remove_hook.
using HookId = uint64_t;

// What a non-strict load_state_dict left out: keys the model has and the dict lacks, and the
// reverse.
struct LoadStateDictResult {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
};

class Module {
 public:
  // `type_name` names the module in printouts and error messages ("Linear").
  explicit Module(std::string type_name = "Module");
  virtual ~Module() = default;
  // A copy would share parameters with the original by accident; modules live in shared_ptrs.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type_name() const { return type_name_; }

  // The uniform call path: pre-hooks, forward(input), hooks.
  Tensor operator()(const Tensor& input);
  // This module's computation. The base throws: containers such as ModuleList have none.
  virtual Tensor forward(const Tensor& input);

  // Hooks run in registration order on every call through operator() (or hooked_call).
  HookId register_forward_pre_hook(ForwardPreHook hook);
  HookId register_forward_hook(ForwardHook hook);
  void remove_hook(HookId id);
  // Whether any hook is registered: a parent may fuse this module's forward with a neighbour's only
  // when nothing observes the call.
  bool has_hooks() const { return !pre_hooks_.empty() || !post_hooks_.empty(); }

  // Registration. Names are non-empty, contain no '.', and are unique within this module across
  // parameters, buffers and submodules. Each returns what it registered.
  Tensor register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  Tensor register_buffer(std::string name, Tensor tensor);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    add_child(std::move(name), module);
    return module;
  }

  // Declares that this module's forward uses `parameter`, which a submodule owns (a tied weight:
  // GPT's head uses wte.weight): parameter partitioning (ZeRO-3) gathers it for this module's
  // forward and backward too. It is not registered again: names and state_dict are unchanged.
  void register_external_parameter(const Tensor& parameter);
  const std::vector<Tensor>& external_parameters() const { return external_parameters_; }

  // Dotted names in registration order: this module's own entries first, then each submodule's.
  // A tensor registered under several names (tied weights) is listed once, under its first name.
  OrderedDict<Tensor> named_parameters(bool recurse = true) const;
  OrderedDict<Tensor> named_buffers(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  // Direct submodules.
  OrderedDict<std::shared_ptr<Module>> named_children() const { return children_; }
  std::vector<std::shared_ptr<Module>> children() const { return children_.values(); }
  // This module (under "") and every descendant, each once, in pre-order. Plain pointers, so that
  // a module that is not held by a shared_ptr can list itself; they live as long as this module.
  OrderedDict<Module*> named_modules();
  // Elements of all parameters, each tensor counted once.
  int64_t num_parameters() const;

  // Training mode (dropout active, batch norm on batch statistics), for this module and all
  // descendants.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves every parameter and buffer to `device`, or converts the floating ones to `dtype`, in
  // place: member handles stay valid and keep their autograd record; gradients move with them.
  void to(Device device);
  void to(DType dtype);

  // Clears every parameter's .grad (set_to_none), or fills it with zeros.
  void zero_grad(bool set_to_none = true);

  // Parameters and buffers by dotted name (detached handles to the same data; tied weights appear
  // under each name).
  OrderedDict<Tensor> state_dict() const;
  // Copies dict's tensors into the parameters and buffers of the same names (converting dtype and
  // device). Mis-shaped keys are always an error; with `strict`, so are missing and unexpected
  // keys. The error lists every offending key at once, and nothing is loaded when it throws.
  LoadStateDictResult load_state_dict(const OrderedDict<Tensor>& dict, bool strict = true);

  // Calls fn on every descendant, children before parents, then on this module (as PyTorch).
  void apply(const std::function<void(Module&)>& fn);

  // This module alone on one line: "Linear(in_features=3, out_features=4, bias=true)". The base
  // prints type_name().
  virtual void pretty_print(std::ostream& out) const;

 protected:
  // Runs the pre-hooks on `inputs`, then `body` (this call's forward), then the hooks on its
  // output. operator() is hooked_call({input}, forward(input)); other signatures use it too.
  Tensor hooked_call(const std::vector<Tensor>& inputs, const std::function<Tensor()>& body);

 private:
  void add_child(std::string name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  // Calls fn(dotted name, tensor) for every parameter and/or buffer, module by module.
  void visit_tensors(bool parameters, bool buffers, bool recurse, const std::string& prefix,
                     const std::function<void(const std::string&, const Tensor&)>& fn) const;
  // The parameters (or the buffers), each tensor once under its first name.
  OrderedDict<Tensor> named_tensors(bool parameters, bool recurse) const;
  // Every parameter and buffer once, for in-place conversions.
  std::vector<Tensor> unique_tensors() const;

  std::string type_name_;
  bool training_ = true;
  OrderedDict<Tensor> parameters_;
  OrderedDict<Tensor> buffers_;
  OrderedDict<std::shared_ptr<Module>> children_;
  std::vector<Tensor> external_parameters_;
  std::vector<std::pair<HookId, ForwardPreHook>> pre_hooks_;
  std::vector<std::pair<HookId, ForwardHook>> post_hooks_;
  HookId next_hook_id_ = 0;
};

// The module tree, one module per line with its parameter count:
//   Sequential(  # 203,530 parameters
//     (0): Linear(in_features=784, out_features=256, bias=true)  # 200,960 parameters
//     (1): ReLU()
//     ...
//   )
std::ostream& operator<<(std::ostream& out, const Module& module);

}  // namespace strata::nn
