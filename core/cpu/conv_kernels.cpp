// CPU im2col / col2im and 2-D pooling. Work is split by (n, c) plane across the pool; the adjoint
// kernels (col2im and the pooling backwards) add into an f32/f64 plane buffer owned by one thread
// in a fixed order and round once, so their results are deterministic.
#include <algorithm>
#include <vector>

#include "core/conv_kernels.hpp"
#include "core/convert.hpp"
#include "core/cpu/cpu_loop.hpp"
#include "core/dtype.hpp"

namespace strata::cpu::STRATA_ISA {
namespace {

// Output positions [begin, end) among `count` whose input position o * stride + offset lies in
// [0, size): the part of a row of windows that reads real input rather than padding.
struct Span {
  int64_t begin, end;
};
Span inside(int64_t offset, int64_t stride, int64_t size, int64_t count) {
  int64_t begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t end = offset >= size ? 0 : (size - offset + stride - 1) / stride;
  end = std::min(end, count);
  return {std::min(begin, end), end};
}

// Planes per task, so that a task holds about kElementwiseGrain element visits.
int64_t plane_grain(int64_t work_per_plane) {
  return std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, work_per_plane));
}

// Calls fn(plane) for each of `planes` planes across the pool.
template <class Fn>
void for_each_plane(int64_t planes, int64_t work_per_plane, Fn&& fn) {
  parallel_for(0, planes, plane_grain(work_per_plane), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) fn(plane);
  });
}

// The window of output (oh, ow) clipped to the input plane: rows [h.begin, h.end), cols likewise.
struct Box {
  Span h, w;
};
Box clipped_window(const Window2d& win, int64_t oh, int64_t ow) {
  int64_t h0 = oh * win.stride_h - win.pad_h, w0 = ow * win.stride_w - win.pad_w;
  return {{std::max<int64_t>(h0, 0), std::min(h0 + win.kernel_h, win.height)},
          {std::max<int64_t>(w0, 0), std::min(w0 + win.kernel_w, win.width)}};
}

}  // namespace

void im2col_kernel(const Tensor& cols, const Tensor& x, const Window2d& win) {
  if (cols.numel() == 0) return;
  const int64_t channels = x.size(1), groups = cols.size(1), group_channels = channels / groups;
  const int64_t kernel_area = win.kernel_h * win.kernel_w;
  const Shape& xs = x.strides();
  const Shape& cs = cols.strides();
  STRATA_DISPATCH_FLOATING(x.dtype(), "conv2d", [&] {
    const scalar_t zero = convert<scalar_t>(0.0f);
    const scalar_t* x_data = x.data<scalar_t>();
    scalar_t* cols_data = cols.data<scalar_t>();
    for_each_plane(
        x.size(0) * channels, kernel_area * win.out_height * win.out_width, [&](int64_t plane) {
          const int64_t n = plane / channels, c = plane % channels;
          const scalar_t* in = x_data + n * xs[0] + c * xs[1];
          for (int64_t kh = 0; kh < win.kernel_h; ++kh) {
            for (int64_t kw = 0; kw < win.kernel_w; ++kw) {
              const int64_t row = (c % group_channels) * kernel_area + kh * win.kernel_w + kw;
              scalar_t* dst = cols_data + n * cs[0] + (c / group_channels) * cs[1] + row * cs[2];
              const int64_t w_offset = kw * win.dilation_w - win.pad_w;
              const Span cols_inside = inside(w_offset, win.stride_w, win.width, win.out_width);
              const int64_t step = win.stride_w * xs[3];
              for (int64_t oh = 0; oh < win.out_height; ++oh) {
                scalar_t* out = dst + oh * win.out_width * cs[3];
                const int64_t ih = oh * win.stride_h - win.pad_h + kh * win.dilation_h;
                if (ih < 0 || ih >= win.height) {
                  for (int64_t ow = 0; ow < win.out_width; ++ow) out[ow * cs[3]] = zero;
                  continue;
                }
                const scalar_t* in_row = in + ih * xs[2];
                for (int64_t ow = 0; ow < cols_inside.begin; ++ow) out[ow * cs[3]] = zero;
                for (int64_t ow = cols_inside.begin; ow < cols_inside.end; ++ow)
                  out[ow * cs[3]] = in_row[w_offset * xs[3] + ow * step];
                for (int64_t ow = cols_inside.end; ow < win.out_width; ++ow) out[ow * cs[3]] = zero;
              }
            }
          }
        });
  });
}

