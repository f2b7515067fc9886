// nn::Module: registration, the recursive walks over names, modes, conversion, state dicts, hooks
// and the printout.
#include "nn/module.hpp"

#include <algorithm>
#include <ostream>
#include <sstream>

#include "core/autograd_record.hpp"
#include "nn/construction_scope.hpp"

namespace strata::nn {

namespace {

bool contains_tensor(const std::vector<Tensor>& tensors, const Tensor& tensor) {
  return std::any_of(tensors.begin(), tensors.end(),
                     [&](const Tensor& t) { return t.is_same(tensor); });
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : ", ") + part;
  return out;
}

// 124439808 -> "124,439,808".
std::string with_thousands(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}

Tensor Module::operator()(const Tensor& input) {
  return hooked_call({input}, [&] { return forward(input); });
}

Tensor Module::forward(const Tensor& input) {
  fail(type_name_, "::forward: this module has no forward(Tensor) (input of shape ",
       shape_str(input.shape()), "); call its submodules, or a module that defines forward");
}

Tensor Module::hooked_call(const std::vector<Tensor>& inputs, const std::function<Tensor()>& body) {
  // Copies, so a hook may remove itself (or register another) while the list runs.
  auto pre_hooks = pre_hooks_;
  for (auto& [id, hook] : pre_hooks) hook(*this, inputs);
  Tensor output = body();
  auto post_hooks = post_hooks_;
  for (auto& [id, hook] : post_hooks) hook(*this, inputs, output);
  return output;
}

HookId Module::register_forward_pre_hook(ForwardPreHook hook) {
  pre_hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

HookId Module::register_forward_hook(ForwardHook hook) {
  post_hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

void Module::remove_hook(HookId id) {
  auto has_id = [id](const auto& entry) { return entry.first == id; };
  size_t before = pre_hooks_.size() + post_hooks_.size();
  std::erase_if(pre_hooks_, has_id);
  std::erase_if(post_hooks_, has_id);
  STRATA_CHECK(pre_hooks_.size() + post_hooks_.size() < before, type_name_,
               "::remove_hook: no hook with id ", id, " is registered on this module");
}

void Module::check_new_name(const std::string& name, const char* what) const {
  STRATA_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name_, "::register_",
               what, ": the name '", name, "' must be non-empty and contain no '.' (dots join ",
               "the names of nested modules)");
  STRATA_CHECK(!parameters_.contains(name) && !buffers_.contains(name) && !children_.contains(name),
               type_name_, "::register_", what, ": the name '", name,
               "' is already taken by a parameter, buffer or submodule of this module");
}

Tensor Module::register_parameter(std::string name, Tensor tensor, bool requires_grad) {
  check_new_name(name, "parameter");
  STRATA_CHECK(tensor.defined(), type_name_, "::register_parameter: '", name,
               "' is an undefined Tensor; leave an optional parameter (a bias) unregistered");
  tensor.requires_grad_(requires_grad);
  return parameters_.insert(std::move(name), std::move(tensor));
}

void Module::register_external_parameter(const Tensor& parameter) {
  STRATA_CHECK(parameter.defined() && parameter.is_leaf(), type_name_,
               "::register_external_parameter: expected a parameter (a defined leaf tensor)");
  external_parameters_.push_back(parameter);
}

Tensor Module::register_buffer(std::string name, Tensor tensor) {
  check_new_name(name, "buffer");
  STRATA_CHECK(tensor.defined(), type_name_, "::register_buffer: '", name,
               "' is an undefined Tensor");
  return buffers_.insert(std::move(name), std::move(tensor));
}

void Module::add_child(std::string name, std::shared_ptr<Module> module) {
  check_new_name(name, "module");
  STRATA_CHECK(module != nullptr, type_name_, "::register_module: '", name, "' is a null module");
  children_.insert(std::move(name), module);
  if (ConstructionScope* scope = ConstructionScope::current()) scope->module_constructed(*module);
}

void Module::visit_tensors(bool parameters, bool buffers, bool recurse, const std::string& prefix,
                           const std::function<void(const std::string&, const Tensor&)>& fn) const {
  if (parameters) {
    for (const auto& [name, tensor] : parameters_) fn(prefix + name, tensor);
  }
  if (buffers) {
    for (const auto& [name, tensor] : buffers_) fn(prefix + name, tensor);
  }
  if (!recurse) return;
  for (const auto& [name, child] : children_) {
    child->visit_tensors(parameters, buffers, true, prefix + name + ".", fn);
  }
}

OrderedDict<Tensor> Module::named_tensors(bool parameters, bool recurse) const {
  OrderedDict<Tensor> named;
  std::vector<Tensor> seen;
  visit_tensors(parameters, !parameters, recurse, "",
                [&](const std::string& name, const Tensor& tensor) {
                  if (contains_tensor(seen, tensor)) return;
                  seen.push_back(tensor);
                  named.insert(name, tensor);
                });
  return named;
}

OrderedDict<Tensor> Module::named_parameters(bool recurse) const {
  return named_tensors(/*parameters=*/true, recurse);
}

OrderedDict<Tensor> Module::named_buffers(bool recurse) const {
  return named_tensors(/*parameters=*/false, recurse);
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  return named_parameters(recurse).values();
}

std::vector<Tensor> Module::buffers(bool recurse) const { return named_buffers(recurse).values(); }

OrderedDict<Module*> Module::named_modules() {
  OrderedDict<Module*> named;
  std::vector<Module*> seen;
  std::function<void(const std::string&, Module&)> visit = [&](const std::string& name,
                                                               Module& module) {
    if (std::find(seen.begin(), seen.end(), &module) != seen.end()) return;
    seen.push_back(&module);
    named.insert(name, &module);
    for (const auto& [child_name, child] : module.children_) {
      visit(name.empty() ? child_name : name + "." + child_name, *child);
    }
  };
  visit("", *this);
  return named;
}

int64_t Module::num_parameters() const {
  int64_t total = 0;
  for (const Tensor& parameter : parameters()) total += parameter.numel();
  return total;
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& [name, child] : children_) child->train(on);
}

std::vector<Tensor> Module::unique_tensors() const {
  std::vector<Tensor> tensors;
  visit_tensors(true, true, true, "", [&](const std::string&, const Tensor& tensor) {
    if (!contains_tensor(tensors, tensor)) tensors.push_back(tensor);
  });
  return tensors;
}

namespace {

// Re-points `tensor` at converted data, and its gradient with it.
void convert_in_place(const Tensor& tensor, const std::function<Tensor(const Tensor&)>& convert) {
  Tensor grad = tensor.grad();
  tensor.set_data(convert(tensor.detach()));
  if (grad.defined()) tensor.set_grad(convert(grad));
}

}  // namespace

void Module::to(Device device) {
  for (const Tensor& tensor : unique_tensors()) {
    convert_in_place(tensor, [&](const Tensor& t) { return t.to(device); });
  }
}

void Module::to(DType dtype) {
  STRATA_CHECK(is_floating(dtype), type_name_, "::to: modules convert to a floating dtype, not ",
               dtype_name(dtype), "; integer buffers keep their dtype");
  for (const Tensor& tensor : unique_tensors()) {
    if (!is_floating(tensor.dtype())) continue;
    convert_in_place(tensor, [&](const Tensor& t) { return t.to(dtype); });
  }
}

void Module::zero_grad(bool set_to_none) {
  autograd::NoGradGuard no_grad;
  for (const Tensor& parameter : parameters()) {
    Tensor grad = parameter.grad();
    if (!grad.defined()) continue;
    if (set_to_none) {
      parameter.set_grad(Tensor());
    } else {
      grad.fill_(0);
    }
  }
}

OrderedDict<Tensor> Module::state_dict() const {
  OrderedDict<Tensor> dict;
  visit_tensors(true, true, true, "", [&](const std::string& name, const Tensor& tensor) {
    dict.insert(name, tensor.detach());
  });
  return dict;
}

LoadStateDictResult Module::load_state_dict(const OrderedDict<Tensor>& dict, bool strict) {
  OrderedDict<Tensor> own = state_dict();
  LoadStateDictResult result;
  std::vector<std::string> misshaped;
  for (const auto& [name, tensor] : own) {
    const Tensor* source = dict.find(name);
    if (!source) {
      result.missing_keys.push_back(name);
    } else if (source->shape() != tensor.shape()) {
      misshaped.push_back(name + " (checkpoint " + shape_str(source->shape()) + ", model " +
                          shape_str(tensor.shape()) + ")");
    }
  }
  for (const auto& [name, tensor] : dict) {
    if (!own.contains(name)) result.unexpected_keys.push_back(name);
  }
  const bool key_errors =
      strict && !(result.missing_keys.empty() && result.unexpected_keys.empty());
  if (key_errors || !misshaped.empty()) {
    std::ostringstream message;
    message << type_name_ << "::load_state_dict: nothing was loaded;";
    if (strict && !result.missing_keys.empty()) {
      message << " missing keys (" << result.missing_keys.size()
              << "): " << join(result.missing_keys) << ";";
    }
    if (strict && !result.unexpected_keys.empty()) {
      message << " unexpected keys (" << result.unexpected_keys.size()
              << "): " << join(result.unexpected_keys) << ";";
    }
    if (!misshaped.empty()) {
      message << " mis-shaped keys (" << misshaped.size() << "): " << join(misshaped) << ";";
    }
    if (key_errors) message << " (pass strict = false to load the matching keys only)";
    fail(message.str());
  }
  autograd::NoGradGuard no_grad;
  for (const auto& [name, tensor] : own) {
    if (const Tensor* source = dict.find(name)) Tensor(tensor).copy_(*source);
  }
  return result;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (const auto& [name, child] : children_) child->apply(fn);
  fn(*this);
}

void Module::pretty_print(std::ostream& out) const { out << type_name_; }

namespace {

void print_tree(std::ostream& out, const Module& module, const std::string& indent) {
  module.pretty_print(out);
  const int64_t count = module.num_parameters();
  const auto children = module.named_children();
  if (!children.empty()) out << "(";
  if (count > 0)
    out << "  # " << with_thousands(count) << (count == 1 ? " parameter" : " parameters");
  if (children.empty()) return;
  for (const auto& [name, child] : children) {
    out << "\n" << indent << "  (" << name << "): ";
    print_tree(out, *child, indent + "  ");
  }
  out << "\n" << indent << ")";
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const Module& module) {
  print_tree(out, module, "");
  return out;
}

}  // namespace strata::nn
