// matmul, bmm, linear and their backward: the shape rules (numpy's promotion of 1-D operands, batch
// broadcasting, gradients summed over broadcast batch dims) and the lowering of every product to
// one batched GEMM (core/gemm.hpp) on the operands' device.
#include "core/linalg.hpp"

#include <algorithm>
#include <atomic>
#include <numeric>

#include "core/autograd_record.hpp"
#include "core/dispatch.hpp"
#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "core/gemm.hpp"
#include "core/reduce.hpp"

namespace strata {
namespace {

std::atomic<MatmulPrecision> f32_precision{MatmulPrecision::highest};

Shape batch_shape(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 2); }

// x [batch..., rows, cols] as the GEMM reads it: one of the matrix dims with unit stride and the
// other stepping over it, otherwise a contiguous copy (O(rows * cols), small next to the product).
// Strides of size-1 dims carry no information and are set to what the layout needs.
Tensor matrix_operand(const Tensor& x) {
  const int64_t d = x.dim(), rows = x.size(-2), cols = x.size(-1);
  const int64_t row_stride = x.stride(-2), col_stride = x.stride(-1);
  Shape strides = x.strides();
  if ((cols == 1 || col_stride == 1) && (rows == 1 || row_stride >= cols)) {
    strides[d - 1] = 1;
    strides[d - 2] = rows == 1 ? cols : row_stride;
  } else if ((rows == 1 || row_stride == 1) && (cols == 1 || col_stride >= rows)) {
    strides[d - 2] = 1;
    strides[d - 1] = cols == 1 ? rows : col_stride;
  } else {
    return x.contiguous();
  }
  return Tensor(x.storage(), x.shape(), std::move(strides), x.offset(), x.dtype());
}

// One operand's batch geometry while dims are merged: per batch dim, size (1 = broadcast) and
// stride.
struct BatchDims {
  Shape sizes, strides;
};

// Drops batch dims where the output has size 1 and merges neighbouring batch dims that every
// operand steps through with one stride (or broadcasts in both), so a [B, H, T, T] product becomes
// one batch dim of B * H. out: the output's batch sizes; operands: each operand's batch dims (sizes
// are the output's or 1).
void coalesce_batch(Shape& out, std::vector<BatchDims*> operands) {
  Shape merged_out;
  std::vector<BatchDims> merged(operands.size());
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 1) continue;
    bool can_merge = !merged_out.empty();
    for (size_t k = 0; k < operands.size() && can_merge; ++k) {
      const BatchDims& m = merged[k];
      int64_t size = operands[k]->sizes[i], stride = operands[k]->strides[i];
      bool both_broadcast = m.sizes.back() == 1 && size == 1;
      bool both_strided = m.sizes.back() != 1 && size != 1 && m.strides.back() == stride * size;
      can_merge = both_broadcast || both_strided;
    }
    for (size_t k = 0; k < operands.size(); ++k) {
      BatchDims& m = merged[k];
      int64_t size = operands[k]->sizes[i], stride = operands[k]->strides[i];
      if (can_merge) {
        m.sizes.back() *= size;
        m.strides.back() = stride;
      } else {
        m.sizes.push_back(size);
        m.strides.push_back(stride);
      }
    }
    if (can_merge) {
      merged_out.back() *= out[i];
    } else {
      merged_out.push_back(out[i]);
    }
  }
  out = std::move(merged_out);
  for (size_t k = 0; k < operands.size(); ++k) *operands[k] = std::move(merged[k]);
}

