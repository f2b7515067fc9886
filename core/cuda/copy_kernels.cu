// CUDA copy-with-conversion, fill, and byte copies across devices. Contiguous copies (the common
// case: casts of whole tensors) skip the multi-index math and move 16 bytes per access.
#include <cstdint>

#include "core/convert.hpp"
#include "core/copy.hpp"
#include "core/cuda/cuda_loop.cuh"
#include "core/cuda/device_error.hpp"
#include "core/dtype.hpp"

namespace strata::cuda {
namespace {

// kVec elements moved as one aligned access.
template <class T, int kVec>
struct alignas(sizeof(T) * kVec) Packet {
  T v[kVec];
};

// out[i] = in[i] for i < n, each thread taking kVec consecutive elements. With kVec > 1 both
// pointers are aligned to whole packets.
template <class Dst, class Src, int kVec>
__global__ void contiguous_convert_kernel(Dst* out, const Src* in, int64_t n) {
  int64_t first = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kVec;
  if (first + kVec <= n) {
    Packet<Src, kVec> a = *reinterpret_cast<const Packet<Src, kVec>*>(in + first);
    Packet<Dst, kVec> b;
#pragma unroll
    for (int k = 0; k < kVec; ++k) b.v[k] = convert<Dst>(a.v[k]);
    *reinterpret_cast<Packet<Dst, kVec>*>(out + first) = b;
  } else {
    for (int64_t i = first; i < n; ++i) out[i] = convert<Dst>(in[i]);
  }
}

template <class Dst, class Src>
void launch_contiguous_convert(Dst* out, const Src* in, int64_t n) {
  // 16-byte accesses on the wider side.
  constexpr int kVec = 16 / (sizeof(Dst) > sizeof(Src) ? sizeof(Dst) : sizeof(Src));
  constexpr int kThreads = 256;
  bool aligned = reinterpret_cast<uintptr_t>(out) % (sizeof(Dst) * kVec) == 0 &&
                 reinterpret_cast<uintptr_t>(in) % (sizeof(Src) * kVec) == 0;
  if (aligned) {
    int64_t threads = (n + kVec - 1) / kVec;
    contiguous_convert_kernel<Dst, Src, kVec>
        <<<static_cast<unsigned>((threads + kThreads - 1) / kThreads), kThreads, 0,
           current_stream()>>>(out, in, n);
  } else {
    contiguous_convert_kernel<Dst, Src, 1>
        <<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0, current_stream()>>>(
            out, in, n);
  }
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void copy_kernel(const Tensor& dst, const Tensor& src) {
  auto loop = make_strided_loop<2>({&dst, &src});
  std::array<char*, 2> base = {static_cast<char*>(dst.data_ptr()),
                               static_cast<char*>(src.data_ptr())};
  bool contiguous = loop.ndim == 1 &&
                    loop.strides[0][0] == static_cast<int64_t>(dst.element_size()) &&
                    loop.strides[1][0] == static_cast<int64_t>(src.element_size());
  STRATA_DISPATCH_ALL(dst.dtype(), "copy_", [&] {
    using dst_t = scalar_t;
    STRATA_DISPATCH_ALL(src.dtype(), "copy_", [&] {
      using src_t = scalar_t;
      if (contiguous) {
        if (loop.numel > 0) {
          launch_contiguous_convert(reinterpret_cast<dst_t*>(base[0]),
                                    reinterpret_cast<const src_t*>(base[1]), loop.numel);
        }
        return;
      }
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
  // Only a copy to the host waits: the caller reads the bytes next. A copy from (pageable) host
  // memory returns once its source is staged, so the caller may free it, and a device-to-device
  // copy is ordered on the stream like any kernel.
  if (kind == cudaMemcpyDeviceToHost) {
    STRATA_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
    raise_device_error();
  }
}

}  // namespace strata::cuda
