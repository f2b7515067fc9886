// Harness cases for conv2d (stride, padding, dilation, groups, with and without bias),
// max_pool2d and avg_pool2d, each with its backward. References are direct loops over NCHW in f64.
#include <cmath>
#include <limits>

#include "core/conv.hpp"
#include "core/factories.hpp"
#include "op_harness.hpp"

namespace strata::test {
namespace {

// Element [a][b][c][d] of a contiguous f64 4-D tensor.
double& at4(const Tensor& t, int64_t a, int64_t b, int64_t c, int64_t d) {
  const Shape& s = t.shape();
  return t.data<double>()[((a * s[1] + b) * s[2] + c) * s[3] + d];
}

// A batch size of 1 or 2, sometimes 0.
int64_t batch_size(InputMaker& m) { return m.coin(0.1) ? 0 : m.integer(1, 2); }

// A spatial size in which a window spanning `extent` fits with `padding`, plus up to 5 positions.
int64_t spatial_size(InputMaker& m, int64_t extent, int64_t padding) {
  return std::max<int64_t>(1, extent - 2 * padding) + m.integer(0, 5);
}

struct ConvVariant {
  std::string name;
  std::array<int64_t, 2> kernel;
  Conv2dParams params;
  bool bias;
  int64_t group_in, group_out;  // channels per group
};

Tensor conv_reference(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  const int64_t n_batch = x.size(0), out_channels = w.size(0);
  const int64_t group_in = w.size(1), group_out = out_channels / p.groups;
  const int64_t kh = w.size(2), kw = w.size(3);
  const int64_t oh_size =
      (x.size(2) + 2 * p.padding[0] - p.dilation[0] * (kh - 1) - 1) / p.stride[0] + 1;
  const int64_t ow_size =
      (x.size(3) + 2 * p.padding[1] - p.dilation[1] * (kw - 1) - 1) / p.stride[1] + 1;
  Tensor out = zeros({n_batch, out_channels, oh_size, ow_size}, {DType::f64});
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t o = 0; o < out_channels; ++o)
      for (int64_t oh = 0; oh < oh_size; ++oh)
        for (int64_t ow = 0; ow < ow_size; ++ow) {
          double sum = bias.defined() ? bias.data<double>()[o] : 0.0;
          for (int64_t c = 0; c < group_in; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                int64_t h = oh * p.stride[0] - p.padding[0] + i * p.dilation[0];
                int64_t v = ow * p.stride[1] - p.padding[1] + j * p.dilation[1];
                if (h < 0 || h >= x.size(2) || v < 0 || v >= x.size(3)) continue;
                sum += at4(x, n, (o / group_out) * group_in + c, h, v) * at4(w, o, c, i, j);
              }
          at4(out, n, o, oh, ow) = sum;
        }
  return out;
}

void register_conv_cases() {
  auto params = [](std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                   std::array<int64_t, 2> dilation, int64_t groups) {
    Conv2dParams p;
    p.stride = stride;
    p.padding = padding;
    p.dilation = dilation;
    p.groups = groups;
    return p;
  };
  const ConvVariant variants[] = {
      {"3x3, padding 1, bias", {3, 3}, params({1, 1}, {1, 1}, {1, 1}, 1), true, 3, 4},
      {"3x3, stride 2, no bias", {3, 3}, params({2, 2}, {0, 0}, {1, 1}, 1), false, 2, 3},
      {"2x3, stride [2, 1], padding [1, 2], dilation 2, bias",
       {2, 3},
       params({2, 1}, {1, 2}, {2, 2}, 1),
       true,
       2,
       2},
      {"3x3, 2 groups, padding 1, bias", {3, 3}, params({1, 1}, {1, 1}, {1, 1}, 2), true, 2, 3},
      {"3x3 depthwise (3 groups), stride 2, padding 1, no bias",
       {3, 3},
       params({2, 2}, {1, 1}, {1, 1}, 3),
       false,
       1,
       1},
      {"1x1, bias", {1, 1}, params({1, 1}, {0, 0}, {1, 1}, 1), true, 4, 5},
  };
  for (const ConvVariant& v : variants) {
    const Conv2dParams p = v.params;
    register_case({
        .op = "conv2d",
        .variant = v.name,
        .dtypes = kFloatTypes,
        .make_inputs =
            [v, p](InputMaker& m, DType dtype) {
              const int64_t channels = v.group_in * p.groups, out_channels = v.group_out * p.groups;
              const int64_t h =
                  spatial_size(m, p.dilation[0] * (v.kernel[0] - 1) + 1, p.padding[0]);
              const int64_t w =
                  spatial_size(m, p.dilation[1] * (v.kernel[1] - 1) + 1, p.padding[1]);
              const double scale =
                  1.0 / std::sqrt(static_cast<double>(v.group_in * v.kernel[0] * v.kernel[1]));
              Tensors in = {
                  m.normal({batch_size(m), channels, h, w}, dtype),
                  m.normal({out_channels, v.group_in, v.kernel[0], v.kernel[1]}, dtype, scale)};
              if (v.bias) in.push_back(m.normal({out_channels}, dtype));
              return in;
            },
        .forward =
            [p](const Tensors& in) {
              return Tensors{conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p)};
            },
        .reference =
            [p](const Tensors& in) {
              return Tensors{conv_reference(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p)};
            },
        .backward =
            [p](const Tensors& in, const Tensors&, const Tensor& grad) {
              Conv2dGrads g = conv2d_backward(grad, in[0], in[1], in.size() > 2, p);
              Tensors grads = {g.input, g.weight};
              if (in.size() > 2) grads.push_back(g.bias);
              return grads;
            },
    });
  }
}

