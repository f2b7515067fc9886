// Front ends of the softmax, normalisation and cross-entropy ops: checks that name the op and the
// offending shapes or dtypes, output allocation, and dispatch to the device kernel
// (core/nn_kernels.hpp). The CPU form of the fused classifier composes the CPU kernels, giving the
// same values as the CUDA kernel that fuses them.
#include "core/nn_ops.hpp"

#include <algorithm>

#include "core/autograd_record.hpp"
#include "core/dispatch.hpp"
#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "core/nn_kernels.hpp"

namespace strata {
namespace {

// The dtype of what the kernels keep per row (mean, rstd, log-sum-exp, loss): f64 for f64
// inputs, f32 for f32 and the 16-bit floats.
DType stats_dtype(DType input) { return input == DType::f64 ? DType::f64 : DType::f32; }

void check_floating(const char* op, const char* what, const Tensor& t) {
  STRATA_CHECK(t.defined(), op, ": ", what, " is undefined");
  STRATA_CHECK(is_floating(t.dtype()), op, ": ", what, " has dtype ", dtype_name(t.dtype()),
               "; expected a floating dtype (f32, f64, f16, bf16)");
}

void check_shape(const char* op, const char* what, const Tensor& t, const Shape& expected,
                 const char* why) {
  STRATA_CHECK(t.shape() == expected, op, ": ", what, " has shape ", shape_str(t.shape()),
               ", expected ", shape_str(expected), " (", why, ")");
}

void check_dtype(const char* op, const char* what, const Tensor& t, DType expected,
                 const char* why) {
  STRATA_CHECK(t.dtype() == expected, op, ": ", what, " has dtype ", dtype_name(t.dtype()),
               ", expected ", dtype_name(expected), " (", why, ")");
}

// The shape of x without its last dim: one statistic per normalised row.
Shape row_shape(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 1); }

// ---- softmax --------------------------------------------------------------------------------

using SoftmaxKernel = void(const Tensor&, const Tensor&, int64_t, bool);
using SoftmaxBackwardKernel = void(const Tensor&, const Tensor&, const Tensor&, int64_t, bool);

Tensor softmax_backward_impl(const Tensor& grad, const Tensor& y, int64_t dim, bool log) {
  static const KernelTable<SoftmaxBackwardKernel> softmax_kernels{
      "softmax_backward", STRATA_CPU_KERNEL(softmax_backward_kernel),
      STRATA_CUDA_KERNEL(softmax_backward_kernel)};
  static const KernelTable<SoftmaxBackwardKernel> log_softmax_kernels{
      "log_softmax_backward", STRATA_CPU_KERNEL(softmax_backward_kernel),
      STRATA_CUDA_KERNEL(softmax_backward_kernel)};
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  check_floating(op, "output", y);
  check_floating(op, "grad", grad);
  check_shape(op, "grad", grad, y.shape(), "the shape of the forward output");
  check_dtype(op, "grad", grad, y.dtype(), "the dtype of the forward output");
  int64_t d = wrap_dim(dim, std::max<int64_t>(y.dim(), 1), op);
  auto* kernel = (log ? log_softmax_kernels : softmax_kernels)(common_device(op, {&grad, &y}));
  Tensor dx = empty(y.shape(), y.options());
  kernel(dx, grad, y, d, log);
  return dx;
}

Tensor softmax_forward(const Tensor& x, int64_t dim, bool log) {
  static const KernelTable<SoftmaxKernel> softmax_kernels{
      "softmax", STRATA_CPU_KERNEL(softmax_kernel), STRATA_CUDA_KERNEL(softmax_kernel)};
  static const KernelTable<SoftmaxKernel> log_softmax_kernels{
      "log_softmax", STRATA_CPU_KERNEL(softmax_kernel), STRATA_CUDA_KERNEL(softmax_kernel)};
  const char* op = log ? "log_softmax" : "softmax";
  check_floating(op, "input", x);
  // A scalar is a row of one (dim 0 or -1).
  int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1), op);
  auto* kernel = (log ? log_softmax_kernels : softmax_kernels)(x.device());
  const bool recording = autograd::should_record(x);
  autograd::NoGradGuard forward_only;
  Tensor y = empty(x.shape(), x.options());
  kernel(y, x, d, log);
  if (recording) {
    // Both derivatives read only the output.
    autograd::record(op, {x}, {&y},
                     [y = autograd::saved(y), d, log](const autograd::Grads& grad, auto&) {
                       return autograd::Grads{softmax_backward_impl(grad[0], y, d, log)};
                     });
  }
  return y;
}

