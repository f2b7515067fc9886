// Harness cases for matrix products: matmul (2-D, 1-D operands, batched with broadcast batch dims,
// transposed and expanded views, size-1 and empty dims), bmm, linear and linear_gelu (with and
// without bias), each with its backward against finite differences.
#include <cmath>

#include "core/factories.hpp"
#include "core/linalg.hpp"
#include "op_harness.hpp"

namespace strata::test {
namespace {

// numpy matmul of contiguous f64 tensors, by loops.
Tensor reference_matmul(const Tensor& a, const Tensor& b) {
  Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  const int64_t m = a2.size(-2), k = a2.size(-1), n = b2.size(-1);
  const int64_t rank = std::max(a2.dim(), b2.dim()) - 2;
  while (a2.dim() - 2 < rank) a2 = a2.unsqueeze(0);
  while (b2.dim() - 2 < rank) b2 = b2.unsqueeze(0);
  Shape out(rank);
  for (int64_t d = 0; d < rank; ++d) out[d] = a2.size(d) == 1 ? b2.size(d) : a2.size(d);
  Shape out_shape = out;
  out_shape.insert(out_shape.end(), {m, n});
  std::vector<double> values;
  std::vector<int64_t> batch(rank, 0);
  for (int64_t flat = 0; flat < shape_numel(out); ++flat) {
    for (int64_t d = rank - 1, rest = flat; d >= 0; --d) {
      batch[d] = rest % out[d];
      rest /= out[d];
    }
    std::vector<int64_t> ia(rank + 2), ib(rank + 2);
    for (int64_t d = 0; d < rank; ++d) {
      ia[d] = a2.size(d) == 1 ? 0 : batch[d];
      ib[d] = b2.size(d) == 1 ? 0 : batch[d];
    }
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double total = 0;
        for (int64_t p = 0; p < k; ++p) {
          ia[rank] = i;
          ia[rank + 1] = p;
          ib[rank] = p;
          ib[rank + 1] = j;
          total += at(a2, ia) * at(b2, ib);
        }
        values.push_back(total);
      }
    }
  }
  Tensor c = from_vector(values, out_shape);
  if (a.dim() == 1) c = c.squeeze(-2);
  if (b.dim() == 1) c = c.squeeze(-1);
  return c.contiguous();
}

// y = x weight^T (+ bias) for x [..., in], by loops in f64.
Tensor reference_linear(const Tensors& in) {
  Tensor y = reference_matmul(in[0], in[1].transpose(0, 1).contiguous());
  if (in.size() > 2) {
    // y += bias along the last dim.
    std::vector<double> values = y.to_vector<double>(), bias = in[2].to_vector<double>();
    for (size_t i = 0; i < values.size(); ++i) values[i] += bias[i % bias.size()];
    y = from_vector(values, y.shape());
  }
  return y;
}

Tensors matmul_grads(const Tensors& in, const Tensor& grad) {
  auto [grad_a, grad_b] = matmul_backward(grad, in[0], in[1]);
  return {grad_a, grad_b};
}

// A random matrix-product shape: batch dims (maybe none), then rows and cols; size-1 dims often.
Shape random_batch(InputMaker& m, int max_rank) { return m.shape(0, max_rank, 4); }
Shape with_matrix(Shape batch, int64_t rows, int64_t cols) {
  batch.insert(batch.end(), {rows, cols});
  return batch;
}

