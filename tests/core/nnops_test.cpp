// Properties of the neural-network kernels beyond the op harness: error messages that name the
// problem, softmax of huge logits, the cross-entropy gradient as softmax - onehot, layer-norm
// statistics, and weight gradients that do not depend on the thread count.
#include <doctest/doctest.h>

#include "test_support.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/device.hpp"
#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "core/nn_ops.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"

using namespace strata;

namespace {

using strata::test::error_of;

// True when message contains every part.
bool mentions(const std::string& message, std::initializer_list<const char*> parts) {
  for (const char* part : parts) {
    if (message.find(part) == std::string::npos) return false;
  }
  return true;
}

Tensor targets_of(const std::vector<int64_t>& values) { return from_vector(values); }

// Seeded normal values mean + scale * N(0, 1) as an f32 tensor.
Tensor normal(const Shape& shape, uint64_t seed, double scale = 1.0, double mean = 0.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(static_cast<float>(mean), static_cast<float>(scale));
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (float& v : values) v = dist(rng);
  return from_vector(values, shape);
}

// Seeded class indices in [0, classes).
Tensor random_targets(int64_t rows, int64_t classes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> dist(0, classes - 1);
  std::vector<int64_t> values(static_cast<size_t>(rows));
  for (int64_t& v : values) v = dist(rng);
  return from_vector(values);
}

const DType kFloatDTypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16};

}  // namespace

TEST_CASE("nn ops reject bad arguments with messages that name the problem") {
  Tensor x = normal({2, 4}, 1);
  std::string message;

  message = error_of([&] { layer_norm(x, ones({3}), Tensor()); });
  CHECK_MESSAGE(mentions(message, {"layer_norm", "weight", "[3]", "[4]"}), message);
  message = error_of([&] { layer_norm(x, ones({4}), zeros({2, 2})); });
  CHECK_MESSAGE(mentions(message, {"layer_norm", "bias", "[2, 2]", "[4]"}), message);
  message = error_of([&] { layer_norm(x, ones({4}, {DType::f64}), Tensor()); });
  CHECK_MESSAGE(mentions(message, {"layer_norm", "weight", "f64", "f32"}), message);
  message = error_of([&] { rms_norm(x, ones({5})); });
  CHECK_MESSAGE(mentions(message, {"rms_norm", "weight", "[5]", "[4]"}), message);
  message = error_of([&] { layer_norm(full({}, 1.0), Tensor(), Tensor()); });
  CHECK_MESSAGE(mentions(message, {"layer_norm", "scalar"}), message);

  LayerNormResult ln = layer_norm(x, Tensor(), Tensor());
  message = error_of([&] {
    layer_norm_backward(x, x, ln.rstd.reshape({1, 2}), ln.rstd, {}, false);
  });
  CHECK_MESSAGE(mentions(message, {"layer_norm_backward", "mean", "[1, 2]", "[2]"}), message);
  message = error_of([&] { layer_norm_backward(zeros({2, 3}), x, ln.mean, ln.rstd, {}, false); });
  CHECK_MESSAGE(mentions(message, {"layer_norm_backward", "grad", "[2, 3]", "[2, 4]"}), message);

  message = error_of([&] { softmax(arange(4, {DType::i64})); });
  CHECK_MESSAGE(mentions(message, {"softmax", "i64", "floating"}), message);
  message = error_of([&] { log_softmax(x, 2); });
  CHECK_MESSAGE(mentions(message, {"log_softmax", "2"}), message);
  message = error_of([&] { softmax_backward(zeros({4, 2}), softmax(x)); });
  CHECK_MESSAGE(mentions(message, {"softmax_backward", "grad", "[4, 2]", "[2, 4]"}), message);

  Tensor logits = normal({3, 5}, 2);
  message = error_of([&] { cross_entropy(logits, targets_of({0, 1, 2, 3})); });
  CHECK_MESSAGE(mentions(message, {"cross_entropy", "targets", "[4]", "[3]"}), message);
  message = error_of([&] { cross_entropy(logits, targets_of({0, 1, 2}).to(DType::i32)); });
  CHECK_MESSAGE(mentions(message, {"cross_entropy", "targets", "i32", "i64"}), message);
  message = error_of([&] { cross_entropy(logits, targets_of({0, 1, 2}).to(DType::f32)); });
  CHECK_MESSAGE(mentions(message, {"cross_entropy", "targets", "f32", "i64"}), message);
  message = error_of([&] { cross_entropy(normal({3, 5, 2}, 3), targets_of({0, 1, 2})); });
  CHECK_MESSAGE(mentions(message, {"cross_entropy", "[3, 5, 2]", "[N, C]"}), message);
  message = error_of([&] {
    cross_entropy(logits, targets_of({0, 1, 2}), -100, Reduction::mean, 2);
  });
  CHECK_MESSAGE(mentions(message, {"cross_entropy", "label_smoothing", "[0, 1]"}), message);

  // Out-of-range targets name the target, its row and the valid range; ignore_index is not one.
  message = error_of([&] { cross_entropy(logits, targets_of({1, 7, 9})); });
  CHECK_MESSAGE(mentions(message, {"cross_entropy", "target 7", "row 1", "[0, 5)"}), message);
  message = error_of([&] { cross_entropy(logits, targets_of({-100, -3, 2})); });
  CHECK_MESSAGE(mentions(message, {"cross_entropy", "target -3", "row 1"}), message);
  CHECK(error_of([&] { cross_entropy(logits, targets_of({-100, 4, 2})); }).empty());

  CrossEntropyResult ce = cross_entropy(logits, targets_of({0, 1, 2}));
  message = error_of([&] {
    cross_entropy_backward(full({}, 1.0), logits, targets_of({0, 5, 2}), ce.log_sum_exp);
  });
  CHECK_MESSAGE(mentions(message, {"cross_entropy_backward", "target 5", "row 1"}), message);
  message = error_of([&] {
    cross_entropy_backward(ones({3}), logits, targets_of({0, 1, 2}), ce.log_sum_exp);
  });
  CHECK_MESSAGE(mentions(message, {"cross_entropy_backward", "grad_loss", "[3]", "[]"}), message);
  message = error_of([&] {
    cross_entropy_backward(full({}, 1.0), logits, targets_of({0, 1, 2}), ones({2}));
  });
  CHECK_MESSAGE(mentions(message, {"cross_entropy_backward", "log_sum_exp", "[2]", "[3]"}),
                message);
}