// x's matrix dims under the merged batch dims. A broadcast (size-1) batch dim gets the stride a
// dense layout would give it: its stride is never used, but oneDNN picks kernels by layout, and an
// odd stride there sends it to its slow reference kernel.
Tensor with_batch(const Tensor& x, const BatchDims& batch) {
  Shape shape = batch.sizes, strides = batch.strides;
  shape.insert(shape.end(), {x.size(-2), x.size(-1)});
  strides.insert(strides.end(), {x.stride(-2), x.stride(-1)});
  int64_t extent = std::max(x.size(-2) * x.stride(-2), x.size(-1) * x.stride(-1));
  for (int64_t i = static_cast<int64_t>(batch.sizes.size()) - 1; i >= 0; --i) {
    if (shape[i] == 1) strides[i] = extent;
    extent = std::max(extent, shape[i] * strides[i]);
  }
  return Tensor(x.storage(), std::move(shape), std::move(strides), x.offset(), x.dtype());
}

// a [batch_a..., M, K] @ b [batch_b..., K, N] (+ bias [N]) -> [batch..., M, N], where the batch
// dims broadcast (the caller has checked they do and that the inner dims agree).
Tensor batched_gemm(const char* op, const Tensor& a, const Tensor& b, const Tensor& bias) {
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  const int64_t rank = std::max(a.dim(), b.dim()) - 2;
  // Batch geometry of each operand, right-aligned to `rank` dims; expanded dims (stride 0) become
  // broadcast dims of size 1.
  Shape out(rank, 1);
  auto batch_of = [&](const Tensor& x) {
    BatchDims batch{Shape(rank, 1), Shape(rank, 0)};
    const int64_t lead = rank - (x.dim() - 2);
    for (int64_t i = lead; i < rank; ++i) {
      int64_t size = x.size(i - lead), stride = x.stride(i - lead);
      batch.sizes[i] = stride == 0 ? 1 : size;
      batch.strides[i] = stride;
      if (size != 1) out[i] = size;
    }
    return batch;
  };
  Tensor a_matrix = matrix_operand(a), b_matrix = matrix_operand(b);
  BatchDims a_batch = batch_of(a_matrix), b_batch = batch_of(b_matrix);
  Shape out_shape = out;
  out_shape.insert(out_shape.end(), {m, n});
  Tensor c = empty(out_shape, a.options());
  if (c.numel() == 0) return c;
  if (k == 0) {
    // An empty sum: zeros, plus the bias.
    if (bias.defined()) return c.copy_(bias.expand(out_shape));
    return c.fill_(0.0);
  }
  Shape c_strides = contiguous_strides(out_shape);
  BatchDims c_batch{out, Shape(c_strides.begin(), c_strides.begin() + rank)};
  coalesce_batch(out, {&a_batch, &b_batch, &c_batch});
  GemmArgs args{with_batch(a_matrix, a_batch), with_batch(b_matrix, b_batch),
                with_batch(c, c_batch), bias.defined() ? bias.contiguous() : bias};
  // One batch dim over a row-major a and a shared b: the batch folds into M, [B * M, K] @ [K, N].
  if (out.size() == 1 && a_batch.sizes[0] != 1 && b_batch.sizes[0] == 1 && args.a.stride(-1) == 1 &&
      a_batch.strides[0] == m * args.a.stride(-2)) {
    args.a = Tensor(args.a.storage(), {out[0] * m, k}, {args.a.stride(-2), 1}, args.a.offset(),
                    args.a.dtype());
    args.b = args.b.select(0, 0);
    args.c = args.c.view({out[0] * m, n});
  }
  args.op = op;
  KernelTable<void(const GemmArgs&)> kernels{op, &cpu::gemm, STRATA_CUDA_KERNEL(gemm)};
  kernels(c.device())(args);
  return c;
}

// Whether a [M, K] @ [K, N] product of like's dtype on like's device can carry the CUDA GEMM's
// GELU and bias-gradient epilogues (core/gemm.hpp): f32/f16/bf16 on CUDA, no empty dim.
bool has_epilogues(const Tensor& like, int64_t m, int64_t k, int64_t n) {
  return like.device().is_cuda() && like.dtype() != DType::f64 && m > 0 && k > 0 && n > 0;
}

