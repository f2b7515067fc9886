// Element-wise ops: checks, broadcasting, type promotion and output allocation, then one kernel
// call through the op kind's KernelTable (the kernels are in cpu/ and cuda/elementwise_kernels.*).
#include "core/elementwise.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include "core/autograd_record.hpp"
#include "core/dispatch.hpp"
#include "core/elementwise_functors.hpp"
#include "core/elementwise_kernels.hpp"
#include "core/factories.hpp"
#include "core/reduce.hpp"

namespace strata {
namespace {

// One KernelTable per kernel kind, picked by the operands' device on every call.
#define STRATA_ELEMENTWISE_TABLE(field, kernel)                                 \
  KernelTable<decltype(cuda::kernel)> field{#kernel, STRATA_CPU_KERNEL(kernel), \
                                            STRATA_CUDA_KERNEL(kernel)};
struct Kernels {
  STRATA_ELEMENTWISE_TABLE(unary, unary_kernel)
  STRATA_ELEMENTWISE_TABLE(unary_backward, unary_backward_kernel)
  STRATA_ELEMENTWISE_TABLE(binary, binary_kernel)
  STRATA_ELEMENTWISE_TABLE(binary_scalar, binary_scalar_kernel)
  STRATA_ELEMENTWISE_TABLE(binary_backward, binary_backward_kernel)
  STRATA_ELEMENTWISE_TABLE(binary_scalar_backward, binary_scalar_backward_kernel)
  STRATA_ELEMENTWISE_TABLE(compare, compare_kernel)
  STRATA_ELEMENTWISE_TABLE(compare_scalar, compare_scalar_kernel)
  STRATA_ELEMENTWISE_TABLE(where, where_kernel)
  STRATA_ELEMENTWISE_TABLE(clamp, clamp_kernel)
  STRATA_ELEMENTWISE_TABLE(clamp_backward, clamp_backward_kernel)
};
#undef STRATA_ELEMENTWISE_TABLE

const Kernels& kernels() {
  static const Kernels tables;
  return tables;
}

const char* op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: return "neg";
    case UnaryOp::exp: return "exp";
    case UnaryOp::log: return "log";
    case UnaryOp::sqrt: return "sqrt";
    case UnaryOp::rsqrt: return "rsqrt";
    case UnaryOp::abs: return "abs";
    case UnaryOp::tanh: return "tanh";
    case UnaryOp::sigmoid: return "sigmoid";
    case UnaryOp::relu: return "relu";
    case UnaryOp::gelu: return "gelu";
    case UnaryOp::gelu_tanh: return "gelu_tanh";
    case UnaryOp::silu: return "silu";
  }
  return "unary";
}

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::sub: return "sub";
    case BinaryOp::mul: return "mul";
    case BinaryOp::div: return "div";
    case BinaryOp::pow: return "pow";
    case BinaryOp::maximum: return "maximum";
    case BinaryOp::minimum: return "minimum";
  }
  return "binary";
}

const char* op_name(CompareOp op) {
  switch (op) {
    case CompareOp::eq: return "eq";
    case CompareOp::ne: return "ne";
    case CompareOp::lt: return "lt";
    case CompareOp::le: return "le";
    case CompareOp::gt: return "gt";
    case CompareOp::ge: return "ge";
  }
  return "compare";
}

void check_defined(std::string_view op, const Tensor& t, const char* what) {
  STRATA_CHECK(t.defined(), op, ": ", what, " is an undefined Tensor");
}

void check_same_shape(std::string_view op, const Tensor& t, const char* what, const Shape& shape,
                      const char* expected_what) {
  STRATA_CHECK(t.shape() == shape, op, ": ", what, " has shape ", shape_str(t.shape()), " but ",
               expected_what, " has shape ", shape_str(shape), "; expected equal shapes");
}

void check_floating(std::string_view op, DType dtype, const char* what) {
  STRATA_CHECK(is_floating(dtype), op, ": ", what, " has dtype ", dtype_name(dtype),
               "; expected a floating dtype (f32, f64, f16, bf16)");
}

