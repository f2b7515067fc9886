// Kernels behind core/nn_ops.hpp (softmax, normalisation, softmax cross-entropy): the CPU ones
// (core/cpu/nn_kernels.cpp) and the CUDA ones (core/cuda/nn_kernels.cu) with the same signatures
// and semantics. The front end (core/nn_ops.cpp) validates shapes and dtypes and allocates every
// output; kernels only fill them. Statistics tensors (mean, rstd, log-sum-exp, loss) are
// contiguous in the accumulation dtype: f64 for f64 inputs, f32 otherwise.
#pragma once

#include "core/cpu/isa.hpp"
#include "core/nn_ops.hpp"

// y = softmax(x) (log_softmax when `log`) along `dim`; x and y have one shape, any strides.
STRATA_DECLARE_CPU_KERNEL(void, softmax_kernel,
                          (const strata::Tensor& y, const strata::Tensor& x, int64_t dim, bool log))
// dx from the upstream grad and the forward result y along `dim`.
STRATA_DECLARE_CPU_KERNEL(void, softmax_backward_kernel,
                          (const strata::Tensor& dx, const strata::Tensor& grad,
                           const strata::Tensor& y, int64_t dim, bool log))

// Layer norm over the last dim when `mean` is defined, RMS norm (no centring) when it is not.
// weight and bias [C] may be undefined; mean and rstd are [rows].
STRATA_DECLARE_CPU_KERNEL(void, norm_kernel,
                          (const strata::Tensor& y, const strata::Tensor& mean,
                           const strata::Tensor& rstd, const strata::Tensor& x,
                           const strata::Tensor& weight, const strata::Tensor& bias, double eps))
// sum = x + residual (both of sum's shape, any strides), rounded to the storage type as the add op
// rounds it, then norm_kernel of sum: the residual stream's add and the next layer norm in one
// pass over memory.
STRATA_DECLARE_CPU_KERNEL(void, add_norm_kernel,
                          (const strata::Tensor& sum, const strata::Tensor& y,
                           const strata::Tensor& mean, const strata::Tensor& rstd,
                           const strata::Tensor& x, const strata::Tensor& residual,
                           const strata::Tensor& weight, const strata::Tensor& bias, double eps))
// dx always; dweight and dbias [C] when defined. mean undefined selects RMS norm.
STRATA_DECLARE_CPU_KERNEL(void, norm_backward_kernel,
                          (const strata::Tensor& dx, const strata::Tensor& dweight,
                           const strata::Tensor& dbias, const strata::Tensor& grad,
                           const strata::Tensor& x, const strata::Tensor& mean,
                           const strata::Tensor& rstd, const strata::Tensor& weight))

// Per-row log-sum-exp [N] and the loss (scalar for mean/sum, [N] for none) of logits [N, C]
// against contiguous i64 targets [N]. Throws naming the first row whose target is out of range.
STRATA_DECLARE_CPU_KERNEL(void, cross_entropy_kernel,
                          (const strata::Tensor& loss, const strata::Tensor& log_sum_exp,
                           const strata::Tensor& logits, const strata::Tensor& targets,
                           int64_t ignore_index, strata::Reduction reduction,
                           double label_smoothing))
// dlogits [N, C] from grad_loss (scalar, or [N] for none), recomputing the probabilities from the
// logits and log_sum_exp.
STRATA_DECLARE_CPU_KERNEL(void, cross_entropy_backward_kernel,
                          (const strata::Tensor& dlogits, const strata::Tensor& grad_loss,
                           const strata::Tensor& logits, const strata::Tensor& targets,
                           const strata::Tensor& log_sum_exp, int64_t ignore_index,
                           strata::Reduction reduction, double label_smoothing))

// The fused classifier's backward: dlogits [N, C] *= grad_loss (scalar, or row r by grad_loss[r]
// for Reduction::none), in place.
STRATA_DECLARE_CPU_KERNEL(void, cross_entropy_scale_grad_kernel,
                          (const strata::Tensor& dlogits, const strata::Tensor& grad_loss,
                           strata::Reduction reduction))

namespace strata::cuda {
void softmax_kernel(const Tensor& y, const Tensor& x, int64_t dim, bool log);
void softmax_backward_kernel(const Tensor& dx, const Tensor& grad, const Tensor& y, int64_t dim,
                             bool log);
void norm_kernel(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                 const Tensor& weight, const Tensor& bias, double eps);
void add_norm_kernel(const Tensor& sum, const Tensor& y, const Tensor& mean, const Tensor& rstd,
                     const Tensor& x, const Tensor& residual, const Tensor& weight,
                     const Tensor& bias, double eps);
void norm_backward_kernel(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                          const Tensor& grad, const Tensor& x, const Tensor& mean,
                          const Tensor& rstd, const Tensor& weight);
// Bad targets are reported through core/cuda/device_error.hpp (raised at the next
// synchronisation); their rows count as ignored.
void cross_entropy_kernel(const Tensor& loss, const Tensor& log_sum_exp, const Tensor& logits,
                          const Tensor& targets, int64_t ignore_index, Reduction reduction,
                          double label_smoothing);
void cross_entropy_backward_kernel(const Tensor& dlogits, const Tensor& grad_loss,
                                   const Tensor& logits, const Tensor& targets,
                                   const Tensor& log_sum_exp, int64_t ignore_index,
                                   Reduction reduction, double label_smoothing);
// cross_entropy_kernel that also overwrites logits with d loss / d logits for a unit upstream
// gradient (what cross_entropy_backward_kernel gives for grad_loss = 1), in the same pass.
void cross_entropy_inplace_grad_kernel(const Tensor& loss, const Tensor& log_sum_exp,
                                       const Tensor& logits, const Tensor& targets,
                                       int64_t ignore_index, Reduction reduction,
                                       double label_smoothing);
void cross_entropy_scale_grad_kernel(const Tensor& dlogits, const Tensor& grad_loss,
                                     Reduction reduction);
}  // namespace strata::cuda
