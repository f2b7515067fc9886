// conv2d and pooling: misuse raises errors that name the shapes and parameters, and results do not
// depend on how many threads share the work.
#include <doctest/doctest.h>

#include "test_support.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "core/conv.hpp"
#include "core/factories.hpp"
#include "core/parallel.hpp"

using namespace strata;

namespace {

using strata::test::error_of;

Conv2dParams conv_params(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                         int64_t groups = 1) {
  Conv2dParams p;
  p.stride = stride;
  p.padding = padding;
  p.groups = groups;
  return p;
}

Pool2dParams pool_params(std::array<int64_t, 2> kernel, std::array<int64_t, 2> padding) {
  Pool2dParams p;
  p.kernel = kernel;
  p.stride = kernel;
  p.padding = padding;
  return p;
}

// Values that vary along every dim and are not symmetric under any window shift.
Tensor wavy(const Shape& shape) {
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>((i * 7919) % 1009) / 1009.0f - 0.5f;
  return from_vector(values, shape);
}

}  // namespace

TEST_CASE("conv2d names mismatched channels, shapes and parameters") {
  Tensor x = zeros({2, 3, 5, 5});
  CHECK(error_of([&] {
          conv2d(x, zeros({8, 4, 3, 3}));
        }) ==
        "conv2d: input has 3 channels but weight expects 4 (weight shape [8, 4, 3, 3], groups 1)");
  CHECK(error_of([&] {
          conv2d(x, zeros({4, 3, 3, 3}), Tensor(), conv_params({1, 1}, {0, 0}, 2));
        }) == "conv2d: groups 2 must divide the input channels (3) and the output channels (4)");
  CHECK(error_of([&] {
          conv2d(zeros({3, 5, 5}), zeros({4, 3, 3, 3}));
        }) == "conv2d: input must be 4-D [N, C, H, W], got shape [3, 5, 5]");
  CHECK(error_of([&] {
          conv2d(x, zeros({4, 3, 3}));
        }) == "conv2d: weight must be 4-D [O, C / groups, KH, KW], got shape [4, 3, 3]");
  CHECK(error_of([&] {
          conv2d(x, zeros({4, 3, 3, 3}), Tensor(), conv_params({0, 1}, {0, 0}));
        }) == "conv2d: stride must be positive, got [0, 1]");
  CHECK(error_of([&] {
          conv2d(x, zeros({4, 3, 3, 3}), Tensor(), conv_params({1, 1}, {-1, 0}));
        }) == "conv2d: padding must be non-negative, got [-1, 0]");
  CHECK(error_of([&] {
          conv2d(x, zeros({4, 3, 7, 3}));
        }) ==
        "conv2d: the kernel (7x3, spanning 7x3 with dilation [1, 1]) is larger than the padded "
        "input (5x5 from input shape [2, 3, 5, 5] and padding [0, 0])");
  CHECK(error_of([&] {
          conv2d(x, zeros({4, 3, 3, 3}), zeros({3}));
        }) == "conv2d: bias must have shape [4], got [3]");
  CHECK(error_of([&] {
          conv2d(x, zeros({4, 3, 3, 3}, {DType::f64}));
        }) == "conv2d: dtype mismatch (f32 and f64); convert one with .to(dtype)");
  CHECK(error_of([&] {
          conv2d(x.to(DType::i32), zeros({4, 3, 3, 3}, {DType::i32}));
        }) ==
        "conv2d: dtype i32 is not supported; expected a floating dtype (f32, f64, f16, bf16)");
  CHECK(error_of([&] {
          conv2d_backward(zeros({2, 4, 4, 4}), x, zeros({4, 3, 3, 3}), true);
        }) ==
        "conv2d_backward: grad has shape [2, 4, 4, 4] but the convolution's output has shape "
        "[2, 4, 3, 3]");
}

