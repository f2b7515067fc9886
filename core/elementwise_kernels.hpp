// Kernels behind core/elementwise.hpp, one per kind of op, for the CPU (per ISA) and CUDA. The
// front end (elementwise.cpp) has already broadcast the operands to the output's shape (expand) and
// converted them to the dtype the op computes in; kernels only walk memory.
//   unary:   out = op(x)                         out, x: one dtype
//   binary:  out = op(a, b) or op(a, scalar)     out, a, b: one dtype
//   compare: out = op(a, b) or op(a, scalar)     out bool; a, b: one dtype
//   where:   out = cond ? a : b                  cond bool; out, a, b: one dtype
//   clamp:   out = min(max(x, low), high)        bounds already within x's dtype
// Backward kernels write one gradient each; grads, saved tensors and outputs share a float dtype.
#pragma once

#include "core/cpu/isa.hpp"
#include "core/elementwise.hpp"

#define STRATA_ELEMENTWISE_KERNELS(DECLARE)                                                     \
  DECLARE(void, unary_kernel,                                                                   \
          (strata::UnaryOp op, const strata::Tensor& out, const strata::Tensor& x))             \
  /* saved is y when ew::unary_backward_reads_output(op), x otherwise */                        \
  DECLARE(void, unary_backward_kernel,                                                          \
          (strata::UnaryOp op, const strata::Tensor& grad_x, const strata::Tensor& grad,        \
           const strata::Tensor& saved))                                                        \
  DECLARE(void, binary_kernel,                                                                  \
          (strata::BinaryOp op, const strata::Tensor& out, const strata::Tensor& a,             \
           const strata::Tensor& b))                                                            \
  DECLARE(void, binary_scalar_kernel,                                                           \
          (strata::BinaryOp op, const strata::Tensor& out, const strata::Tensor& a, double b))  \
  /* grad_a or grad_b may be undefined (not wanted); y is read for pow's grad_b only */         \
  DECLARE(void, binary_backward_kernel,                                                         \
          (strata::BinaryOp op, const strata::Tensor& grad_a, const strata::Tensor& grad_b,     \
           const strata::Tensor& grad, const strata::Tensor& a, const strata::Tensor& b,        \
           const strata::Tensor& y))                                                            \
  DECLARE(void, binary_scalar_backward_kernel,                                                  \
          (strata::BinaryOp op, const strata::Tensor& grad_a, const strata::Tensor& grad,       \
           const strata::Tensor& a, double b))                                                  \
  DECLARE(void, compare_kernel,                                                                 \
          (strata::CompareOp op, const strata::Tensor& out, const strata::Tensor& a,            \
           const strata::Tensor& b))                                                            \
  DECLARE(void, compare_scalar_kernel,                                                          \
          (strata::CompareOp op, const strata::Tensor& out, const strata::Tensor& a, double b)) \
  DECLARE(void, where_kernel,                                                                   \
          (const strata::Tensor& out, const strata::Tensor& cond, const strata::Tensor& a,      \
           const strata::Tensor& b))                                                            \
  DECLARE(void, clamp_kernel,                                                                   \
          (const strata::Tensor& out, const strata::Tensor& x, double low, double high))        \
  DECLARE(void, clamp_backward_kernel,                                                          \
          (const strata::Tensor& grad_x, const strata::Tensor& grad, const strata::Tensor& x,   \
           double low, double high))

STRATA_ELEMENTWISE_KERNELS(STRATA_DECLARE_CPU_KERNEL)

#define STRATA_DECLARE_CUDA_ELEMENTWISE_KERNEL(ret, name, params) ret name params;
namespace strata::cuda {
STRATA_ELEMENTWISE_KERNELS(STRATA_DECLARE_CUDA_ELEMENTWISE_KERNEL)
}  // namespace strata::cuda
#undef STRATA_DECLARE_CUDA_ELEMENTWISE_KERNEL
