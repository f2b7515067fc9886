// Harness cases for the element-wise ops (core/elementwise.hpp): every unary, binary, scalar,
// comparison, where and clamp op, on random shapes with broadcasting, size-1 and empty dims, random
// layouts (InputMaker), long rows (the vectorised block path) and every dtype the op accepts,
// including mixed dtypes that promote. References are f64 loops over the broadcast index; the
// differentiable ops' backward lambdas call the backward kernels. Inputs stay away from kinks and
// singularities (positive bases and arguments for log, sqrt, rsqrt, pow).
//
// Scalar operands and clamp bounds are drawn per trial and travel as an extra f64 input, so the
// forward, reference and backward of a trial all see the same value.
#include <cmath>
#include <functional>

#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "op_harness.hpp"

namespace strata::test {
namespace {

const std::vector<DType> kAllTypes(std::begin(kAllDTypes), std::end(kAllDTypes));
const std::vector<DType> kIntegerTypes = {DType::i32, DType::i64};

// ---- references -------------------------------------------------------------------------------

Shape reference_broadcast(const Tensors& inputs) {
  size_t rank = 0;
  for (const Tensor& t : inputs) rank = std::max(rank, static_cast<size_t>(t.dim()));
  Shape shape(rank, 1);
  for (const Tensor& t : inputs) {
    for (int64_t d = 0; d < t.dim(); ++d) {
      int64_t& size = shape[rank - t.dim() + d];
      if (t.shape()[d] != 1) size = t.shape()[d];
    }
  }
  return shape;
}

// out[i] = f(each input at the broadcast index i), in f64.
using ElementFn = std::function<double(const std::vector<double>&)>;
Tensor reference_map(const Tensors& inputs, const ElementFn& f) {
  Shape shape = reference_broadcast(inputs);
  Tensor out = empty(shape, {DType::f64});
  double* values_out = out.data<double>();
  std::vector<int64_t> index(shape.size());
  std::vector<double> values(inputs.size());
  for (int64_t i = 0; i < out.numel(); ++i) {
    int64_t rest = i;
    for (size_t d = shape.size(); d-- > 0;) {
      index[d] = rest % shape[d];
      rest /= shape[d];
    }
    for (size_t k = 0; k < inputs.size(); ++k) {
      const Tensor& t = inputs[k];
      std::vector<int64_t> own(static_cast<size_t>(t.dim()));
      for (int64_t d = 0; d < t.dim(); ++d)
        own[d] = t.shape()[d] == 1 ? 0 : index[shape.size() - t.dim() + d];
      values[k] = at(t, own);
    }
    values_out[i] = f(values);
  }
  return out;
}

double scalar_of(const Tensor& t) { return t.item<double>(); }
Tensor scalar_input(double value) { return full({}, value, {DType::f64}); }

// ---- inputs -----------------------------------------------------------------------------------

// How to draw one operand's values.
using ValueMaker = std::function<Tensor(InputMaker&, const Shape&, DType)>;

ValueMaker normal(double scale) {
  return [scale](InputMaker& m, const Shape& s, DType dtype) {
    return is_floating(dtype) ? m.normal(s, dtype, scale)
                              : m.integers(s, dtype, -9, 10, InputMaker::Layout::any);
  };
}
ValueMaker uniform(double low, double high) {
  return [low, high](InputMaker& m, const Shape& s, DType dtype) {
    return is_floating(dtype) ? m.uniform(s, dtype, low, high)
                              : m.integers(s, dtype, static_cast<int64_t>(std::ceil(low)),
                                           static_cast<int64_t>(high), InputMaker::Layout::any);
  };
}
// Small integers in any dtype, so comparisons see ties.
ValueMaker grid() {
  return [](InputMaker& m, const Shape& s, DType dtype) {
    return dtype == DType::boolean ? m.mask(s)
                                   : m.integers(s, dtype, -3, 4, InputMaker::Layout::any);
  };
}

// Shapes for a/b (and more): one random shape, the others broadcastable against it, in random
// order; or, for the long-row variant, one long shape that every operand shares.
std::vector<Shape> operand_shapes(InputMaker& m, int count, bool long_rows) {
  if (long_rows) {
    Shape s = {m.integer(1, 3), m.integer(300, 1100)};
    return std::vector<Shape>(static_cast<size_t>(count), s);
  }
  Shape full_shape = m.shape(0, 4, 6, true);
  std::vector<Shape> shapes = {full_shape};
  for (int k = 1; k < count; ++k) shapes.push_back(m.broadcastable(full_shape));
  std::shuffle(shapes.begin(), shapes.end(), m.rng());
  return shapes;
}

// ---- unary ------------------------------------------------------------------------------------

struct UnarySpec {
  const char* name;
  UnaryOp op;
  ValueMaker values;
  double (*reference)(double);
  ValueMaker wide_values;  // a wide f32/f64 range (overflow, tails); null to skip
};

double gelu_ref(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh_ref(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
double sigmoid_ref(double x) { return 1 / (1 + std::exp(-x)); }

const UnarySpec kUnary[] = {
    {"neg", UnaryOp::neg, normal(1), [](double x) { return -x; }, nullptr},
    {"exp", UnaryOp::exp, normal(1.5), [](double x) { return std::exp(x); }, uniform(-85, 85)},
    {"log", UnaryOp::log, uniform(0.1, 4), [](double x) { return std::log(x); },
     uniform(1e-6, 1e6)},
    {"sqrt", UnaryOp::sqrt, uniform(0.1, 4), [](double x) { return std::sqrt(x); },
     uniform(0, 1e6)},
    {"rsqrt", UnaryOp::rsqrt, uniform(0.1, 4), [](double x) { return 1 / std::sqrt(x); },
     uniform(1e-6, 1e6)},
    {"abs", UnaryOp::abs, normal(1), [](double x) { return std::abs(x); }, nullptr},
    {"tanh", UnaryOp::tanh, normal(1.5), [](double x) { return std::tanh(x); }, uniform(-30, 30)},
    {"sigmoid", UnaryOp::sigmoid, normal(3), sigmoid_ref, uniform(-90, 90)},
    {"relu", UnaryOp::relu, normal(1), [](double x) { return x > 0 ? x : 0.0; }, nullptr},
    {"gelu", UnaryOp::gelu, normal(2), gelu_ref, uniform(-12, 12)},
    {"gelu_tanh", UnaryOp::gelu_tanh, normal(2), gelu_tanh_ref, uniform(-30, 30)},
    {"silu", UnaryOp::silu, normal(2), [](double x) { return x * sigmoid_ref(x); },
     uniform(-80, 80)},
};

void register_unary(const UnarySpec& spec) {
  auto forward = [op = spec.op](const Tensors& in) { return Tensors{unary(op, in[0])}; };
  auto reference = [f = spec.reference](const Tensors& in) {
    return Tensors{reference_map(in, [f](const std::vector<double>& v) { return f(v[0]); })};
  };
  for (bool long_rows : {false, true}) {
    register_case({
        .op = spec.name,
        .variant = long_rows ? "long rows, floats" : "random shapes and layouts, floats",
        .dtypes = kFloatTypes,
        .make_inputs =
            [values = spec.values, long_rows](InputMaker& m, DType dtype) {
              return Tensors{values(m, operand_shapes(m, 1, long_rows)[0], dtype)};
            },
        .forward = forward,
        .reference = reference,
        .backward =
            [op = spec.op](const Tensors& in, const Tensors& out, const Tensor& grad) {
              return Tensors{unary_backward(op, grad, in[0], out[0])};
            },
        .trials = long_rows ? 2 : 4,
    });
  }
  if (spec.wide_values) {
    register_case({
        .op = spec.name,
        .variant = "wide range (tails, overflow, underflow)",
        .dtypes = {DType::f32, DType::f64},
        .make_inputs = [values = spec.wide_values](
                           InputMaker& m,
                           DType dtype) { return Tensors{values(m, {m.integer(1, 2000)}, dtype)}; },
        .forward = forward,
        .reference = reference,
        .trials = 2,
    });
  }
  if (spec.op == UnaryOp::neg || spec.op == UnaryOp::abs || spec.op == UnaryOp::relu) {
    register_case({
        .op = spec.name,
        .variant = "integers",
        .dtypes = kIntegerTypes,
        .make_inputs =
            [](InputMaker& m, DType dtype) {
              return Tensors{normal(1)(m, operand_shapes(m, 1, m.coin())[0], dtype)};
            },
        .forward = forward,
        .reference = reference,
    });
  }
}

// ---- binary -----------------------------------------------------------------------------------

struct BinarySpec {
  const char* name;
  BinaryOp op;
  ValueMaker a_values, b_values;
  double (*reference)(double, double);
  bool integers;  // also defined on integer dtypes
};

const BinarySpec kBinary[] = {
    {"add", BinaryOp::add, normal(1), normal(1), [](double a, double b) { return a + b; }, true},
    {"sub", BinaryOp::sub, normal(1), normal(1), [](double a, double b) { return a - b; }, true},
    {"mul", BinaryOp::mul, normal(1), normal(1), [](double a, double b) { return a * b; }, true},
    {"div", BinaryOp::div, normal(1), uniform(0.5, 2), [](double a, double b) { return a / b; },
     false},
    {"pow", BinaryOp::pow, uniform(0.5, 2), uniform(-2, 2),
     [](double a, double b) { return std::pow(a, b); }, false},
    {"maximum", BinaryOp::maximum, normal(1), normal(1),
     [](double a, double b) { return std::max(a, b); }, true},
    {"minimum", BinaryOp::minimum, normal(1), normal(1),
     [](double a, double b) { return std::min(a, b); }, true},
};

void register_binary(const BinarySpec& spec) {
  auto forward = [op = spec.op](const Tensors& in) { return Tensors{binary(op, in[0], in[1])}; };
  auto reference = [f = spec.reference](const Tensors& in) {
    return Tensors{reference_map(in, [f](const std::vector<double>& v) { return f(v[0], v[1]); })};
  };
  auto backward = [op = spec.op](const Tensors& in, const Tensors& out, const Tensor& grad) {
    auto [grad_a, grad_b] = binary_backward(op, grad, in[0], in[1], out[0]);
    return Tensors{grad_a, grad_b};
  };
  // b_dtype(dtype): the second operand's dtype for a case run at `dtype`.
  auto make = [spec](bool long_rows, std::function<DType(DType)> b_dtype) {
    return [spec, long_rows, b_dtype](InputMaker& m, DType dtype) {
      std::vector<Shape> shapes = operand_shapes(m, 2, long_rows);
      return Tensors{spec.a_values(m, shapes[0], dtype),
                     spec.b_values(m, shapes[1], b_dtype(dtype))};
    };
  };
  auto same = [](DType dtype) { return dtype; };
  for (bool long_rows : {false, true}) {
    register_case({
        .op = spec.name,
        .variant = long_rows ? "long rows, floats" : "broadcasting, floats",
        .dtypes = kFloatTypes,
        .make_inputs = make(long_rows, same),
        .forward = forward,
        .reference = reference,
        .backward = backward,
        .trials = long_rows ? 2 : 4,
    });
  }
  register_case({
      .op = spec.name,
      .variant = "mixed float dtypes: b is f32, the result promotes",
      // Not f64: b's gradient is then rounded to f32, beyond the f64 tolerance.
      .dtypes = {DType::f32, DType::f16, DType::bf16},
      .make_inputs = make(false, [](DType) { return DType::f32; }),
      .forward = forward,
      .reference = reference,
      .backward = backward,
  });
  register_case({
      .op = spec.name,
      .variant = "integer a with f32 b (promotes to f32)",
      .dtypes = kIntegerTypes,
      .make_inputs = make(false, [](DType) { return DType::f32; }),
      .forward = forward,
      .reference = reference,
  });
  if (spec.integers) {
    register_case({
        .op = spec.name,
        .variant = "integers, and i32 with i64",
        .dtypes = kIntegerTypes,
        .make_inputs = make(false, [](DType) { return DType::i64; }),
        .forward = forward,
        .reference = reference,
    });
  }
}

// Integer pow: exact by repeated squaring, small non-negative exponents.
void register_integer_pow() {
  register_case({
      .op = "pow",
      .variant = "integers",
      .dtypes = kIntegerTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            std::vector<Shape> shapes = operand_shapes(m, 2, false);
            return Tensors{m.integers(shapes[0], dtype, -5, 6, InputMaker::Layout::any),
                           m.integers(shapes[1], dtype, 0, 5, InputMaker::Layout::any)};
          },
      .forward = [](const Tensors& in) { return Tensors{pow(in[0], in[1])}; },
      .reference =
          [](const Tensors& in) {
            return Tensors{reference_map(
                in, [](const std::vector<double>& v) { return std::pow(v[0], v[1]); })};
          },
  });
}

// ---- binary with a scalar ---------------------------------------------------------------------

struct ScalarSpec {
  const char* name;
  BinaryOp op;
  ValueMaker values;
  double (*draw)(InputMaker&);  // the scalar for a float tensor
  double (*reference)(double, double);
};

const ScalarSpec kScalar[] = {
    {"add_scalar", BinaryOp::add, normal(1), [](InputMaker& m) { return m.real(-3, 3); },
     [](double a, double b) { return a + b; }},
    {"sub_scalar", BinaryOp::sub, normal(1), [](InputMaker& m) { return m.real(-3, 3); },
     [](double a, double b) { return a - b; }},
    {"mul_scalar", BinaryOp::mul, normal(1), [](InputMaker& m) { return m.real(-3, 3); },
     [](double a, double b) { return a * b; }},
    {"div_scalar", BinaryOp::div, normal(1),
     [](InputMaker& m) { return m.real(0.5, 3) * (m.coin() ? 1 : -1); },
     [](double a, double b) { return a / b; }},
    // pow: the common exponents (2 squares, 0.5 is sqrt) and random ones.
    {"pow_scalar", BinaryOp::pow, uniform(0.5, 2),
     [](InputMaker& m) {
       const double common[] = {2.0, 0.5, -1.0, 3.0};
       return m.coin() ? common[m.integer(0, 3)] : m.real(-2.5, 2.5);
     },
     [](double a, double b) { return std::pow(a, b); }},
};

void register_scalar(const ScalarSpec& spec) {
  auto forward = [op = spec.op](const Tensors& in) {
    return Tensors{binary(op, in[0], scalar_of(in[1]))};
  };
  auto reference = [f = spec.reference](const Tensors& in) {
    double b = scalar_of(in[1]);
    return Tensors{
        reference_map({in[0]}, [f, b](const std::vector<double>& v) { return f(v[0], b); })};
  };
  for (bool long_rows : {false, true}) {
    register_case({
        .op = spec.name,
        .variant = long_rows ? "long rows, floats" : "random shapes and layouts, floats",
        .dtypes = kFloatTypes,
        .make_inputs =
            [spec, long_rows](InputMaker& m, DType dtype) {
              return Tensors{spec.values(m, operand_shapes(m, 1, long_rows)[0], dtype),
                             scalar_input(spec.draw(m))};
            },
        .forward = forward,
        .reference = reference,
        .backward =
            [op = spec.op](const Tensors& in, const Tensors& out, const Tensor& grad) {
              return Tensors{binary_scalar_backward(op, grad, in[0], scalar_of(in[1]), out[0]),
                             Tensor()};
            },
        .trials = long_rows ? 2 : 4,
    });
  }
  // Integer tensors: an integral scalar keeps the dtype (div still divides truly, giving f32), a
  // fractional one gives f32.
  register_case({
      .op = spec.name,
      .variant = "integer tensor with an integral or a fractional scalar",
      .dtypes = kIntegerTypes,
      .make_inputs =
          [op = spec.op](InputMaker& m, DType dtype) {
            Shape s = operand_shapes(m, 1, m.coin())[0];
            bool integral = m.coin();
            if (op == BinaryOp::pow) {
              return Tensors{m.integers(s, dtype, 1, 6, InputMaker::Layout::any),
                             scalar_input(integral ? m.integer(0, 4) : m.real(-2, 2))};
            }
            double b = integral ? m.integer(1, 5) * (m.coin() ? 1 : -1) : m.real(-3, 3);
            return Tensors{normal(1)(m, s, dtype), scalar_input(b)};
          },
      .forward = forward,
      .reference = reference,
  });
}

// ---- comparisons ------------------------------------------------------------------------------

struct CompareSpec {
  const char* name;
  CompareOp op;
  bool (*reference)(double, double);
};

const CompareSpec kCompare[] = {
    {"eq", CompareOp::eq, [](double a, double b) { return a == b; }},
    {"ne", CompareOp::ne, [](double a, double b) { return a != b; }},
    {"lt", CompareOp::lt, [](double a, double b) { return a < b; }},
    {"le", CompareOp::le, [](double a, double b) { return a <= b; }},
    {"gt", CompareOp::gt, [](double a, double b) { return a > b; }},
    {"ge", CompareOp::ge, [](double a, double b) { return a >= b; }},
};

void register_compare(const CompareSpec& spec) {
  auto reference = [f = spec.reference](const Tensors& in) {
    return Tensors{
        reference_map(in, [f](const std::vector<double>& v) { return f(v[0], v[1]) ? 1.0 : 0.0; })};
  };
  register_case({
      .op = spec.name,
      .variant = "broadcasting, every dtype",
      .dtypes = kAllTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            std::vector<Shape> shapes = operand_shapes(m, 2, m.coin(0.2));
            return Tensors{grid()(m, shapes[0], dtype), grid()(m, shapes[1], dtype)};
          },
      .forward = [op = spec.op](const Tensors& in) { return Tensors{compare(op, in[0], in[1])}; },
      .reference = reference,
  });
  register_case({
      .op = spec.name,
      .variant = "mixed dtypes: b is f16 or i64, compared in the promoted dtype",
      .dtypes = kAllTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            std::vector<Shape> shapes = operand_shapes(m, 2, false);
            DType b_dtype = m.coin() ? DType::f16 : DType::i64;
            return Tensors{grid()(m, shapes[0], dtype), grid()(m, shapes[1], b_dtype)};
          },
      .forward = [op = spec.op](const Tensors& in) { return Tensors{compare(op, in[0], in[1])}; },
      .reference = reference,
  });
  register_case({
      .op = spec.name,
      .variant = "with an integral or a fractional scalar",
      .dtypes = kAllTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            double b = m.coin() ? static_cast<double>(m.integer(-2, 2)) : m.real(-3, 3);
            return Tensors{grid()(m, operand_shapes(m, 1, m.coin(0.2))[0], dtype), scalar_input(b)};
          },
      .forward = [op = spec.op](
                     const Tensors& in) { return Tensors{compare(op, in[0], scalar_of(in[1]))}; },
      .reference =
          [f = spec.reference](const Tensors& in) {
            double b = scalar_of(in[1]);
            return Tensors{reference_map(
                {in[0]}, [f, b](const std::vector<double>& v) { return f(v[0], b) ? 1.0 : 0.0; })};
          },
  });
}

