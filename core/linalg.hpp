// Matrix products. Transposed operands are passed as views (x.t(), x.transpose(-2, -1)): the GEMM
// reads their strides, no copy is made. CPU: oneDNN (chosen by measurement, docs/BENCHMARKS.md);
// CUDA: cuBLASLt.
#pragma once

#include <utility>

#include "core/tensor.hpp"

namespace strata {

// numpy matmul: 1-D operands are promoted and the added dim removed; batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
// [B, M, K] x [B, K, N] -> [B, M, N], no broadcasting.
Tensor bmm(const Tensor& a, const Tensor& b);
// x [..., in] times weight [out, in] transposed, plus bias [out] if defined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// Gradients of y = matmul(a, b) for a and b, reduced over broadcast batch dims.
std::pair<Tensor, Tensor> matmul_backward(const Tensor& grad, const Tensor& a, const Tensor& b);
struct LinearGrads {
  Tensor input, weight, bias;
};
LinearGrads linear_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                            bool has_bias);

}  // namespace strata
