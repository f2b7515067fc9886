// conv2d as im2col + GEMM on the CPU and through cuDNN on CUDA, its backward, and the pooling
// front ends: shape checks, output geometry and the lowering onto the kernels of
// core/conv_kernels.hpp and strata::matmul.
//
// Words used below, for x [N, C, H, W], weight [O, C / G, KH, KW] with G groups:
//   CK = C / G * KH * KW, the length of one unrolled window of one group;
//   L  = OH * OW, the output positions of one plane;
//   columns = im2col(x): every window unrolled, [N, G, CK, L] (or permuted, see the backward).
// The columns hold the whole batch (N * C * KH * KW * L elements), so each product is one batched
// GEMM rather than one small GEMM per sample.
#include "core/conv.hpp"

#include "core/autograd_record.hpp"
#include "core/conv_kernels.hpp"
#include "core/dispatch.hpp"
#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "core/indexing.hpp"
#include "core/linalg.hpp"
#include "core/reduce.hpp"

namespace strata {
namespace {

using Im2colFn = void(const Tensor&, const Tensor&, const Window2d&);
// cuDNN's convolutions and their gradients (CUDA only): (result, operand, operand, window,
// groups).
using CudnnConvFn = void(const Tensor&, const Tensor&, const Tensor&, const Window2d&, int64_t);

std::string pair_str(const std::array<int64_t, 2>& pair) {
  return shape_str(Shape(pair.begin(), pair.end()));
}

void check_nchw(const char* op, const char* name, const Shape& shape, const char* layout) {
  STRATA_CHECK(shape.size() == 4, op, ": ", name, " must be 4-D ", layout, ", got shape ",
               shape_str(shape));
}

struct ConvShape {
  int64_t batch, channels, out_channels, groups;
  Window2d window;
};

ConvShape conv_shape(const char* op, const Tensor& x, const Tensor& weight, const Conv2dParams& p) {
  check_nchw(op, "input", x.shape(), "[N, C, H, W]");
  check_nchw(op, "weight", weight.shape(), "[O, C / groups, KH, KW]");
  STRATA_CHECK(p.stride[0] > 0 && p.stride[1] > 0, op, ": stride must be positive, got ",
               pair_str(p.stride));
  STRATA_CHECK(p.dilation[0] > 0 && p.dilation[1] > 0, op, ": dilation must be positive, got ",
               pair_str(p.dilation));
  STRATA_CHECK(p.padding[0] >= 0 && p.padding[1] >= 0, op, ": padding must be non-negative, got ",
               pair_str(p.padding));
  STRATA_CHECK(p.groups > 0, op, ": groups must be positive, got ", p.groups);
  const int64_t channels = x.size(1), out_channels = weight.size(0);
  STRATA_CHECK(channels % p.groups == 0 && out_channels % p.groups == 0, op, ": groups ", p.groups,
               " must divide the input channels (", channels, ") and the output channels (",
               out_channels, ")");
  STRATA_CHECK(weight.size(1) * p.groups == channels, op, ": input has ", channels,
               " channels but weight expects ", weight.size(1) * p.groups, " (weight shape ",
               shape_str(weight.shape()), ", groups ", p.groups, ")");
  const int64_t kh = weight.size(2), kw = weight.size(3);
  STRATA_CHECK(kh > 0 && kw > 0 && out_channels > 0, op, ": weight shape ",
               shape_str(weight.shape()), " has an empty dim");
  const int64_t extent_h = p.dilation[0] * (kh - 1) + 1, extent_w = p.dilation[1] * (kw - 1) + 1;
  const int64_t padded_h = x.size(2) + 2 * p.padding[0], padded_w = x.size(3) + 2 * p.padding[1];
  STRATA_CHECK(extent_h <= padded_h && extent_w <= padded_w, op, ": the kernel (", kh, "x", kw,
               ", spanning ", extent_h, "x", extent_w, " with dilation ", pair_str(p.dilation),
               ") is larger than the padded input (", padded_h, "x", padded_w, " from input shape ",
               shape_str(x.shape()), " and padding ", pair_str(p.padding), ")");
  Window2d window{x.size(2),
                  x.size(3),
                  (padded_h - extent_h) / p.stride[0] + 1,
                  (padded_w - extent_w) / p.stride[1] + 1,
                  kh,
                  kw,
                  p.stride[0],
                  p.stride[1],
                  p.padding[0],
                  p.padding[1],
                  p.dilation[0],
                  p.dilation[1]};
  return {x.size(0), channels, out_channels, p.groups, window};
}

void check_conv_operands(const char* op, const Tensor& x, const Tensor& weight,
                         const Tensor& other = {}) {
  STRATA_CHECK(x.defined() && weight.defined(), op, ": an operand is undefined");
  common_device(op, {&x, &weight, &other});
  DType dtype = common_dtype(op, {&x, &weight, &other});
  STRATA_CHECK(is_floating(dtype), op, ": dtype ", dtype_name(dtype),
               " is not supported; expected a floating dtype (f32, f64, f16, bf16)");
}

Window2d pool_window(const char* op, const Shape& input, const Pool2dParams& p) {
  check_nchw(op, "input", input, "[N, C, H, W]");
  STRATA_CHECK(p.kernel[0] > 0 && p.kernel[1] > 0, op, ": kernel size must be positive, got ",
               pair_str(p.kernel));
  STRATA_CHECK(p.stride[0] > 0 && p.stride[1] > 0, op, ": stride must be positive, got ",
               pair_str(p.stride));
  STRATA_CHECK(p.padding[0] >= 0 && p.padding[1] >= 0 && 2 * p.padding[0] <= p.kernel[0] &&
                   2 * p.padding[1] <= p.kernel[1],
               op, ": padding ", pair_str(p.padding), " must be between 0 and half the kernel ",
               pair_str(p.kernel));
  const int64_t padded_h = input[2] + 2 * p.padding[0], padded_w = input[3] + 2 * p.padding[1];
  STRATA_CHECK(p.kernel[0] <= padded_h && p.kernel[1] <= padded_w, op, ": the kernel ",
               pair_str(p.kernel), " is larger than the padded input (", padded_h, "x", padded_w,
               " from input shape ", shape_str(input), " and padding ", pair_str(p.padding), ")");
  return {input[2],
          input[3],
          (padded_h - p.kernel[0]) / p.stride[0] + 1,
          (padded_w - p.kernel[1]) / p.stride[1] + 1,
          p.kernel[0],
          p.kernel[1],
          p.stride[0],
          p.stride[1],
          p.padding[0],
          p.padding[1]};
}

Shape pool_output_shape(const Shape& input, const Window2d& window) {
  return {input[0], input[1], window.out_height, window.out_width};
}

void check_pool_grad(const char* op, const Tensor& grad, const Shape& expected) {
  STRATA_CHECK(grad.defined(), op, ": grad is undefined");
  STRATA_CHECK(grad.shape() == expected, op, ": grad has shape ", shape_str(grad.shape()),
               " but the pooling output has shape ", shape_str(expected));
}

// Bias rides in the GEMM: one more weight column holding the bias, against a row of ones in the
// columns, so the output is rounded once and needs no second pass.
Tensor conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                      const Conv2dParams& params) {
  static const KernelTable<Im2colFn> im2col{"conv2d", STRATA_CPU_KERNEL(im2col_kernel), nullptr};
  static const KernelTable<CudnnConvFn> cudnn{"conv2d", nullptr, STRATA_CUDA_KERNEL(conv2d_kernel)};
  check_conv_operands("conv2d", x, weight, bias);
  const ConvShape s = conv_shape("conv2d", x, weight, params);
  const int64_t groups = s.groups, group_out = s.out_channels / groups;
  const int64_t ck = weight.size(1) * weight.size(2) * weight.size(3);
  const int64_t positions = s.window.out_height * s.window.out_width;
  STRATA_CHECK(!bias.defined() || bias.shape() == Shape{s.out_channels}, "conv2d: bias must have ",
               "shape [", s.out_channels, "], got ", shape_str(bias.shape()));
  const int64_t rows = ck + (bias.defined() ? 1 : 0);
  const Shape out_shape = {s.batch, s.out_channels, s.window.out_height, s.window.out_width};
  if (s.batch == 0) return empty(out_shape, x.options());  // an empty batch: nothing to convolve
  if (!x.device().is_cpu()) {
    Tensor out = empty(out_shape, x.options());
    cudnn(x.device())(out, x.contiguous(), weight.contiguous(), s.window, groups);
    // The bias in a second pass (rounded twice in 16-bit, where the CPU's GEMM rounds once).
    if (bias.defined()) add_(out, bias.reshape({1, s.out_channels, 1, 1}));
    return out;
  }

  Im2colFn* kernel = im2col(x.device());
  Tensor columns = empty({s.batch, groups, rows, positions}, x.options());  // [N, G, CK (+1), L]
  kernel(columns, x, s.window);
  Tensor w = weight.reshape({groups, group_out, ck});  // [G, O / G, CK]
  if (bias.defined()) {
    columns.narrow(2, ck, 1).fill_(1.0);
    w = cat({w, bias.reshape({groups, group_out, 1})}, 2);
  }
  // [G, O / G, CK] @ [N, G, CK, L] -> [N, G, O / G, L], which is [N, O, OH, OW].
  return matmul(w, columns).view(out_shape);
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv2dParams& params) {
  const bool recording = autograd::should_record(x, weight, bias);
  autograd::NoGradGuard forward_only;  // the im2col product's reshape, cat and matmul
  Tensor out = conv2d_forward(x, weight, bias, params);
  if (recording) {
    autograd::record(
        "conv2d", {x, weight, bias}, {&out},
        [x = autograd::saved(x), weight = autograd::saved(weight), has_bias = bias.defined(),
         params](const autograd::Grads& grad, const autograd::NeedsGrad& needs) {
          Conv2dGrads g =
              conv2d_backward(grad[0], x, weight, has_bias, params,
                              {.input = needs[0], .weight = needs[1], .bias = needs[2]});
          return autograd::Grads{g.input, g.weight, g.bias};
        });
  }
  return out;
}

Conv2dGrads conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                            bool has_bias, const Conv2dParams& params, WantedGrads wanted) {
  static const KernelTable<Im2colFn> im2col{"conv2d_backward", STRATA_CPU_KERNEL(im2col_kernel),
                                            nullptr};
  static const KernelTable<Im2colFn> col2im{"conv2d_backward", STRATA_CPU_KERNEL(col2im_kernel),
                                            nullptr};
  static const KernelTable<CudnnConvFn> cudnn_input_grad{
      "conv2d_backward", nullptr, STRATA_CUDA_KERNEL(conv2d_input_grad_kernel)};
  static const KernelTable<CudnnConvFn> cudnn_weight_grad{
      "conv2d_backward", nullptr, STRATA_CUDA_KERNEL(conv2d_weight_grad_kernel)};
  check_conv_operands("conv2d_backward", x, weight, grad);
  STRATA_CHECK(grad.defined(), "conv2d_backward: grad is undefined");
  const ConvShape s = conv_shape("conv2d_backward", x, weight, params);
  const Shape out_shape = {s.batch, s.out_channels, s.window.out_height, s.window.out_width};
  STRATA_CHECK(grad.shape() == out_shape, "conv2d_backward: grad has shape ",
               shape_str(grad.shape()), " but the convolution's output has shape ",
               shape_str(out_shape));
  const int64_t groups = s.groups, group_out = s.out_channels / groups;
  const int64_t ck = weight.size(1) * weight.size(2) * weight.size(3);
  const int64_t positions = s.window.out_height * s.window.out_width;
  const bool want_bias = has_bias && wanted.bias;
  Conv2dGrads grads;
  if (s.batch == 0) {  // an empty batch: no gradient flows
    if (wanted.input) grads.input = empty(x.shape(), x.options());
    if (wanted.weight) grads.weight = zeros(weight.shape(), weight.options());
    if (want_bias) grads.bias = zeros({s.out_channels}, weight.options());
    return grads;
  }
  if (!x.device().is_cpu()) {
    const Tensor grad_c = grad.contiguous();
    if (wanted.input) {
      grads.input = empty(x.shape(), x.options());
      cudnn_input_grad(x.device())(grads.input, grad_c, weight.contiguous(), s.window, groups);
    }
    if (wanted.weight) {
      grads.weight = empty(weight.shape(), weight.options());
      cudnn_weight_grad(x.device())(grads.weight, grad_c, x.contiguous(), s.window, groups);
    }
    if (want_bias) grads.bias = sum(grad, {0, 2, 3});
    return grads;
  }
  Tensor g = grad.reshape({s.batch, groups, group_out, positions});  // [N, G, O / G, L]
  Tensor w = weight.reshape({groups, group_out, ck});                // [G, O / G, CK]

  if (wanted.input) {
    // The columns' gradient [N, G, CK, L] = w^T @ g, summed back onto the input windows.
    Tensor column_grads = matmul(w.transpose(1, 2), g);
    grads.input = empty(x.shape(), x.options());
    col2im(x.device())(grads.input, column_grads, s.window);
  }
  if (!wanted.weight && !want_bias) return grads;

  // Weight (and bias): one GEMM contracting over every (n, position) of the batch, so the columns
  // are laid out [G, CK (+1), N, L] and the gradient is permuted to [G, O / G, N, L] to match.
  const int64_t rows = ck + (want_bias ? 1 : 0);
  Tensor columns = empty({groups, rows, s.batch, positions}, x.options());
  im2col(x.device())(columns.permute({2, 0, 1, 3}), x, s.window);
  if (want_bias) columns.narrow(1, ck, 1).fill_(1.0);
  Tensor g_by_group = g.permute({1, 2, 0, 3}).contiguous().view({groups, group_out, -1});
  // [G, O / G, N * L] @ [G, N * L, CK (+1)] -> [G, O / G, CK (+1)]
  Tensor w_grad = matmul(g_by_group, columns.view({groups, rows, -1}).transpose(1, 2));
  if (wanted.weight) grads.weight = w_grad.narrow(2, 0, ck).reshape(weight.shape());
  if (want_bias) grads.bias = w_grad.select(2, ck).reshape({s.out_channels});
  return grads;
}

