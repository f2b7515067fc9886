// Tensor::copy_ and Tensor::fill_: broadcasting, cross-device staging, then the device kernel.
#include "core/copy.hpp"

#include "core/autograd_record.hpp"
#include "core/dispatch.hpp"

namespace strata {

Tensor& Tensor::copy_(const Tensor& src) {
  static const KernelTable<void(const Tensor&, const Tensor&)> kernels{
      "copy_", STRATA_CPU_KERNEL(copy_kernel), STRATA_CUDA_KERNEL(copy_kernel)};
  STRATA_CHECK(src.defined(), "copy_: source tensor is undefined");
  autograd::check_inplace(*this, "copy_");
  autograd::NoGradGuard not_recorded;  // copy_ writes in place; its broadcast is no graph edge
  Tensor source = src.expand(shape());
  if (source.device() == device()) {
    kernels(device())(*this, source);
    return *this;
  }
#if defined(STRATA_HAVE_CUDA)
  // Across devices: convert on the source side into a contiguous staging tensor, move the bytes,
  // then place them (which may still need strides) on this side.
  Tensor staged = source.to(dtype()).contiguous();
  Tensor landing = is_contiguous() ? *this
                                   : Tensor(Storage(nbytes(), device()), shape(),
                                            contiguous_strides(shape()), 0, dtype());
  cuda::copy_bytes(landing.data_ptr(), device(), staged.data_ptr(), staged.device(), nbytes());
  if (!landing.is_same(*this)) kernels(device())(*this, landing);
  return *this;
#else
  fail("copy_: cannot copy from ", src.device().str(), " to ", device().str(),
       ": this Strata build has no CUDA backend");
#endif
}

Tensor& Tensor::fill_(double value) {
  static const KernelTable<void(const Tensor&, double)> kernels{
      "fill_", STRATA_CPU_KERNEL(fill_kernel), STRATA_CUDA_KERNEL(fill_kernel)};
  autograd::check_inplace(*this, "fill_");
  kernels(device())(*this, value);
  return *this;
}

}  // namespace strata