void col2im_kernel(const Tensor& grad_x, const Tensor& cols, const Window2d& win) {
  if (grad_x.numel() == 0) return;
  const int64_t channels = grad_x.size(1), groups = cols.size(1),
                group_channels = channels / groups;
  const int64_t kernel_area = win.kernel_h * win.kernel_w, plane_size = win.height * win.width;
  const Shape& cs = cols.strides();
  STRATA_DISPATCH_FLOATING(grad_x.dtype(), "conv2d_backward", [&] {
    using acc_t = compute_t<scalar_t>;
    const scalar_t* cols_data = cols.data<scalar_t>();
    scalar_t* out = grad_x.data<scalar_t>();
    parallel_for(
        0, grad_x.size(0) * channels, plane_grain(kernel_area * win.out_height * win.out_width),
        [&](int64_t begin, int64_t end) {
          std::vector<acc_t> sums(static_cast<size_t>(plane_size));
          for (int64_t plane = begin; plane < end; ++plane) {
            const int64_t n = plane / channels, c = plane % channels;
            std::fill(sums.begin(), sums.end(), acc_t(0));
            for (int64_t kh = 0; kh < win.kernel_h; ++kh) {
              for (int64_t kw = 0; kw < win.kernel_w; ++kw) {
                const int64_t row = (c % group_channels) * kernel_area + kh * win.kernel_w + kw;
                const scalar_t* src =
                    cols_data + n * cs[0] + (c / group_channels) * cs[1] + row * cs[2];
                const int64_t w_offset = kw * win.dilation_w - win.pad_w;
                const Span cols_inside = inside(w_offset, win.stride_w, win.width, win.out_width);
                for (int64_t oh = 0; oh < win.out_height; ++oh) {
                  const int64_t ih = oh * win.stride_h - win.pad_h + kh * win.dilation_h;
                  if (ih < 0 || ih >= win.height) continue;
                  const scalar_t* in = src + oh * win.out_width * cs[3];
                  acc_t* sum_row = sums.data() + ih * win.width;
                  for (int64_t ow = cols_inside.begin; ow < cols_inside.end; ++ow)
                    sum_row[w_offset + ow * win.stride_w] += convert<acc_t>(in[ow * cs[3]]);
                }
              }
            }
            scalar_t* dst = out + plane * plane_size;
            for (int64_t i = 0; i < plane_size; ++i) dst[i] = convert<scalar_t>(sums[i]);
          }
        });
  });
}

void max_pool2d_kernel(const Tensor& out, const Tensor& indices, const Tensor& x,
                       const Window2d& win) {
  if (out.numel() == 0) return;
  const int64_t channels = x.size(1), out_plane = win.out_height * win.out_width;
  const Shape& xs = x.strides();
  STRATA_DISPATCH_FLOATING(x.dtype(), "max_pool2d", [&] {
    using acc_t = compute_t<scalar_t>;
    const scalar_t* x_data = x.data<scalar_t>();
    scalar_t* out_data = out.data<scalar_t>();
    int64_t* index_data = indices.data<int64_t>();
    for_each_plane(
        x.size(0) * channels, out_plane * win.kernel_h * win.kernel_w, [&](int64_t plane) {
          const scalar_t* in = x_data + (plane / channels) * xs[0] + (plane % channels) * xs[1];
          for (int64_t oh = 0; oh < win.out_height; ++oh) {
            for (int64_t ow = 0; ow < win.out_width; ++ow) {
              Box box = clipped_window(win, oh, ow);
              acc_t best = convert<acc_t>(in[box.h.begin * xs[2] + box.w.begin * xs[3]]);
              int64_t best_index = box.h.begin * win.width + box.w.begin;
              for (int64_t h = box.h.begin; h < box.h.end; ++h) {
                for (int64_t w = box.w.begin; w < box.w.end; ++w) {
                  acc_t v = convert<acc_t>(in[h * xs[2] + w * xs[3]]);
                  if (v > best || (v != v && best == best)) {
                    best = v;
                    best_index = h * win.width + w;
                  }
                }
              }
              int64_t o = plane * out_plane + oh * win.out_width + ow;
              out_data[o] = convert<scalar_t>(best);
              index_data[o] = best_index;
            }
          }
        });
  });
}

