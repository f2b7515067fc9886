// The per-element formula of every element-wise op and of its derivative: one table, shared by the
// CPU and CUDA kernels so both devices compute the same thing.
//
// Each functor is a template on its op, chosen once per call (with_unary_op and friends turn the
// runtime enum into a compile-time one), and on a Math policy M that supplies exp, log, tanh,
// normal_cdf, sqrt, abs and pow for float and double: the CPU kernels plug in vectorisable
// polynomials (cpu/vec_math.hpp), the CUDA kernels CUDA's own functions. Values arrive in the
// compute type (f32 for f16/bf16, the dtype itself otherwise).
//
// Backward functors take g = d(loss)/d(output) and the saved values they need, and return
// d(loss)/d(input) for one element.
#pragma once

#include <type_traits>
#include <utility>

#include "core/elementwise.hpp"
#include "core/half.hpp"

// Every per-element function is forced inline: it lives in the kernels' loops, and on the CPU no
// out-of-line copy compiled for one ISA can then be picked by the linker for another.
#if defined(__CUDACC__)
#define STRATA_ELEMENT_FN __host__ __device__ __forceinline__
#else
#define STRATA_ELEMENT_FN [[gnu::always_inline]] inline
#endif

namespace strata::ew {

// ---- op enum -> compile-time constant -------------------------------------------------------

template <UnaryOp Op>
using UnaryTag = std::integral_constant<UnaryOp, Op>;
template <BinaryOp Op>
using BinaryTag = std::integral_constant<BinaryOp, Op>;
template <CompareOp Op>
using CompareTag = std::integral_constant<CompareOp, Op>;

// Calls f(UnaryTag<op>{}), so f can use the op as a template argument.
template <class F>
decltype(auto) with_unary_op(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::neg: return f(UnaryTag<UnaryOp::neg>{});
    case UnaryOp::exp: return f(UnaryTag<UnaryOp::exp>{});
    case UnaryOp::log: return f(UnaryTag<UnaryOp::log>{});
    case UnaryOp::sqrt: return f(UnaryTag<UnaryOp::sqrt>{});
    case UnaryOp::rsqrt: return f(UnaryTag<UnaryOp::rsqrt>{});
    case UnaryOp::abs: return f(UnaryTag<UnaryOp::abs>{});
    case UnaryOp::tanh: return f(UnaryTag<UnaryOp::tanh>{});
    case UnaryOp::sigmoid: return f(UnaryTag<UnaryOp::sigmoid>{});
    case UnaryOp::relu: return f(UnaryTag<UnaryOp::relu>{});
    case UnaryOp::gelu: return f(UnaryTag<UnaryOp::gelu>{});
    case UnaryOp::gelu_tanh: return f(UnaryTag<UnaryOp::gelu_tanh>{});
    case UnaryOp::silu: return f(UnaryTag<UnaryOp::silu>{});
  }
  fail("element-wise: unknown UnaryOp ", static_cast<int>(op));
}

template <class F>
decltype(auto) with_binary_op(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::add: return f(BinaryTag<BinaryOp::add>{});
    case BinaryOp::sub: return f(BinaryTag<BinaryOp::sub>{});
    case BinaryOp::mul: return f(BinaryTag<BinaryOp::mul>{});
    case BinaryOp::div: return f(BinaryTag<BinaryOp::div>{});
    case BinaryOp::pow: return f(BinaryTag<BinaryOp::pow>{});
    case BinaryOp::maximum: return f(BinaryTag<BinaryOp::maximum>{});
    case BinaryOp::minimum: return f(BinaryTag<BinaryOp::minimum>{});
  }
  fail("element-wise: unknown BinaryOp ", static_cast<int>(op));
}

