// User-defined differentiable functions: a forward and a backward written by hand, recorded like
// any built-in op.
//
//   struct Cube {
//     static constexpr const char* name = "Cube";  // optional: the node's name in errors
//     static Tensor forward(autograd::Context& ctx, const Tensor& x) {
//       ctx.save_for_backward({x});
//       return x * x * x;
//     }
//     static autograd::Grads backward(autograd::Context& ctx, const autograd::Grads& grad) {
//       const Tensor& x = ctx.saved_tensors()[0];
//       return {grad[0] * x * x * 3.0};  // one gradient per Tensor argument of forward
//     }
//   };
//   Tensor y = autograd::Function<Cube>::apply(x);
//
// forward runs with recording off and may take any arguments after the Context; its Tensor
// arguments are the inputs, in order. It returns a Tensor or a std::vector<Tensor>. backward gets
// one gradient per output (undefined for an output no gradient reached) and returns one per
// Tensor input (undefined where none is needed: see ctx.needs_input_grad()).
#pragma once

#include <any>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/autograd_record.hpp"

namespace strata::autograd {

class Context {
 public:
  // Tensors for backward; stored without their autograd record (an output may be saved).
  void save_for_backward(const std::vector<Tensor>& tensors) {
    saved_.clear();
    for (const Tensor& tensor : tensors) saved_.push_back(saved(tensor));
  }
  const std::vector<Tensor>& saved_tensors() const { return saved_; }
  // Anything else backward needs (sizes, flags, scalars), by name.
  std::unordered_map<std::string, std::any> saved_data;
  // Which Tensor inputs want a gradient (set before backward runs).
  const NeedsGrad& needs_input_grad() const { return needs_input_grad_; }

 private:
  template <class F>
  friend struct Function;
  std::vector<Tensor> saved_;
  NeedsGrad needs_input_grad_;
};

template <class F>
struct Function {
  template <class... Args>
  static auto apply(Args&&... args) {
    std::vector<Tensor> inputs;
    (collect(inputs, args), ...);
    auto ctx = std::make_shared<Context>();
    const bool recording = should_record(inputs);
    auto result = [&] {
      NoGradGuard forward_only;
      return F::forward(*ctx, std::forward<Args>(args)...);
    }();
    if (recording) {
      std::vector<Tensor*> outputs;
      if constexpr (std::is_same_v<decltype(result), Tensor>) {
        outputs.push_back(&result);
      } else {
        for (Tensor& output : result) outputs.push_back(&output);
      }
      record(name(), inputs, outputs, [ctx](const Grads& grad_outputs, const NeedsGrad& needs) {
        ctx->needs_input_grad_ = needs;
        return F::backward(*ctx, grad_outputs);
      });
    }
    return result;
  }

 private:
  static std::string name() {
    if constexpr (requires { F::name; }) {
      return F::name;
    } else {
      return "CustomFunction";
    }
  }
  template <class T>
  static void collect(std::vector<Tensor>& inputs, const T& arg) {
    if constexpr (std::is_same_v<std::decay_t<T>, Tensor>) inputs.push_back(arg);
  }
};

}  // namespace strata::autograd
