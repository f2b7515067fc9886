// CUDA max/avg pooling and their backward, with the CPU kernels' semantics (core/conv_kernels.hpp)
// and summation order, so results match the CPU and are deterministic without atomics:
//   - forward: one thread per output element walks its clipped window;
//   - avg backward: one thread per input element sums the shares of the windows covering it, in
//     ascending output order (the CPU's order);
//   - max backward: one thread per plane adds each output's gradient at its recorded index, in
//     output order (the backward has no window geometry to invert, only the indices).
#include <climits>
#include <type_traits>

#include "core/conv_kernels.hpp"
#include "core/convert.hpp"
#include "core/cuda/cuda_check.hpp"
#include "core/cuda/device_error.hpp"
#include "core/dtype.hpp"
#include "core/factories.hpp"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t threads) {
  int64_t blocks = (threads + kThreads - 1) / kThreads;
  STRATA_CHECK(blocks <= INT_MAX, "CUDA pooling kernel: ", threads, " threads exceed one grid");
  return static_cast<unsigned>(blocks);
}

// The part of output (oh, ow)'s window inside the plane: rows [h0, h1), columns [w0, w1).
struct Box {
  int64_t h0, h1, w0, w1;
};

__device__ Box clipped_window(const Window2d& win, int64_t oh, int64_t ow) {
  int64_t h = oh * win.stride_h - win.pad_h, w = ow * win.stride_w - win.pad_w;
  return {h > 0 ? h : 0, h + win.kernel_h < win.height ? h + win.kernel_h : win.height,
          w > 0 ? w : 0, w + win.kernel_w < win.width ? w + win.kernel_w : win.width};
}

// The outputs along one axis whose window covers input coordinate i: [first, last].
__device__ void covering(int64_t i, int64_t stride, int64_t pad, int64_t kernel, int64_t outputs,
                         int64_t& first, int64_t& last) {
  int64_t low = i + pad - kernel + 1;  // the output must start at or after low
  first = low <= 0 ? 0 : (low + stride - 1) / stride;
  last = (i + pad) / stride;
  if (last > outputs - 1) last = outputs - 1;
}

// x [N, C, H, W] with element strides xs0..xs3; out and indices [N, C, OH, OW] contiguous.
template <class T>
__global__ void max_pool_kernel(T* out, int64_t* indices, const T* x, int64_t channels, int64_t xs0,
                                int64_t xs1, int64_t xs2, int64_t xs3, Window2d win,
                                int64_t count) {
  int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= count) return;
  const int64_t ow = o % win.out_width, oh = (o / win.out_width) % win.out_height;
  const int64_t plane = o / (win.out_width * win.out_height);
  const T* in = x + (plane / channels) * xs0 + (plane % channels) * xs1;
  using acc_t = compute_t<T>;
  Box box = clipped_window(win, oh, ow);
  acc_t best = convert<acc_t>(in[box.h0 * xs2 + box.w0 * xs3]);
  int64_t best_index = box.h0 * win.width + box.w0;
  for (int64_t h = box.h0; h < box.h1; ++h) {
    for (int64_t w = box.w0; w < box.w1; ++w) {
      acc_t v = convert<acc_t>(in[h * xs2 + w * xs3]);
      if (v > best || (v != v && best == best)) {
        best = v;
        best_index = h * win.width + w;
      }
    }
  }
  out[o] = convert<T>(best);
  indices[o] = best_index;
}

// sums [planes, plane_size] (zeroed) += grad at indices, one thread per plane in output order;
// then grad_x = sums rounded (sums may be grad_x itself when T is its own accumulation type).
template <class T, class Acc>
__global__ void max_pool_backward_kernel(T* grad_x, Acc* sums, const T* grad,
                                         const int64_t* indices, int64_t planes, int64_t plane_size,
                                         int64_t out_plane, DeviceError* error, const char* op,
                                         const char* what) {
  int64_t plane = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (plane >= planes) return;
  Acc* sum = sums + plane * plane_size;
  for (int64_t o = plane * out_plane; o < (plane + 1) * out_plane; ++o) {
    int64_t i = indices[o];
    if (i < 0 || i >= plane_size) {
      report_out_of_range(error, op, what, i, o, plane_size);
      continue;
    }
    sum[i] += convert<Acc>(grad[o]);
  }
  if constexpr (!std::is_same_v<T, Acc>) {
    for (int64_t i = 0; i < plane_size; ++i) grad_x[plane * plane_size + i] = convert<T>(sum[i]);
  }
}

__device__ int64_t window_divisor(const Window2d& win, const Box& box, bool count_include_pad) {
  return count_include_pad ? win.kernel_h * win.kernel_w : (box.h1 - box.h0) * (box.w1 - box.w0);
}

