// CUDA embedding gather. The ids are checked here, on the device: an id outside the vocabulary is
// reported through core/cuda/device_error.hpp (raised at the next synchronisation) and its row is
// left unwritten. The backward is the grouped index-add of core/cuda/indexing_kernels.cu.
#include "core/cuda/cuda_check.hpp"
#include "core/cuda/device_error.hpp"
#include "core/dtype.hpp"
#include "core/embedding_kernels.hpp"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;

// out[r, c] = weight[ids[r], c]; one thread per output element.
template <class T, class Id>
__global__ void gather_rows_kernel(T* out, const T* weight, const Id* ids, int64_t count,
                                   int64_t dim, int64_t rows, int64_t row_stride,
                                   int64_t column_stride, DeviceError* error, const char* op,
                                   const char* what) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  int64_t r = i / dim, c = i % dim;
  int64_t id = ids[r];
  if (id < 0 || id >= rows) {
    if (c == 0) report_out_of_range(error, op, what, id, r, rows);
    return;
  }
  out[i] = weight[id * row_stride + c * column_stride];
}

template <class T, class Id>
void launch_gather(const Tensor& out, const Tensor& weight, const Id* ids) {
  int64_t count = out.numel();
  gather_rows_kernel<<<static_cast<unsigned>((count + kThreads - 1) / kThreads), kThreads, 0,
                       current_stream()>>>(
      static_cast<T*>(out.data_ptr()), static_cast<const T*>(weight.data_ptr()), ids, count,
      weight.size(1), weight.size(0), weight.stride(0), weight.stride(1), device_error_slot(),
      "embedding", "id");
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void embedding_kernel(const Tensor& out, const Tensor& weight, const Tensor& ids) {
  STRATA_DISPATCH_ALL(weight.dtype(), "embedding", [&] {
    if (ids.dtype() == DType::i32) {
      launch_gather<scalar_t>(out, weight, static_cast<const int32_t*>(ids.data_ptr()));
    } else {
      launch_gather<scalar_t>(out, weight, static_cast<const int64_t*>(ids.data_ptr()));
    }
  });
}

}  // namespace strata::cuda