// x in `dtype` (x itself when it already has it), viewed with the broadcast shape.
Tensor prepare(const Tensor& x, DType dtype, const Shape& shape) {
  return (x.dtype() == dtype ? x : x.to(dtype)).expand(shape);
}

// grad, summed back over the dims that broadcasting stretched to give shape.
Tensor reduce_to(const Tensor& grad, const Shape& shape) {
  return grad.shape() == shape ? grad : sum_to(grad, shape);
}

// The gradient of an operand in the operand's dtype; integer operands get none (undefined).
Tensor gradient_for(const Tensor& grad, const Tensor& operand) {
  if (!is_floating(operand.dtype())) return Tensor();
  return grad.dtype() == operand.dtype() ? grad : grad.to(operand.dtype());
}

// The dtype an arithmetic op computes in and returns, given its operands' promoted dtype.
DType arithmetic_dtype(BinaryOp op, DType promoted) {
  STRATA_CHECK(promoted != DType::boolean, op_name(op),
               ": dtype bool is not supported; expected numeric operands (convert with .to)");
  return op == BinaryOp::div && !is_floating(promoted) ? DType::f32 : promoted;
}

// The dtype an op between a tensor of dtype t and the scalar s computes in. A scalar never widens
// a floating tensor (x * 0.5 stays bf16). With an integer or bool tensor, an integral scalar keeps
// the integer dtype (bool becomes i64) and any other scalar gives f32.
DType scalar_op_dtype(const char* op, DType t, double s) {
  if (is_floating(t)) return t;
  if (!(std::isfinite(s) && s == std::trunc(s))) return DType::f32;
  DType result = t == DType::boolean ? DType::i64 : t;
  bool fits = result == DType::i32 ? s >= -0x1p31 && s < 0x1p31 : s >= -0x1p63 && s < 0x1p63;
  STRATA_CHECK(fits, op, ": scalar ", s, " does not fit the tensor's dtype ", dtype_name(result),
               "; convert the tensor with .to(DType::f64) first");
  return result;
}

// clamp's bounds as doubles the kernel converts exactly: ±inf for a missing bound; for integer
// dtypes the tightest integral bounds within the dtype's range.
std::pair<double, double> clamp_bounds(DType dtype, std::optional<double> min,
                                       std::optional<double> max) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double low = min.value_or(-kInf), high = max.value_or(kInf);
  if (is_floating(dtype)) return {low, high};
  double lowest = dtype == DType::i32 ? -0x1p31 : -0x1p63;
  double highest = dtype == DType::i32 ? 0x1p31 - 1 : 0x1p63 - 1024;  // below 2^63 as a double
  return {std::clamp(std::ceil(low), lowest, highest),
          std::clamp(std::floor(high), lowest, highest)};
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t rank = std::max(a.size(), b.size());
  Shape result(rank);
  for (size_t i = 0; i < rank; ++i) {  // i counts dims from the last one
    int64_t size_a = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t size_b = i < b.size() ? b[b.size() - 1 - i] : 1;
    STRATA_CHECK(size_a == size_b || size_a == 1 || size_b == 1, op, ": shapes ", shape_str(a),
                 " and ", shape_str(b), " cannot be broadcast: dim -", i + 1, " has sizes ", size_a,
                 " and ", size_b);
    result[rank - 1 - i] = size_a == 1 ? size_b : size_a;
  }
  return result;
}

// ---- unary ----------------------------------------------------------------------------------

Tensor unary(UnaryOp op, const Tensor& x) {
  const char* name = op_name(op);
  check_defined(name, x, "input");
  if (!is_floating(x.dtype())) {
    STRATA_CHECK(x.dtype() != DType::boolean, name,
                 ": dtype bool is not supported; expected a numeric dtype");
    STRATA_CHECK(ew::unary_accepts_integers(op), name, ": dtype ", dtype_name(x.dtype()),
                 " is not supported; expected a floating dtype (f32, f64, f16, bf16); convert "
                 "the input with .to(DType::f32)");
  }
  Tensor out = empty(x.shape(), x.options());
  kernels().unary(x.device())(op, out, x);
  if (autograd::should_record(x)) {
    // Keep only the operand the derivative reads (neg's reads neither).
    bool reads_y = ew::unary_backward_reads_output(op);
    Tensor kept = op == UnaryOp::neg ? Tensor() : autograd::saved(reads_y ? out : x);
    autograd::record(name, {x}, {&out}, [op, kept](const autograd::Grads& grad, auto&) {
      return autograd::Grads{unary_backward(op, grad[0], kept, kept)};
    });
  }
  return out;
}