// c [M, N] = args.a [M, K] @ args.b [K, N] (+ bias) with args' epilogue outputs, on CUDA.
Tensor epilogue_gemm(GemmArgs args) {
  args.a = matrix_operand(args.a);
  args.b = matrix_operand(args.b);
  if (args.bias.defined()) args.bias = args.bias.contiguous();
  args.c = empty({args.a.size(0), args.b.size(1)}, args.a.options());
  KernelTable<void(const GemmArgs&)> kernels{args.op, &cpu::gemm, STRATA_CUDA_KERNEL(gemm)};
  kernels(args.c.device())(args);
  return args.c;
}

// Definedness, device and dtype checks shared by the products.
void check_operands(const char* op, const Tensor& a, const Tensor& b, const Tensor& bias = {}) {
  STRATA_CHECK(a.defined() && b.defined(), op, ": an operand is undefined");
  common_device(op, {&a, &b, &bias});
  DType dtype = common_dtype(op, {&a, &b, &bias});
  STRATA_CHECK(is_floating(dtype), op, ": dtype ", dtype_name(dtype),
               " is not supported; expected a floating dtype (f32, f64, f16, bf16)");
}

std::string operands_str(const Tensor& a, const Tensor& b) {
  return shape_str(a.shape()) + " x " + shape_str(b.shape());
}

// Checks that the promoted operands a [..., M, K] and b [..., K, N] multiply.
void check_product(const char* op, const Tensor& a, const Tensor& b, const Tensor& a2,
                   const Tensor& b2) {
  STRATA_CHECK(a2.size(-1) == b2.size(-2), op, ": ", operands_str(a, b), ": inner dims ",
               a2.size(-1), " and ", b2.size(-2), " differ");
  Shape batch_a = batch_shape(a2), batch_b = batch_shape(b2);
  for (size_t i = 1; i <= std::min(batch_a.size(), batch_b.size()); ++i) {
    int64_t x = batch_a[batch_a.size() - i], y = batch_b[batch_b.size() - i];
    STRATA_CHECK(x == y || x == 1 || y == 1, op, ": ", operands_str(a, b), ": batch dims ",
                 shape_str(batch_a), " and ", shape_str(batch_b), " do not broadcast");
  }
}

// numpy's promotion of 1-D operands: a [K] is [1, K], b [K] is [K, 1].
Tensor promote_left(const Tensor& a) { return a.dim() == 1 ? a.unsqueeze(0) : a; }
Tensor promote_right(const Tensor& b) { return b.dim() == 1 ? b.unsqueeze(1) : b; }

// sum over the batch dims that `target` broadcasts of x [batch_x..., P, Q] @ y [batch_y..., Q, S],
// as [target..., P, S]. The summed batch dims join the contracted dim Q, so the sum happens inside
// one GEMM (in its accumulator, in a fixed order) instead of over materialised partial products.
Tensor product_summed_to(const char* op, const Tensor& x, const Tensor& y, const Shape& target) {
  const int64_t p = x.size(-2), q = x.size(-1), s = y.size(-1);
  Shape result_shape = target;
  result_shape.insert(result_shape.end(), {p, s});
  const int64_t rank = std::max({x.dim() - 2, y.dim() - 2, static_cast<int64_t>(target.size())});
  auto pad = [rank](Tensor t) {
    while (t.dim() - 2 < rank) t = t.unsqueeze(0);
    return t;
  };
  Tensor xp = pad(x), yp = pad(y);
  Shape target_padded(rank - target.size(), 1);
  target_padded.insert(target_padded.end(), target.begin(), target.end());
  // Output batch dims that target keeps, and those it sums (size 1 in target, more in the output).
  std::vector<int64_t> kept, summed;
  Shape out(rank);
  for (int64_t i = 0; i < rank; ++i) {
    out[i] = std::max(xp.size(i), yp.size(i));
    (target_padded[i] == 1 && out[i] != 1 ? summed : kept).push_back(i);
  }
  if (summed.empty()) return batched_gemm(op, x, y, Tensor()).reshape(result_shape);
  // xs [kept..., P, (summed..., Q)] @ ys [kept..., (summed..., Q), S] -> [kept..., P, S].
  int64_t summed_numel = 1;
  Shape full_x = xp.shape(), full_y = yp.shape();
  for (int64_t i : summed) {
    summed_numel *= out[i];
    full_x[i] = full_y[i] = out[i];
  }
  std::vector<int64_t> x_order, y_order;
  Shape xs_shape, ys_shape;
  for (int64_t i : kept) {
    x_order.push_back(i);
    y_order.push_back(i);
    xs_shape.push_back(xp.size(i));
    ys_shape.push_back(yp.size(i));
  }
  x_order.push_back(rank);  // P
  x_order.insert(x_order.end(), summed.begin(), summed.end());
  y_order.insert(y_order.end(), summed.begin(), summed.end());
  x_order.push_back(rank + 1);                      // Q
  y_order.insert(y_order.end(), {rank, rank + 1});  // Q, S
  xs_shape.insert(xs_shape.end(), {p, summed_numel * q});
  ys_shape.insert(ys_shape.end(), {summed_numel * q, s});
  Tensor xs = xp.expand(full_x).permute(x_order).reshape(xs_shape);
  Tensor ys = yp.expand(full_y).permute(y_order).reshape(ys_shape);
  return batched_gemm(op, xs, ys, Tensor()).reshape(result_shape);
}