// ---- layer norm and RMS norm ----------------------------------------------------------------

using NormKernel = void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                        const Tensor&, double);
using NormBackwardKernel = void(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                const Tensor&, const Tensor&, const Tensor&, const Tensor&);

// x [..., C] is normalised over C; weight and bias, when defined, are [C] of x's dtype.
void check_norm_inputs(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_floating(op, "input", x);
  STRATA_CHECK(x.dim() >= 1, op, ": input is a scalar; expected at least one dim (the last is ",
               "normalised)");
  const Shape params = {x.size(-1)};
  for (auto [what, t] : {std::pair{"weight", &weight}, std::pair{"bias", &bias}}) {
    if (!t->defined()) continue;
    check_shape(op, what, *t, params, "the size of the input's last dim");
    check_dtype(op, what, *t, x.dtype(), "the input's dtype");
  }
}

// Runs the forward; `mean` is defined for layer norm and left undefined for RMS norm.
Tensor norm_forward(const KernelTable<NormKernel>& kernels, const Tensor& x, const Tensor& mean,
                    const Tensor& rstd, const Tensor& weight, const Tensor& bias, double eps) {
  STRATA_CHECK(eps >= 0, kernels.op, ": eps is ", eps, "; expected eps >= 0");
  auto* kernel = kernels(common_device(kernels.op, {&x, &weight, &bias}));
  Tensor y = empty(x.shape(), x.options());
  kernel(y, mean, rstd, x, weight, bias, eps);
  return y;
}

NormGrads norm_backward(const KernelTable<NormBackwardKernel>& kernels, const Tensor& grad,
                        const Tensor& x, const Tensor& mean, const Tensor& rstd,
                        const Tensor& weight, bool has_bias) {
  const char* op = kernels.op;
  check_norm_inputs(op, x, weight, Tensor());
  check_floating(op, "grad", grad);
  check_shape(op, "grad", grad, x.shape(), "the shape of the input");
  check_dtype(op, "grad", grad, x.dtype(), "the input's dtype");
  const DType stats = stats_dtype(x.dtype());
  for (auto [what, t] : {std::pair{"mean", &mean}, std::pair{"rstd", &rstd}}) {
    if (!t->defined()) continue;
    check_shape(op, what, *t, row_shape(x), "one value per row of the input");
    check_dtype(op, what, *t, stats, "as the forward returned it");
  }
  Device device = common_device(op, {&grad, &x, &mean, &rstd, &weight});
  auto* kernel = kernels(device);
  const int64_t channels = x.size(-1);
  NormGrads grads;
  grads.input = empty(x.shape(), x.options());
  if (weight.defined()) grads.weight = empty({channels}, weight.options());
  if (has_bias) grads.bias = empty({channels}, x.options());
  kernel(grads.input, grads.weight, grads.bias, grad, x, mean.defined() ? mean.contiguous() : mean,
         rstd.contiguous(), weight);
  return grads;
}

using AddNormKernel = void(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                           const Tensor&, const Tensor&, const Tensor&, const Tensor&, double);

// ---- cross-entropy --------------------------------------------------------------------------

using CrossEntropyKernel = void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t,
                                Reduction, double);

// The fused classifier on the CPU: the loss, then the logit gradient for a unit upstream gradient
// written over the logits by the backward kernel (which reads each row before writing it).
void cross_entropy_inplace_grad_composed(const Tensor& loss, const Tensor& log_sum_exp,
                                         const Tensor& logits, const Tensor& targets,
                                         int64_t ignore_index, Reduction reduction,
                                         double label_smoothing) {
  STRATA_CPU_KERNEL(cross_entropy_kernel)
  (loss, log_sum_exp, logits, targets, ignore_index, reduction, label_smoothing);
  const Tensor unit = ones(loss.shape(), loss.options());
  STRATA_CPU_KERNEL(cross_entropy_backward_kernel)
  (logits, unit, logits, targets, log_sum_exp, ignore_index, reduction, label_smoothing);
}

