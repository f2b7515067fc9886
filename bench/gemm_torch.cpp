// libtorch's matmul (Debian's libtorch 1.13: f32 through the system BLAS, bf16 through oneDNN), on
// the same buffers through from_blob; torch::mm_out writes into the shared output.
#include <torch/torch.h>

#include "bench/gemm_library.hpp"

// at::set_num_threads leaves the BLAS's own pool alone; when that BLAS is OpenBLAS (Debian's
// default), its threads are set too, so a row's thread count holds for f32 as well.
extern "C" void openblas_set_num_threads(int threads) __attribute__((weak));

namespace strata::bench {
namespace {

const bool registered = register_gemm_library({
    .name = "libtorch",
    .dtypes = {DType::f32, DType::bf16},
    .set_threads =
        [](int threads) {
          at::set_num_threads(threads);
          if (openblas_set_num_threads) openblas_set_num_threads(threads);
        },
    .prepare = [](const GemmProblem& p) -> std::function<void()> {
      auto type = p.dtype() == DType::bf16 ? torch::kBFloat16 : torch::kFloat32;
      auto wrap = [type](const Tensor& t) {
        return torch::from_blob(t.data_ptr(), {t.size(0), t.size(1)},
                                torch::TensorOptions().dtype(type));
      };
      torch::Tensor a = p.trans_a ? wrap(p.a).t() : wrap(p.a);
      torch::Tensor b = p.trans_b ? wrap(p.b).t() : wrap(p.b);
      torch::Tensor c = wrap(p.c);
      return [a, b, c]() mutable { torch::mm_out(c, a, b); };
    },
});

}  // namespace
}  // namespace strata::bench
