// Every layer's forward against a hand-computed reference, and its gradients against finite
// differences (autograd::gradcheck, f64, small shapes).
#include <doctest/doctest.h>

#include <cmath>

#include "nn_test_support.hpp"
#include "strata.hpp"
#include "test_support.hpp"

namespace strata::nn {
namespace {

using support::assign;
using support::check_close;
using support::check_gradients;
using support::f64;
using Inputs = std::vector<Tensor>;

Tensor leaf(const Shape& shape) { return randn(shape, DType::f64).requires_grad_(); }

TEST_CASE("Linear: x W^T + b, libtorch's init bounds, gradients") {
  Linear linear(3, 2);
  linear.to(DType::f64);
  assign(linear.weight, f64({1, 2, 3, -1, 0, 1}, {2, 3}));
  assign(linear.bias, f64({0.5, -0.5}, {2}));
  check_close(linear(f64({1, 1, 1, 2, 0, -1}, {2, 3})), {6.5, -0.5, -0.5, -3.5});

  manual_seed(0);
  Linear wide(400, 300);
  const double bound = 1 / std::sqrt(400.0);
  CHECK(amax(abs(wide.weight)).item<double>() <= bound);
  CHECK(amax(abs(wide.bias)).item<double>() <= bound);
  // Uniform(-b, b) has standard deviation b / sqrt(3).
  CHECK(std::sqrt(var(wide.weight).item<double>()) ==
        doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.01));
  CHECK_FALSE(Linear(3, 2, false).bias.defined());

  check_gradients([](const Inputs& in) { return functional::linear(in[0], in[1], in[2]); },
                  {leaf({2, 2, 3}), leaf({4, 3}), leaf({4})});
  check_gradients([&](const Inputs& in) { return linear(in[0]); }, {leaf({5, 3})});
}

TEST_CASE("Embedding: rows of the table; repeated ids accumulate their gradients") {
  Embedding embedding(4, 2);
  embedding.to(DType::f64);
  assign(embedding.weight, f64({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2}));
  Tensor ids = from_vector<int64_t>({3, 0, 3, 1}, {2, 2});
  Tensor rows = embedding(ids);
  CHECK(rows.shape() == Shape{2, 2, 2});
  check_close(rows, {30, 31, 0, 1, 30, 31, 10, 11});
  sum(rows * f64({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2})).backward();
  check_close(embedding.weight.grad(), {3, 4, 7, 8, 0, 0, 1 + 5, 2 + 6});
  check_gradients([&](const Inputs& in) { return functional::embedding(in[0], ids); },
                  {leaf({4, 3})});
}

TEST_CASE("LayerNorm and RMSNorm over the last dim") {
  Tensor x = f64({1, 2, 3, 6, -1, 0, 0, 1}, {2, 4});
  Tensor weight = f64({1, 2, 0.5, -1}, {4}), bias = f64({0, 1, 0, -2}, {4});
  LayerNorm layer_norm(4);
  layer_norm.to(DType::f64);
  assign(layer_norm.weight, weight);
  assign(layer_norm.bias, bias);
  RMSNorm rms_norm(4);
  rms_norm.to(DType::f64);
  assign(rms_norm.weight, weight);
  std::vector<double> layer_expected, rms_expected;
  std::vector<double> xs = x.to_vector<double>(), w = weight.to_vector<double>(),
                      b = bias.to_vector<double>();
  for (int row = 0; row < 2; ++row) {
    double mean = 0, var = 0, square = 0;
    for (int c = 0; c < 4; ++c) mean += xs[row * 4 + c] / 4;
    for (int c = 0; c < 4; ++c) var += std::pow(xs[row * 4 + c] - mean, 2) / 4;
    for (int c = 0; c < 4; ++c) square += std::pow(xs[row * 4 + c], 2) / 4;
    for (int c = 0; c < 4; ++c) {
      layer_expected.push_back((xs[row * 4 + c] - mean) / std::sqrt(var + 1e-5) * w[c] + b[c]);
      rms_expected.push_back(xs[row * 4 + c] / std::sqrt(square + 1e-6) * w[c]);
    }
  }
  check_close(layer_norm(x), layer_expected, 1e-10);
  check_close(rms_norm(x), rms_expected, 1e-10);
  CHECK_FALSE(LayerNorm(4, 1e-5, true, false).bias.defined());
  CHECK(test::contains(test::error_of([&] {
                         layer_norm(ones({2, 3}, DType::f64));
                       }),
                       "expected x [..., 4]"));

  check_gradients([](const Inputs& in) { return functional::layer_norm(in[0], in[1], in[2]); },
                  {leaf({3, 5}), leaf({5}), leaf({5})});
  check_gradients([](const Inputs& in) { return functional::rms_norm(in[0], in[1]); },
                  {leaf({3, 5}), leaf({5})});
}

TEST_CASE("activations: GELU (erf and tanh), ReLU, SiLU, Tanh") {
  std::vector<double> xs = {-2.5, -1, -0.3, 0.2, 1, 3};
  Tensor x = f64(xs, {2, 3});
  std::vector<double> gelu_erf, gelu_tanh, relu, silu, tanh;
  for (double v : xs) {
    gelu_erf.push_back(0.5 * v * (1 + std::erf(v / std::sqrt(2.0))));
    gelu_tanh.push_back(0.5 * v *
                        (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))));
    relu.push_back(v > 0 ? v : 0);
    silu.push_back(v / (1 + std::exp(-v)));
    tanh.push_back(std::tanh(v));
  }
  GELU gelu_exact, gelu_approx(GeluApproximation::tanh);
  ReLU relu_layer;
  SiLU silu_layer;
  Tanh tanh_layer;
  check_close(gelu_exact(x), gelu_erf, 1e-7);
  check_close(gelu_approx(x), gelu_tanh, 1e-7);
  check_close(relu_layer(x), relu);
  check_close(silu_layer(x), silu, 1e-12);
  check_close(tanh_layer(x), tanh, 1e-12);
  for (Module* layer :
       std::vector<Module*>{&gelu_exact, &gelu_approx, &relu_layer, &silu_layer, &tanh_layer}) {
    INFO(layer->type_name());
    // Away from ReLU's kink at 0.
    check_gradients([&](const Inputs& in) { return (*layer)(in[0]); },
                    {f64({-1.5, -0.5, 0.25, 0.75, 2}, {5}).requires_grad_()});
  }
}