// logits [N, C] floating, targets [N] i64, label_smoothing in [0, 1]; returns N.
int64_t check_cross_entropy_inputs(const char* op, const Tensor& logits, const Tensor& targets,
                                   double label_smoothing) {
  check_floating(op, "logits", logits);
  STRATA_CHECK(logits.dim() == 2, op, ": logits have shape ", shape_str(logits.shape()),
               "; expected [N, C] (one row of class scores per sample)");
  STRATA_CHECK(targets.defined(), op, ": targets are undefined");
  STRATA_CHECK(targets.dtype() == DType::i64, op, ": targets have dtype ",
               dtype_name(targets.dtype()), "; expected i64 class indices");
  const int64_t rows = logits.size(0);
  check_shape(op, "targets", targets, {rows}, "one class index per row of logits [N, C]");
  STRATA_CHECK(label_smoothing >= 0 && label_smoothing <= 1, op, ": label_smoothing is ",
               label_smoothing, "; expected a value in [0, 1]");
  return rows;
}

// The loss (scalar for mean/sum, [N] for none) and log-sum-exp [N] of a cross-entropy.
CrossEntropyResult cross_entropy_outputs(const Tensor& logits, int64_t rows, Reduction reduction) {
  TensorOptions stats{stats_dtype(logits.dtype()), logits.device()};
  return {empty(reduction == Reduction::none ? Shape{rows} : Shape{}, stats), empty({rows}, stats)};
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_forward(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_forward(x, dim, true); }

Tensor softmax_backward(const Tensor& grad, const Tensor& y, int64_t dim) {
  return softmax_backward_impl(grad, y, dim, false);
}
Tensor log_softmax_backward(const Tensor& grad, const Tensor& y, int64_t dim) {
  return softmax_backward_impl(grad, y, dim, true);
}

LayerNormResult layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  static const KernelTable<NormKernel> kernels{"layer_norm", STRATA_CPU_KERNEL(norm_kernel),
                                               STRATA_CUDA_KERNEL(norm_kernel)};
  check_norm_inputs("layer_norm", x, weight, bias);
  const bool recording = autograd::should_record(x, weight, bias);
  autograd::NoGradGuard forward_only;
  TensorOptions stats{stats_dtype(x.dtype()), x.device()};
  LayerNormResult result;
  result.mean = empty(row_shape(x), stats);
  result.rstd = empty(row_shape(x), stats);
  result.output = norm_forward(kernels, x, result.mean, result.rstd, weight, bias, eps);
  if (recording) {
    autograd::record("layer_norm", {x, weight, bias}, {&result.output},
                     [x = autograd::saved(x), mean = autograd::saved(result.mean),
                      rstd = autograd::saved(result.rstd), weight = autograd::saved(weight)](
                         const autograd::Grads& grad, const autograd::NeedsGrad& needs) {
                       // needs[2]: the bias exists and wants a gradient.
                       NormGrads g = layer_norm_backward(grad[0], x, mean, rstd, weight, needs[2]);
                       return autograd::Grads{needs[0] ? g.input : Tensor(),
                                              needs[1] ? g.weight : Tensor(), g.bias};
                     });
  }
  return result;
}

NormGrads layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& mean,
                              const Tensor& rstd, const Tensor& weight, bool has_bias) {
  static const KernelTable<NormBackwardKernel> kernels{"layer_norm_backward",
                                                       STRATA_CPU_KERNEL(norm_backward_kernel),
                                                       STRATA_CUDA_KERNEL(norm_backward_kernel)};
  STRATA_CHECK(mean.defined() && rstd.defined(),
               "layer_norm_backward: mean and rstd must be the tensors layer_norm returned");
  return norm_backward(kernels, grad, x, mean, rstd, weight, has_bias);
}

