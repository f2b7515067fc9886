// The bodies of the element-wise kernels (declared in elementwise_kernels.hpp), written once for
// both devices. Each turns the op enum into its functor (elementwise_functors.hpp) and the dtype
// into a C++ type, once per call, then hands both to Engine::map<Out, In...>(out, {inputs}, fn),
// the device's element loop: cpu/elementwise_loop.hpp or cuda/cuda_loop.cuh. M is the device's
// Math policy.
#pragma once

#include "core/dtype.hpp"
#include "core/elementwise_functors.hpp"

namespace strata::ew {

// Raised when the front end let through a dtype a kernel does not cover (a bug, not a misuse).
[[noreturn]] inline void no_kernel_for(const char* kernel, DType dtype) {
  fail(kernel, ": internal error: no kernel for dtype ", dtype_name(dtype));
}

template <class Engine, class M>
void unary_kernel(UnaryOp op, const Tensor& out, const Tensor& x) {
  with_unary_op(op, [&](auto tag) {
    constexpr UnaryOp Op = decltype(tag)::value;
    STRATA_DISPATCH_NUMERIC(x.dtype(), "unary", [&] {
      if constexpr (unary_kernel_exists<Op, compute_t<scalar_t>>()) {
        Engine::template map<scalar_t, scalar_t>(out, {&x}, Unary<Op, M>{});
      } else {
        no_kernel_for("unary", x.dtype());
      }
    });
  });
}

template <class Engine, class M>
void unary_backward_kernel(UnaryOp op, const Tensor& grad_x, const Tensor& grad,
                           const Tensor& saved) {
  with_unary_op(op, [&](auto tag) {
    constexpr UnaryOp Op = decltype(tag)::value;
    STRATA_DISPATCH_FLOATING(grad.dtype(), "unary_backward", [&] {
      Engine::template map<scalar_t, scalar_t, scalar_t>(grad_x, {&grad, &saved},
                                                         UnaryBackward<Op, M>{});
    });
  });
}

template <class Engine, class M>
void binary_kernel(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  with_binary_op(op, [&](auto tag) {
    constexpr BinaryOp Op = decltype(tag)::value;
    STRATA_DISPATCH_NUMERIC(a.dtype(), "binary", [&] {
      if constexpr (binary_kernel_exists<Op, compute_t<scalar_t>>()) {
        Engine::template map<scalar_t, scalar_t, scalar_t>(out, {&a, &b}, Binary<Op, M>{});
      } else {
        no_kernel_for("binary", a.dtype());
      }
    });
  });
}

template <class Engine, class M>
void binary_scalar_kernel(BinaryOp op, const Tensor& out, const Tensor& a, double b) {
  with_binary_op(op, [&](auto tag) {
    constexpr BinaryOp Op = decltype(tag)::value;
    STRATA_DISPATCH_NUMERIC(a.dtype(), "binary", [&] {
      using C = compute_t<scalar_t>;
      if constexpr (binary_kernel_exists<Op, C>()) {
        BindSecond<Binary<Op, M>, C> fn{{}, static_cast<C>(b)};
        Engine::template map<scalar_t, scalar_t>(out, {&a}, fn);
      } else {
        no_kernel_for("binary", a.dtype());
      }
    });
  });
}

template <class Engine, class M>
void binary_backward_kernel(BinaryOp op, const Tensor& grad_a, const Tensor& grad_b,
                            const Tensor& grad, const Tensor& a, const Tensor& b, const Tensor& y) {
  with_binary_op(op, [&](auto tag) {
    constexpr BinaryOp Op = decltype(tag)::value;
    STRATA_DISPATCH_FLOATING(grad.dtype(), "binary_backward", [&] {
      using T = scalar_t;
      if (grad_a.defined())
        Engine::template map<T, T, T, T>(grad_a, {&grad, &a, &b}, BinaryGradA<Op, M>{});
      if (grad_b.defined()) {
        // Only pow reads y; the others get a in its place and ignore it, so y may be undefined.
        const Tensor& y_or_a = Op == BinaryOp::pow ? y : a;
        Engine::template map<T, T, T, T, T>(grad_b, {&grad, &a, &b, &y_or_a}, BinaryGradB<Op, M>{});
      }
    });
  });
}

template <class Engine, class M>
void binary_scalar_backward_kernel(BinaryOp op, const Tensor& grad_a, const Tensor& grad,
                                   const Tensor& a, double b) {
  with_binary_op(op, [&](auto tag) {
    constexpr BinaryOp Op = decltype(tag)::value;
    STRATA_DISPATCH_FLOATING(grad.dtype(), "binary_scalar_backward", [&] {
      using C = compute_t<scalar_t>;
      Engine::template map<scalar_t, scalar_t, scalar_t>(
          grad_a, {&grad, &a}, BinaryScalarGrad<Op, M, C>{static_cast<C>(b)});
    });
  });
}

template <class Engine>
void compare_kernel(CompareOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  with_compare_op(op, [&](auto tag) {
    constexpr CompareOp Op = decltype(tag)::value;
    STRATA_DISPATCH_ALL(a.dtype(), "compare", [&] {
      Engine::template map<bool, scalar_t, scalar_t>(out, {&a, &b}, Compare<Op>{});
    });
  });
}

template <class Engine>
void compare_scalar_kernel(CompareOp op, const Tensor& out, const Tensor& a, double b) {
  with_compare_op(op, [&](auto tag) {
    constexpr CompareOp Op = decltype(tag)::value;
    STRATA_DISPATCH_NUMERIC(a.dtype(), "compare", [&] {
      using C = compute_t<scalar_t>;
      BindSecond<Compare<Op>, C> fn{{}, static_cast<C>(b)};
      Engine::template map<bool, scalar_t>(out, {&a}, fn);
    });
  });
}

template <class Engine>
void where_kernel(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  STRATA_DISPATCH_ALL(out.dtype(), "where", [&] {
    Engine::template map<scalar_t, bool, scalar_t, scalar_t>(out, {&cond, &a, &b}, Where{});
  });
}

template <class Engine>
void clamp_kernel(const Tensor& out, const Tensor& x, double low, double high) {
  STRATA_DISPATCH_NUMERIC(x.dtype(), "clamp", [&] {
    using C = compute_t<scalar_t>;
    Engine::template map<scalar_t, scalar_t>(out, {&x},
                                             Clamp<C>{static_cast<C>(low), static_cast<C>(high)});
  });
}

template <class Engine>
void clamp_backward_kernel(const Tensor& grad_x, const Tensor& grad, const Tensor& x, double low,
                           double high) {
  STRATA_DISPATCH_FLOATING(grad.dtype(), "clamp_backward", [&] {
    using C = compute_t<scalar_t>;
    Engine::template map<scalar_t, scalar_t, scalar_t>(
        grad_x, {&grad, &x}, ClampBackward<C>{static_cast<C>(low), static_cast<C>(high)});
  });
}

}  // namespace strata::ew