TEST_CASE("softmax, log_softmax and cross-entropy stay finite for logits of +-1e4") {
  std::vector<double> values = {1e4, -1e4, 0, 1e4, -1e4, -1e4, 5e3, 1e4};
  for (DType dtype : kFloatDTypes) {
    CAPTURE(dtype_name(dtype));
    Tensor logits = from_vector(values, {2, 4}).to(dtype);
    std::vector<double> x = logits.to_vector<double>();  // as rounded to dtype
    std::vector<double> p = softmax(logits).to_vector<double>();
    std::vector<double> log_p = log_softmax(logits).to_vector<double>();
    for (size_t i = 0; i < values.size(); ++i) {
      CHECK(std::isfinite(p[i]));
      CHECK(std::isfinite(log_p[i]));
    }
    // Row 0 splits its mass between its two maxima; row 1 puts it all on its last element.
    const double relative = is_16bit_float(dtype) ? 1e-2 : 1e-6;
    CHECK(p[0] == doctest::Approx(0.5).epsilon(relative));
    CHECK(p[3] == doctest::Approx(0.5).epsilon(relative));
    CHECK(p[1] == 0.0);
    CHECK(p[7] == doctest::Approx(1.0).epsilon(relative));
    CHECK(log_p[1] == doctest::Approx(x[1] - x[0] - std::log(2.0)).epsilon(relative));
    CHECK(log_p[6] == doctest::Approx(x[6] - x[7]).epsilon(relative));
    // Row 0 targets a logit 2e4 below its two maxima, row 1 its maximum.
    CrossEntropyResult ce = cross_entropy(logits, targets_of({1, 3}));
    std::vector<double> lse = ce.log_sum_exp.to_vector<double>();
    CHECK(lse[0] == doctest::Approx(x[0] + std::log(2.0)).epsilon(1e-6));
    CHECK(lse[1] == doctest::Approx(x[7]).epsilon(1e-6));
    CHECK(ce.loss.item<double>() ==
          doctest::Approx((x[0] + std::log(2.0) - x[1]) / 2).epsilon(1e-6));
  }
}