const bool registered = [] {
  register_case({
      .op = "matmul",
      .variant = "2-D [M, K] x [K, N]",
      .dtypes = kFloatTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            int64_t rows = m.integer(1, 9), inner = m.integer(1, 12), cols = m.integer(1, 9);
            return Tensors{m.normal({rows, inner}, dtype), m.normal({inner, cols}, dtype)};
          },
      .forward = [](const Tensors& in) { return Tensors{matmul(in[0], in[1])}; },
      .reference = [](const Tensors& in) { return Tensors{reference_matmul(in[0], in[1])}; },
      .backward = [](const Tensors& in, const Tensors&,
                     const Tensor& grad) { return matmul_grads(in, grad); },
      .trials = 8,
  });
  register_case({
      .op = "matmul",
      .variant = "1-D operands: [K] x [K], [K] x [..., K, N], [..., M, K] x [K]",
      .dtypes = kFloatTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            int64_t inner = m.integer(1, 10);
            Shape batch = random_batch(m, 2);
            switch (m.integer(0, 2)) {
              case 0: return Tensors{m.normal({inner}, dtype), m.normal({inner}, dtype)};
              case 1:
                return Tensors{m.normal({inner}, dtype),
                               m.normal(with_matrix(batch, inner, m.integer(1, 7)), dtype)};
              default:
                return Tensors{m.normal(with_matrix(batch, m.integer(1, 7), inner), dtype),
                               m.normal({inner}, dtype)};
            }
          },
      .forward = [](const Tensors& in) { return Tensors{matmul(in[0], in[1])}; },
      .reference = [](const Tensors& in) { return Tensors{reference_matmul(in[0], in[1])}; },
      .backward = [](const Tensors& in, const Tensors&,
                     const Tensor& grad) { return matmul_grads(in, grad); },
      .trials = 9,
  });
  register_case({
      .op = "matmul",
      .variant = "batched, batch dims broadcast",
      .dtypes = kFloatTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            Shape batch = random_batch(m, 3), other = m.broadcastable(batch);
            if (m.coin()) std::swap(batch, other);
            int64_t rows = m.integer(1, 6), inner = m.integer(1, 8), cols = m.integer(1, 6);
            return Tensors{m.normal(with_matrix(batch, rows, inner), dtype),
                           m.normal(with_matrix(other, inner, cols), dtype)};
          },
      .forward = [](const Tensors& in) { return Tensors{matmul(in[0], in[1])}; },
      .reference = [](const Tensors& in) { return Tensors{reference_matmul(in[0], in[1])}; },
      .backward = [](const Tensors& in, const Tensors&,
                     const Tensor& grad) { return matmul_grads(in, grad); },
      .trials = 10,
  });
  register_case({
      .op = "matmul",
      .variant = "transposed views a^T @ b, a @ b^T, a^T @ b^T",
      .dtypes = kFloatTypes,
      // Inputs are stored as [..., K, M] and [..., N, K]; forward transposes the ones `mode` picks.
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            Shape batch = random_batch(m, 2);
            int64_t rows = m.integer(1, 8), inner = m.integer(1, 9), cols = m.integer(1, 8);
            int64_t mode = m.integer(1, 3);  // bit 0: transpose a, bit 1: transpose b
            Shape a = mode & 1 ? with_matrix(batch, inner, rows) : with_matrix(batch, rows, inner);
            Shape b = mode & 2 ? with_matrix(batch, cols, inner) : with_matrix(batch, inner, cols);
            auto layout = InputMaker::Layout::contiguous;
            return Tensors{m.normal(a, dtype, 1.0, layout), m.normal(b, dtype, 1.0, layout),
                           full({}, static_cast<double>(mode), {DType::i64})};
          },
      .forward =
          [](const Tensors& in) {
            int64_t mode = in[2].item<int64_t>();
            Tensor a = mode & 1 ? in[0].transpose(-1, -2) : in[0];
            Tensor b = mode & 2 ? in[1].transpose(-1, -2) : in[1];
            return Tensors{matmul(a, b)};
          },
      .reference =
          [](const Tensors& in) {
            int64_t mode = in[2].item<int64_t>();
            Tensor a = mode & 1 ? in[0].transpose(-1, -2).contiguous() : in[0];
            Tensor b = mode & 2 ? in[1].transpose(-1, -2).contiguous() : in[1];
            return Tensors{reference_matmul(a, b)};
          },
      .backward =
          [](const Tensors& in, const Tensors&, const Tensor& grad) {
            int64_t mode = in[2].item<int64_t>();
            Tensor a = mode & 1 ? in[0].transpose(-1, -2) : in[0];
            Tensor b = mode & 2 ? in[1].transpose(-1, -2) : in[1];
            auto [grad_a, grad_b] = matmul_backward(grad, a, b);
            return Tensors{mode & 1 ? grad_a.transpose(-1, -2) : grad_a,
                           mode & 2 ? grad_b.transpose(-1, -2) : grad_b, Tensor()};
          },
      .trials = 8,
  });
  register_case({
      .op = "matmul",
      .variant = "expanded (stride-0) operands and column slices",
      .dtypes = kFloatTypes,
      // b [K, N] is used expanded to [B, K, N]; a is a column slice of a wider tensor.
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            int64_t batch = m.integer(1, 4), rows = m.integer(1, 6), inner = m.integer(1, 7);
            int64_t cols = m.integer(1, 6);
            auto layout = InputMaker::Layout::contiguous;
            return Tensors{m.normal({batch, rows, inner + 3}, dtype, 1.0, layout),
                           m.normal({inner, cols}, dtype)};
          },
      .forward =
          [](const Tensors& in) {
            Tensor a = in[0].narrow(-1, 1, in[1].size(0));
            Tensor b = in[1].expand({in[0].size(0), in[1].size(0), in[1].size(1)});
            return Tensors{matmul(a, b)};
          },
      .reference =
          [](const Tensors& in) {
            return Tensors{
                reference_matmul(in[0].narrow(-1, 1, in[1].size(0)).contiguous(), in[1])};
          },
      .backward =
          [](const Tensors& in, const Tensors&, const Tensor& grad) {
            Tensor a = in[0].narrow(-1, 1, in[1].size(0));
            auto [grad_a, grad_b] = matmul_backward(grad, a, in[1]);
            Tensor grad_wide = zeros(in[0].shape(), in[0].options());
            grad_wide.narrow(-1, 1, in[1].size(0)).copy_(grad_a);
            return Tensors{grad_wide, grad_b};
          },
      .trials = 6,
  });
  register_case({
      .op = "matmul",
      .variant = "empty dims (M, N, K or a batch dim of size 0)",
      .dtypes = kFloatTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            Shape batch = m.shape(1, 2, 3);
            Shape dims = {m.integer(1, 4), m.integer(1, 4), m.integer(1, 4)};  // M, K, N
            // One of M, K, N or the first batch dim is 0; b's batch broadcasts sometimes.
            int64_t empty = m.integer(0, 3);
            (empty < 3 ? dims[empty] : batch[0]) = 0;
            Shape other = m.coin() ? batch : Shape{1};
            return Tensors{m.normal(with_matrix(batch, dims[0], dims[1]), dtype),
                           m.normal(with_matrix(other, dims[1], dims[2]), dtype)};
          },
      .forward = [](const Tensors& in) { return Tensors{matmul(in[0], in[1])}; },
      .reference = [](const Tensors& in) { return Tensors{reference_matmul(in[0], in[1])}; },
      .backward = [](const Tensors& in, const Tensors&,
                     const Tensor& grad) { return matmul_grads(in, grad); },
      .trials = 10,
  });
  register_case({
      .op = "bmm",
      .variant = "[B, M, K] x [B, K, N]",
      .dtypes = kFloatTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            int64_t batch = m.integer(1, 4), rows = m.integer(1, 7), inner = m.integer(1, 9);
            int64_t cols = m.integer(1, 7);
            return Tensors{m.normal({batch, rows, inner}, dtype),
                           m.normal({batch, inner, cols}, dtype)};
          },
      .forward = [](const Tensors& in) { return Tensors{bmm(in[0], in[1])}; },
      .reference = [](const Tensors& in) { return Tensors{reference_matmul(in[0], in[1])}; },
      .backward = [](const Tensors& in, const Tensors&,
                     const Tensor& grad) { return matmul_grads(in, grad); },
      .trials = 6,
  });
  for (bool with_bias : {true, false}) {
    register_case({
        .op = "linear",
        .variant = with_bias ? "x [..., in] with bias" : "x [..., in] without bias",
        .dtypes = kFloatTypes,
        .make_inputs =
            [with_bias](InputMaker& m, DType dtype) {
              Shape x = m.shape(1, 3, 5);
              int64_t out = m.integer(1, 7);
              Tensors inputs{m.normal(x, dtype), m.normal({out, x.back()}, dtype)};
              if (with_bias) inputs.push_back(m.normal({out}, dtype));
              return inputs;
            },
        .forward =
            [](const Tensors& in) {
              return Tensors{linear(in[0], in[1], in.size() > 2 ? in[2] : Tensor())};
            },
        .reference = [](const Tensors& in) { return Tensors{reference_linear(in)}; },
        .backward =
            [](const Tensors& in, const Tensors&, const Tensor& grad) {
              LinearGrads g = linear_backward(grad, in[0], in[1], in.size() > 2);
              Tensors grads{g.input, g.weight};
              if (in.size() > 2) grads.push_back(g.bias);
              return grads;
            },
        .trials = 6,
    });
    // Shapes reach the CUDA epilogue path (out not a multiple of 8 exercises the padded
    // pre-activation) and the composed one (an empty row count).
    register_case({
        .op = "linear_gelu",
        .variant = with_bias ? "gelu_tanh(x w^T + b)" : "gelu_tanh(x w^T)",
        .dtypes = kFloatTypes,
        .make_inputs =
            [with_bias](InputMaker& m, DType dtype) {
              Shape x = m.shape(1, 3, 5);
              if (m.integer(0, 7) == 0) x[0] = 0;
              int64_t out = m.integer(1, 12);
              Tensors inputs{m.normal(x, dtype), m.normal({out, x.back()}, dtype)};
              if (with_bias) inputs.push_back(m.normal({out}, dtype));
              return inputs;
            },
        .forward =
            [](const Tensors& in) {
              return Tensors{linear_gelu(in[0], in[1], in.size() > 2 ? in[2] : Tensor())};
            },
        .reference =
            [](const Tensors& in) {
              // GPT-2's GELU: 0.5 z (1 + tanh(sqrt(2 / pi) (z + 0.044715 z^3))).
              Tensor z = reference_linear(in);
              std::vector<double> values = z.to_vector<double>();
              for (double& v : values)
                v = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
              return Tensors{from_vector(values, z.shape())};
            },
        .backward =
            [](const Tensors& in, const Tensors&, const Tensor& grad) {
              const bool has_bias = in.size() > 2;
              Tensor pre = linear(in[0], in[1], has_bias ? in[2] : Tensor());
              pre = pre.reshape({pre.numel() / pre.size(-1), pre.size(-1)});
              LinearGrads g = linear_gelu_backward(grad, in[0], in[1], pre, has_bias);
              Tensors grads{g.input, g.weight};
              if (has_bias) grads.push_back(g.bias);
              return grads;
            },
        .trials = 6,
    });
  }
  return true;
}();

}  // namespace
}  // namespace strata::test