template <class F>
decltype(auto) with_compare_op(CompareOp op, F&& f) {
  switch (op) {
    case CompareOp::eq: return f(CompareTag<CompareOp::eq>{});
    case CompareOp::ne: return f(CompareTag<CompareOp::ne>{});
    case CompareOp::lt: return f(CompareTag<CompareOp::lt>{});
    case CompareOp::le: return f(CompareTag<CompareOp::le>{});
    case CompareOp::gt: return f(CompareTag<CompareOp::gt>{});
    case CompareOp::ge: return f(CompareTag<CompareOp::ge>{});
  }
  fail("element-wise: unknown CompareOp ", static_cast<int>(op));
}

// ---- which dtypes an op accepts ---------------------------------------------------------------

// neg, abs and relu also work on integers; the other unary ops are defined for floats only.
constexpr bool unary_accepts_integers(UnaryOp op) {
  return op == UnaryOp::neg || op == UnaryOp::abs || op == UnaryOp::relu;
}
// The backward of these reads the output y (cheaper than recomputing it); the others read x.
constexpr bool unary_backward_reads_output(UnaryOp op) {
  return op == UnaryOp::exp || op == UnaryOp::sqrt || op == UnaryOp::rsqrt || op == UnaryOp::tanh ||
         op == UnaryOp::sigmoid;
}
// Division is true division: the front end promotes integer operands to f32 first.
constexpr bool binary_accepts_integers(BinaryOp op) { return op != BinaryOp::div; }

template <UnaryOp Op, class T>
constexpr bool unary_kernel_exists() {
  return std::is_floating_point_v<T> || (std::is_integral_v<T> && unary_accepts_integers(Op));
}
template <BinaryOp Op, class T>
constexpr bool binary_kernel_exists() {
  return std::is_floating_point_v<T> || (std::is_integral_v<T> && binary_accepts_integers(Op));
}

// ---- helpers ----------------------------------------------------------------------------------

// Integer +, -, * wrap around in two's complement instead of overflowing into undefined behaviour.
template <class T>
STRATA_ELEMENT_FN T wrapping_add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <class T>
STRATA_ELEMENT_FN T wrapping_sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
  } else {
    return a - b;
  }
}
template <class T>
STRATA_ELEMENT_FN T wrapping_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

// base^exponent for integers by repeated squaring. A negative exponent gives the truncated value of
// 1 / base^-exponent: 1 for base 1, ±1 for base -1, 0 otherwise.
template <class T>
STRATA_ELEMENT_FN T integer_pow(T base, T exponent) {
  if (exponent < 0) return base == 1 ? T(1) : base == -1 ? T(exponent % 2 ? -1 : 1) : T(0);
  T result = 1;
  while (exponent > 0) {
    if (exponent & 1) result = wrapping_mul(result, base);
    base = wrapping_mul(base, base);
    exponent >>= 1;
  }
  return result;
}

// 1 / (1 + e^-x), as e^x / (1 + e^x) for x < 0 so that tiny results keep their precision.
template <class M, class T>
STRATA_ELEMENT_FN T sigmoid(T x) {
  T e = M::exp(-M::abs(x));
  return (x < T(0) ? e : T(1)) / (T(1) + e);
}

inline constexpr double kInvSqrtTwoPi = 0.39894228040143267794;   // 1/sqrt(2 pi)
inline constexpr double kSqrtTwoOverPi = 0.79788456080286535588;  // sqrt(2/pi)
inline constexpr double kGeluTanhCubic = 0.044715;                // GPT-2's cubic coefficient

// The argument u of gelu_tanh: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
template <class T>
STRATA_ELEMENT_FN T gelu_tanh_inner(T x) {
  return T(kSqrtTwoOverPi) * (x + T(kGeluTanhCubic) * x * x * x);
}

// ---- forward ----------------------------------------------------------------------------------