MaxPoolResult max_pool2d(const Tensor& x, const Pool2dParams& params) {
  static const KernelTable<void(const Tensor&, const Tensor&, const Tensor&, const Window2d&)>
      kernels{"max_pool2d", STRATA_CPU_KERNEL(max_pool2d_kernel),
              STRATA_CUDA_KERNEL(max_pool2d_kernel)};
  STRATA_CHECK(x.defined(), "max_pool2d: input is undefined");
  auto* kernel = kernels(x.device());
  Window2d window = pool_window("max_pool2d", x.shape(), params);
  Shape shape = pool_output_shape(x.shape(), window);
  const bool recording = autograd::should_record(x);
  autograd::NoGradGuard forward_only;
  MaxPoolResult result{empty(shape, x.options()), empty(shape, {DType::i64, x.device()})};
  kernel(result.output, result.indices, x, window);
  if (recording) {
    autograd::record("max_pool2d", {x}, {&result.output},
                     [indices = autograd::saved(result.indices), shape = x.shape()](
                         const autograd::Grads& grad, auto&) {
                       return autograd::Grads{max_pool2d_backward(grad[0], indices, shape)};
                     });
  }
  return result;
}

Tensor max_pool2d_backward(const Tensor& grad, const Tensor& indices, const Shape& input_shape) {
  static const KernelTable<void(const Tensor&, const Tensor&, const Tensor&)> kernels{
      "max_pool2d_backward", STRATA_CPU_KERNEL(max_pool2d_backward_kernel),
      STRATA_CUDA_KERNEL(max_pool2d_backward_kernel)};
  check_nchw("max_pool2d_backward", "input", input_shape, "[N, C, H, W]");
  STRATA_CHECK(indices.defined() && indices.dtype() == DType::i64,
               "max_pool2d_backward: indices must be the i64 indices from max_pool2d");
  check_pool_grad("max_pool2d_backward", grad, indices.shape());
  STRATA_CHECK(grad.size(0) == input_shape[0] && grad.size(1) == input_shape[1],
               "max_pool2d_backward: grad of shape ", shape_str(grad.shape()),
               " does not pool an input of shape ", shape_str(input_shape));
  auto* kernel = kernels(common_device("max_pool2d_backward", {&grad, &indices}));
  Tensor grad_x = empty(input_shape, grad.options());
  kernel(grad_x, grad.contiguous(), indices.contiguous());
  return grad_x;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& params) {
  static const KernelTable<void(const Tensor&, const Tensor&, const Window2d&, bool)> kernels{
      "avg_pool2d", STRATA_CPU_KERNEL(avg_pool2d_kernel), STRATA_CUDA_KERNEL(avg_pool2d_kernel)};
  STRATA_CHECK(x.defined(), "avg_pool2d: input is undefined");
  auto* kernel = kernels(x.device());
  Window2d window = pool_window("avg_pool2d", x.shape(), params);
  const bool recording = autograd::should_record(x);
  autograd::NoGradGuard forward_only;
  Tensor out = empty(pool_output_shape(x.shape(), window), x.options());
  kernel(out, x, window, params.count_include_pad);
  if (recording) {
    autograd::record("avg_pool2d", {x}, {&out},
                     [shape = x.shape(), params](const autograd::Grads& grad, auto&) {
                       return autograd::Grads{avg_pool2d_backward(grad[0], shape, params)};
                     });
  }
  return out;
}

Tensor avg_pool2d_backward(const Tensor& grad, const Shape& input_shape,
                           const Pool2dParams& params) {
  static const KernelTable<void(const Tensor&, const Tensor&, const Window2d&, bool)> kernels{
      "avg_pool2d_backward", STRATA_CPU_KERNEL(avg_pool2d_backward_kernel),
      STRATA_CUDA_KERNEL(avg_pool2d_backward_kernel)};
  Window2d window = pool_window("avg_pool2d_backward", input_shape, params);
  check_pool_grad("avg_pool2d_backward", grad, pool_output_shape(input_shape, window));
  auto* kernel = kernels(grad.device());
  Tensor grad_x = empty(input_shape, grad.options());
  kernel(grad_x, grad.contiguous(), window, params.count_include_pad);
  return grad_x;
}

}  // namespace strata
