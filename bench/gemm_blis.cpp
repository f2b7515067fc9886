// BLIS's typed API (bli_sgemm, f32; BLIS 0.9 has no bf16 GEMM), OpenMP build: the same pool as
// Strata. Transposes are given as strides.
#include <blis.h>

#include "bench/gemm_library.hpp"

namespace strata::bench {
namespace {

const bool registered = register_gemm_library({
    .name = "blis",
    .dtypes = {DType::f32},
    .set_threads = [](int threads) { bli_thread_set_num_threads(threads); },
    .prepare = [](const GemmProblem& p) -> std::function<void()> {
      // Row and column strides of op(a) [M, K] and op(b) [K, N].
      inc_t a_row = p.trans_a ? 1 : p.k, a_col = p.trans_a ? p.m : 1;
      inc_t b_row = p.trans_b ? 1 : p.n, b_col = p.trans_b ? p.k : 1;
      return [p, a_row, a_col, b_row, b_col] {
        float one = 1.0f, zero = 0.0f;
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, p.m, p.n, p.k, &one, p.a.data<float>(),
                  a_row, a_col, p.b.data<float>(), b_row, b_col, &zero, p.c.data<float>(), p.n, 1);
      };
    },
});

}  // namespace
}  // namespace strata::bench