TEST_CASE("softmax gives masked (-inf) logits zero probability") {
  const double inf = std::numeric_limits<double>::infinity();
  for (DType dtype : kFloatDTypes) {
    CAPTURE(dtype_name(dtype));
    Tensor logits = from_vector<double>({0.5, -inf, 1.5, -inf}, {1, 4}).to(dtype);
    std::vector<double> p = softmax(logits).to_vector<double>();
    std::vector<double> log_p = log_softmax(logits).to_vector<double>();
    const double relative = is_16bit_float(dtype) ? 1e-2 : 1e-6;
    CHECK(p[1] == 0.0);
    CHECK(p[3] == 0.0);
    CHECK(p[0] == doctest::Approx(1 / (1 + std::exp(1.0))).epsilon(relative));
    CHECK(p[2] == doctest::Approx(1 / (1 + std::exp(-1.0))).epsilon(relative));
    CHECK(log_p[1] == -inf);
    CHECK(log_p[0] == doctest::Approx(-std::log(1 + std::exp(1.0))).epsilon(relative));
  }
}

TEST_CASE("softmax turns a row holding NaN into NaN and leaves the other rows alone") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // 19 columns: a whole vector of 16 lanes and a partial one.
  std::vector<double> values(2 * 19);
  for (int i = 0; i < 19; ++i) values[i] = values[19 + i] = 0.1 * i - 0.7;
  values[17] = nan;
  for (DType dtype : kFloatDTypes) {
    CAPTURE(dtype_name(dtype));
    Tensor logits = from_vector<double>(values, {2, 19}).to(dtype);
    for (bool log : {false, true}) {
      std::vector<double> p = (log ? log_softmax(logits) : softmax(logits)).to_vector<double>();
      double total = 0;
      for (int i = 0; i < 19; ++i) {
        CHECK(std::isnan(p[i]));
        total += log ? std::exp(p[19 + i]) : p[19 + i];
      }
      CHECK(total == doctest::Approx(1.0).epsilon(is_16bit_float(dtype) ? 1e-2 : 1e-6));
    }
  }
}

TEST_CASE("cross-entropy backward is softmax - onehot, scaled by the reduction") {
  const int64_t rows = 6, classes = 37;
  const int64_t ignore_index = -100;
  std::vector<int64_t> target_values = {3, ignore_index, 0, 36, 11, 3};
  Tensor targets = from_vector(target_values);
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dtype));
    Tensor logits = normal({rows, classes}, 4, 3.0).to(dtype);
    std::vector<double> p = softmax(logits).to_vector<double>();
    for (Reduction reduction : {Reduction::sum, Reduction::mean, Reduction::none}) {
      CrossEntropyResult ce = cross_entropy(logits, targets, ignore_index, reduction);
      Tensor grad = reduction == Reduction::none ? ones({rows}, {ce.loss.dtype()})
                                                 : full({}, 1.0, {ce.loss.dtype()});
      std::vector<double> dlogits =
          cross_entropy_backward(grad, logits, targets, ce.log_sum_exp, ignore_index, reduction)
              .to_vector<double>();
      double scale = reduction == Reduction::mean ? 1.0 / 5 : 1.0;  // 5 rows kept
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < classes; ++c) {
          double expected = target_values[r] == ignore_index
                                ? 0.0
                                : scale * (p[r * classes + c] - (c == target_values[r] ? 1 : 0));
          CHECK(dlogits[r * classes + c] == doctest::Approx(expected).epsilon(1e-5).scale(1e-6));
        }
      }
    }
  }
}

TEST_CASE("layer norm saves each row's mean and rstd and normalises rows to mean 0, variance 1") {
  for (DType dtype : kFloatDTypes) {
    CAPTURE(dtype_name(dtype));
    const int64_t rows = 5, channels = 64;
    Tensor x = normal({rows, channels}, 5, 3.0, 2.0).to(dtype);
    LayerNormResult ln = layer_norm(x, Tensor(), Tensor(), 1e-5);
    DType stats = dtype == DType::f64 ? DType::f64 : DType::f32;
    CHECK(ln.mean.dtype() == stats);
    CHECK(ln.rstd.dtype() == stats);
    CHECK(ln.mean.shape() == Shape{rows});
    std::vector<double> xs = x.to_vector<double>(), ys = ln.output.to_vector<double>();
    std::vector<double> means = ln.mean.to_vector<double>(), rstds = ln.rstd.to_vector<double>();
    const double tolerance = dtype == DType::bf16 ? 2e-2 : dtype == DType::f16 ? 4e-3 : 1e-5;
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0, y_mean = 0, y_var = 0;
      for (int64_t c = 0; c < channels; ++c) mean += xs[r * channels + c] / channels;
      for (int64_t c = 0; c < channels; ++c) {
        var += (xs[r * channels + c] - mean) * (xs[r * channels + c] - mean) / channels;
        y_mean += ys[r * channels + c] / channels;
      }
      for (int64_t c = 0; c < channels; ++c)
        y_var += (ys[r * channels + c] - y_mean) * (ys[r * channels + c] - y_mean) / channels;
      CHECK(means[r] == doctest::Approx(mean).epsilon(1e-6));
      CHECK(rstds[r] == doctest::Approx(1 / std::sqrt(var + 1e-5)).epsilon(1e-6));
      CHECK(std::abs(y_mean) < tolerance);
      CHECK(y_var == doctest::Approx(1.0).epsilon(4 * tolerance));
    }
  }
}

