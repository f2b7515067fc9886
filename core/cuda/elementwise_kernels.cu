// CUDA element-wise kernels: the shared bodies of elementwise_dispatch.hpp run on map_elements
// (cuda_loop.cuh), one thread per element, with CUDA's own math functions.
#include "core/cuda/cuda_loop.cuh"
#include "core/elementwise_dispatch.hpp"
#include "core/elementwise_kernels.hpp"

namespace strata::cuda {
namespace {

struct CudaMath {
  __host__ __device__ static float exp(float x) { return ::expf(x); }
  __host__ __device__ static float log(float x) { return ::logf(x); }
  __host__ __device__ static float tanh(float x) { return ::tanhf(x); }
  __host__ __device__ static float normal_cdf(float x) { return ::normcdff(x); }
  __host__ __device__ static float sqrt(float x) { return ::sqrtf(x); }
  __host__ __device__ static float abs(float x) { return ::fabsf(x); }
  __host__ __device__ static float pow(float a, float b) { return ::powf(a, b); }
  __host__ __device__ static double exp(double x) { return ::exp(x); }
  __host__ __device__ static double log(double x) { return ::log(x); }
  __host__ __device__ static double tanh(double x) { return ::tanh(x); }
  __host__ __device__ static double normal_cdf(double x) { return ::normcdf(x); }
  __host__ __device__ static double sqrt(double x) { return ::sqrt(x); }
  __host__ __device__ static double abs(double x) { return ::fabs(x); }
  __host__ __device__ static double pow(double a, double b) { return ::pow(a, b); }
};

struct CudaEngine {
  template <class Out, class... In, class Fn>
  static void map(const Tensor& out, const std::array<const Tensor*, sizeof...(In)>& inputs,
                  const Fn& fn) {
    map_elements<Out, In...>(out, inputs, fn);
  }
};

}  // namespace

STRATA_DEFINE_ELEMENTWISE_KERNELS(CudaEngine, CudaMath)

}  // namespace strata::cuda
