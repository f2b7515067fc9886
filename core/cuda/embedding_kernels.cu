// CUDA embedding gather and its deterministic scatter-add: the front end groups positions by id,
// so each output element is one thread's sum in a fixed order (the same order as on the CPU).
#include <algorithm>

#include "core/cuda/cuda_check.hpp"
#include "core/dtype.hpp"
#include "core/embedding_kernels.hpp"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;

// out[r, c] = weight[ids[r], c]; one thread per output element.
template <class T, class Id>
__global__ void gather_rows_kernel(T* out, const T* weight, const Id* ids, int64_t count,
                                   int64_t dim, int64_t row_stride, int64_t column_stride) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  int64_t r = i / dim, c = i % dim;
  out[i] = weight[static_cast<int64_t>(ids[r]) * row_stride + c * column_stride];
}

// out[v, d] = sum over k in [row_start[v], row_start[v + 1]) of grad[positions[k], d], in k
// order. Blocks stride over rows, threads over columns.
template <class T>
__global__ void sum_grouped_rows_kernel(T* out, const T* grad, const int64_t* row_start,
                                        const int64_t* positions, int64_t rows, int64_t dim) {
  for (int64_t v = blockIdx.x; v < rows; v += gridDim.x) {
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
      compute_t<T> sum = 0;
      for (int64_t k = row_start[v]; k < row_start[v + 1]; ++k) {
        sum += static_cast<compute_t<T>>(grad[positions[k] * dim + d]);
      }
      out[v * dim + d] = T(sum);
    }
  }
}

template <class T, class Id>
void launch_gather(const Tensor& out, const Tensor& weight, const Id* ids) {
  int64_t count = out.numel();
  gather_rows_kernel<<<static_cast<unsigned>((count + kThreads - 1) / kThreads), kThreads, 0,
                       current_stream()>>>(static_cast<T*>(out.data_ptr()),
                                           static_cast<const T*>(weight.data_ptr()), ids, count,
                                           weight.size(1), weight.stride(0), weight.stride(1));
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

void embedding_backward_kernel(const Tensor& out, const Tensor& grad, const Tensor& row_start,
                               const Tensor& positions) {
  const int64_t rows = out.size(0), dim = out.size(1);
  const int threads = static_cast<int>(std::min<int64_t>(kThreads, (dim + 31) / 32 * 32));
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(rows, 1 << 20));
  STRATA_DISPATCH_FLOATING(grad.dtype(), "embedding_backward", [&] {
    sum_grouped_rows_kernel<<<blocks, threads, 0, current_stream()>>>(
        static_cast<scalar_t*>(out.data_ptr()), static_cast<const scalar_t*>(grad.data_ptr()),
        static_cast<const int64_t*>(row_start.data_ptr()),
        static_cast<const int64_t*>(positions.data_ptr()), rows, dim);
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace strata::cuda
