// CUDA copy-with-conversion, fill, and byte copies across devices.
#include "core/convert.hpp"
#include "core/copy.hpp"
#include "core/cuda/cuda_loop.cuh"
#include "core/dtype.hpp"

namespace strata::cuda {

void copy_kernel(const Tensor& dst, const Tensor& src) {
  auto loop = make_strided_loop<2>({&dst, &src});
  std::array<char*, 2> base = {static_cast<char*>(dst.data_ptr()),
                               static_cast<char*>(src.data_ptr())};
  STRATA_DISPATCH_ALL(dst.dtype(), "copy_", [&] {
    using dst_t = scalar_t;
    STRATA_DISPATCH_ALL(src.dtype(), "copy_", [&] {
      using src_t = scalar_t;
      launch_elementwise<2>(loop, base, [] __device__(char** p) {
        *reinterpret_cast<dst_t*>(p[0]) = convert<dst_t>(*reinterpret_cast<const src_t*>(p[1]));
      });
    });
  });
}

void fill_kernel(const Tensor& dst, double value) {
  auto loop = make_strided_loop<1>({&dst});
  std::array<char*, 1> base = {static_cast<char*>(dst.data_ptr())};
  STRATA_DISPATCH_ALL(dst.dtype(), "fill_", [&] {
    const scalar_t fill_value = convert<scalar_t>(value);
    launch_elementwise<1>(loop, base, [fill_value] __device__(char** p) {
      *reinterpret_cast<scalar_t*>(p[0]) = fill_value;
    });
  });
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) {
  cudaMemcpyKind kind = dst_device.is_cpu()   ? cudaMemcpyDeviceToHost
                        : src_device.is_cpu() ? cudaMemcpyHostToDevice
                                              : cudaMemcpyDeviceToDevice;
  STRATA_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, kind, current_stream()));
  STRATA_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
}

}  // namespace strata::cuda