// ---- where and clamp --------------------------------------------------------------------------

void register_where() {
  auto make = [](bool mixed) {
    return [mixed](InputMaker& m, DType dtype) {
      std::vector<Shape> shapes = operand_shapes(m, 3, m.coin(0.2));
      DType b_dtype = mixed ? DType::f32 : dtype;
      return Tensors{
          m.mask(shapes[0]), grid()(m, shapes[1], dtype),
          is_floating(b_dtype) ? m.normal(shapes[2], b_dtype) : grid()(m, shapes[2], b_dtype)};
    };
  };
  auto forward = [](const Tensors& in) { return Tensors{where(in[0], in[1], in[2])}; };
  auto reference = [](const Tensors& in) {
    return Tensors{
        reference_map(in, [](const std::vector<double>& v) { return v[0] != 0 ? v[1] : v[2]; })};
  };
  auto backward = [](const Tensors& in, const Tensors&, const Tensor& grad) {
    auto [grad_a, grad_b] = where_backward(grad, in[0], in[1].shape(), in[2].shape());
    return Tensors{Tensor(), grad_a, grad_b};
  };
  register_case({
      .op = "where",
      .variant = "broadcasting cond, a and b, floats",
      .dtypes = kFloatTypes,
      .make_inputs = make(false),
      .forward = forward,
      .reference = reference,
      .backward = backward,
  });
  register_case({
      .op = "where",
      .variant = "integers and bool",
      .dtypes = {DType::i32, DType::i64, DType::boolean},
      .make_inputs = make(false),
      .forward = forward,
      .reference = reference,
  });
  register_case({
      .op = "where",
      .variant = "mixed dtypes: b is f32",
      .dtypes = kAllTypes,
      .make_inputs = make(true),
      .forward = forward,
      .reference = reference,
  });
}

