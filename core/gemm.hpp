// The batched GEMM that matmul, bmm and linear lower to, and the device kernels behind it.
//
// c = a @ b (+ bias), where (every tensor has the same rank, batch dims first)
//   a    [batch..., M, K]   a batch dim is c's size, or 1 to broadcast it
//   b    [batch..., K, N]   same
//   c    [batch..., M, N]   contiguous, no dim of size 1 in batch..., written whole
//   bias [N] contiguous, or undefined
// and the matrix dims of a and b have one unit stride: row-major (stride(-1) == 1) or column-major
// (stride(-2) == 1), the other stride at least the dim it steps over. Transposed views satisfy
// this, so they reach the kernels without a copy. M, N and K are all at least 1.
//
// Two epilogues serve linear_gelu and linear_backward on CUDA, for 2-D products in f32, f16 and
// bf16 (the CPU composes the same maths from other kernels, core/linalg.cpp):
//   gelu_input [M, N], stride (ld, 1) with ld % 8 == 0: c = gelu_tanh(a @ b + bias), and the
//     pre-activation a @ b + bias written here for the backward (cuBLASLt's GELU_AUX_BIAS).
//   a_row_sums [M] contiguous: a summed over K, written beside the product (cuBLASLt's BGRADB):
//     linear's bias gradient falls out of its weight-gradient GEMM, grad^T [out, R] @ x [R, in].
#pragma once

#include "core/cpu/isa.hpp"
#include "core/tensor.hpp"

namespace strata {

struct GemmArgs {
  Tensor a, b, c, bias;
  const char* op = "matmul";  // the op that asked, for error messages
  Tensor gelu_input;          // CUDA only; see above
  Tensor a_row_sums;          // CUDA only; see above
};

}  // namespace strata

namespace strata::cpu {
// f32 and bf16 through oneDNN; f16 through f32 (see gemm.cpp); f64 through gemm_f64.
void gemm(const GemmArgs& args);
}  // namespace strata::cpu

// f64 GEMM: a plain blocked loop (oneDNN has no f64 matmul; f64 serves tests and references).
STRATA_DECLARE_CPU_KERNEL(void, gemm_f64, (const strata::GemmArgs& args))

namespace strata::cuda {
// cuBLASLt: f32 (TF32 tensor cores under MatmulPrecision::high), f64, and bf16/f16 with f32
// accumulation; the epilogues above.
void gemm(const GemmArgs& args);
}  // namespace strata::cuda