TEST_CASE("Dropout: Philox mask from the default generator in training, identity in eval") {
  Dropout dropout(0.25);
  Tensor x = ones({4000}, DType::f64);
  manual_seed(3);
  Tensor y = dropout(x);
  std::vector<double> values = y.to_vector<double>();
  int64_t zeros = 0;
  for (double v : values) {
    CHECK((v == 0 || std::abs(v - 1 / 0.75) < 1e-15));
    zeros += v == 0;
  }
  CHECK(zeros > 900);  // about 1000 of 4000
  CHECK(zeros < 1100);
  // The mask is the default generator's next draw: a fresh generator of the same seed repeats it.
  Generator same_seed(3);
  CHECK(functional::dropout(x, 0.25, true, same_seed).to_vector<double>() == values);
  CHECK(dropout(x).to_vector<double>() != values);  // the next call draws new slots

  dropout.eval();
  CHECK(dropout(x).is_same(x));
  CHECK(functional::dropout(x, 0.0).is_same(x));

  // The same state on every evaluation, so finite differences see one mask.
  Generator generator(11);
  check_gradients(
      [&](const Inputs& in) {
        generator.set_state({11, 0});
        return functional::dropout(in[0], 0.4, true, generator);
      },
      {leaf({3, 7})});
}

// Direct convolution of x [N, C, H, W] with w [O, C, KH, KW], stride 1, padding `pad`.
std::vector<double> reference_conv(const Tensor& x, const Tensor& w, const Tensor& b, int64_t pad) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t o = w.size(0), kh = w.size(2), kw = w.size(3);
  const int64_t oh = h + 2 * pad - kh + 1, ow = wd + 2 * pad - kw + 1;
  std::vector<double> xs = x.to_vector<double>(), ws = w.to_vector<double>(),
                      bs = b.to_vector<double>(), out;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t oc = 0; oc < o; ++oc)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t z = 0; z < ow; ++z) {
          double acc = bs[oc];
          for (int64_t ic = 0; ic < c; ++ic)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                int64_t yy = y + p - pad, zz = z + q - pad;
                if (yy < 0 || yy >= h || zz < 0 || zz >= wd) continue;
                acc +=
                    xs[((i * c + ic) * h + yy) * wd + zz] * ws[((oc * c + ic) * kh + p) * kw + q];
              }
          out.push_back(acc);
        }
  return out;
}