// The shape of matmul(a, b) for promoted operands a2 [..., M, K] and b2 [..., K, N].
Shape product_shape(const Tensor& a2, const Tensor& b2) {
  Shape batch_a = batch_shape(a2), batch_b = batch_shape(b2);
  Shape out(std::max(batch_a.size(), batch_b.size()), 1);
  for (size_t i = 1; i <= out.size(); ++i) {
    int64_t x = i <= batch_a.size() ? batch_a[batch_a.size() - i] : 1;
    int64_t y = i <= batch_b.size() ? batch_b[batch_b.size() - i] : 1;
    out[out.size() - i] = x == 1 ? y : x;
  }
  out.insert(out.end(), {a2.size(-2), b2.size(-1)});
  return out;
}

// x [..., features] as a matrix [rows, features] (a view when the layout allows).
Tensor as_rows(const Tensor& x) {
  Shape leading(x.shape().begin(), x.shape().end() - 1);
  return x.reshape({shape_numel(leading), x.size(-1)});
}

// Checks the operands of linear and linear_gelu.
void check_linear(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_operands(op, x, weight, bias);
  STRATA_CHECK(weight.dim() == 2, op, ": weight ", shape_str(weight.shape()),
               ": expected 2-D [out_features, in_features]");
  STRATA_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), op, ": input ", shape_str(x.shape()),
               " and weight ", shape_str(weight.shape()),
               ": the input's last dim must equal in_features ", weight.size(1));
  STRATA_CHECK(!bias.defined() || bias.shape() == Shape{weight.size(0)}, op, ": bias ",
               shape_str(bias.shape()), ": expected [", weight.size(0), "] (out_features)");
}

// Records c = a @ b (matmul and bmm share the derivative).
void record_product(const char* name, const Tensor& a, const Tensor& b, Tensor& c) {
  autograd::record(name, {a, b}, {&c},
                   [a = autograd::saved(a), b = autograd::saved(b)](
                       const autograd::Grads& grad, const autograd::NeedsGrad& needs) {
                     auto [grad_a, grad_b] = matmul_backward(grad[0], a, b, needs[0], needs[1]);
                     return autograd::Grads{grad_a, grad_b};
                   });
}

}  // namespace