TEST_CASE("norm weight gradients and losses are bit-identical for any thread count") {
  const int64_t rows = 4099, channels = 96;
  Tensor x = normal({rows, channels}, 6), weight = normal({channels}, 7),
         bias = normal({channels}, 8);
  Tensor grad = normal({rows, channels}, 9);
  Tensor logits = normal({rows, channels}, 10);
  Tensor targets = random_targets(rows, channels, 11);
  auto run = [&] {
    LayerNormResult ln = layer_norm(x, weight, bias);
    NormGrads g = layer_norm_backward(grad, x, ln.mean, ln.rstd, weight, true);
    RmsNormResult rms = rms_norm(x, weight);
    NormGrads rms_g = rms_norm_backward(grad, x, rms.rstd, weight);
    CrossEntropyResult ce = cross_entropy(logits, targets);
    return std::vector<Tensor>{g.weight, g.bias, rms_g.weight, ce.loss};
  };
  test::check_same_at_any_thread_count(run);
}

TEST_CASE("add_layer_norm equals add then layer_norm, through both outputs' gradients") {
  const int64_t rows = 5, channels = 24;
  Tensor x = normal({rows, channels}, 12), residual = normal({rows, channels}, 13);
  Tensor weight = normal({channels}, 14), bias = normal({channels}, 15);
  Tensor grad_output = normal({rows, channels}, 16), grad_sum = normal({rows, channels}, 17);
  // Gradients of sum(output * grad_output) + sum(sum * grad_sum) for x, residual, weight, bias.
  auto run = [&](bool fused) {
    std::vector<Tensor> leaves;
    for (const Tensor& t : {x, residual, weight, bias})
      leaves.push_back(t.clone().requires_grad_());
    Tensor total, output;
    if (fused) {
      AddLayerNormResult r = add_layer_norm(leaves[0], leaves[1], leaves[2], leaves[3]);
      total = r.sum;
      output = r.output;
    } else {
      total = leaves[0] + leaves[1];
      output = layer_norm(total, leaves[2], leaves[3]).output;
    }
    (sum(output * grad_output) + sum(total * grad_sum)).backward();
    std::vector<std::vector<float>> values = {total.to_vector<float>(), output.to_vector<float>()};
    for (const Tensor& leaf : leaves) values.push_back(leaf.grad().to_vector<float>());
    return values;
  };
  std::vector<std::vector<float>> fused = run(true), unfused = run(false);
  for (size_t k = 0; k < fused.size(); ++k) CHECK_MESSAGE(fused[k] == unfused[k], "tensor ", k);
}