Tensor unary_backward(UnaryOp op, const Tensor& grad, const Tensor& x, const Tensor& y) {
  std::string name = std::string(op_name(op)) + "_backward";
  check_defined(name, grad, "grad");
  bool reads_y = ew::unary_backward_reads_output(op);
  // neg's derivative needs neither x nor y; grad stands in for the unread operand.
  const Tensor& saved = op == UnaryOp::neg ? grad : reads_y ? y : x;
  const char* saved_name = reads_y ? "the output y" : "the input x";
  check_defined(name, saved, saved_name);
  check_same_shape(name, grad, "grad", saved.shape(), saved_name);
  Device device = common_device(name.c_str(), {&grad, &saved});
  DType dtype = common_dtype(name.c_str(), {&grad, &saved});
  check_floating(name, dtype, "grad");
  Tensor grad_x = empty(grad.shape(), {dtype, device});
  kernels().unary_backward(device)(op, grad_x, grad, saved);
  return grad_x;
}

// ---- binary ---------------------------------------------------------------------------------

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  check_defined(name, a, "a");
  check_defined(name, b, "b");
  Device device = common_device(name, {&a, &b});
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  DType dtype = arithmetic_dtype(op, promote_types(a.dtype(), b.dtype()));
  const bool recording = autograd::should_record(a, b);
  autograd::NoGradGuard forward_only;  // prepare's casts and views are not part of the graph
  Tensor out = empty(shape, {dtype, device});
  kernels().binary(device)(op, out, prepare(a, dtype, shape), prepare(b, dtype, shape));
  if (recording) {
    Tensor y = op == BinaryOp::pow ? autograd::saved(out) : Tensor();  // pow's db reads y
    autograd::record(
        name, {a, b}, {&out},
        [op, a = autograd::saved(a), b = autograd::saved(b), y](const autograd::Grads& grad,
                                                                const autograd::NeedsGrad& needs) {
          auto [grad_a, grad_b] = binary_backward(op, grad[0], a, b, y);
          return autograd::Grads{needs[0] ? grad_a : Tensor(), needs[1] ? grad_b : Tensor()};
        });
  }
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, double b) {
  const char* name = op_name(op);
  check_defined(name, a, "a");
  DType dtype = arithmetic_dtype(op, scalar_op_dtype(name, a.dtype(), b));
  // x^2 (squared errors, norms) as x * x: exact, and a vector multiply instead of a pow call.
  if (op == BinaryOp::pow && b == 2.0) return binary(BinaryOp::mul, a, a);
  const bool recording = autograd::should_record(a);
  autograd::NoGradGuard forward_only;
  Tensor out = empty(a.shape(), {dtype, a.device()});
  kernels().binary_scalar(a.device())(op, out, prepare(a, dtype, a.shape()), b);
  if (recording) {
    autograd::record(name, {a}, {&out},
                     [op, a = autograd::saved(a), b](const autograd::Grads& grad, auto&) {
                       return autograd::Grads{binary_scalar_backward(op, grad[0], a, b, Tensor())};
                     });
  }
  return out;
}

