// User-defined differentiable functions and the gradcheck utility itself.
#include <doctest/doctest.h>

#include "strata.hpp"

namespace strata {
namespace {

// y = x^3 * scale: a forward, a saved tensor, saved data, and its derivative.
struct ScaledCube {
  static constexpr const char* name = "ScaledCube";
  static Tensor forward(autograd::Context& ctx, const Tensor& x, double scale) {
    ctx.save_for_backward({x});
    ctx.saved_data["scale"] = scale;
    return x * x * x * scale;
  }
  static autograd::Grads backward(autograd::Context& ctx, const autograd::Grads& grad) {
    const Tensor& x = ctx.saved_tensors()[0];
    double scale = std::any_cast<double>(ctx.saved_data["scale"]);
    return {grad[0] * x * x * (3.0 * scale)};
  }
};

// The same function with a wrong derivative: gradcheck must catch it.
struct WrongCube {
  static Tensor forward(autograd::Context&, const Tensor& x) { return x * x * x; }
  static autograd::Grads backward(autograd::Context&, const autograd::Grads& grad) {
    return {grad[0] * 3.0};
  }
};

// Two inputs, two outputs, and an input that may not need a gradient.
struct SumAndDifference {
  static std::vector<Tensor> forward(autograd::Context&, const Tensor& a, const Tensor& b) {
    return {a + b, a - b};
  }
  static autograd::Grads backward(autograd::Context& ctx, const autograd::Grads& grad) {
    Tensor total = grad[0].defined() ? grad[0] : zeros_like(grad[1]);
    Tensor difference = grad[1].defined() ? grad[1] : zeros_like(grad[0]);
    return {total + difference, ctx.needs_input_grad()[1] ? total - difference : Tensor()};
  }
};

TEST_CASE("a user-defined function records a node and passes gradcheck") {
  Tensor x = randn({3, 2}, DType::f64).requires_grad_();
  Tensor y = autograd::Function<ScaledCube>::apply(x, 0.5);
  CHECK(y.grad_fn()->name() == "ScaledCube");
  auto result = autograd::gradcheck(
      [](const std::vector<Tensor>& in) {
        return autograd::Function<ScaledCube>::apply(in[0], 0.5);
      },
      {x});
  CHECK_MESSAGE(result.ok, result.message);
}

TEST_CASE("gradcheck reports a wrong derivative, naming the input and element") {
  Tensor x = randn({4}, DType::f64).requires_grad_();
  auto result = autograd::gradcheck(
      [](const std::vector<Tensor>& in) { return autograd::Function<WrongCube>::apply(in[0]); },
      {x});
  CHECK_FALSE(result.ok);
  CHECK(result.message.find("input 0") != std::string::npos);
  CHECK(result.max_abs_error > 1e-3);
}

TEST_CASE("multi-output user functions, with only some outputs used") {
  Tensor a = randn({3}, DType::f64).requires_grad_();
  Tensor b = randn({3}, DType::f64);
  std::vector<Tensor> outputs = autograd::Function<SumAndDifference>::apply(a, b);
  sum(outputs[1] * 2.0).backward();  // only the difference reaches the loss
  CHECK(a.grad().to_vector<double>() == std::vector<double>{2, 2, 2});
  CHECK_FALSE(b.grad().defined());
  auto result = autograd::gradcheck(
      [](const std::vector<Tensor>& in) {
        std::vector<Tensor> out = autograd::Function<SumAndDifference>::apply(in[0], in[1]);
        return out[0] * out[1];
      },
      {a, randn({3}, DType::f64).requires_grad_()});
  CHECK_MESSAGE(result.ok, result.message);
}

}  // namespace
}  // namespace strata