void set_float32_matmul_precision(MatmulPrecision precision) { f32_precision = precision; }
MatmulPrecision float32_matmul_precision() { return f32_precision; }

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_operands("matmul", a, b);
  STRATA_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: ", operands_str(a, b),
               ": both operands need at least 1 dim; use mul for scalars");
  const bool recording = autograd::should_record(a, b);
  autograd::NoGradGuard forward_only;
  Tensor a2 = promote_left(a), b2 = promote_right(b);
  check_product("matmul", a, b, a2, b2);
  Tensor c = batched_gemm("matmul", a2, b2, Tensor());
  // Remove the dims that the promotion of 1-D operands added.
  if (a.dim() == 1) c = c.squeeze(-2);
  if (b.dim() == 1) c = c.squeeze(-1);
  if (recording) record_product("matmul", a, b, c);
  return c;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_operands("bmm", a, b);
  STRATA_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: ", operands_str(a, b),
               ": expected 3-D operands [B, M, K] and [B, K, N]");
  STRATA_CHECK(a.size(0) == b.size(0), "bmm: ", operands_str(a, b), ": batch sizes ", a.size(0),
               " and ", b.size(0), " differ (bmm does not broadcast; use matmul)");
  check_product("bmm", a, b, a, b);
  const bool recording = autograd::should_record(a, b);
  autograd::NoGradGuard forward_only;
  Tensor c = batched_gemm("bmm", a, b, Tensor());
  if (recording) record_product("bmm", a, b, c);
  return c;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear("linear", x, weight, bias);
  const bool recording = autograd::should_record(x, weight, bias);
  autograd::NoGradGuard forward_only;
  // x [..., in] as rows [R, in]; y [R, out] = rows @ weight^T + bias.
  Tensor rows = as_rows(x);
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  Tensor y = batched_gemm("linear", rows, weight.t(), bias).view(out_shape);
  if (recording) {
    autograd::record(
        "linear", {x, weight, bias}, {&y},
        [x = autograd::saved(x), weight = autograd::saved(weight), has_bias = bias.defined()](
            const autograd::Grads& grad, const autograd::NeedsGrad& needs) {
          LinearGrads g =
              linear_backward(grad[0], x, weight, has_bias,
                              {.input = needs[0], .weight = needs[1], .bias = needs[2]});
          return autograd::Grads{g.input, g.weight, g.bias};
        });
  }
  return y;
}

Tensor linear_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear("linear_gelu", x, weight, bias);
  const bool recording = autograd::should_record(x, weight, bias);
  autograd::NoGradGuard forward_only;
  // x [..., in] as rows [R, in]; pre [R, out] = rows @ weight^T + bias; y = gelu_tanh(pre).
  Tensor rows = as_rows(x);
  const int64_t r = rows.size(0), in = weight.size(1), out = weight.size(0);
  Tensor pre, y;
  if (has_epilogues(x, r, in, out)) {
    // cuBLASLt writes pre with a leading dim divisible by 8: [R, out] inside [R, out rounded up].
    pre = empty({r, (out + 7) / 8 * 8}, x.options()).narrow(1, 0, out);
    y = epilogue_gemm(
        {.a = rows, .b = weight.t(), .bias = bias, .op = "linear_gelu", .gelu_input = pre});
  } else {
    pre = batched_gemm("linear_gelu", rows, weight.t(), bias);
    y = gelu(pre, GeluApproximation::tanh);
  }
  Shape out_shape = x.shape();
  out_shape.back() = out;
  y = y.view(out_shape);
  if (recording) {
    autograd::record(
        "linear_gelu", {x, weight, bias}, {&y},
        [x = autograd::saved(x), weight = autograd::saved(weight), pre, has_bias = bias.defined()](
            const autograd::Grads& grad, const autograd::NeedsGrad& needs) {
          LinearGrads g =
              linear_gelu_backward(grad[0], x, weight, pre, has_bias,
                                   {.input = needs[0], .weight = needs[1], .bias = needs[2]});
          return autograd::Grads{g.input, g.weight, g.bias};
        });
  }
  return y;
}

