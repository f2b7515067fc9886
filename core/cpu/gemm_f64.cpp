// f64 GEMM as a plain loop (oneDNN has no f64 matmul, and f64 serves tests and references, not
// training). Each row of c is computed by one thread as c[i, :] += a[i, k] * b[k, :] for k in
// order, vectorised along the row of b, in column blocks that stay in L1. The fixed order makes it
// deterministic for any thread count.
#include <algorithm>

#include "core/gemm.hpp"
#include "core/parallel.hpp"

namespace strata::cpu::STRATA_ISA {

void gemm_f64(const GemmArgs& g) {
  // b with unit column stride, so the inner loop reads a contiguous row.
  const Tensor b = g.b.stride(-1) == 1 ? g.b : g.b.contiguous();
  const int64_t rank = g.c.dim(), m = g.c.size(-2), n = g.c.size(-1), k = g.a.size(-1);
  const int64_t batches = g.c.numel() / (m * n);
  const int64_t a_row = g.a.stride(-2), a_col = g.a.stride(-1), b_row = b.stride(-2);
  const double* a_data = g.a.data<double>();
  const double* b_data = b.data<double>();
  const double* bias = g.bias.defined() ? g.bias.data<double>() : nullptr;
  double* c_data = g.c.data<double>();
  constexpr int64_t kColumnBlock = 512;  // 4 KiB of c's row
  const int64_t grain = std::max<int64_t>(1, 65536 / (n * k));
  parallel_for(0, batches * m, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      // Offsets of this row's batch in a and b; size-1 batch dims broadcast.
      int64_t batch = row / m, i = row % m, a_offset = 0, b_offset = 0;
      for (int64_t d = rank - 3; d >= 0; --d) {
        int64_t index = batch % g.c.size(d);
        batch /= g.c.size(d);
        if (g.a.size(d) != 1) a_offset += index * g.a.stride(d);
        if (b.size(d) != 1) b_offset += index * b.stride(d);
      }
      const double* a_row_data = a_data + a_offset + i * a_row;
      double* c_row = c_data + row * n;
      for (int64_t j0 = 0; j0 < n; j0 += kColumnBlock) {
        const int64_t j1 = std::min(n, j0 + kColumnBlock);
        for (int64_t j = j0; j < j1; ++j) c_row[j] = bias ? bias[j] : 0.0;
        for (int64_t p = 0; p < k; ++p) {
          const double a_value = a_row_data[p * a_col];
          const double* b_row_data = b_data + b_offset + p * b_row;
          _Pragma("omp simd") for (int64_t j = j0; j < j1; ++j) c_row[j] += a_value * b_row_data[j];
        }
      }
    }
  });
}

}  // namespace strata::cpu::STRATA_ISA
