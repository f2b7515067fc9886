// clip_grad_norm_: per-gradient norms from core's deterministic reductions, combined on the
// gradients' device in f64, in parameter order. Nothing is read back to the host (unless
// error_if_nonfinite asks for a check), so on CUDA the whole clip is queued on the stream.
#include "optim/clip_grad.hpp"

#include <cmath>
#include <limits>

#include "core/autograd_record.hpp"
#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "core/reduce.hpp"

namespace strata::optim {

Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  STRATA_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be positive (or infinity), got ",
               norm_type);
  autograd::NoGradGuard no_grad;
  const bool max_norm_type = std::isinf(norm_type);
  std::vector<Tensor> grads;
  Tensor total;  // 0-dim f64: the largest norm (infinity norm), or the sum of norm^p
  for (const Tensor& p : params) {
    Tensor grad = p.grad();
    if (!grad.defined()) continue;
    grads.push_back(grad);
    // norm() returns the input's dtype: read 16-bit gradients as f32 so the norm is not rounded.
    Tensor values = is_16bit_float(grad.dtype()) ? grad.to(DType::f32) : grad;
    Tensor n = norm(values, norm_type).to(DType::f64);
    if (max_norm_type) {
      total = total.defined() ? maximum(total, n) : n;  // maximum propagates NaN
    } else {
      Tensor term = pow(n, norm_type);
      total = total.defined() ? add(total, term) : term;
    }
  }
  if (!total.defined()) return zeros({}, DType::f64);
  if (!max_norm_type) total = pow(total, 1.0 / norm_type);
  if (error_if_nonfinite) {
    const double value = total.item<double>();
    STRATA_CHECK(std::isfinite(value), "clip_grad_norm_: the total norm of order ", norm_type,
                 " of the gradients of ", grads.size(), " parameters is non-finite (", value,
                 "), so it cannot be clipped; no gradient was changed");
  }
  clip_grads_by_norm_(grads, total, max_norm);
  return total;
}

void clip_grads_by_norm_(const std::vector<Tensor>& grads, const Tensor& total, double max_norm) {
  autograd::NoGradGuard no_grad;
  // coefficient = min(1, max_norm / (total + 1e-6)), or 1 when total is not finite (|total| < inf
  // is false for inf and NaN): nothing is scaled then.
  Tensor finite = lt(abs(total), std::numeric_limits<double>::infinity());
  Tensor coefficient = where(finite,
                             minimum(div(full({}, max_norm, total.options()), add(total, 1e-6)),
                                     full({}, 1.0, total.options())),
                             full({}, 1.0, total.options()));
  for (const Tensor& g : grads) {
    if (is_16bit_float(g.dtype())) {
      // g * coefficient in f32, rounded once into g (the coefficient itself is not rounded to 16
      // bits first).
      Tensor(g).copy_(mul(g.to(DType::f32), coefficient.to(DType::f32)));
    } else {
      mul_(g, coefficient.to(g.dtype()));
    }
  }
}

}  // namespace strata::optim