std::pair<Tensor, Tensor> matmul_backward(const Tensor& grad, const Tensor& a, const Tensor& b,
                                          bool want_a, bool want_b) {
  check_operands("matmul_backward", a, b, grad);
  Tensor a2 = promote_left(a), b2 = promote_right(b);
  check_product("matmul_backward", a, b, a2, b2);
  // The output shape, and grad with the dims of 1-D operands put back: [batch..., M, N].
  Shape promoted = product_shape(a2, b2), out = promoted;
  if (a.dim() == 1) out.erase(out.end() - 2);
  if (b.dim() == 1) out.pop_back();
  STRATA_CHECK(grad.shape() == out, "matmul_backward: grad ", shape_str(grad.shape()),
               ", expected ", shape_str(out), " (the output of ", operands_str(a, b), ")");
  Tensor g2 = grad;
  if (a.dim() == 1) g2 = g2.unsqueeze(g2.dim() - (b.dim() == 1 ? 0 : 1));
  if (b.dim() == 1) g2 = g2.unsqueeze(g2.dim());
  // grad_a = grad @ b^T and grad_b = a^T @ grad, each summed over the batch dims it broadcast.
  Tensor grad_a, grad_b;
  if (want_a) {
    grad_a = product_summed_to("matmul_backward", g2, b2.transpose(-1, -2), batch_shape(a2))
                 .view(a.shape());
  }
  if (want_b) {
    grad_b = product_summed_to("matmul_backward", a2.transpose(-1, -2), g2, batch_shape(b2))
                 .view(b.shape());
  }
  return {grad_a, grad_b};
}

LinearGrads linear_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                            bool has_bias, WantedGrads wanted) {
  check_operands("linear_backward", x, weight, grad);
  STRATA_CHECK(weight.dim() == 2 && x.dim() >= 1 && x.size(-1) == weight.size(1),
               "linear_backward: input ", shape_str(x.shape()), " and weight ",
               shape_str(weight.shape()), " do not match (weight is [out_features, in_features])");
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  STRATA_CHECK(grad.shape() == out_shape, "linear_backward: grad ", shape_str(grad.shape()),
               ", expected ", shape_str(out_shape), " (the output of linear)");
  Tensor grad_rows = as_rows(grad);  // [R, out]
  const int64_t r = grad_rows.size(0), in = weight.size(1), out = weight.size(0);
  LinearGrads grads;
  if (wanted.input) {
    grads.input = batched_gemm("linear_backward", grad_rows, weight, Tensor()).view(x.shape());
  }
  // grad_weight [out, in] = grad_rows^T [out, R] @ x [R, in]; on CUDA the bias gradient, grad_rows
  // summed over R, comes out of the same GEMM.
  const bool fused_bias = has_bias && wanted.bias && wanted.weight && has_epilogues(x, out, r, in);
  if (fused_bias) {
    grads.bias = empty({out}, grad.options());
    grads.weight = epilogue_gemm(
        {.a = grad_rows.t(), .b = as_rows(x), .op = "linear_backward", .a_row_sums = grads.bias});
  } else if (wanted.weight) {
    grads.weight = batched_gemm("linear_backward", grad_rows.t(), as_rows(x), Tensor());
  }
  if (has_bias && wanted.bias && !fused_bias) grads.bias = sum(grad_rows, {0});
  return grads;
}

LinearGrads linear_gelu_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                 const Tensor& pre, bool has_bias, WantedGrads wanted) {
  check_operands("linear_gelu_backward", x, weight, grad);
  STRATA_CHECK(
      x.dim() >= 1 && pre.dim() == 2 && grad.numel() == pre.numel() && grad.size(-1) == pre.size(1),
      "linear_gelu_backward: grad ", shape_str(grad.shape()), " and pre-activation ",
      shape_str(pre.shape()), " do not match (pre is [rows, out_features])");
  // grad_pre [R, out] = grad * gelu_tanh'(pre), then linear's backward.
  Tensor grad_pre = unary_backward(UnaryOp::gelu_tanh, as_rows(grad), pre, Tensor());
  LinearGrads grads = linear_backward(grad_pre, as_rows(x), weight, has_bias, wanted);
  if (grads.input.defined()) grads.input = grads.input.view(x.shape());
  return grads;
}

}  // namespace strata
