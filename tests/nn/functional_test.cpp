// nn::functional: the losses and attention against plain-loop references, and their gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "nn/causal_attention.hpp"
#include "nn_test_support.hpp"
#include "strata.hpp"
#include "test_support.hpp"

namespace strata::nn {
namespace {

using support::check_close;
using support::check_gradients;
using support::f64;
using Inputs = std::vector<Tensor>;
namespace F = functional;

Tensor leaf(const Shape& shape) { return randn(shape, DType::f64).requires_grad_(); }

// Per-row cross-entropy with label smoothing eps: (1 - eps) (lse - z_t) + eps mean_c (lse - z_c);
// 0 for ignored rows.
std::vector<double> reference_cross_entropy(const Tensor& logits, const Tensor& targets, double eps,
                                            int64_t ignore_index) {
  const int64_t classes = logits.size(-1);
  std::vector<double> z = logits.to_vector<double>();
  std::vector<int64_t> t = targets.to_vector<int64_t>();
  std::vector<double> losses;
  for (size_t row = 0; row < t.size(); ++row) {
    if (t[row] == ignore_index) {
      losses.push_back(0);
      continue;
    }
    const double* zr = z.data() + row * classes;
    double max = zr[0], total = 0, mean_z = 0;
    for (int64_t c = 0; c < classes; ++c) max = std::max(max, zr[c]);
    for (int64_t c = 0; c < classes; ++c) total += std::exp(zr[c] - max);
    for (int64_t c = 0; c < classes; ++c) mean_z += zr[c] / classes;
    double lse = max + std::log(total);
    losses.push_back((1 - eps) * (lse - zr[t[row]]) + eps * (lse - mean_z));
  }
  return losses;
}

TEST_CASE("cross_entropy over [..., C]: ignore_index, label smoothing, reductions") {
  manual_seed(2);
  Tensor logits = randn({2, 3, 5}, DType::f64);
  Tensor targets = from_vector<int64_t>({4, 0, -100, 2, 2, 1}, {2, 3});
  for (double eps : {0.0, 0.1}) {
    INFO("label_smoothing ", eps);
    std::vector<double> rows = reference_cross_entropy(logits, targets, eps, -100);
    double total = 0;
    for (double v : rows) total += v;
    F::CrossEntropyOptions options{.label_smoothing = eps, .reduction = Reduction::none};
    Tensor none = F::cross_entropy(logits, targets, options);
    CHECK(none.shape() == Shape{2, 3});
    check_close(none, rows, 1e-12);
    options.reduction = Reduction::sum;
    check_close(F::cross_entropy(logits, targets, options), {total}, 1e-12);
    options.reduction = Reduction::mean;
    check_close(F::cross_entropy(logits, targets, options), {total / 5}, 1e-12);  // 5 kept rows
    check_gradients([&](const Inputs& in) { return F::cross_entropy(in[0], targets, options); },
                    {logits.detach().requires_grad_()});
  }
  Tensor other_ignore = from_vector<int64_t>({4, 0, 3, 2, 2, 1}, {2, 3});
  std::vector<double> rows = reference_cross_entropy(logits, other_ignore, 0, 3);
  check_close(
      F::cross_entropy(logits, other_ignore, {.ignore_index = 3, .reduction = Reduction::sum}),
      {rows[0] + rows[1] + rows[3] + rows[4] + rows[5]}, 1e-12);
  CHECK(test::contains(test::error_of([&] { F::cross_entropy(logits, targets.view({6})); }),
                       "expected targets [2, 3]"));
}

TEST_CASE("nll_loss of log_softmax is cross_entropy") {
  manual_seed(4);
  Tensor logits = randn({6, 4}, DType::f64);
  Tensor targets = from_vector<int64_t>({3, -100, 0, 1, 1, 2}, {6});
  Tensor log_probs = log_softmax(logits, -1);
  std::vector<double> lp = log_probs.to_vector<double>();
  std::vector<double> rows = {-lp[3], 0, -lp[8], -lp[13], -lp[17], -lp[22]};
  check_close(F::nll_loss(log_probs, targets, -100, Reduction::none), rows, 1e-12);
  double total = 0;
  for (double v : rows) total += v;
  check_close(F::nll_loss(log_probs, targets, -100, Reduction::sum), {total}, 1e-12);
  check_close(F::nll_loss(log_probs, targets), {total / 5}, 1e-12);
  check_close(F::nll_loss(log_probs, targets),
              F::cross_entropy(logits, targets).to_vector<double>(), 1e-12);
  check_gradients([&](const Inputs& in) { return F::nll_loss(in[0], targets); }, {leaf({6, 4})});
  check_gradients([&](const Inputs& in) { return F::nll_loss(log_softmax(in[0], -1), targets); },
                  {leaf({6, 4})});
}

TEST_CASE("mse_loss and l1_loss") {
  Tensor input = f64({1, 2, -3, 4}, {2, 2}), target = f64({0.5, 2.5, -1, 4.5}, {2, 2});
  check_close(F::mse_loss(input, target), {(0.25 + 0.25 + 4 + 0.25) / 4});
  check_close(F::mse_loss(input, target, Reduction::sum), {4.75});
  check_close(F::mse_loss(input, target, Reduction::none), {0.25, 0.25, 4, 0.25});
  check_close(F::l1_loss(input, target), {(0.5 + 0.5 + 2 + 0.5) / 4});
  check_close(F::l1_loss(input, target, Reduction::sum), {3.5});
  check_gradients([&](const Inputs& in) { return F::mse_loss(in[0], in[1]); },
                  {leaf({3, 2}), leaf({3, 2})});
  check_gradients([&](const Inputs& in) { return F::l1_loss(in[0], target); },
                  {input.requires_grad_()});
  CHECK(
      test::contains(test::error_of([&] { F::mse_loss(input, target.view({4})); }), "same shape"));
}

// softmax(q k^T / sqrt(D)) v per leading index, with keys j > i hidden when causal.
std::vector<double> reference_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                        bool causal) {
  const int64_t t = q.size(-2), s = k.size(-2), d = q.size(-1), dv = v.size(-1);
  const int64_t batches = q.numel() / (t * d);
  std::vector<double> qs = q.to_vector<double>(), ks = k.to_vector<double>(),
                      vs = v.to_vector<double>(), out;
  for (int64_t b = 0; b < batches; ++b) {
    for (int64_t i = 0; i < t; ++i) {
      std::vector<double> scores(s, -std::numeric_limits<double>::infinity());
      double max = -std::numeric_limits<double>::infinity(), total = 0;
      for (int64_t j = 0; j < s; ++j) {
        if (causal && j > i) continue;
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += qs[(b * t + i) * d + c] * ks[(b * s + j) * d + c];
        scores[j] = dot / std::sqrt(static_cast<double>(d));
        max = std::max(max, scores[j]);
      }
      for (int64_t j = 0; j < s; ++j) total += std::exp(scores[j] - max);
      for (int64_t c = 0; c < dv; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < s; ++j)
          acc += std::exp(scores[j] - max) / total * vs[(b * s + j) * dv + c];
        out.push_back(acc);
      }
    }
  }
  return out;
}

