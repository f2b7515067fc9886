// Matrix products. Transposed operands are passed as views (x.t(), x.transpose(-2, -1)): the GEMM
// reads their strides, no copy is made. CPU: oneDNN (chosen by measurement, docs/BENCHMARKS.md);
// CUDA: cuBLASLt.
#pragma once

#include <utility>

#include "core/tensor.hpp"

namespace strata {

// The precision of f32 matrix products, process-wide, as torch.set_float32_matmul_precision:
//   highest (the default): exact f32 arithmetic.
//   high: on CUDA, f32 GEMMs run on the tensor cores with inputs rounded to TF32 (10-bit mantissa,
//     f32 accumulation), several times faster; results differ from f32 by about 1e-3 relative.
// CPU products, and f64/f16/bf16 products anywhere, are unaffected.
enum class MatmulPrecision { highest, high };
void set_float32_matmul_precision(MatmulPrecision precision);
MatmulPrecision float32_matmul_precision();

// numpy matmul: 1-D operands are promoted and the added dim removed; batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
// [B, M, K] x [B, K, N] -> [B, M, N], no broadcasting.
Tensor bmm(const Tensor& a, const Tensor& b);
// x [..., in] times weight [out, in] transposed, plus bias [out] if defined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// gelu_tanh(linear(x, weight, bias)): a transformer MLP's first layer. On CUDA (f32/f16/bf16) one
// cuBLASLt GEMM with the bias and GELU in its epilogue, keeping the pre-activation for the
// backward; elsewhere linear then gelu. The same maths either way.
Tensor linear_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

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
// On CUDA the bias gradient comes out of the weight-gradient GEMM's epilogue when both are wanted.
LinearGrads linear_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                            bool has_bias, WantedGrads wanted = {});
// Gradients of y = linear_gelu(x, weight, bias) from the pre-activation pre [R, out] =
// linear(x, weight, bias) as rows. cuBLASLt's DGELU epilogue does not fit here: it fuses the GELU
// derivative into the GEMM that produces grad, which is the next layer's backward.
LinearGrads linear_gelu_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                 const Tensor& pre, bool has_bias, WantedGrads wanted = {});

}  // namespace strata