TEST_CASE("Conv2d against direct convolution; init bounds; gradients") {
  manual_seed(5);
  Conv2d conv(2, 3, 3, {.padding = {1, 1}});
  conv.to(DType::f64);
  Tensor x = randn({2, 2, 4, 5}, DType::f64);
  Tensor y = conv(x);
  CHECK(y.shape() == Shape{2, 3, 4, 5});
  check_close(y, reference_conv(x, conv.weight, conv.bias, 1), 1e-12);
  CHECK(conv.weight.shape() == Shape{3, 2, 3, 3});
  CHECK(amax(abs(conv.weight)).item<double>() <= 1 / std::sqrt(18.0));
  CHECK(amax(abs(conv.bias)).item<double>() <= 1 / std::sqrt(18.0));
  CHECK(Conv2d(4, 6, {1, 2}, {.groups = 2}, false).weight.shape() == Shape{6, 2, 1, 2});

  check_gradients(
      [](const Inputs& in) {
        return conv2d(in[0], in[1], in[2], {.padding = {1, 0}});
      },
      {leaf({1, 2, 3, 3}), leaf({2, 2, 2, 2}), leaf({2})});
  check_gradients([&](const Inputs& in) { return conv(in[0]); }, {leaf({1, 2, 3, 3})});
}

TEST_CASE("MaxPool2d and AvgPool2d") {
  Tensor x = arange(16, DType::f64).view({1, 1, 4, 4});
  x = x * f64({1, -1, 1, -1}, {4});  // rows alternate sign along W
  // x rows: [0 -1 2 -3], [4 -5 6 -7], [8 -9 10 -11], [12 -13 14 -15]
  MaxPool2d max_pool(2);
  AvgPool2d avg_pool(2);
  check_close(max_pool(x), {4, 6, 12, 14});
  check_close(avg_pool(x), {(0 - 1 + 4 - 5) / 4.0, (2 - 3 + 6 - 7) / 4.0, (8 - 9 + 12 - 13) / 4.0,
                            (10 - 11 + 14 - 15) / 4.0});
  Pool2dParams overlapping{.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}};
  CHECK(MaxPool2d(overlapping)(x).shape() == Shape{1, 1, 4, 4});
  CHECK(MaxPool2d(overlapping)(x).to_vector<double>()[0] == 4);

  check_gradients([&](const Inputs& in) { return max_pool(in[0]); }, {leaf({2, 2, 4, 6})});
  check_gradients([&](const Inputs& in) { return avg_pool(in[0]); }, {leaf({2, 2, 4, 6})});
  check_gradients([&](const Inputs& in) { return AvgPool2d(overlapping)(in[0]); },
                  {leaf({1, 2, 4, 5})});
}

TEST_CASE("BatchNorm2d: batch statistics in training, running statistics in eval") {
  manual_seed(7);
  BatchNorm2d batch_norm(2, 1e-5, 0.1);
  batch_norm.to(DType::f64);
  Tensor weight = f64({1.5, -0.5}, {2}), bias = f64({0.25, 1}, {2});
  assign(batch_norm.weight, weight);
  assign(batch_norm.bias, bias);
  CHECK(batch_norm.named_buffers().keys() ==
        std::vector<std::string>{"running_mean", "running_var"});
  Tensor x = randn({3, 2, 2, 2}, DType::f64) * 2.0 + 1.0;
  std::vector<double> xs = x.to_vector<double>();
  // Per channel: the 12 values of 3 images x 2 x 2.
  auto channel_values = [&](int channel) {
    std::vector<double> values;
    for (int n = 0; n < 3; ++n)
      for (int i = 0; i < 4; ++i) values.push_back(xs[(n * 2 + channel) * 4 + i]);
    return values;
  };
  double mean[2], var[2];
  for (int c = 0; c < 2; ++c) {
    auto values = channel_values(c);
    mean[c] = var[c] = 0;
    for (double v : values) mean[c] += v / 12;
    for (double v : values) var[c] += (v - mean[c]) * (v - mean[c]) / 12;
  }
  std::vector<double> expected;
  const double w[2] = {1.5, -0.5}, b[2] = {0.25, 1};
  for (int n = 0; n < 3; ++n)
    for (int c = 0; c < 2; ++c)
      for (int i = 0; i < 4; ++i)
        expected.push_back((xs[(n * 2 + c) * 4 + i] - mean[c]) / std::sqrt(var[c] + 1e-5) * w[c] +
                           b[c]);
  check_close(batch_norm(x), expected, 1e-10);
  // Running statistics: momentum 0.1 toward the batch mean and the unbiased batch variance.
  check_close(batch_norm.running_mean, {0.1 * mean[0], 0.1 * mean[1]}, 1e-12);
  check_close(batch_norm.running_var, {0.9 + 0.1 * var[0] * 12 / 11, 0.9 + 0.1 * var[1] * 12 / 11},
              1e-12);
  batch_norm(x);
  check_close(batch_norm.running_mean, {0.19 * mean[0], 0.19 * mean[1]}, 1e-12);

  batch_norm.eval();
  std::vector<double> rm = batch_norm.running_mean.to_vector<double>(),
                      rv = batch_norm.running_var.to_vector<double>();
  std::vector<double> eval_expected;
  for (int n = 0; n < 3; ++n)
    for (int c = 0; c < 2; ++c)
      for (int i = 0; i < 4; ++i)
        eval_expected.push_back((xs[(n * 2 + c) * 4 + i] - rm[c]) / std::sqrt(rv[c] + 1e-5) * w[c] +
                                b[c]);
  check_close(batch_norm(x), eval_expected, 1e-10);
  CHECK(batch_norm.running_mean.to_vector<double>() == rm);  // eval leaves them alone

  check_gradients(
      [](const Inputs& in) {
        return functional::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true);
      },
      {leaf({3, 2, 2, 3}), leaf({2}), leaf({2})});
  check_gradients([&](const Inputs& in) { return batch_norm(in[0]); }, {leaf({2, 2, 3, 1})});
  CHECK(test::contains(test::error_of([&] {
                         batch_norm.train();
                         batch_norm(ones({1, 2, 1, 1}, DType::f64));
                       }),
                       "more than one value per channel"));
}

