// Kernels behind core/conv.hpp: the column transforms that turn convolution into GEMM (im2col and
// its adjoint col2im) and the pooling windows. Each works plane by plane (one (n, c) of an NCHW
// tensor per task), so every output element is summed by one thread in a fixed order.
#pragma once

#include <cstdint>

#include "core/cpu/isa.hpp"
#include "core/tensor.hpp"

namespace strata {

// A window sliding over an H x W plane: output position (oh, ow) covers input rows
// oh * stride_h - pad_h + kh * dilation_h for kh < kernel_h (columns likewise).
struct Window2d {
  int64_t height, width;          // input plane
  int64_t out_height, out_width;  // output plane
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;
  int64_t dilation_h = 1, dilation_w = 1;
};

}  // namespace strata

// cols [N, G, C / G * KH * KW, OH * OW] (any strides) from x [N, C, H, W] (any strides); zeros
// where the window reads padding.
STRATA_DECLARE_CPU_KERNEL(void, im2col_kernel,
                          (const strata::Tensor& cols, const strata::Tensor& x,
                           const strata::Window2d& window))
// grad_x [N, C, H, W] (contiguous) = the sum of cols' entries over the positions each input
// element was copied to by im2col; cols as for im2col_kernel.
STRATA_DECLARE_CPU_KERNEL(void, col2im_kernel,
                          (const strata::Tensor& grad_x, const strata::Tensor& cols,
                           const strata::Window2d& window))

// out and indices [N, C, OH, OW] contiguous; x [N, C, H, W] any strides. The first maximum of each
// window wins; NaN counts as the maximum.
STRATA_DECLARE_CPU_KERNEL(void, max_pool2d_kernel,
                          (const strata::Tensor& out, const strata::Tensor& indices,
                           const strata::Tensor& x, const strata::Window2d& window))
// grad_x [N, C, H, W] contiguous; grad and indices [N, C, OH, OW] contiguous.
STRATA_DECLARE_CPU_KERNEL(void, max_pool2d_backward_kernel,
                          (const strata::Tensor& grad_x, const strata::Tensor& grad,
                           const strata::Tensor& indices))
STRATA_DECLARE_CPU_KERNEL(void, avg_pool2d_kernel,
                          (const strata::Tensor& out, const strata::Tensor& x,
                           const strata::Window2d& window, bool count_include_pad))
STRATA_DECLARE_CPU_KERNEL(void, avg_pool2d_backward_kernel,
                          (const strata::Tensor& grad_x, const strata::Tensor& grad,
                           const strata::Window2d& window, bool count_include_pad))

// CUDA: the pooling kernels above with the same contracts (core/cuda/pool_kernels.cu), and
// convolution through cuDNN (core/cuda/conv_cudnn.cpp). The convolution operands are contiguous;
// `groups` splits the channels as in conv2d.
namespace strata::cuda {
void max_pool2d_kernel(const Tensor& out, const Tensor& indices, const Tensor& x,
                       const Window2d& window);
void max_pool2d_backward_kernel(const Tensor& grad_x, const Tensor& grad, const Tensor& indices);
void avg_pool2d_kernel(const Tensor& out, const Tensor& x, const Window2d& window,
                       bool count_include_pad);
void avg_pool2d_backward_kernel(const Tensor& grad_x, const Tensor& grad, const Window2d& window,
                                bool count_include_pad);
// out [N, O, OH, OW] = x [N, C, H, W] convolved with weight [O, C / G, KH, KW].
void conv2d_kernel(const Tensor& out, const Tensor& x, const Tensor& weight, const Window2d& window,
                   int64_t groups);
// grad_x [N, C, H, W] from grad [N, O, OH, OW] and weight.
void conv2d_input_grad_kernel(const Tensor& grad_x, const Tensor& grad, const Tensor& weight,
                              const Window2d& window, int64_t groups);
// grad_weight [O, C / G, KH, KW] from grad [N, O, OH, OW] and x.
void conv2d_weight_grad_kernel(const Tensor& grad_weight, const Tensor& grad, const Tensor& x,
                               const Window2d& window, int64_t groups);
}  // namespace strata::cuda