void max_pool2d_backward_kernel(const Tensor& grad_x, const Tensor& grad, const Tensor& indices) {
  if (grad_x.numel() == 0) return;
  const int64_t planes = grad_x.size(0) * grad_x.size(1);
  const int64_t plane_size = grad_x.size(2) * grad_x.size(3);
  const int64_t out_plane = grad.size(2) * grad.size(3);
  STRATA_DISPATCH_FLOATING(grad_x.dtype(), "max_pool2d_backward", [&] {
    using acc_t = compute_t<scalar_t>;
    const scalar_t* grad_data = grad.data<scalar_t>();
    const int64_t* index_data = indices.data<int64_t>();
    scalar_t* out = grad_x.data<scalar_t>();
    parallel_for(0, planes, plane_grain(plane_size + out_plane), [&](int64_t begin, int64_t end) {
      std::vector<acc_t> sums(static_cast<size_t>(plane_size));
      for (int64_t plane = begin; plane < end; ++plane) {
        std::fill(sums.begin(), sums.end(), acc_t(0));
        for (int64_t o = plane * out_plane; o < (plane + 1) * out_plane; ++o)
          sums[index_data[o]] += convert<acc_t>(grad_data[o]);
        scalar_t* dst = out + plane * plane_size;
        for (int64_t i = 0; i < plane_size; ++i) dst[i] = convert<scalar_t>(sums[i]);
      }
    });
  });
}

namespace {
// The number avg_pool2d divides a window's sum by.
int64_t window_divisor(const Window2d& win, const Box& box, bool count_include_pad) {
  return count_include_pad ? win.kernel_h * win.kernel_w
                           : (box.h.end - box.h.begin) * (box.w.end - box.w.begin);
}
}  // namespace

void avg_pool2d_kernel(const Tensor& out, const Tensor& x, const Window2d& win,
                       bool count_include_pad) {
  if (out.numel() == 0) return;
  const int64_t channels = x.size(1), out_plane = win.out_height * win.out_width;
  const Shape& xs = x.strides();
  STRATA_DISPATCH_FLOATING(x.dtype(), "avg_pool2d", [&] {
    using acc_t = compute_t<scalar_t>;
    const scalar_t* x_data = x.data<scalar_t>();
    scalar_t* out_data = out.data<scalar_t>();
    for_each_plane(
        x.size(0) * channels, out_plane * win.kernel_h * win.kernel_w, [&](int64_t plane) {
          const scalar_t* in = x_data + (plane / channels) * xs[0] + (plane % channels) * xs[1];
          scalar_t* dst = out_data + plane * out_plane;
          for (int64_t oh = 0; oh < win.out_height; ++oh) {
            for (int64_t ow = 0; ow < win.out_width; ++ow) {
              Box box = clipped_window(win, oh, ow);
              acc_t sum = 0;
              for (int64_t h = box.h.begin; h < box.h.end; ++h)
                for (int64_t w = box.w.begin; w < box.w.end; ++w)
                  sum += convert<acc_t>(in[h * xs[2] + w * xs[3]]);
              dst[oh * win.out_width + ow] = convert<scalar_t>(
                  sum / static_cast<acc_t>(window_divisor(win, box, count_include_pad)));
            }
          }
        });
  });
}

void avg_pool2d_backward_kernel(const Tensor& grad_x, const Tensor& grad, const Window2d& win,
                                bool count_include_pad) {
  if (grad_x.numel() == 0) return;
  const int64_t planes = grad_x.size(0) * grad_x.size(1);
  const int64_t plane_size = win.height * win.width, out_plane = win.out_height * win.out_width;
  STRATA_DISPATCH_FLOATING(grad_x.dtype(), "avg_pool2d_backward", [&] {
    using acc_t = compute_t<scalar_t>;
    const scalar_t* grad_data = grad.data<scalar_t>();
    scalar_t* out = grad_x.data<scalar_t>();
    parallel_for(0, planes, plane_grain(plane_size + out_plane * win.kernel_h * win.kernel_w),
                 [&](int64_t begin, int64_t end) {
                   std::vector<acc_t> sums(static_cast<size_t>(plane_size));
                   for (int64_t plane = begin; plane < end; ++plane) {
                     std::fill(sums.begin(), sums.end(), acc_t(0));
                     const scalar_t* g = grad_data + plane * out_plane;
                     for (int64_t oh = 0; oh < win.out_height; ++oh) {
                       for (int64_t ow = 0; ow < win.out_width; ++ow) {
                         Box box = clipped_window(win, oh, ow);
                         acc_t share =
                             convert<acc_t>(g[oh * win.out_width + ow]) /
                             static_cast<acc_t>(window_divisor(win, box, count_include_pad));
                         for (int64_t h = box.h.begin; h < box.h.end; ++h)
                           for (int64_t w = box.w.begin; w < box.w.end; ++w)
                             sums[h * win.width + w] += share;
                       }
                     }
                     scalar_t* dst = out + plane * plane_size;
                     for (int64_t i = 0; i < plane_size; ++i) dst[i] = convert<scalar_t>(sums[i]);
                   }
                 });
  });
}

}  // namespace strata::cpu::STRATA_ISA
