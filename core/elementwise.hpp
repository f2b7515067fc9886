// Element-wise ops with numpy broadcasting, any strides, and type promotion; and their backward
// kernels. Every unary and binary op goes through one parameterised kernel per device
// (cpu/elementwise_kernels.cpp, cuda/elementwise_kernels.cu); the named functions are thin
// wrappers.
#pragma once

#include <optional>
#include <utility>

#include "core/tensor.hpp"

namespace strata {

enum class UnaryOp { neg, exp, log, sqrt, rsqrt, abs, tanh, sigmoid, relu, gelu, gelu_tanh, silu };
enum class BinaryOp { add, sub, mul, div, pow, maximum, minimum };
enum class CompareOp { eq, ne, lt, le, gt, ge };

// The broadcast shape of a and b, or an error naming op and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

Tensor unary(UnaryOp op, const Tensor& x);
// d(loss)/dx for y = op(x), given grad = d(loss)/dy. Kernels read x or y, whichever is cheaper.
Tensor unary_backward(UnaryOp op, const Tensor& grad, const Tensor& x, const Tensor& y);

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor binary(BinaryOp op, const Tensor& a, double b);
// Gradients for a and b of y = op(a, b), each summed back to its operand's (pre-broadcast) shape.
std::pair<Tensor, Tensor> binary_backward(BinaryOp op, const Tensor& grad, const Tensor& a,
                                          const Tensor& b, const Tensor& y);
Tensor binary_scalar_backward(BinaryOp op, const Tensor& grad, const Tensor& a, double b,
                              const Tensor& y);

Tensor compare(CompareOp op, const Tensor& a, const Tensor& b);  // bool result
Tensor compare(CompareOp op, const Tensor& a, double b);

inline Tensor neg(const Tensor& x) { return unary(UnaryOp::neg, x); }
inline Tensor exp(const Tensor& x) { return unary(UnaryOp::exp, x); }
inline Tensor log(const Tensor& x) { return unary(UnaryOp::log, x); }
inline Tensor sqrt(const Tensor& x) { return unary(UnaryOp::sqrt, x); }
inline Tensor rsqrt(const Tensor& x) { return unary(UnaryOp::rsqrt, x); }
inline Tensor abs(const Tensor& x) { return unary(UnaryOp::abs, x); }
inline Tensor tanh(const Tensor& x) { return unary(UnaryOp::tanh, x); }
inline Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::sigmoid, x); }
inline Tensor relu(const Tensor& x) { return unary(UnaryOp::relu, x); }
inline Tensor silu(const Tensor& x) { return unary(UnaryOp::silu, x); }
enum class GeluApproximation { none, tanh };  // erf form (exact), or GPT-2's tanh form
inline Tensor gelu(const Tensor& x, GeluApproximation approximate = GeluApproximation::none) {
  return unary(approximate == GeluApproximation::tanh ? UnaryOp::gelu_tanh : UnaryOp::gelu, x);
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
Tensor clamp_backward(const Tensor& grad, const Tensor& x, std::optional<double> min,
                      std::optional<double> max);

inline Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::add, a, b); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::sub, a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::mul, a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::div, a, b); }
inline Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryOp::pow, a, b); }
inline Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::maximum, a, b); }
inline Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::minimum, a, b); }
inline Tensor add(const Tensor& a, double b) { return binary(BinaryOp::add, a, b); }
inline Tensor sub(const Tensor& a, double b) { return binary(BinaryOp::sub, a, b); }
inline Tensor mul(const Tensor& a, double b) { return binary(BinaryOp::mul, a, b); }
inline Tensor div(const Tensor& a, double b) { return binary(BinaryOp::div, a, b); }
inline Tensor pow(const Tensor& a, double b) { return binary(BinaryOp::pow, a, b); }

// In place, a = op(a, b): b broadcasts to a's shape and converts to a's dtype. Returns a. Not
// recorded by autograd (an error on a tensor that requires grad while grad mode is on).
Tensor binary_(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor binary_(BinaryOp op, const Tensor& a, double b);
inline Tensor add_(const Tensor& a, const Tensor& b) { return binary_(BinaryOp::add, a, b); }
inline Tensor sub_(const Tensor& a, const Tensor& b) { return binary_(BinaryOp::sub, a, b); }
inline Tensor mul_(const Tensor& a, const Tensor& b) { return binary_(BinaryOp::mul, a, b); }
inline Tensor div_(const Tensor& a, const Tensor& b) { return binary_(BinaryOp::div, a, b); }
inline Tensor add_(const Tensor& a, double b) { return binary_(BinaryOp::add, a, b); }
inline Tensor mul_(const Tensor& a, double b) { return binary_(BinaryOp::mul, a, b); }

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, double b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }

inline Tensor eq(const Tensor& a, const Tensor& b) { return compare(CompareOp::eq, a, b); }
inline Tensor ne(const Tensor& a, const Tensor& b) { return compare(CompareOp::ne, a, b); }
inline Tensor lt(const Tensor& a, const Tensor& b) { return compare(CompareOp::lt, a, b); }
inline Tensor le(const Tensor& a, const Tensor& b) { return compare(CompareOp::le, a, b); }
inline Tensor gt(const Tensor& a, const Tensor& b) { return compare(CompareOp::gt, a, b); }
inline Tensor ge(const Tensor& a, const Tensor& b) { return compare(CompareOp::ge, a, b); }
inline Tensor eq(const Tensor& a, double b) { return compare(CompareOp::eq, a, b); }
inline Tensor ne(const Tensor& a, double b) { return compare(CompareOp::ne, a, b); }
inline Tensor lt(const Tensor& a, double b) { return compare(CompareOp::lt, a, b); }
inline Tensor le(const Tensor& a, double b) { return compare(CompareOp::le, a, b); }
inline Tensor gt(const Tensor& a, double b) { return compare(CompareOp::gt, a, b); }
inline Tensor ge(const Tensor& a, double b) { return compare(CompareOp::ge, a, b); }

// cond ? a : b, element-wise with broadcasting over all three; cond is bool.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// (grad where cond else 0, grad where !cond else 0), each summed to a's and b's shapes.
std::pair<Tensor, Tensor> where_backward(const Tensor& grad, const Tensor& cond,
                                         const Shape& a_shape, const Shape& b_shape);

}  // namespace strata
