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
#pragma once

#include "core/cpu/isa.hpp"
#include "core/tensor.hpp"

namespace strata {

struct GemmArgs {
  Tensor a, b, c, bias;
};

}  // namespace strata

namespace strata::cpu {
// f32 and bf16 through oneDNN; f16 through f32 (see gemm.cpp); f64 through gemm_f64.
void gemm(const GemmArgs& args);
}  // namespace strata::cpu

// f64 GEMM: a plain blocked loop (oneDNN has no f64 matmul; f64 serves tests and references).
STRATA_DECLARE_CPU_KERNEL(void, gemm_f64, (const strata::GemmArgs& args))

namespace strata::cuda {
// cuBLASLt: f32, f64, and bf16/f16 with f32 accumulation.
void gemm(const GemmArgs& args);
}  // namespace strata::cuda
