// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_.
#pragma once

#include <vector>

#include "core/tensor.hpp"

namespace strata::optim {

// Scales the gradients of `params` in place so that their global norm is at most max_norm
// (coefficient max_norm / (norm + 1e-6), applied only when below 1), and returns the global norm
// before clipping: the norm_type-norm (2 by default; infinity for the largest magnitude) of all
// gradients together. Each gradient's norm accumulates in f32 (f64 for f64 gradients); 16-bit
// gradients are read as f32. Parameters without a gradient are skipped.
//
// A non-finite norm (an overflow or a NaN in some gradient, as in f16 training) is returned as it
// is and no gradient is scaled: test std::isfinite on the result to skip the step, or pass
// error_if_nonfinite to throw instead.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

}  // namespace strata::optim