AddLayerNormResult add_layer_norm(const Tensor& x, const Tensor& residual, const Tensor& weight,
                                  const Tensor& bias, double eps) {
  static const KernelTable<AddNormKernel> kernels{
      "add_layer_norm", STRATA_CPU_KERNEL(add_norm_kernel), STRATA_CUDA_KERNEL(add_norm_kernel)};
  const char* op = "add_layer_norm";
  check_norm_inputs(op, x, weight, bias);
  check_floating(op, "residual", residual);
  check_shape(op, "residual", residual, x.shape(), "the shape of x");
  check_dtype(op, "residual", residual, x.dtype(), "x's dtype");
  STRATA_CHECK(eps >= 0, op, ": eps is ", eps, "; expected eps >= 0");
  auto* kernel = kernels(common_device(op, {&x, &residual, &weight, &bias}));
  const bool recording = autograd::should_record(x, residual, weight, bias);
  autograd::NoGradGuard forward_only;
  TensorOptions stats{stats_dtype(x.dtype()), x.device()};
  AddLayerNormResult result{empty(x.shape(), x.options()), empty(x.shape(), x.options()),
                            empty(row_shape(x), stats), empty(row_shape(x), stats)};
  kernel(result.sum, result.output, result.mean, result.rstd, x, residual, weight, bias, eps);
  if (recording) {
    autograd::record(
        op, {x, residual, weight, bias}, {&result.sum, &result.output},
        [sum = autograd::saved(result.sum), mean = autograd::saved(result.mean),
         rstd = autograd::saved(result.rstd), weight = autograd::saved(weight)](
            const autograd::Grads& grad, const autograd::NeedsGrad& needs) {
          NormGrads g =
              add_layer_norm_backward(grad[1], grad[0], sum, mean, rstd, weight, needs[3]);
          return autograd::Grads{needs[0] ? g.input : Tensor(), needs[1] ? g.input : Tensor(),
                                 needs[2] ? g.weight : Tensor(), g.bias};
        });
  }
  return result;
}

NormGrads add_layer_norm_backward(const Tensor& grad, const Tensor& grad_sum, const Tensor& sum,
                                  const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                                  bool has_bias) {
  NormGrads grads;
  if (grad.defined()) grads = layer_norm_backward(grad, sum, mean, rstd, weight, has_bias);
  if (!grad_sum.defined()) return grads;
  check_shape("add_layer_norm_backward", "grad_sum", grad_sum, sum.shape(), "the shape of sum");
  grads.input = grads.input.defined() ? add(grads.input, grad_sum) : grad_sum;
  return grads;
}

RmsNormResult rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  static const KernelTable<NormKernel> kernels{"rms_norm", STRATA_CPU_KERNEL(norm_kernel),
                                               STRATA_CUDA_KERNEL(norm_kernel)};
  check_norm_inputs("rms_norm", x, weight, Tensor());
  const bool recording = autograd::should_record(x, weight);
  autograd::NoGradGuard forward_only;
  RmsNormResult result;
  result.rstd = empty(row_shape(x), {stats_dtype(x.dtype()), x.device()});
  result.output = norm_forward(kernels, x, Tensor(), result.rstd, weight, Tensor(), eps);
  if (recording) {
    autograd::record(
        "rms_norm", {x, weight}, {&result.output},
        [x = autograd::saved(x), rstd = autograd::saved(result.rstd),
         weight = autograd::saved(weight)](const autograd::Grads& grad,
                                           const autograd::NeedsGrad& needs) {
          NormGrads g = rms_norm_backward(grad[0], x, rstd, weight);
          return autograd::Grads{needs[0] ? g.input : Tensor(), needs[1] ? g.weight : Tensor()};
        });
  }
  return result;
}

NormGrads rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& rstd,
                            const Tensor& weight) {
  static const KernelTable<NormBackwardKernel> kernels{"rms_norm_backward",
                                                       STRATA_CPU_KERNEL(norm_backward_kernel),
                                                       STRATA_CUDA_KERNEL(norm_backward_kernel)};
  STRATA_CHECK(rstd.defined(), "rms_norm_backward: rstd must be the tensor rms_norm returned");
  return norm_backward(kernels, grad, x, Tensor(), rstd, weight, false);
}

CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                                 Reduction reduction, double label_smoothing) {
  static const KernelTable<CrossEntropyKernel> kernels{"cross_entropy",
                                                       STRATA_CPU_KERNEL(cross_entropy_kernel),
                                                       STRATA_CUDA_KERNEL(cross_entropy_kernel)};
  const char* op = "cross_entropy";
  const int64_t rows = check_cross_entropy_inputs(op, logits, targets, label_smoothing);
  auto* kernel = kernels(common_device(op, {&logits, &targets}));
  const bool recording = autograd::should_record(logits);
  autograd::NoGradGuard forward_only;
  CrossEntropyResult result = cross_entropy_outputs(logits, rows, reduction);
  kernel(result.loss, result.log_sum_exp, logits, targets.contiguous(), ignore_index, reduction,
         label_smoothing);
  if (recording) {
    // The loss's dtype is the statistics' (f32 for 16-bit logits); the gradient is the logits'.
    autograd::record("cross_entropy", {logits, targets}, {&result.loss},
                     [logits = autograd::saved(logits), targets = autograd::saved(targets),
                      log_sum_exp = autograd::saved(result.log_sum_exp), ignore_index, reduction,
                      label_smoothing](const autograd::Grads& grad, auto&) {
                       return autograd::Grads{
                           cross_entropy_backward(grad[0], logits, targets, log_sum_exp,
                                                  ignore_index, reduction, label_smoothing),
                           Tensor()};
                     });
  }
  return result;
}

