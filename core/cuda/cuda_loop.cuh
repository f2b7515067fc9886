// Element-wise launch over a StridedLoop: one thread per element, offsets from the multi-index.
// f(char* ptrs[N]) handles one element given its N addresses.
#pragma once

#include <array>

#include "core/cuda/cuda_check.hpp"
#include "core/strided_loop.hpp"

namespace strata::cuda {

template <int N, class F>
__global__ void strided_elementwise_kernel(StridedLoop<N> loop, std::array<char*, N> base, F f) {
  int64_t linear = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (linear >= loop.numel) return;
  char* ptrs[N];
  for (int i = 0; i < N; ++i) ptrs[i] = base[i];
  int64_t rest = linear;
  for (int d = 0; d < loop.ndim; ++d) {
    int64_t index = rest % loop.shape[d];
    rest /= loop.shape[d];
    for (int i = 0; i < N; ++i) ptrs[i] += index * loop.strides[i][d];
  }
  f(ptrs);
}

template <int N, class F>
void launch_elementwise(const StridedLoop<N>& loop, const std::array<char*, N>& base, F f) {
  if (loop.numel == 0) return;
  constexpr int kThreads = 256;
  int64_t blocks = (loop.numel + kThreads - 1) / kThreads;
  strided_elementwise_kernel<N>
      <<<static_cast<unsigned>(blocks), kThreads, 0, current_stream()>>>(loop, base, f);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace strata::cuda