TEST_CASE("scaled_dot_product_attention, causal and not") {
  manual_seed(6);
  Tensor q = randn({2, 2, 4, 3}, DType::f64), k = randn({2, 2, 4, 3}, DType::f64),
         v = randn({2, 2, 4, 5}, DType::f64);
  check_close(F::scaled_dot_product_attention(q, k, v, true), reference_attention(q, k, v, true),
              1e-12);
  Tensor k6 = randn({2, 2, 6, 3}, DType::f64), v6 = randn({2, 2, 6, 5}, DType::f64);
  Tensor y = F::scaled_dot_product_attention(q, k6, v6, false);
  CHECK(y.shape() == Shape{2, 2, 4, 5});
  check_close(y, reference_attention(q, k6, v6, false), 1e-12);
  // The first query of a causal attention sees only the first key: its output is v[0].
  check_close(F::scaled_dot_product_attention(q, k, v, true).select(2, 0),
              v.select(2, 0).to_vector<double>(), 1e-12);
  check_gradients(
      [](const Inputs& in) { return F::scaled_dot_product_attention(in[0], in[1], in[2], true); },
      {leaf({1, 2, 3, 2}), leaf({1, 2, 3, 2}), leaf({1, 2, 3, 2})});
  // With dropout on the attention weights, replayed from one generator state.
  Generator generator(9);
  check_gradients(
      [&](const Inputs& in) {
        generator.set_state({9, 0});
        return F::scaled_dot_product_attention(in[0], in[1], in[2], true, 0.3, generator);
      },
      {leaf({1, 1, 4, 2}), leaf({1, 1, 4, 2}), leaf({1, 1, 4, 2})});
}

TEST_CASE("scaled_dot_product_attention, causal over several query blocks") {
  // More queries than one block of the blocked causal path (nn/causal_attention.hpp), the last
  // block partial; f32 and f64, and operands that are strided views of one fused projection.
  const int64_t t = 2 * detail::kCausalQueryBlock + 3;
  manual_seed(7);
  Tensor q = randn({2, 2, t, 3}, DType::f64), k = randn({2, 2, t, 3}, DType::f64),
         v = randn({2, 2, t, 5}, DType::f64);
  std::vector<double> expected = reference_attention(q, k, v, true);
  check_close(F::scaled_dot_product_attention(q, k, v, true), expected, 1e-12);
  check_close(
      F::scaled_dot_product_attention(q.to(DType::f32), k.to(DType::f32), v.to(DType::f32), true),
      expected, 1e-5);
  // qkv [B, T, 3 H D] split into heads [B, H, T, D] as CausalSelfAttention does.
  auto attention = [t](const Inputs& in) {
    auto heads = [&](int64_t which) {
      return in[0].narrow(2, which * 4, 4).view({1, t, 2, 2}).transpose(1, 2);
    };
    return F::scaled_dot_product_attention(heads(0), heads(1), heads(2), true);
  };
  check_gradients(attention, {leaf({1, t, 12})});
}

