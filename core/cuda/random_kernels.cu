// CUDA kernels for random draws and dropout. Each thread takes kPerThread consecutive elements and
// computes the Philox blocks their slots fall in once each; values come from the same
// core/random_values.hpp functions as on the CPU, so both devices fill identical numbers.
#include "core/cuda/cuda_check.hpp"
#include "core/dtype.hpp"
#include "core/random_kernels.hpp"
#include "core/random_values.hpp"

namespace strata::cuda {
namespace {

constexpr int kPerThread = 4;
constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
  int64_t threads = (n + kPerThread - 1) / kPerThread;
  return static_cast<unsigned>((threads + kThreads - 1) / kThreads);
}

// out[i] = value(first slot of element i, words) for elements taking `slots` slots each.
template <class T, class Value>
__global__ void random_fill_kernel(T* out, int64_t n, PhiloxState state, int slots, Value value) {
  int64_t first = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kPerThread;
  PhiloxWords words{state.seed};
  for (int k = 0; k < kPerThread; ++k) {
    int64_t i = first + k;
    if (i < n) out[i] = value(state.offset + static_cast<uint64_t>(slots * i), words);
  }
}

template <class T, class Value>
void launch_random_fill(const Tensor& out, PhiloxState state, int slots, Value value) {
  int64_t n = out.numel();
  random_fill_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(
      static_cast<T*>(out.data_ptr()), n, state, slots, value);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

template <class T>
__global__ void dropout_cuda_kernel(T* out, const T* x, int64_t n, PhiloxState state,
                                    uint32_t threshold, compute_t<T> scale) {
  int64_t first = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kPerThread;
  PhiloxWords words{state.seed};
  for (int k = 0; k < kPerThread; ++k) {
    int64_t i = first + k;
    if (i >= n) return;
    bool keep = dropout_keep(words(state.offset + static_cast<uint64_t>(i)), threshold);
    out[i] = T(keep ? static_cast<compute_t<T>>(x[i]) * scale : compute_t<T>(0));
  }
}

}  // namespace

void uniform_kernel(const Tensor& out, PhiloxState state) {
  STRATA_DISPATCH_FLOATING(out.dtype(), "rand", [&] {
    launch_random_fill<scalar_t>(out, state, kRandomSlots<scalar_t>,
                                 [] __device__(uint64_t slot, PhiloxWords & words) {
                                   return uniform_value<scalar_t>(slot, words);
                                 });
  });
}

void normal_kernel(const Tensor& out, PhiloxState state) {
  STRATA_DISPATCH_FLOATING(out.dtype(), "randn", [&] {
    launch_random_fill<scalar_t>(out, state, kRandomSlots<scalar_t>,
                                 [] __device__(uint64_t slot, PhiloxWords & words) {
                                   return normal_value<scalar_t>(slot, words);
                                 });
  });
}

template <class T>
void launch_randint(const Tensor& out, PhiloxState state, int64_t low, uint64_t range) {
  launch_random_fill<T>(out, state, kRandintSlots,
                        [low, range] __device__(uint64_t slot, PhiloxWords & words) {
                          return static_cast<T>(integer_value(slot, words, low, range));
                        });
}

void randint_kernel(const Tensor& out, PhiloxState state, int64_t low, uint64_t range) {
  if (out.dtype() == DType::i32) {
    launch_randint<int32_t>(out, state, low, range);
  } else {
    launch_randint<int64_t>(out, state, low, range);
  }
}

void dropout_kernel(const Tensor& out, const Tensor& x, double p, PhiloxState state) {
  const uint32_t threshold = dropout_threshold(p);
  STRATA_DISPATCH_FLOATING(x.dtype(), "dropout", [&] {
    using compute = compute_t<scalar_t>;
    const compute scale = p < 1 ? static_cast<compute>(1.0 / (1.0 - p)) : compute(0);
    int64_t n = x.numel();
    dropout_cuda_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(
        static_cast<scalar_t*>(out.data_ptr()), static_cast<const scalar_t*>(x.data_ptr()), n,
        state, threshold, scale);
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace strata::cuda
