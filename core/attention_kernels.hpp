// Kernels behind flash_attention (core/attention.hpp). Every tensor is 4-D [B, H, rows, D] with a
// head dim of stride 1 (the front end copies inputs that are not so); logsumexp is a contiguous
// [B, H, T] tensor of the accumulation dtype (f32, f64 for f64 inputs).
#pragma once

#include "core/cpu/isa.hpp"
#include "core/tensor.hpp"

// out [B, H, T, D] and logsumexp [B, H, T] from q [B, H, T, D], k and v [B, H, S, D].
STRATA_DECLARE_CPU_KERNEL(void, flash_attention_kernel,
                          (const strata::Tensor& out, const strata::Tensor& logsumexp,
                           const strata::Tensor& q, const strata::Tensor& k,
                           const strata::Tensor& v, bool causal, double scale))
// dq, dk, dv (shapes of q, k, v) from grad_out [B, H, T, D] and the forward's out and logsumexp.
STRATA_DECLARE_CPU_KERNEL(void, flash_attention_backward_kernel,
                          (const strata::Tensor& dq, const strata::Tensor& dk,
                           const strata::Tensor& dv, const strata::Tensor& grad_out,
                           const strata::Tensor& q, const strata::Tensor& k,
                           const strata::Tensor& v, const strata::Tensor& out,
                           const strata::Tensor& logsumexp, bool causal, double scale))

namespace strata::cuda {
void flash_attention_kernel(const Tensor& out, const Tensor& logsumexp, const Tensor& q,
                            const Tensor& k, const Tensor& v, bool causal, double scale);
void flash_attention_backward_kernel(const Tensor& dq, const Tensor& dk, const Tensor& dv,
                                     const Tensor& grad_out, const Tensor& q, const Tensor& k,
                                     const Tensor& v, const Tensor& out, const Tensor& logsumexp,
                                     bool causal, double scale);
}  // namespace strata::cuda
