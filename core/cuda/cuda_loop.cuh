// Element-wise launches over a StridedLoop, one thread per element.
//   launch_elementwise: f(char* ptrs[N]) handles one element given its N addresses.
//   map_elements:       out = fn(in...) on compute values (elementwise_functors.hpp), converting
//                       each operand from and to its storage type.
// A loop that coalesced to a single dim (contiguous operands, or one stride each) runs a kernel
// with no multi-index arithmetic: address = base + i * stride.
#pragma once

#include <array>
#include <utility>

#include "core/convert.hpp"
#include "core/cuda/cuda_check.hpp"
#include "core/dtype.hpp"
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
__global__ void linear_elementwise_kernel(int64_t numel, std::array<char*, N> base,
                                          std::array<int64_t, N> strides, F f) {
  int64_t linear = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (linear >= numel) return;
  char* ptrs[N];
  for (int i = 0; i < N; ++i) ptrs[i] = base[i] + linear * strides[i];
  f(ptrs);
}

template <int N, class F>
void launch_elementwise(const StridedLoop<N>& loop, const std::array<char*, N>& base, F f) {
  if (loop.numel == 0) return;
  constexpr int kThreads = 256;
  auto blocks = static_cast<unsigned>((loop.numel + kThreads - 1) / kThreads);
  if (loop.ndim == 1) {
    std::array<int64_t, N> strides;
    for (int i = 0; i < N; ++i) strides[i] = loop.strides[i][0];
    linear_elementwise_kernel<N>
        <<<blocks, kThreads, 0, current_stream()>>>(loop.numel, base, strides, f);
  } else {
    strided_elementwise_kernel<N><<<blocks, kThreads, 0, current_stream()>>>(loop, base, f);
  }
  STRATA_CUDA_CHECK(cudaGetLastError());
}

// One element of map_elements: loads each input as its compute type, applies fn, stores Out.
template <class Out, class Fn, class... In>
struct MapElement {
  Fn fn;
  __device__ void operator()(char** ptrs) const { apply(ptrs, std::index_sequence_for<In...>{}); }
  template <size_t... I>
  __device__ void apply(char** ptrs, std::index_sequence<I...>) const {
    *reinterpret_cast<Out*>(ptrs[0]) =
        convert<Out>(fn(static_cast<compute_t<In>>(*reinterpret_cast<const In*>(ptrs[I + 1]))...));
  }
};

// out = fn(inputs...) element-wise. All operands have out's shape (expand inputs first); Out and
// In are their storage types, fn maps compute values to a compute value.
template <class Out, class... In, class Fn>
void map_elements(const Tensor& out, const std::array<const Tensor*, sizeof...(In)>& inputs,
                  const Fn& fn) {
  constexpr int N = 1 + sizeof...(In);
  if (out.numel() == 0) return;
  OperandLoop<N> operands = make_operand_loop<N>(out, inputs);
  launch_elementwise<N>(operands.loop, operands.base, MapElement<Out, Fn, In...>{fn});
}

}  // namespace strata::cuda