TEST_CASE("pooling names bad windows and gradients") {
  Tensor x = zeros({1, 2, 4, 4});
  CHECK(error_of([&] {
          max_pool2d(x, pool_params({3, 3}, {2, 2}));
        }) == "max_pool2d: padding [2, 2] must be between 0 and half the kernel [3, 3]");
  CHECK(error_of([&] {
          avg_pool2d(zeros({1, 1, 2, 2}), pool_params({3, 3}, {0, 0}));
        }) ==
        "avg_pool2d: the kernel [3, 3] is larger than the padded input (2x2 from input shape "
        "[1, 1, 2, 2] and padding [0, 0])");
  CHECK(error_of([&] {
          max_pool2d(x, pool_params({0, 2}, {0, 0}));
        }) == "max_pool2d: kernel size must be positive, got [0, 2]");
  CHECK(error_of([&] {
          avg_pool2d(zeros({2, 4, 4}), pool_params({2, 2}, {0, 0}));
        }) == "avg_pool2d: input must be 4-D [N, C, H, W], got shape [2, 4, 4]");
  CHECK(error_of([&] {
          avg_pool2d_backward(zeros({1, 2, 3, 2}), x.shape(), pool_params({2, 2}, {0, 0}));
        }) ==
        "avg_pool2d_backward: grad has shape [1, 2, 3, 2] but the pooling output has shape "
        "[1, 2, 2, 2]");
  MaxPoolResult pooled = max_pool2d(x, pool_params({2, 2}, {0, 0}));
  CHECK(error_of([&] {
          max_pool2d_backward(zeros({1, 2, 2, 1}), pooled.indices, x.shape());
        }) ==
        "max_pool2d_backward: grad has shape [1, 2, 2, 1] but the pooling output has shape "
        "[1, 2, 2, 2]");
}

TEST_CASE("max_pool2d propagates NaN and keeps the first of equal maxima") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = from_vector(std::vector<float>{1, 3, 3, 0, nan, 2, 5, 5}, {1, 2, 2, 2});
  MaxPoolResult r = max_pool2d(x, pool_params({2, 2}, {0, 0}));
  CHECK(r.indices.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(std::isnan(r.output.to_vector<float>()[1]));
}

TEST_CASE("conv2d_backward computes only the gradients asked for, unchanged") {
  Tensor x = wavy({2, 4, 7, 6});
  Tensor weight = wavy({6, 2, 3, 3});
  Tensor bias = wavy({6});
  Conv2dParams p = conv_params({1, 1}, {1, 1}, 2);
  Tensor grad = conv2d(x, weight, bias, p);
  auto same = [](const Tensor& a, const Tensor& b) {
    return a.to_vector<float>() == b.to_vector<float>();
  };
  Conv2dGrads all = conv2d_backward(grad, x, weight, true, p);
  Conv2dGrads first = conv2d_backward(grad, x, weight, true, p, {.input = false});
  CHECK(!first.input.defined());
  CHECK((same(first.weight, all.weight) && same(first.bias, all.bias)));
  Conv2dGrads input_only =
      conv2d_backward(grad, x, weight, true, p, {.weight = false, .bias = false});
  CHECK((!input_only.weight.defined() && !input_only.bias.defined()));
  CHECK(same(input_only.input, all.input));
}

TEST_CASE("conv2d and pooling give the same bits on one thread and on all") {
  // Big enough that planes and GEMMs are split across the pool.
  Tensor x = wavy({4, 6, 33, 31});
  Tensor weight = wavy({8, 3, 3, 3});
  Tensor bias = wavy({8});
  Conv2dParams p = conv_params({2, 1}, {1, 1}, 2);
  Pool2dParams pool = pool_params({3, 3}, {1, 1});
  pool.stride = {2, 2};
  auto run = [&] {
    Tensor y = conv2d(x, weight, bias, p);
    Conv2dGrads g = conv2d_backward(y, x, weight, true, p);
    MaxPoolResult m = max_pool2d(x, pool);
    Tensor a = avg_pool2d(x, pool);
    return std::vector<Tensor>{y,
                               g.input,
                               g.weight,
                               g.bias,
                               m.output,
                               m.indices,
                               max_pool2d_backward(m.output, m.indices, x.shape()),
                               a,
                               avg_pool2d_backward(a, x.shape(), pool)};
  };
  test::check_same_at_any_thread_count(run);
}
