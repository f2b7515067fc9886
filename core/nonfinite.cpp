// count_nonfinite: checks the tensors share a device, then adds each floating tensor's count of inf
// and NaN elements into one device-resident counter.
#include "core/dispatch.hpp"
#include "core/factories.hpp"
#include "core/nonfinite_kernels.hpp"
#include "core/reduce.hpp"

namespace strata {

Tensor count_nonfinite(const std::vector<Tensor>& xs) {
  static const KernelTable<void(const Tensor&, const Tensor&)> kernels{
      "count_nonfinite", STRATA_CPU_KERNEL(count_nonfinite_kernel),
      STRATA_CUDA_KERNEL(count_nonfinite_kernel)};
  STRATA_CHECK(!xs.empty(), "count_nonfinite: expected at least one tensor, got none");
  for (size_t i = 0; i < xs.size(); ++i) {
    STRATA_CHECK(xs[i].defined(), "count_nonfinite: tensor ", i, " of ", xs.size(),
                 " is undefined");
    STRATA_CHECK(xs[i].device() == xs[0].device(), "count_nonfinite: tensor ", i, " is on ",
                 xs[i].device().str(), ", tensor 0 on ", xs[0].device().str(),
                 "; all tensors must be on one device");
  }
  Tensor count = zeros({}, {DType::i64, xs[0].device()});
  for (const Tensor& x : xs) {
    if (is_floating(x.dtype()) && x.numel() > 0) kernels(x.device())(count, x);
  }
  return count;
}

}  // namespace strata
