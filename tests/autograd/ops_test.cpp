// Gradients of the compositions a model is made of, through autograd, against finite differences
// (gradcheck, f64): attention, normalisation + projection, the classifier loss, tied embeddings,
// a conv block, dropout, and joining/splitting round trips.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "strata.hpp"

namespace strata {
namespace {

using Inputs = std::vector<Tensor>;

const TensorOptions kF64{DType::f64};

// A standard-normal f64 leaf that requires grad.
Tensor leaf(const Shape& shape, Generator& gen, double scale = 1.0) {
  return (randn(shape, kF64, gen) * scale).detach().requires_grad_();
}

void check_gradients(const autograd::DifferentiableFn& fn, const Inputs& inputs) {
  autograd::GradcheckResult result = autograd::gradcheck(fn, inputs);
  CHECK_MESSAGE(result.ok, result.message);
}

TEST_CASE("causal self-attention: fused projection, masked_fill, softmax, two products") {
  Generator gen(11);
  const int64_t batch = 2, steps = 4, channels = 4, heads = 2, head_dim = channels / heads;
  // mask[i][j]: key j lies in the future of query i.
  Tensor positions = arange(static_cast<double>(steps), {DType::i64});
  Tensor future = gt(positions.unsqueeze(0), positions.unsqueeze(1));  // [T, T]
  auto attention = [&](const Inputs& in) {
    Tensor qkv = linear(in[0], in[1], in[2]);  // [B, T, 3C]
    std::vector<Tensor> parts = split(qkv, channels, -1);
    auto heads_of = [&](const Tensor& t) {  // [B, T, C] -> [B, H, T, D]
      return t.reshape({batch, steps, heads, head_dim}).transpose(1, 2);
    };
    Tensor q = heads_of(parts[0]), k = heads_of(parts[1]), v = heads_of(parts[2]);
    Tensor scores =
        matmul(q, k.transpose(-1, -2)) * (1.0 / std::sqrt(static_cast<double>(head_dim)));
    scores = masked_fill(scores, future, -std::numeric_limits<double>::infinity());
    Tensor y = matmul(softmax(scores, -1), v);  // [B, H, T, D]
    return y.transpose(1, 2).reshape({batch, steps, channels});
  };
  check_gradients(attention,
                  {leaf({batch, steps, channels}, gen), leaf({3 * channels, channels}, gen, 0.5),
                   leaf({3 * channels}, gen, 0.1)});
}

TEST_CASE("layer_norm, linear and gelu") {
  Generator gen(12);
  auto block = [](const Inputs& in) {
    Tensor h = layer_norm(in[0], in[1], in[2]).output;
    return gelu(linear(h, in[3], in[4]));
  };
  check_gradients(block, {leaf({3, 5}, gen), leaf({5}, gen), leaf({5}, gen), leaf({4, 5}, gen),
                          leaf({4}, gen)});
}

TEST_CASE("cross_entropy with ignore_index and label smoothing over a linear layer's logits") {
  Generator gen(13);
  const int64_t ignore = -100;
  Tensor targets = from_vector<int64_t>({2, ignore, 0, 4, ignore, 1});
  for (Reduction reduction : {Reduction::mean, Reduction::sum, Reduction::none}) {
    CAPTURE(static_cast<int>(reduction));
    auto loss = [&](const Inputs& in) {
      Tensor logits = linear(in[0], in[1], in[2]);  // [6, 5]
      return cross_entropy(logits, targets, ignore, reduction, 0.1).loss;
    };
    // The input is data (a first layer's): linear computes no gradient for it.
    Tensor x = randn({6, 4}, kF64, gen);
    check_gradients(loss, {x, leaf({5, 4}, gen), leaf({5}, gen)});
  }
}

TEST_CASE("embedding with repeated ids, tied to the output projection") {
  Generator gen(14);
  Tensor ids = from_vector<int64_t>({1, 3, 1, 4, 1, 0}, {2, 3});
  auto tied = [&](const Inputs& in) {
    Tensor h = embedding(in[0], ids);  // [2, 3, D]
    return matmul(h, in[0].t());       // [2, 3, V]: the same table as the output head
  };
  check_gradients(tied, {leaf({5, 3}, gen)});
  // The lookup alone: a row's gradient is the sum over the positions that read it.
  Tensor weight = leaf({5, 3}, gen);
  embedding(weight, ids).backward(ones({2, 3, 3}, kF64));
  CHECK(weight.grad().select(0, 1).to_vector<double>() == std::vector<double>{3, 3, 3});
  CHECK(weight.grad().select(0, 2).to_vector<double>() == std::vector<double>{0, 0, 0});
}

TEST_CASE("conv2d, max_pool2d and relu") {
  Generator gen(15);
  Conv2dParams conv_params;
  conv_params.padding = {1, 1};
  Pool2dParams pool_params;  // 2x2, stride 2
  auto conv_block = [&](const Inputs& in) {
    Tensor y = conv2d(in[0], in[1], in[2], conv_params);  // [2, 3, 6, 6]
    return relu(max_pool2d(y, pool_params).output);       // [2, 3, 3, 3]
  };
  Tensor weight = leaf({3, 2, 3, 3}, gen, 0.5), bias = leaf({3}, gen);
  check_gradients(conv_block, {leaf({2, 2, 6, 6}, gen), weight, bias});
  // A first layer: the image needs no gradient.
  check_gradients(conv_block, {randn({2, 2, 6, 6}, kF64, gen), weight, bias});
}

TEST_CASE("dropout with a fixed Philox state") {
  Generator gen(16);
  const PhiloxState state{1234, 77};
  const double p = 0.3;
  auto dropped = [&](const Inputs& in) { return dropout(in[0], p, state) * in[1]; };
  Tensor x = leaf({4, 5}, gen);
  check_gradients(dropped, {x, leaf({4, 5}, gen)});
  // The gradient is the mask scaled by 1 / (1 - p): zero exactly where the output is zero.
  Tensor y = dropout(x, p, state);
  y.backward(ones({4, 5}, kF64));
  std::vector<double> out = y.to_vector<double>(), grad = x.grad().to_vector<double>();
  for (size_t i = 0; i < out.size(); ++i) {
    CHECK(grad[i] == (out[i] == 0 ? 0.0 : 1.0 / (1.0 - p)));
  }
}

TEST_CASE("cat, split, chunk and stack round trips") {
  Generator gen(17);
  auto round_trip = [](const Inputs& in) {
    Tensor joined = cat({in[0], in[1]}, 0);                              // [6, 3]
    std::vector<Tensor> parts = split(joined, 2, 0);                     // three [2, 3]
    Tensor mixed = stack({parts[2], parts[0] * parts[1], parts[0]}, 1);  // [2, 3, 3]
    std::vector<Tensor> halves = chunk(mixed, 3, -1);                    // three [2, 3, 1]
    return cat({halves[1], halves[0] * halves[2]}, -1);                  // [2, 3, 2]
  };
  Tensor a = leaf({2, 3}, gen), b = leaf({4, 3}, gen);
  check_gradients(round_trip, {a, b});
  // cat of the pieces of split is the identity, and so is its gradient.
  Tensor whole = cat(split(b, 3, 0), 0);
  CHECK(whole.to_vector<double>() == b.to_vector<double>());
  Tensor grad = randn({4, 3}, kF64, gen);
  whole.backward(grad);
  CHECK(b.grad().to_vector<double>() == grad.to_vector<double>());
}

}  // namespace
}  // namespace strata
