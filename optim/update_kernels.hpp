// The optimizer kernels: each updates one contiguous range of parameters, their gradients, their
// states and master copies in one pass. The range is a whole flat group (the fused path) or one
// parameter; the kernels cannot tell the two apart, which is why both paths give the same bits.
//
// The hyper-parameters reach the kernels as the coefficients of this step, computed once on the
// host in double (bias corrections, the Adagrad lr decay), so the CPU and CUDA kernels share them.
#pragma once

#include <cstdint>
#include <vector>

#include "core/cpu/isa.hpp"
#include "core/tensor.hpp"

namespace strata::optim {

// Every tensor is contiguous, 1-D [n] and on one device.
struct UpdateRange {
  Tensor param;                   // f32, f64, f16 or bf16; updated in place
  Tensor grad;                    // the param's dtype
  Tensor master;                  // f32 master copy of f16/bf16 params; undefined otherwise
  std::vector<Tensor> states;     // f32 (f64 for f64 params), in the optimizer's state order
  std::vector<int64_t> segments;  // where each parameter starts in the range, then n
  int64_t step = 1;               // the step this update makes (1 on the first)
};

// PyTorch's SGD: g += wd p; buf = g on the first step, else momentum buf + (1 - dampening) g;
// g = nesterov ? g + momentum buf : buf; p -= lr g. No state when momentum is 0.
struct SgdStep {
  double lr, weight_decay, momentum, dampening;
  bool nesterov, first;
};

// PyTorch's Adam (decoupled = false: g += wd p) and AdamW (decoupled: p *= 1 - lr wd):
// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; v_max = max(v_max, v) with amsgrad;
// p -= step_size m / (sqrt(v or v_max) / bias_correction2_sqrt + eps).
struct AdamStep {
  double lr, weight_decay, beta1, beta2, eps;
  double step_size;              // lr / (1 - b1^step)
  double bias_correction2_sqrt;  // sqrt(1 - b2^step)
  bool amsgrad, decoupled;
};

// PyTorch's Adagrad: g += wd p; sum += g^2; p -= clr g / (sqrt(sum) + eps).
struct AdagradStep {
  double clr;  // lr / (1 + (step - 1) lr_decay)
  double weight_decay, eps;
};

// DeepSpeed's FusedLamb, per parameter (segment): m = b1 m + (1 - b1) g;
// v = b2 v + (1 - b2) g^2; u = m / (sqrt(v) + eps) + wd p;
// ratio = clamp(||p|| / ||u||, min_coeff, max_coeff), or 1 when either norm is 0;
// p -= step_size ratio u.
struct LambStep {
  double step_size;  // lr sqrt(1 - b2^step) / (1 - b1^step) with bias correction, else lr
  double beta1, beta2, eps, weight_decay, max_coeff, min_coeff;
};

}  // namespace strata::optim

STRATA_DECLARE_CPU_KERNEL(void, sgd_kernel,
                          (const strata::optim::UpdateRange& range,
                           const strata::optim::SgdStep& step))
STRATA_DECLARE_CPU_KERNEL(void, adam_kernel,
                          (const strata::optim::UpdateRange& range,
                           const strata::optim::AdamStep& step))
STRATA_DECLARE_CPU_KERNEL(void, adagrad_kernel,
                          (const strata::optim::UpdateRange& range,
                           const strata::optim::AdagradStep& step))
STRATA_DECLARE_CPU_KERNEL(void, lamb_kernel,
                          (const strata::optim::UpdateRange& range,
                           const strata::optim::LambStep& step))

// The same kernels on CUDA (optim/cuda/update_kernels.cu), in builds with STRATA_HAVE_CUDA.
namespace strata::cuda {
void sgd_kernel(const optim::UpdateRange& range, const optim::SgdStep& step);
void adam_kernel(const optim::UpdateRange& range, const optim::AdamStep& step);
void adagrad_kernel(const optim::UpdateRange& range, const optim::AdagradStep& step);
void lamb_kernel(const optim::UpdateRange& range, const optim::LambStep& step);
}  // namespace strata::cuda
