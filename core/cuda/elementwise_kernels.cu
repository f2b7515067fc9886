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

void unary_kernel(UnaryOp op, const Tensor& out, const Tensor& x) {
  ew::unary_kernel<CudaEngine, CudaMath>(op, out, x);
}
void unary_backward_kernel(UnaryOp op, const Tensor& grad_x, const Tensor& grad,
                           const Tensor& saved) {
  ew::unary_backward_kernel<CudaEngine, CudaMath>(op, grad_x, grad, saved);
}
void binary_kernel(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  ew::binary_kernel<CudaEngine, CudaMath>(op, out, a, b);
}
void binary_scalar_kernel(BinaryOp op, const Tensor& out, const Tensor& a, double b) {
  ew::binary_scalar_kernel<CudaEngine, CudaMath>(op, out, a, b);
}
void binary_backward_kernel(BinaryOp op, const Tensor& grad_a, const Tensor& grad_b,
                            const Tensor& grad, const Tensor& a, const Tensor& b, const Tensor& y) {
  ew::binary_backward_kernel<CudaEngine, CudaMath>(op, grad_a, grad_b, grad, a, b, y);
}
void binary_scalar_backward_kernel(BinaryOp op, const Tensor& grad_a, const Tensor& grad,
                                   const Tensor& a, double b) {
  ew::binary_scalar_backward_kernel<CudaEngine, CudaMath>(op, grad_a, grad, a, b);
}
void compare_kernel(CompareOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  ew::compare_kernel<CudaEngine>(op, out, a, b);
}
void compare_scalar_kernel(CompareOp op, const Tensor& out, const Tensor& a, double b) {
  ew::compare_scalar_kernel<CudaEngine>(op, out, a, b);
}
void where_kernel(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  ew::where_kernel<CudaEngine>(out, cond, a, b);
}
void clamp_kernel(const Tensor& out, const Tensor& x, double low, double high) {
  ew::clamp_kernel<CudaEngine>(out, x, low, high);
}
void clamp_backward_kernel(const Tensor& grad_x, const Tensor& grad, const Tensor& x, double low,
                           double high) {
  ew::clamp_backward_kernel<CudaEngine>(grad_x, grad, x, low, high);
}

}  // namespace strata::cuda