// Bounds travel as an f64 input [low, high], NaN for a missing one.
std::optional<double> bound(const Tensor& bounds, int i) {
  double value = bounds.to_vector<double>()[i];
  return std::isnan(value) ? std::nullopt : std::optional<double>(value);
}

void register_clamp() {
  auto make = [](InputMaker& m, DType dtype) {
    int which = static_cast<int>(m.integer(0, 2));  // both bounds, min only, max only
    double low = which == 2 ? NAN : m.real(-1.5, 0.2);
    double high = which == 1 ? NAN : m.real(-0.2, 1.5);
    return Tensors{
        normal(is_floating(dtype) ? 1.5 : 1)(m, operand_shapes(m, 1, m.coin(0.2))[0], dtype),
        from_vector(std::vector<double>{low, high})};
  };
  auto forward = [](const Tensors& in) {
    return Tensors{clamp(in[0], bound(in[1], 0), bound(in[1], 1))};
  };
  // As torch.clamp: min(max(x, low), high), integer tensors taking the integral bounds inside.
  auto reference = [](const Tensors& in) {
    bool integral = !is_floating(in[0].dtype());
    std::optional<double> low = bound(in[1], 0), high = bound(in[1], 1);
    if (integral && low) low = std::ceil(*low);
    if (integral && high) high = std::floor(*high);
    return Tensors{reference_map({in[0]}, [low, high](const std::vector<double>& v) {
      double x = v[0];
      if (low) x = std::max(x, *low);
      if (high) x = std::min(x, *high);
      return x;
    })};
  };
  register_case({
      .op = "clamp",
      .variant = "min and/or max, floats",
      .dtypes = kFloatTypes,
      .make_inputs = make,
      .forward = forward,
      .reference = reference,
      .backward =
          [](const Tensors& in, const Tensors&, const Tensor& grad) {
            return Tensors{clamp_backward(grad, in[0], bound(in[1], 0), bound(in[1], 1)), Tensor()};
          },
  });
  register_case({
      .op = "clamp",
      .variant = "integers with fractional bounds",
      .dtypes = kIntegerTypes,
      .make_inputs = make,
      .forward = forward,
      .reference = reference,
  });
}

const bool registered = [] {
  for (const UnarySpec& spec : kUnary) register_unary(spec);
  for (const BinarySpec& spec : kBinary) register_binary(spec);
  register_integer_pow();
  for (const ScalarSpec& spec : kScalar) register_scalar(spec);
  for (const CompareSpec& spec : kCompare) register_compare(spec);
  register_where();
  register_clamp();
  return true;
}();

}  // namespace
}  // namespace strata::test
