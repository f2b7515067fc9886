// Kernels behind rand/randn/randint (core/random_factories.cpp), dropout (core/dropout.cpp) and
// multinomial (core/multinomial.cpp). Every tensor is contiguous; element i's value is the
// core/random_values.hpp function of the stream slot(s) that i maps to from `state`, so CPU and
// CUDA kernels fill identical values.
#pragma once

#include "core/cpu/isa.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"

// out: floating. Uniform in [0, 1).
STRATA_DECLARE_CPU_KERNEL(void, uniform_kernel,
                          (const strata::Tensor& out, strata::PhiloxState state))
// out: floating. Standard normal.
STRATA_DECLARE_CPU_KERNEL(void, normal_kernel,
                          (const strata::Tensor& out, strata::PhiloxState state))
// out: i32/i64. Uniform in [low, low + range).
STRATA_DECLARE_CPU_KERNEL(void, randint_kernel,
                          (const strata::Tensor& out, strata::PhiloxState state, int64_t low,
                           uint64_t range))
// out, x: same floating dtype and numel. out = keep ? x / (1 - p) : 0, keep from element i's word.
STRATA_DECLARE_CPU_KERNEL(void, dropout_kernel,
                          (const strata::Tensor& out, const strata::Tensor& x, double p,
                           strata::PhiloxState state))
// probs [N, C] f64, checked (finite, non-negative, each row with a positive sum and, without
// replacement, at least K positive classes); out [N, K] i64. With replacement, sample s of row r
// inverts the row's running sum at the uniform of slots offset + 2 (r K + s); without, class c of
// row r gets the key log(u) / p from slots offset + 2 (r C + c) and the K largest keys win, in
// order (Efraimidis-Spirakis: the same law as drawing one class at a time).
STRATA_DECLARE_CPU_KERNEL(void, multinomial_kernel,
                          (const strata::Tensor& out, const strata::Tensor& probs, bool replacement,
                           strata::PhiloxState state))

namespace strata::cuda {
void uniform_kernel(const Tensor& out, PhiloxState state);
void normal_kernel(const Tensor& out, PhiloxState state);
void randint_kernel(const Tensor& out, PhiloxState state, int64_t low, uint64_t range);
void dropout_kernel(const Tensor& out, const Tensor& x, double p, PhiloxState state);
// As the CPU kernel, but probs are checked on the device (core/cuda/multinomial_kernels.cu).
void multinomial_kernel(const Tensor& out, const Tensor& probs, bool replacement,
                        PhiloxState state);
}  // namespace strata::cuda