// Defines one device's element-wise kernel entry points (elementwise_kernels.hpp) from the shared
// bodies above: Engine is that device's element loop, Math its math policy. Expanded once in
// cpu/elementwise_kernels.cpp (per ISA) and once in cuda/elementwise_kernels.cu.
#define STRATA_DEFINE_ELEMENTWISE_KERNELS(Engine, Math)                                        \
  void unary_kernel(UnaryOp op, const Tensor& out, const Tensor& x) {                          \
    ew::unary_kernel<Engine, Math>(op, out, x);                                                \
  }                                                                                            \
  void unary_backward_kernel(UnaryOp op, const Tensor& grad_x, const Tensor& grad,             \
                             const Tensor& saved) {                                            \
    ew::unary_backward_kernel<Engine, Math>(op, grad_x, grad, saved);                          \
  }                                                                                            \
  void binary_kernel(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {       \
    ew::binary_kernel<Engine, Math>(op, out, a, b);                                            \
  }                                                                                            \
  void binary_scalar_kernel(BinaryOp op, const Tensor& out, const Tensor& a, double b) {       \
    ew::binary_scalar_kernel<Engine, Math>(op, out, a, b);                                     \
  }                                                                                            \
  void binary_backward_kernel(BinaryOp op, const Tensor& grad_a, const Tensor& grad_b,         \
                              const Tensor& grad, const Tensor& a, const Tensor& b,            \
                              const Tensor& y) {                                               \
    ew::binary_backward_kernel<Engine, Math>(op, grad_a, grad_b, grad, a, b, y);               \
  }                                                                                            \
  void binary_scalar_backward_kernel(BinaryOp op, const Tensor& grad_a, const Tensor& grad,    \
                                     const Tensor& a, double b) {                              \
    ew::binary_scalar_backward_kernel<Engine, Math>(op, grad_a, grad, a, b);                   \
  }                                                                                            \
  void compare_kernel(CompareOp op, const Tensor& out, const Tensor& a, const Tensor& b) {     \
    ew::compare_kernel<Engine>(op, out, a, b);                                                 \
  }                                                                                            \
  void compare_scalar_kernel(CompareOp op, const Tensor& out, const Tensor& a, double b) {     \
    ew::compare_scalar_kernel<Engine>(op, out, a, b);                                          \
  }                                                                                            \
  void where_kernel(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) { \
    ew::where_kernel<Engine>(out, cond, a, b);                                                 \
  }                                                                                            \
  void clamp_kernel(const Tensor& out, const Tensor& x, double low, double high) {             \
    ew::clamp_kernel<Engine>(out, x, low, high);                                               \
  }                                                                                            \
  void clamp_backward_kernel(const Tensor& grad_x, const Tensor& grad, const Tensor& x,        \
                             double low, double high) {                                        \
    ew::clamp_backward_kernel<Engine>(grad_x, grad, x, low, high);                             \
  }
