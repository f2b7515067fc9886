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

// Gradients of y = matmul(a, b) for a and b, reduced over broadcast batch dims. A gradient not
// wanted (want_a, want_b false) is not computed and comes back undefined.
std::pair<Tensor, Tensor> matmul_backward(const Tensor& grad, const Tensor& a, const Tensor& b,
                                          bool want_a = true, bool want_b = true);

// Which gradients a layer's backward computes; the others come back undefined (a first layer's
// input, a frozen weight).
struct WantedGrads {
  bool input = true, weight = true, bias = true;
};
struct LinearGrads {
  Tensor input, weight, bias;  // bias: defined when has_bias and wanted
};
LinearGrads linear_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                            bool has_bias, WantedGrads wanted = {});

}  // namespace strata
