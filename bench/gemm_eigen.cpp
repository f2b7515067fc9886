// Eigen 3.4's GEMM (f32), compiled for AVX-512 so that Eigen uses its widest kernels; it threads
// over OpenMP, the same pool as Strata.
#include <Eigen/Core>

#include "bench/gemm_library.hpp"

namespace strata::bench {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

const bool registered = register_gemm_library({
    .name = "eigen",
    .dtypes = {DType::f32},
    .set_threads = [](int threads) { Eigen::setNbThreads(threads); },
    .prepare = [](const GemmProblem& p) -> std::function<void()> {
      Eigen::Map<const RowMajor> a(p.a.data<float>(), p.trans_a ? p.k : p.m, p.trans_a ? p.m : p.k);
      Eigen::Map<const RowMajor> b(p.b.data<float>(), p.trans_b ? p.n : p.k, p.trans_b ? p.k : p.n);
      Eigen::Map<RowMajor> c(p.c.data<float>(), p.m, p.n);
      bool trans_a = p.trans_a, trans_b = p.trans_b;
      return [a, b, c, trans_a, trans_b]() mutable {
        if (trans_a) {
          c.noalias() = a.transpose() * b;
        } else if (trans_b) {
          c.noalias() = a * b.transpose();
        } else {
          c.noalias() = a * b;
        }
      };
    },
});

}  // namespace
}  // namespace strata::bench