struct PoolVariant {
  std::string name;
  Pool2dParams params;
};

Pool2dParams pool_params(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                         std::array<int64_t, 2> padding, bool count_include_pad = true) {
  Pool2dParams p;
  p.kernel = kernel;
  p.stride = stride;
  p.padding = padding;
  p.count_include_pad = count_include_pad;
  return p;
}

Tensor pool_input(InputMaker& m, DType dtype, const Pool2dParams& p) {
  return m.normal({batch_size(m), m.integer(1, 3), spatial_size(m, p.kernel[0], p.padding[0]),
                   spatial_size(m, p.kernel[1], p.padding[1])},
                  dtype);
}

// Visits each output position of a pooling of x: fn(n, c, oh, ow, h0, w0), the window's corner.
template <class Fn>
Shape for_each_window(const Tensor& x, const Pool2dParams& p, Fn&& fn) {
  const int64_t oh_size = (x.size(2) + 2 * p.padding[0] - p.kernel[0]) / p.stride[0] + 1;
  const int64_t ow_size = (x.size(3) + 2 * p.padding[1] - p.kernel[1]) / p.stride[1] + 1;
  for (int64_t n = 0; n < x.size(0); ++n)
    for (int64_t c = 0; c < x.size(1); ++c)
      for (int64_t oh = 0; oh < oh_size; ++oh)
        for (int64_t ow = 0; ow < ow_size; ++ow)
          fn(n, c, oh, ow, oh * p.stride[0] - p.padding[0], ow * p.stride[1] - p.padding[1]);
  return {x.size(0), x.size(1), oh_size, ow_size};
}

