// The GEMM-bound limit of a training step: every product of nn::GPT's forward and backward, built
// with the operand layouts the model hands the GEMM (views of the fused QKV projection, transposed
// weights and gradients), timed one by one through Strata's matmul and linear.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "bench/train.hpp"
#include "strata.hpp"

namespace strata::bench {
namespace {

double median_call_seconds(const std::function<void()>& fn) {
  using clock = std::chrono::steady_clock;
  auto time = [&](int calls) {
    auto start = clock::now();
    for (int i = 0; i < calls; ++i) fn();
    return std::chrono::duration<double>(clock::now() - start).count() / calls;
  };
  time(1);  // warm-up: primitive creation, page faults
  const int calls = std::max(1, static_cast<int>(0.02 / std::max(time(1), 1e-9)));
  std::vector<double> samples(5);
  for (double& s : samples) s = time(calls);
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

struct Product {
  std::string name, pass, operands;
  double flops;  // 2 M N K summed over the batch
  std::function<Tensor()> run;
  int64_t count;  // how many times a step runs it
};

// "[2048, 256]n x [256, 768]t": the operands' shapes, each followed by the layout of its matrix
// dims: n when row-major, t when column-major (a transposed view read in place) or strided.
std::string operands(const Tensor& a, const Tensor& b) {
  auto describe = [](const Tensor& x) {
    return shape_str(x.shape()) + (x.stride(-1) == 1 ? "n" : "t");
  };
  return describe(a) + " x " + describe(b);
}

}  // namespace

GemmBound measure_gemm_bound(const TrainModel& m, int threads, bool print_each) {
  set_num_threads(threads);
  autograd::NoGradGuard no_grad;
  const int64_t B = m.batch, T = m.context, C = m.width, H = m.heads, hs = C / H;
  const int64_t R = B * T;
  std::vector<Product> products;
  // A Linear in -> out: y = x W^T + b, grad_x = g W, grad_W = g^T x (core/linalg.cpp).
  auto add_linear = [&](const char* name, int64_t in, int64_t out, bool bias, int64_t count) {
    Tensor x = randn({R, in}), w = randn({out, in}), b = bias ? randn({out}) : Tensor();
    Tensor g = randn({R, out});
    const double flops = 2.0 * static_cast<double>(R * in * out);
    products.push_back(
        {name, "forward", operands(x, w.t()), flops, [=] { return linear(x, w, b); }, count});
    products.push_back(
        {name, "grad_input", operands(g, w), flops, [=] { return matmul(g, w); }, count});
    products.push_back(
        {name, "grad_weight", operands(g.t(), x), flops, [=] { return matmul(g.t(), x); }, count});
  };
  add_linear("c_attn", C, 3 * C, true, m.layers);
  add_linear("attn.c_proj", C, C, true, m.layers);
  add_linear("c_fc", C, 4 * C, true, m.layers);
  add_linear("mlp.c_proj", 4 * C, C, true, m.layers);
  add_linear("lm_head", C, m.vocab, false, 1);

  // Attention as CausalSelfAttention and scaled_dot_product_attention lay it out: q, k, v are
  // [B, H, T, hs] views of qkv [B, T, 3C]; q is scaled first; y's gradient is the transposed view
  // of a [B, T, C] gradient.
  Tensor qkv = randn({B, T, 3 * C});
  auto heads = [&](int64_t which) {
    return qkv.narrow(2, which * C, C).view({B, T, H, hs}).transpose(1, 2);
  };
  Tensor q = heads(0) * (1.0 / std::sqrt(static_cast<double>(hs))), k = heads(1), v = heads(2);
  Tensor p = softmax(randn({B, H, T, T}), -1), grad_scores = randn({B, H, T, T});
  Tensor grad_y = randn({B, T, H, hs}).transpose(1, 2);
  const double attention_flops = 2.0 * static_cast<double>(B * H * T * T * hs);
  // The product a @ b and its backward (core/linalg.cpp's matmul_backward): grad @ b^T, a^T @ grad.
  auto add_attention = [&](const char* name, const Tensor& a, const Tensor& b, const Tensor& g) {
    products.push_back(
        {name, "forward", operands(a, b), attention_flops, [=] { return matmul(a, b); }, m.layers});
    Tensor bt = b.transpose(-1, -2), at = a.transpose(-1, -2);
    products.push_back({name, "grad_a", operands(g, bt), attention_flops,
                        [=] { return matmul(g, bt); }, m.layers});
    products.push_back({name, "grad_b", operands(at, g), attention_flops,
                        [=] { return matmul(at, g); }, m.layers});
  };
  add_attention("scores=q@k^T", q, k.transpose(-2, -1), grad_scores);
  add_attention("y=p@v", p, v, grad_y);

  GemmBound bound;
  for (const Product& product : products) {
    const double seconds = median_call_seconds([&] { product.run(); });
    bound.gemm_seconds_per_step += seconds * static_cast<double>(product.count);
    bound.gemm_flops_per_step += product.flops * static_cast<double>(product.count);
    if (print_each) {
      std::printf(R"({"bench":"train_gemm","name":"%s","product":"%s","pass":"%s","shape":"%s",)"
                  R"("threads":%d,"seconds":%.6g,"gflops":%.1f})"
                  "\n",
                  m.name.c_str(), product.name.c_str(), product.pass.c_str(),
                  product.operands.c_str(), threads, seconds, product.flops / seconds * 1e-9);
    }
  }
  return bound;
}

}  // namespace strata::bench