CrossEntropyResult cross_entropy_inplace_grad(const Tensor& logits, const Tensor& targets,
                                              int64_t ignore_index, Reduction reduction,
                                              double label_smoothing) {
  static const KernelTable<CrossEntropyKernel> kernels{
      "cross_entropy_inplace_grad", &cross_entropy_inplace_grad_composed,
      STRATA_CUDA_KERNEL(cross_entropy_inplace_grad_kernel)};
  static const KernelTable<void(const Tensor&, const Tensor&, Reduction)> scale_kernels{
      "cross_entropy_inplace_grad_backward", STRATA_CPU_KERNEL(cross_entropy_scale_grad_kernel),
      STRATA_CUDA_KERNEL(cross_entropy_scale_grad_kernel)};
  if (!autograd::should_record(logits)) {
    return cross_entropy(logits, targets, ignore_index, reduction, label_smoothing);
  }
  const char* op = "cross_entropy_inplace_grad";
  const int64_t rows = check_cross_entropy_inputs(op, logits, targets, label_smoothing);
  const Device device = common_device(op, {&logits, &targets});
  auto* kernel = kernels(device);
  auto* scale_kernel = scale_kernels(device);
  autograd::NoGradGuard forward_only;
  CrossEntropyResult result = cross_entropy_outputs(logits, rows, reduction);
  // From here on the logits' storage holds their gradient.
  Tensor gradient = autograd::saved(logits);
  kernel(result.loss, result.log_sum_exp, gradient, targets.contiguous(), ignore_index, reduction,
         label_smoothing);
  autograd::record(op, {logits, targets}, {&result.loss},
                   [gradient, reduction, scale_kernel](const autograd::Grads& grad, auto&) {
                     const char* backward_op = "cross_entropy_inplace_grad_backward";
                     check_floating(backward_op, "grad_loss", grad[0]);
                     check_shape(backward_op, "grad_loss", grad[0],
                                 reduction == Reduction::none ? Shape{gradient.size(0)} : Shape{},
                                 "the shape of the loss");
                     scale_kernel(gradient, grad[0].to(stats_dtype(gradient.dtype())).contiguous(),
                                  reduction);
                     return autograd::Grads{gradient, Tensor()};
                   });
  return result;
}

Tensor cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& targets,
                              const Tensor& log_sum_exp, int64_t ignore_index, Reduction reduction,
                              double label_smoothing) {
  static const KernelTable<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                const Tensor&, int64_t, Reduction, double)>
      kernels{"cross_entropy_backward", STRATA_CPU_KERNEL(cross_entropy_backward_kernel),
              STRATA_CUDA_KERNEL(cross_entropy_backward_kernel)};
  const char* op = "cross_entropy_backward";
  const int64_t rows = check_cross_entropy_inputs(op, logits, targets, label_smoothing);
  check_floating(op, "grad_loss", grad_loss);
  check_shape(op, "grad_loss", grad_loss, reduction == Reduction::none ? Shape{rows} : Shape{},
              "the shape of the loss");
  check_floating(op, "log_sum_exp", log_sum_exp);
  check_shape(op, "log_sum_exp", log_sum_exp, {rows}, "one value per row of logits");
  auto* kernel = kernels(common_device(op, {&grad_loss, &logits, &targets, &log_sum_exp}));
  const DType stats = stats_dtype(logits.dtype());
  Tensor dlogits = empty(logits.shape(), logits.options());
  kernel(dlogits, grad_loss.to(stats).contiguous(), logits, targets.contiguous(),
         log_sum_exp.to(stats).contiguous(), ignore_index, reduction, label_smoothing);
  return dlogits;
}

}  // namespace strata
