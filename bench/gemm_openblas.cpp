// OpenBLAS's cblas_sgemm (f32; Debian's 0.3.21 has no bf16 GEMM). OpenBLAS runs its own pthreads
// pool. Its kernel choice follows OPENBLAS_CORETYPE as the environment sets it.
#include <cblas.h>

#include "bench/gemm_library.hpp"

namespace strata::bench {
namespace {

const bool registered = register_gemm_library({
    .name = "openblas",
    .dtypes = {DType::f32},
    .set_threads = [](int threads) { openblas_set_num_threads(threads); },
    .prepare = [](const GemmProblem& p) -> std::function<void()> {
      return [p] {
        cblas_sgemm(CblasRowMajor, p.trans_a ? CblasTrans : CblasNoTrans,
                    p.trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(p.m),
                    static_cast<int>(p.n), static_cast<int>(p.k), 1.0f, p.a.data<float>(),
                    static_cast<int>(p.trans_a ? p.m : p.k), p.b.data<float>(),
                    static_cast<int>(p.trans_b ? p.k : p.n), 0.0f, p.c.data<float>(),
                    static_cast<int>(p.n));
      };
    },
});

}  // namespace
}  // namespace strata::bench
