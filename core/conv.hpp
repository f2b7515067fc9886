// 2-D convolution and pooling over NCHW tensors, with their backward kernels. CPU convolution is
// im2col + GEMM; CUDA uses cuDNN.
#pragma once

#include <array>

#include "core/linalg.hpp"
#include "core/tensor.hpp"

namespace strata {

struct Conv2dParams {
  std::array<int64_t, 2> stride = {1, 1};
  std::array<int64_t, 2> padding = {0, 0};
  std::array<int64_t, 2> dilation = {1, 1};
  int64_t groups = 1;
};

// x [N, C, H, W], weight [O, C / groups, KH, KW], bias [O] or undefined -> [N, O, OH, OW].
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dParams& params = {});
struct Conv2dGrads {
  Tensor input, weight, bias;  // each defined when wanted (bias: and has_bias)
};
Conv2dGrads conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                            bool has_bias, const Conv2dParams& params = {},
                            WantedGrads wanted = {});

struct Pool2dParams {
  std::array<int64_t, 2> kernel = {2, 2};
  std::array<int64_t, 2> stride = {2, 2};
  std::array<int64_t, 2> padding = {0, 0};
  bool count_include_pad = true;  // avg_pool2d: divide by the full window, padding included
};

struct MaxPoolResult {
  Tensor output;
  Tensor indices;  // i64, flat index into each input plane (H * W), for the backward
};
MaxPoolResult max_pool2d(const Tensor& x, const Pool2dParams& params);
Tensor max_pool2d_backward(const Tensor& grad, const Tensor& indices, const Shape& input_shape);
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& params);
Tensor avg_pool2d_backward(const Tensor& grad, const Shape& input_shape,
                           const Pool2dParams& params);

}  // namespace strata