TEST_CASE("Flatten and Sequential") {
  Tensor x = randn({2, 3, 4, 5});
  CHECK(Flatten()(x).shape() == Shape{2, 60});
  CHECK(Flatten(0, 1)(x).shape() == Shape{6, 4, 5});
  auto first = std::make_shared<Linear>(60, 8);
  auto second = std::make_shared<Linear>(8, 3);
  Sequential sequential{std::make_shared<Flatten>(), first, std::make_shared<Tanh>(), second};
  CHECK(sequential.size() == 4);
  CHECK(sequential.at<Linear>(3) == second);
  Tensor expected = (*second)(tanh((*first)(x.flatten(1))));
  CHECK(sequential(x).to_vector<float>() == expected.to_vector<float>());
  CHECK(sequential.named_parameters().keys() ==
        std::vector<std::string>{"1.weight", "1.bias", "3.weight", "3.bias"});
}

TEST_CASE("init functions fill in place from the default generator") {
  Tensor t = empty({200, 100});
  t.requires_grad_();
  manual_seed(1);
  init::normal_(t, 1.0, 0.5);
  std::vector<float> first = t.to_vector<float>();
  CHECK(mean(t).item<double>() == doctest::Approx(1.0).epsilon(0.02));
  CHECK(std::sqrt(var(t).item<double>()) == doctest::Approx(0.5).epsilon(0.02));
  manual_seed(1);
  init::normal_(t, 1.0, 0.5);
  CHECK(t.to_vector<float>() == first);
  CHECK(t.requires_grad());

  init::uniform_(t, -2, 3);
  CHECK(amin(t).item<double>() >= -2);
  CHECK(amax(t).item<double>() < 3);
  init::trunc_normal_(t, 0.0, 1.0, -0.5, 1.0);
  CHECK(amin(t).item<double>() >= -0.5);
  CHECK(amax(t).item<double>() <= 1.0);
  init::zeros_(t);
  CHECK(sum(abs(t)).item<double>() == 0);
  init::ones_(t);
  CHECK(sum(t).item<double>() == 20000);

  Tensor conv_weight = empty({8, 4, 3, 3});
  CHECK(init::fans(conv_weight).fan_in == 36);
  CHECK(init::fans(conv_weight).fan_out == 72);
  init::kaiming_uniform_(conv_weight);  // ReLU gain: bound sqrt(6 / 36)
  CHECK(amax(abs(conv_weight)).item<double>() <= std::sqrt(6.0 / 36));
  CHECK(amax(abs(conv_weight)).item<double>() > 0.9 * std::sqrt(6.0 / 36));
  init::kaiming_uniform_(conv_weight, 0, init::FanMode::fan_out);
  CHECK(amax(abs(conv_weight)).item<double>() <= std::sqrt(6.0 / 72));
  init::xavier_uniform_(t, 2.0);  // bound 2 sqrt(6 / 300)
  CHECK(amax(abs(t)).item<double>() <= 2 * std::sqrt(6.0 / 300));
  CHECK(amax(abs(t)).item<double>() > 1.9 * std::sqrt(6.0 / 300));

  Tensor bf16 = empty({64}, DType::bf16);
  init::normal_(bf16, 0, 0.02);
  CHECK(bf16.dtype() == DType::bf16);
  CHECK(test::contains(test::error_of([] { init::normal_(empty({2}, DType::i64)); }),
                       "floating dtype"));
  CHECK(test::contains(test::error_of([] { init::fans(empty({3})); }), "2 or more dims"));
}

}  // namespace
}  // namespace strata::nn
