// Conv2d, MaxPool2d and AvgPool2d: parameters and initialisation, forward through core's ops.
#include "nn/conv.hpp"

#include <cmath>
#include <ostream>

#include "core/factories.hpp"
#include "nn/init.hpp"

namespace strata::nn {

namespace {

void print_pair(std::ostream& out, const char* name, const std::array<int64_t, 2>& pair) {
  out << ", " << name << "=(" << pair[0] << ", " << pair[1] << ")";
}

void print_pool(std::ostream& out, const char* type, const Pool2dParams& params) {
  out << type << "(kernel_size=(" << params.kernel[0] << ", " << params.kernel[1] << ")";
  print_pair(out, "stride", params.stride);
  print_pair(out, "padding", params.padding);
  out << ")";
}

}  // namespace

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel_size,
               Conv2dParams params, bool bias)
    : Module("Conv2d"),
      in_channels(in_channels),
      out_channels(out_channels),
      kernel_size(kernel_size),
      params(params) {
  STRATA_CHECK(in_channels > 0 && out_channels > 0 && kernel_size[0] > 0 && kernel_size[1] > 0 &&
                   params.groups > 0 && in_channels % params.groups == 0 &&
                   out_channels % params.groups == 0,
               "Conv2d: expected positive channels and kernel size with groups dividing both ",
               "channel counts, got in_channels ", in_channels, ", out_channels ", out_channels,
               ", kernel (", kernel_size[0], ", ", kernel_size[1], "), groups ", params.groups);
  weight = register_parameter(
      "weight", empty({out_channels, in_channels / params.groups, kernel_size[0], kernel_size[1]}));
  if (bias) this->bias = register_parameter("bias", empty({out_channels}));
  reset_parameters();
}

void Conv2d::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(init::fans(weight).fan_in));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, params); }

void Conv2d::pretty_print(std::ostream& out) const {
  out << "Conv2d(" << in_channels << ", " << out_channels;
  print_pair(out, "kernel_size", kernel_size);
  print_pair(out, "stride", params.stride);
  print_pair(out, "padding", params.padding);
  if (params.dilation != std::array<int64_t, 2>{1, 1}) print_pair(out, "dilation", params.dilation);
  if (params.groups != 1) out << ", groups=" << params.groups;
  out << ", bias=" << (bias.defined() ? "true" : "false") << ")";
}

Pool2dParams pool_params(int64_t kernel_size) {
  Pool2dParams params;
  params.kernel = {kernel_size, kernel_size};
  params.stride = {kernel_size, kernel_size};
  return params;
}

MaxPool2d::MaxPool2d(Pool2dParams params) : Module("MaxPool2d"), params(params) {}

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, params).output; }

void MaxPool2d::pretty_print(std::ostream& out) const { print_pool(out, "MaxPool2d", params); }

AvgPool2d::AvgPool2d(Pool2dParams params) : Module("AvgPool2d"), params(params) {}

Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, params); }

void AvgPool2d::pretty_print(std::ostream& out) const { print_pool(out, "AvgPool2d", params); }

}  // namespace strata::nn
