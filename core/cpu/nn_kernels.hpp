// CPU kernels behind core/nn_ops.hpp (softmax, normalisation, softmax cross-entropy). The front
// end (core/nn_ops.cpp) validates shapes and dtypes and allocates every output; kernels only fill
// them. Statistics tensors (mean, rstd, log-sum-exp, loss) are contiguous in the accumulation
// dtype: f64 for f64 inputs, f32 otherwise.
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
