// clip_grad_norm_: per-gradient norms from core's deterministic reductions, combined in double.
#include "optim/clip_grad.hpp"

#include <cmath>

#include "core/autograd_record.hpp"
#include "core/elementwise.hpp"
#include "core/reduce.hpp"

namespace strata::optim {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  STRATA_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be positive (or infinity), got ",
               norm_type);
  autograd::NoGradGuard no_grad;
  const bool max_norm_type = std::isinf(norm_type);
  std::vector<Tensor> grads;
  double total = 0;  // the largest norm (infinity norm), or the sum of norm^p
  for (const Tensor& p : params) {
    Tensor grad = p.grad();
    if (!grad.defined()) continue;
    grads.push_back(grad);
    // norm() returns the input's dtype: read 16-bit gradients as f32 so the norm is not rounded.
    Tensor values = is_16bit_float(grad.dtype()) ? grad.to(DType::f32) : grad;
    double n = norm(values, norm_type).item<double>();
    total = max_norm_type ? std::max(total, n) : total + std::pow(n, norm_type);
    if (std::isnan(n)) total = n;
  }
  if (!max_norm_type) total = std::pow(total, 1.0 / norm_type);
  if (!std::isfinite(total)) {
    STRATA_CHECK(!error_if_nonfinite, "clip_grad_norm_: the total norm of order ", norm_type,
                 " of the gradients of ", grads.size(), " parameters is non-finite (", total,
                 "), so it cannot be clipped; no gradient was changed");
    return total;
  }
  double coefficient = max_norm / (total + 1e-6);
  if (coefficient < 1)
    for (const Tensor& g : grads) mul_(g, coefficient);
  return total;
}

}  // namespace strata::optim