std::pair<Tensor, Tensor> binary_backward(BinaryOp op, const Tensor& grad, const Tensor& a,
                                          const Tensor& b, const Tensor& y) {
  std::string name = std::string(op_name(op)) + "_backward";
  check_defined(name, grad, "grad");
  check_defined(name, a, "a");
  check_defined(name, b, "b");
  Device device = common_device(name.c_str(), {&grad, &a, &b, &y});
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name.c_str());
  check_same_shape(name, grad, "grad", shape, "the op's output");
  check_floating(name, grad.dtype(), "grad");
  bool want_a = is_floating(a.dtype()), want_b = is_floating(b.dtype());
  if (op == BinaryOp::add || op == BinaryOp::sub) {
    Tensor grad_a = want_a ? reduce_to(grad, a.shape()) : Tensor();
    Tensor grad_b = want_b ? reduce_to(grad, b.shape()) : Tensor();
    if (want_b && op == BinaryOp::sub) grad_b = neg(grad_b);
    return {gradient_for(grad_a, a), gradient_for(grad_b, b)};
  }
  DType dtype = grad.dtype();
  Tensor y_full;
  if (op == BinaryOp::pow && want_b) {
    check_defined(name, y, "the output y");
    check_same_shape(name, y, "y", shape, "grad");
    y_full = prepare(y, dtype, shape);
  }
  Tensor grad_a = want_a ? empty(shape, {dtype, device}) : Tensor();
  Tensor grad_b = want_b ? empty(shape, {dtype, device}) : Tensor();
  kernels().binary_backward(device)(op, grad_a, grad_b, grad, prepare(a, dtype, shape),
                                    prepare(b, dtype, shape), y_full);
  return {want_a ? gradient_for(reduce_to(grad_a, a.shape()), a) : Tensor(),
          want_b ? gradient_for(reduce_to(grad_b, b.shape()), b) : Tensor()};
}

Tensor binary_(BinaryOp op, const Tensor& a, const Tensor& b) {
  std::string name = std::string(op_name(op)) + "_";
  check_defined(name, a, "a");
  check_defined(name, b, "b");
  autograd::check_inplace(a, name.c_str());
  Device device = common_device(name.c_str(), {&a, &b});
  STRATA_CHECK(broadcast_shapes(a.shape(), b.shape(), name.c_str()) == a.shape(), name, ": b of ",
               "shape ", shape_str(b.shape()), " does not broadcast to a's shape ",
               shape_str(a.shape()), "; an in-place op keeps a's shape");
  DType dtype = arithmetic_dtype(op, a.dtype());
  STRATA_CHECK(dtype == a.dtype(), name, ": the result dtype ", dtype_name(dtype),
               " differs from a's dtype ", dtype_name(a.dtype()), "; use the out-of-place op");
  // Element-wise kernels read each element before writing it, so the output may be a itself.
  autograd::NoGradGuard forward_only;
  kernels().binary(device)(op, a, a, prepare(b, dtype, a.shape()));
  return a;
}

Tensor binary_(BinaryOp op, const Tensor& a, double b) {
  std::string name = std::string(op_name(op)) + "_";
  check_defined(name, a, "a");
  autograd::check_inplace(a, name.c_str());
  DType dtype = arithmetic_dtype(op, scalar_op_dtype(name.c_str(), a.dtype(), b));
  STRATA_CHECK(dtype == a.dtype(), name, ": the result dtype ", dtype_name(dtype),
               " differs from a's dtype ", dtype_name(a.dtype()), "; use the out-of-place op");
  kernels().binary_scalar(a.device())(op, a, a, b);
  return a;
}

// Every scalar op's derivative comes from a and the scalar, so y is not read.
Tensor binary_scalar_backward(BinaryOp op, const Tensor& grad, const Tensor& a, double b,
                              const Tensor& /*y*/) {
  std::string name = std::string(op_name(op)) + "_backward";
  check_defined(name, grad, "grad");
  check_defined(name, a, "a");
  check_same_shape(name, grad, "grad", a.shape(), "a");
  check_floating(name, grad.dtype(), "grad");
  Device device = common_device(name.c_str(), {&grad, &a});
  if (!is_floating(a.dtype())) return Tensor();
  if (op == BinaryOp::add || op == BinaryOp::sub) return gradient_for(grad, a);
  Tensor grad_a = empty(grad.shape(), {grad.dtype(), device});
  kernels().binary_scalar_backward(device)(op, grad_a, grad, prepare(a, grad.dtype(), a.shape()),
                                           b);
  return gradient_for(grad_a, a);
}

// ---- comparisons and where ------------------------------------------------------------------

