// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_.
#pragma once

#include <vector>

#include "core/tensor.hpp"

namespace strata::optim {

// Scales the gradients of `params` in place so that their global norm is at most max_norm
// (coefficient min(1, max_norm / (norm + 1e-6))), and returns the global norm before clipping: the
// norm_type-norm (2 by default; infinity for the largest magnitude) of all gradients together, as
// a 0-dim f64 tensor on the gradients' device (as PyTorch returns a tensor). Each gradient's norm
// accumulates in f32 (f64 for f64 gradients); 16-bit gradients are read as f32. Parameters
// without a gradient are skipped; with none at all the norm is 0.
//
// The norm and the coefficient stay on the device: on CUDA the clip never waits for the GPU.
// Reading the norm (.item<double>()) is what synchronises, so read it only when it is logged.
//
// A non-finite norm (an overflow or a NaN in some gradient, as in f16 training) is returned as it
// is and no gradient is scaled: test std::isfinite on the result to skip the step, or pass
// error_if_nonfinite to throw instead (which reads the norm, and so synchronises).
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// The scaling step of clip_grad_norm_ on its own, for a norm computed elsewhere (ZeRO's, summed
// across ranks): multiplies `grads` in place by min(1, max_norm / (total_norm + 1e-6)), or leaves
// them when total_norm (0-dim f64, on the gradients' device) is not finite.
void clip_grads_by_norm_(const std::vector<Tensor>& grads, const Tensor& total_norm,
                         double max_norm);

}  // namespace strata::optim
