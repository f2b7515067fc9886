// The GEMM implementations the benchmark compares. Each library file registers one GemmLibrary; the
// GEMM section (gemm.cpp) times every registered library on the same buffers.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace strata::bench {

// c [M, N] = op(a) @ op(b), all row-major: a is stored [M, K] ([K, M] when trans_a, op =
// transpose), b is stored [K, N] ([N, K] when trans_b). a, b and c share one dtype, f32 or bf16.
struct GemmProblem {
  int64_t m, k, n;
  bool trans_a, trans_b;
  Tensor a, b, c;
  DType dtype() const { return c.dtype(); }
};

struct GemmLibrary {
  std::string name;
  std::vector<DType> dtypes;
  std::function<void(int threads)> set_threads;
  // One-off work outside the timing (plans, primitives, wrappers); returns the call to time.
  std::function<std::function<void()>(const GemmProblem&)> prepare;
};

bool register_gemm_library(GemmLibrary library);
const std::vector<GemmLibrary>& gemm_libraries();

}  // namespace strata::bench