Tensor compare(CompareOp op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  check_defined(name, a, "a");
  check_defined(name, b, "b");
  Device device = common_device(name, {&a, &b});
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  DType dtype = promote_types(a.dtype(), b.dtype());
  Tensor out = empty(shape, {DType::boolean, device});
  kernels().compare(device)(op, out, prepare(a, dtype, shape), prepare(b, dtype, shape));
  return out;
}

Tensor compare(CompareOp op, const Tensor& a, double b) {
  const char* name = op_name(op);
  check_defined(name, a, "a");
  DType dtype = scalar_op_dtype(name, a.dtype(), b);
  Tensor out = empty(a.shape(), {DType::boolean, a.device()});
  kernels().compare_scalar(a.device())(op, out, prepare(a, dtype, a.shape()), b);
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined("where", cond, "cond");
  check_defined("where", a, "a");
  check_defined("where", b, "b");
  STRATA_CHECK(cond.dtype() == DType::boolean, "where: cond has dtype ", dtype_name(cond.dtype()),
               "; expected bool (a comparison's result)");
  Device device = common_device("where", {&cond, &a, &b});
  Shape shape =
      broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  DType dtype = promote_types(a.dtype(), b.dtype());
  const bool recording = autograd::should_record(a, b);
  autograd::NoGradGuard forward_only;
  Tensor out = empty(shape, {dtype, device});
  kernels().where(device)(out, cond.expand(shape), prepare(a, dtype, shape),
                          prepare(b, dtype, shape));
  if (recording) {
    autograd::record(
        "where", {a, b}, {&out},
        [cond = autograd::saved(cond), a_shape = a.shape(), b_shape = b.shape(),
         a_dtype = a.dtype(), b_dtype = b.dtype()](const autograd::Grads& grad, auto&) {
          auto [grad_a, grad_b] = where_backward(grad[0], cond, a_shape, b_shape);
          return autograd::Grads{grad_a.to(a_dtype), grad_b.to(b_dtype)};
        });
  }
  return out;
}

std::pair<Tensor, Tensor> where_backward(const Tensor& grad, const Tensor& cond,
                                         const Shape& a_shape, const Shape& b_shape) {
  check_defined("where_backward", grad, "grad");
  check_defined("where_backward", cond, "cond");
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a_shape, "where_backward"), b_shape,
                                 "where_backward");
  check_same_shape("where_backward", grad, "grad", shape, "the output of where");
  Tensor zero = zeros({}, grad.options());
  return {reduce_to(where(cond, grad, zero), a_shape), reduce_to(where(cond, zero, grad), b_shape)};
}

// ---- clamp ----------------------------------------------------------------------------------

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  check_defined("clamp", x, "input");
  STRATA_CHECK(min || max, "clamp: at least one of min and max must be given");
  STRATA_CHECK(x.dtype() != DType::boolean,
               "clamp: dtype bool is not supported; expected a numeric dtype");
  auto [low, high] = clamp_bounds(x.dtype(), min, max);
  Tensor out = empty(x.shape(), x.options());
  kernels().clamp(x.device())(out, x, low, high);
  if (autograd::should_record(x)) {
    autograd::record("clamp", {x}, {&out},
                     [x = autograd::saved(x), min, max](const autograd::Grads& grad, auto&) {
                       return autograd::Grads{clamp_backward(grad[0], x, min, max)};
                     });
  }
  return out;
}

Tensor clamp_backward(const Tensor& grad, const Tensor& x, std::optional<double> min,
                      std::optional<double> max) {
  check_defined("clamp_backward", grad, "grad");
  check_defined("clamp_backward", x, "input x");
  check_same_shape("clamp_backward", grad, "grad", x.shape(), "x");
  Device device = common_device("clamp_backward", {&grad, &x});
  DType dtype = common_dtype("clamp_backward", {&grad, &x});
  check_floating("clamp_backward", dtype, "grad");
  auto [low, high] = clamp_bounds(dtype, min, max);
  Tensor grad_x = empty(grad.shape(), {dtype, device});
  kernels().clamp_backward(device)(grad_x, grad, x, low, high);
  return grad_x;
}

}  // namespace strata