// The largest violation of |actual - expected| <= tol (1 + |expected|), as a message, or "".
std::string compare_within(const Tensor& actual, const Tensor& expected, double tol) {
  std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  if (a.size() != e.size()) return "sizes differ";
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(std::abs(a[i] - e[i]) <= tol * (1 + std::abs(e[i])))) {
      return "element " + std::to_string(i) + ": " + std::to_string(a[i]) + " vs reference " +
             std::to_string(e[i]);
    }
  }
  return "";
}

TEST_CASE("scaled_dot_product_attention: the fused CUDA path equals the reference path") {
  if (!cuda_is_available()) {
    MESSAGE(
        "no CUDA device: the fused (flash) attention path is not compared with the reference "
        "path in this run");
    return;
  }
  const Device gpu = Device::cuda(0);
  struct Case {
    int64_t batch, heads, queries, keys, dim;
    bool causal, fused_views;
  };
  // T and S not multiples of the 64-row tile, one tile exactly, a single row; the views case is
  // how CausalSelfAttention splits its fused projection.
  const Case cases[] = {{2, 3, 130, 130, 64, true, false},  {1, 2, 67, 67, 32, true, false},
                        {1, 2, 100, 77, 128, false, false}, {2, 2, 64, 64, 64, true, false},
                        {1, 1, 1, 1, 64, true, false},      {1, 2, 95, 150, 64, false, false},
                        {2, 3, 131, 131, 64, true, true}};
  manual_seed(11);
  for (DType dtype : {DType::bf16, DType::f16}) {
    // Both sides see the same rounded inputs; the reference computes in f32 from them. bf16 (8-bit
    // mantissa) outputs and the 16-bit rounding of the weights inside the fused kernels set the
    // tolerance.
    const double tol = dtype == DType::bf16 ? 3e-2 : 1e-2;
    for (const Case& c : cases) {
      CAPTURE(dtype_name(dtype));
      CAPTURE(c.queries);
      CAPTURE(c.keys);
      CAPTURE(c.dim);
      CAPTURE(c.causal);
      CAPTURE(c.fused_views);
      // Leaves in dtype on the GPU: q, k, v, or one fused projection [B, T, 3 H D].
      Inputs leaves;
      if (c.fused_views) {
        leaves.push_back(randn({c.batch, c.queries, 3 * c.heads * c.dim}).to(dtype).to(gpu));
      } else {
        leaves.push_back(randn({c.batch, c.heads, c.queries, c.dim}).to(dtype).to(gpu));
        leaves.push_back(randn({c.batch, c.heads, c.keys, c.dim}).to(dtype).to(gpu));
        leaves.push_back(randn({c.batch, c.heads, c.keys, c.dim}).to(dtype).to(gpu));
      }
      Tensor grad = randn({c.batch, c.heads, c.queries, c.dim}).to(dtype).to(gpu);
      auto run = [&](bool fused) {
        Inputs in;
        for (const Tensor& t : leaves) {
          in.push_back((fused ? t.clone() : t.to(DType::f32)).requires_grad_());
        }
        auto heads = [&](int64_t which) {
          if (!c.fused_views) return in[which];
          const int64_t width = c.heads * c.dim;
          return in[0]
              .narrow(2, which * width, width)
              .view({c.batch, c.queries, c.heads, c.dim})
              .transpose(1, 2);
        };
        Tensor y = fused ? F::scaled_dot_product_attention(heads(0), heads(1), heads(2), c.causal)
                         : F::scaled_dot_product_attention_reference(heads(0), heads(1), heads(2),
                                                                     c.causal);
        y.backward(fused ? grad : grad.to(DType::f32));
        Inputs results = {y.to(DType::f32).to(Device::cpu())};
        for (const Tensor& t : in) results.push_back(t.grad().to(DType::f32).to(Device::cpu()));
        return results;
      };
      Inputs fused = run(true), reference = run(false);
      const char* names[] = {"output", "grad 0", "grad 1", "grad 2"};
      for (size_t i = 0; i < fused.size(); ++i) {
        std::string problem = compare_within(fused[i], reference[i], tol);
        CHECK_MESSAGE(problem.empty(), names[i], ": ", problem);
      }
    }
  }
}

}  // namespace
}  // namespace strata::nn
