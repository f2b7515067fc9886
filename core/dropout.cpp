// dropout and its backward: both apply the mask that PhiloxState defines (element i, in row-major
// order, keeps when slot state.offset + i passes core/random_values.hpp's dropout_keep) and the
// scale 1 / (1 - p), so the backward regenerates the mask instead of storing it.
#include "core/autograd_record.hpp"
#include "core/dispatch.hpp"
#include "core/factories.hpp"
#include "core/nn_ops.hpp"
#include "core/random_kernels.hpp"

namespace strata {
namespace {

Tensor apply_dropout_mask(const char* op, const Tensor& x, double p, PhiloxState state) {
  static const KernelTable<void(const Tensor&, const Tensor&, double, PhiloxState)> kernels{
      "dropout", STRATA_CPU_KERNEL(dropout_kernel), STRATA_CUDA_KERNEL(dropout_kernel)};
  STRATA_CHECK(p >= 0 && p <= 1, op, ": p must be in [0, 1], got ", p);
  STRATA_CHECK(is_floating(x.dtype()), op, ": dtype ", dtype_name(x.dtype()),
               " is not supported; expected a floating dtype (f32, f64, f16, bf16)");
  Tensor input = x.contiguous();
  Tensor out = empty(x.shape(), x.options());
  if (out.numel()) kernels(x.device())(out, input, p, state);
  return out;
}

}  // namespace

Tensor dropout(const Tensor& x, double p, PhiloxState state) {
  const bool recording = autograd::should_record(x);
  autograd::NoGradGuard forward_only;
  Tensor out = apply_dropout_mask("dropout", x, p, state);
  if (recording) {
    autograd::record("dropout", {x}, {&out}, [p, state](const autograd::Grads& grad, auto&) {
      return autograd::Grads{dropout_backward(grad[0], p, state)};
    });
  }
  return out;
}

Tensor dropout_backward(const Tensor& grad, double p, PhiloxState state) {
  return apply_dropout_mask("dropout_backward", grad, p, state);
}

}  // namespace strata
