// Convolution and pooling layers over NCHW images: Conv2d, MaxPool2d, AvgPool2d. Stride, padding,
// dilation and groups are core's Conv2dParams / Pool2dParams, so a layer reads
//   Conv2d(1, 32, 3, {.padding = {1, 1}})   MaxPool2d(2)
#pragma once

#include <array>
#include <cstdint>

#include "core/conv.hpp"
#include "nn/module.hpp"

namespace strata::nn {

// x [N, in_channels, H, W] -> [N, out_channels, OH, OW].
class Conv2d : public Module {
 public:
  // libtorch's initialisation: weight and bias uniform in +-1/sqrt(fan_in), fan_in =
  // in_channels / groups * KH * KW.
  Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel_size,
         Conv2dParams params = {}, bool bias = true);
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv2dParams params = {},
         bool bias = true)
      : Conv2d(in_channels, out_channels, {kernel_size, kernel_size}, params, bias) {}
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  void pretty_print(std::ostream& out) const override;

  int64_t in_channels, out_channels;
  std::array<int64_t, 2> kernel_size;
  Conv2dParams params;
  Tensor weight;  // [out_channels, in_channels / groups, KH, KW]
  Tensor bias;    // [out_channels]; undefined without bias
};

// Pool2dParams with a square kernel and stride = kernel (PyTorch's default), no padding.
Pool2dParams pool_params(int64_t kernel_size);

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Pool2dParams params);
  explicit MaxPool2d(int64_t kernel_size) : MaxPool2d(pool_params(kernel_size)) {}
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& out) const override;

  Pool2dParams params;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Pool2dParams params);
  explicit AvgPool2d(int64_t kernel_size) : AvgPool2d(pool_params(kernel_size)) {}
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& out) const override;

  Pool2dParams params;
};

}  // namespace strata::nn