template <UnaryOp Op, class M>
struct Unary {
  template <class T>
  STRATA_ELEMENT_FN T operator()(T x) const {
    if constexpr (Op == UnaryOp::neg) return wrapping_sub(T(0), x);
    if constexpr (Op == UnaryOp::exp) return M::exp(x);
    if constexpr (Op == UnaryOp::log) return M::log(x);
    if constexpr (Op == UnaryOp::sqrt) return M::sqrt(x);
    if constexpr (Op == UnaryOp::rsqrt) return T(1) / M::sqrt(x);
    if constexpr (Op == UnaryOp::abs) {
      if constexpr (std::is_integral_v<T>)
        return x < T(0) ? wrapping_sub(T(0), x) : x;
      else
        return M::abs(x);
    }
    if constexpr (Op == UnaryOp::tanh) return M::tanh(x);
    if constexpr (Op == UnaryOp::sigmoid) return sigmoid<M>(x);
    if constexpr (Op == UnaryOp::relu) return x < T(0) ? T(0) : x;   // NaN stays NaN
    if constexpr (Op == UnaryOp::gelu) return x * M::normal_cdf(x);  // x Phi(x)
    // 0.5 x (1 + tanh(u)) = x sigmoid(2u): exact in the negative tail, where 1 + tanh cancels.
    if constexpr (Op == UnaryOp::gelu_tanh) return x * sigmoid<M>(T(2) * gelu_tanh_inner(x));
    if constexpr (Op == UnaryOp::silu) return x * sigmoid<M>(x);
  }
};

template <BinaryOp Op, class M>
struct Binary {
  template <class T>
  STRATA_ELEMENT_FN T operator()(T a, T b) const {
    if constexpr (Op == BinaryOp::add) return wrapping_add(a, b);
    if constexpr (Op == BinaryOp::sub) return wrapping_sub(a, b);
    if constexpr (Op == BinaryOp::mul) return wrapping_mul(a, b);
    if constexpr (Op == BinaryOp::div) return a / b;
    if constexpr (Op == BinaryOp::pow) {
      if constexpr (std::is_integral_v<T>)
        return integer_pow(a, b);
      else
        return M::pow(a, b);
    }
    // NaN in either operand propagates, as in torch.maximum / torch.minimum.
    if constexpr (Op == BinaryOp::maximum) return (a != a || a > b) ? a : b;
    if constexpr (Op == BinaryOp::minimum) return (a != a || a < b) ? a : b;
  }
};

template <CompareOp Op>
struct Compare {
  template <class T>
  STRATA_ELEMENT_FN bool operator()(T a, T b) const {
    if constexpr (Op == CompareOp::eq) return a == b;
    if constexpr (Op == CompareOp::ne) return a != b;
    if constexpr (Op == CompareOp::lt) return a < b;
    if constexpr (Op == CompareOp::le) return a <= b;
    if constexpr (Op == CompareOp::gt) return a > b;
    if constexpr (Op == CompareOp::ge) return a >= b;
  }
};

struct Where {
  template <class T>
  STRATA_ELEMENT_FN T operator()(bool cond, T a, T b) const {
    return cond ? a : b;
  }
};

// min(max(x, low), high) as torch.clamp: high wins when low > high; NaN stays NaN.
template <class T>
struct Clamp {
  T low, high;
  STRATA_ELEMENT_FN T operator()(T x) const {
    T raised = x < low ? low : x;
    return raised > high ? high : raised;
  }
};

// Binds the second operand of a binary functor to a scalar: f(a, scalar).
template <class F, class T>
struct BindSecond {
  F f;
  T scalar;
  STRATA_ELEMENT_FN auto operator()(T a) const { return f(a, scalar); }
};

// ---- backward ---------------------------------------------------------------------------------