TEST_CASE("the fused classifier returns cross_entropy's loss and its gradient in the logits") {
  const int64_t rows = 7, classes = 41;
  Tensor targets = from_vector<int64_t>({3, -100, 0, 40, 11, 3, -100});
  for (Reduction reduction : {Reduction::none, Reduction::mean, Reduction::sum}) {
    for (double smoothing : {0.0, 0.1}) {
      CAPTURE(static_cast<int>(reduction));
      CAPTURE(smoothing);
      Tensor logits = normal({rows, classes}, 18, 3.0);
      const Shape loss_shape = reduction == Reduction::none ? Shape{rows} : Shape{};
      for (bool unit_grad : {true, false}) {
        Tensor upstream = unit_grad ? ones(loss_shape) : normal(loss_shape, 19);
        Tensor plain = logits.clone().requires_grad_();
        Tensor plain_loss = cross_entropy(plain, targets, -100, reduction, smoothing).loss;
        plain_loss.backward(upstream);
        Tensor fused = logits.clone().requires_grad_();
        Tensor fused_loss =
            cross_entropy_inplace_grad(fused, targets, -100, reduction, smoothing).loss;
        CHECK(fused_loss.to_vector<float>() == plain_loss.to_vector<float>());
        // Before the backward, the logits hold the gradient for a unit upstream gradient.
        CHECK(fused.detach().to_vector<float>() ==
              cross_entropy_backward(ones(loss_shape), logits, targets,
                                     cross_entropy(logits, targets).log_sum_exp, -100, reduction,
                                     smoothing)
                  .to_vector<float>());
        fused_loss.backward(upstream);
        std::vector<float> expected = plain.grad().to_vector<float>();
        std::vector<float> got = fused.grad().to_vector<float>();
        if (unit_grad) {
          CHECK(got == expected);
        } else {
          for (size_t i = 0; i < got.size(); ++i) {
            CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-6));
          }
        }
      }
    }
  }
  // Without autograd it is cross_entropy and leaves the logits alone.
  Tensor logits = normal({rows, classes}, 20);
  std::vector<float> before = logits.to_vector<float>();
  cross_entropy_inplace_grad(logits, targets);
  CHECK(logits.to_vector<float>() == before);
}

// The CUDA kernels against the CPU ones where the harness's random inputs do not reach: masked,
// NaN and infinite logits, vocabulary-sized rows, and targets out of range (reported at the next
// synchronisation, not by a host round trip in the op).
TEST_CASE("CUDA row kernels agree with the CPU on special values, long rows and bad targets") {
  if (!cuda_is_available()) {
    MESSAGE("no CUDA device: the CUDA row-kernel checks did not run");
    return;
  }
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> special(4 * 37, 0.25);
  for (int i = 0; i < 37; ++i) {
    special[i] = i % 3 == 0 ? -inf : 0.1 * i;  // masked row
    special[37 + i] = -inf;                    // fully masked row
  }
  special[2 * 37 + 5] = nan;
  special[3 * 37 + 9] = inf;
  const Tensor special_logits = from_vector<double>(special, {4, 37});
  const Tensor wide = normal({3, 50304}, 21, 4.0);  // GPT-2's padded vocabulary
  for (DType dtype : kFloatDTypes) {
    CAPTURE(dtype_name(dtype));
    const double tolerance = is_16bit_float(dtype) ? 2e-2 : dtype == DType::f32 ? 1e-5 : 1e-12;
    for (const Tensor& source : {special_logits, wide}) {
      Tensor x = source.to(dtype);
      for (bool log : {false, true}) {
        std::vector<double> cpu = (log ? log_softmax(x) : softmax(x)).to_vector<double>();
        Tensor x_cuda = x.to(Device::cuda(0));
        std::vector<double> gpu = (log ? log_softmax(x_cuda) : softmax(x_cuda)).to_vector<double>();
        REQUIRE(cpu.size() == gpu.size());
        for (size_t i = 0; i < cpu.size(); ++i) {
          if (std::isnan(cpu[i]) || std::isinf(cpu[i])) {
            CHECK_MESSAGE((std::isnan(gpu[i]) ? std::isnan(cpu[i]) : gpu[i] == cpu[i]), i);
          } else {
            CHECK_MESSAGE(gpu[i] == doctest::Approx(cpu[i]).epsilon(tolerance).scale(1.0), i);
          }
        }
      }
    }
    Tensor logits = wide.to(dtype);
    Tensor targets = random_targets(3, 50304, 22);
    const double cpu_loss = cross_entropy(logits, targets).loss.item<double>();
    const double gpu_loss =
        cross_entropy(logits.to(Device::cuda(0)), targets.to(Device::cuda(0))).loss.item<double>();
    CHECK(gpu_loss == doctest::Approx(cpu_loss).epsilon(tolerance));
  }
  Tensor bad_targets = from_vector<int64_t>({1, 37, 2, 0}).to(Device::cuda(0));
  Tensor logits = special_logits.to(Device::cuda(0));
  Tensor loss = cross_entropy(logits, bad_targets).loss;  // returns without waiting
  CHECK(mentions(error_of([&] { loss.item<double>(); }),
                 {"cross_entropy", "target", "37", "position 1"}));
}