template <class T>
__global__ void avg_pool_kernel(T* out, const T* x, int64_t channels, int64_t xs0, int64_t xs1,
                                int64_t xs2, int64_t xs3, Window2d win, bool count_include_pad,
                                int64_t count) {
  int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= count) return;
  const int64_t ow = o % win.out_width, oh = (o / win.out_width) % win.out_height;
  const int64_t plane = o / (win.out_width * win.out_height);
  const T* in = x + (plane / channels) * xs0 + (plane % channels) * xs1;
  using acc_t = compute_t<T>;
  Box box = clipped_window(win, oh, ow);
  acc_t sum = 0;
  for (int64_t h = box.h0; h < box.h1; ++h)
    for (int64_t w = box.w0; w < box.w1; ++w) sum += convert<acc_t>(in[h * xs2 + w * xs3]);
  out[o] = convert<T>(sum / static_cast<acc_t>(window_divisor(win, box, count_include_pad)));
}

// grad_x [N, C, H, W] and grad [N, C, OH, OW] contiguous; one thread per input element.
template <class T>
__global__ void avg_pool_backward_kernel(T* grad_x, const T* grad, Window2d win,
                                         bool count_include_pad, int64_t count) {
  int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= count) return;
  const int64_t w = e % win.width, h = (e / win.width) % win.height;
  const int64_t plane = e / (win.width * win.height);
  const T* g = grad + plane * win.out_height * win.out_width;
  using acc_t = compute_t<T>;
  int64_t oh0, oh1, ow0, ow1;
  covering(h, win.stride_h, win.pad_h, win.kernel_h, win.out_height, oh0, oh1);
  covering(w, win.stride_w, win.pad_w, win.kernel_w, win.out_width, ow0, ow1);
  acc_t sum = 0;
  for (int64_t oh = oh0; oh <= oh1; ++oh) {
    for (int64_t ow = ow0; ow <= ow1; ++ow) {
      Box box = clipped_window(win, oh, ow);
      sum += convert<acc_t>(g[oh * win.out_width + ow]) /
             static_cast<acc_t>(window_divisor(win, box, count_include_pad));
    }
  }
  grad_x[e] = convert<T>(sum);
}

}  // namespace

void max_pool2d_kernel(const Tensor& out, const Tensor& indices, const Tensor& x,
                       const Window2d& window) {
  if (out.numel() == 0) return;
  STRATA_DISPATCH_FLOATING(x.dtype(), "max_pool2d", [&] {
    max_pool_kernel<<<blocks_for(out.numel()), kThreads, 0, current_stream()>>>(
        static_cast<scalar_t*>(out.data_ptr()), static_cast<int64_t*>(indices.data_ptr()),
        static_cast<const scalar_t*>(x.data_ptr()), x.size(1), x.stride(0), x.stride(1),
        x.stride(2), x.stride(3), window, out.numel());
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

void max_pool2d_backward_kernel(const Tensor& grad_x, const Tensor& grad, const Tensor& indices) {
  if (grad_x.numel() == 0) return;
  const int64_t planes = grad_x.size(0) * grad_x.size(1);
  const int64_t plane_size = grad_x.size(2) * grad_x.size(3);
  const int64_t out_plane = grad.size(2) * grad.size(3);
  STRATA_DISPATCH_FLOATING(grad_x.dtype(), "max_pool2d_backward", [&] {
    using acc_t = compute_t<scalar_t>;
    // 16-bit gradients are summed in f32 scratch; the others in grad_x itself.
    Tensor sums = std::is_same_v<scalar_t, acc_t>
                      ? grad_x
                      : empty(grad_x.shape(), {dtype_of<acc_t>(), grad_x.device()});
    sums.fill_(0.0);
    max_pool_backward_kernel<<<blocks_for(planes), kThreads, 0, current_stream()>>>(
        static_cast<scalar_t*>(grad_x.data_ptr()), static_cast<acc_t*>(sums.data_ptr()),
        static_cast<const scalar_t*>(grad.data_ptr()),
        static_cast<const int64_t*>(indices.data_ptr()), planes, plane_size, out_plane,
        device_error_slot(), "max_pool2d_backward", "index");
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

void avg_pool2d_kernel(const Tensor& out, const Tensor& x, const Window2d& window,
                       bool count_include_pad) {
  if (out.numel() == 0) return;
  STRATA_DISPATCH_FLOATING(x.dtype(), "avg_pool2d", [&] {
    avg_pool_kernel<<<blocks_for(out.numel()), kThreads, 0, current_stream()>>>(
        static_cast<scalar_t*>(out.data_ptr()), static_cast<const scalar_t*>(x.data_ptr()),
        x.size(1), x.stride(0), x.stride(1), x.stride(2), x.stride(3), window, count_include_pad,
        out.numel());
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

void avg_pool2d_backward_kernel(const Tensor& grad_x, const Tensor& grad, const Window2d& window,
                                bool count_include_pad) {
  if (grad_x.numel() == 0) return;
  STRATA_DISPATCH_FLOATING(grad_x.dtype(), "avg_pool2d_backward", [&] {
    avg_pool_backward_kernel<<<blocks_for(grad_x.numel()), kThreads, 0, current_stream()>>>(
        static_cast<scalar_t*>(grad_x.data_ptr()), static_cast<const scalar_t*>(grad.data_ptr()),
        window, count_include_pad, grad_x.numel());
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace strata::cuda