// d/dx of y = op(x); s is y when unary_backward_reads_output(Op), x otherwise.
template <UnaryOp Op, class M>
struct UnaryBackward {
  template <class T>
  STRATA_ELEMENT_FN T operator()(T g, T s) const {
    if constexpr (Op == UnaryOp::neg) return -g;
    if constexpr (Op == UnaryOp::exp) return g * s;                      // s = y
    if constexpr (Op == UnaryOp::log) return g / s;                      // s = x
    if constexpr (Op == UnaryOp::sqrt) return T(0.5) * g / s;            // s = y
    if constexpr (Op == UnaryOp::rsqrt) return T(-0.5) * g * s * s * s;  // s = y = x^-1/2
    if constexpr (Op == UnaryOp::abs) return s > T(0) ? g : s < T(0) ? -g : T(0);
    if constexpr (Op == UnaryOp::tanh) return g * (T(1) - s * s);     // s = y
    if constexpr (Op == UnaryOp::sigmoid) return g * s * (T(1) - s);  // s = y
    if constexpr (Op == UnaryOp::relu) return s > T(0) ? g : T(0);
    if constexpr (Op == UnaryOp::gelu) {
      // Phi(x) + x phi(x): the normal cdf and density.
      T cdf = M::normal_cdf(s);
      T pdf = T(kInvSqrtTwoPi) * M::exp(T(-0.5) * s * s);
      return g * (cdf + s * pdf);
    }
    if constexpr (Op == UnaryOp::gelu_tanh) {
      T t = M::tanh(gelu_tanh_inner(s));
      T du = T(kSqrtTwoOverPi) * (T(1) + T(3 * kGeluTanhCubic) * s * s);
      return g * (T(0.5) * (T(1) + t) + T(0.5) * s * (T(1) - t * t) * du);
    }
    if constexpr (Op == UnaryOp::silu) {
      T sig = sigmoid<M>(s);
      return g * sig * (T(1) + s * (T(1) - sig));
    }
  }
};

// d/da of y = op(a, b). At ties maximum and minimum split the gradient evenly.
template <BinaryOp Op, class M>
struct BinaryGradA {
  template <class T>
  STRATA_ELEMENT_FN T operator()(T g, T a, T b) const {
    if constexpr (Op == BinaryOp::add || Op == BinaryOp::sub) return g;
    if constexpr (Op == BinaryOp::mul) return g * b;
    if constexpr (Op == BinaryOp::div) return g / b;
    if constexpr (Op == BinaryOp::pow) return b == T(0) ? T(0) : g * b * M::pow(a, b - T(1));
    if constexpr (Op == BinaryOp::maximum) return a > b ? g : a == b ? T(0.5) * g : T(0);
    if constexpr (Op == BinaryOp::minimum) return a < b ? g : a == b ? T(0.5) * g : T(0);
  }
};

// d/db of y = op(a, b); y is read by pow only.
template <BinaryOp Op, class M>
struct BinaryGradB {
  template <class T>
  STRATA_ELEMENT_FN T operator()(T g, T a, T b, T y) const {
    if constexpr (Op == BinaryOp::add) return g;
    if constexpr (Op == BinaryOp::sub) return -g;
    if constexpr (Op == BinaryOp::mul) return g * a;
    if constexpr (Op == BinaryOp::div) return -(g / b) * (a / b);
    // d/db a^b = a^b log(a), taken as 0 where a = 0 and b >= 0 (the limit from a > 0).
    if constexpr (Op == BinaryOp::pow) return a == T(0) && b >= T(0) ? T(0) : g * y * M::log(a);
    if constexpr (Op == BinaryOp::maximum) return b > a ? g : a == b ? T(0.5) * g : T(0);
    if constexpr (Op == BinaryOp::minimum) return b < a ? g : a == b ? T(0.5) * g : T(0);
  }
};

// d/da of y = op(a, scalar).
template <BinaryOp Op, class M, class T>
struct BinaryScalarGrad {
  T scalar;
  STRATA_ELEMENT_FN T operator()(T g, T a) const { return BinaryGradA<Op, M>{}(g, a, scalar); }
};

// The gradient passes where low <= x <= high (the bounds included, as torch.clamp).
template <class T>
struct ClampBackward {
  T low, high;
  STRATA_ELEMENT_FN T operator()(T g, T x) const { return x >= low && x <= high ? g : T(0); }
};

}  // namespace strata::ew