void register_pool_cases() {
  const PoolVariant max_variants[] = {
      {"2x2, stride 2", pool_params({2, 2}, {2, 2}, {0, 0})},
      {"3x3, stride 2, padding 1 (overlapping)", pool_params({3, 3}, {2, 2}, {1, 1})},
      {"3x2, stride [1, 2], padding [1, 0]", pool_params({3, 2}, {1, 2}, {1, 0})},
  };
  for (const PoolVariant& v : max_variants) {
    const Pool2dParams p = v.params;
    register_case({
        .op = "max_pool2d",
        .variant = v.name,
        .dtypes = kFloatTypes,
        .make_inputs = [p](InputMaker& m, DType dtype) { return Tensors{pool_input(m, dtype, p)}; },
        .forward =
            [p](const Tensors& in) {
              MaxPoolResult r = max_pool2d(in[0], p);
              return Tensors{r.output, r.indices};
            },
        // The first maximum of each window (row-major), as a value and a flat index into H * W.
        .reference =
            [p](const Tensors& in) {
              const Tensor& x = in[0];
              std::vector<double> values, indices;
              Shape shape = for_each_window(
                  x, p, [&](int64_t n, int64_t c, int64_t, int64_t, int64_t h0, int64_t w0) {
                    double best = -std::numeric_limits<double>::infinity();
                    int64_t best_index = -1;
                    for (int64_t h = std::max<int64_t>(h0, 0);
                         h < std::min(h0 + p.kernel[0], x.size(2)); ++h)
                      for (int64_t w = std::max<int64_t>(w0, 0);
                           w < std::min(w0 + p.kernel[1], x.size(3)); ++w)
                        if (best_index < 0 || at4(x, n, c, h, w) > best) {
                          best = at4(x, n, c, h, w);
                          best_index = h * x.size(3) + w;
                        }
                    values.push_back(best);
                    indices.push_back(static_cast<double>(best_index));
                  });
              return Tensors{from_vector(values, shape), from_vector(indices, shape)};
            },
        .backward =
            [](const Tensors& in, const Tensors& out, const Tensor& grad) {
              return Tensors{max_pool2d_backward(grad, out[1], in[0].shape())};
            },
    });
  }
  const PoolVariant avg_variants[] = {
      {"2x2, stride 2", pool_params({2, 2}, {2, 2}, {0, 0})},
      {"3x3, stride 2, padding 1, counting padding", pool_params({3, 3}, {2, 2}, {1, 1}, true)},
      {"3x3, stride 2, padding 1, not counting padding",
       pool_params({3, 3}, {2, 2}, {1, 1}, false)},
      {"3x2, stride 1, padding [1, 1], not counting padding",
       pool_params({3, 2}, {1, 1}, {1, 1}, false)},
  };
  for (const PoolVariant& v : avg_variants) {
    const Pool2dParams p = v.params;
    register_case({
        .op = "avg_pool2d",
        .variant = v.name,
        .dtypes = kFloatTypes,
        .make_inputs = [p](InputMaker& m, DType dtype) { return Tensors{pool_input(m, dtype, p)}; },
        .forward = [p](const Tensors& in) { return Tensors{avg_pool2d(in[0], p)}; },
        .reference =
            [p](const Tensors& in) {
              const Tensor& x = in[0];
              std::vector<double> values;
              Shape shape = for_each_window(
                  x, p, [&](int64_t n, int64_t c, int64_t, int64_t, int64_t h0, int64_t w0) {
                    double sum = 0;
                    int64_t count = 0;
                    for (int64_t h = std::max<int64_t>(h0, 0);
                         h < std::min(h0 + p.kernel[0], x.size(2)); ++h)
                      for (int64_t w = std::max<int64_t>(w0, 0);
                           w < std::min(w0 + p.kernel[1], x.size(3)); ++w) {
                        sum += at4(x, n, c, h, w);
                        ++count;
                      }
                    values.push_back(sum / static_cast<double>(p.count_include_pad
                                                                   ? p.kernel[0] * p.kernel[1]
                                                                   : count));
                  });
              return Tensors{from_vector(values, shape)};
            },
        .backward =
            [p](const Tensors& in, const Tensors&, const Tensor& grad) {
              return Tensors{avg_pool2d_backward(grad, in[0].shape(), p)};
            },
    });
  }
}

const bool registered = [] {
  register_conv_cases();
  register_pool_cases();
  return true;
}();

}  // namespace
}  // namespace strata::test
