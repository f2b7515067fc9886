// Joining, splitting, gathering, scattering, masking and top-k: validation and shaping. cat and
// stack are copies into slices of the result; split and chunk are views; the rest dispatch to
// core/indexing_kernels.hpp. Scatter-adds of 16-bit floats accumulate in f32 and round once.
// Index ranges are checked here for CPU tensors and by a kernel for CUDA tensors.
#include "core/indexing.hpp"

#include "core/autograd_record.hpp"
#include "core/dispatch.hpp"
#include "core/factories.hpp"
#include "core/indexing_kernels.hpp"

namespace strata {
namespace {

using GatherFn = void(const Tensor&, const Tensor&, int64_t, const Tensor&);
using ScatterFn = void(const Tensor&, int64_t, const Tensor&, const Tensor&, bool);

// The dtype a scatter-add accumulates in.
DType accumulate_dtype(DType dtype) { return is_16bit_float(dtype) ? DType::f32 : dtype; }

// The box of t with `shape` that starts at t's first element (shape[d] <= t.size(d)).
Tensor leading_box(const Tensor& t, const Shape& shape) {
  return Tensor(t.storage(), shape, t.strides(), t.offset(), t.dtype());
}

// A 1-D (or 0-d) index viewed with `shape`: index[j] at every position whose coordinate along dim
// is j (stride 0 in the other dims).
Tensor spread_index(const Tensor& index, const Shape& shape, int64_t dim) {
  Tensor line = index.reshape({-1});
  Shape strides(shape.size(), 0);
  strides[dim] = line.strides()[0];
  return Tensor(line.storage(), shape, strides, line.offset(), line.dtype());
}

void check_defined(const char* op, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors) STRATA_CHECK(t->defined(), op, ": an operand is undefined");
}

void check_index_dtype(const char* op, const Tensor& index) {
  STRATA_CHECK(index.dtype() == DType::i32 || index.dtype() == DType::i64, op,
               ": index must be i32 or i64, got ", dtype_name(index.dtype()));
}

// Throws naming the first index outside [0, size). On a CUDA device the indices are checked by a
// kernel and a bad one is raised at the next synchronisation (core/cuda/device_error.hpp): reading
// them here would wait for the device on every op.
void check_index_range(const char* op, const Tensor& index, int64_t size, int64_t dim) {
  static const KernelTable<void(const char*, const char*, const Tensor&, int64_t)> device_check{
      "index check", nullptr, STRATA_CUDA_KERNEL(check_index_range)};
  if (!index.device().is_cpu()) {
    device_check(index.device())(op, "index", index, size);
    return;
  }
  Tensor host = index.contiguous();
  auto scan = [&](const auto* values) {
    for (int64_t i = 0; i < host.numel(); ++i) {
      int64_t v = values[i];
      STRATA_CHECK(v >= 0 && v < size, op, ": index ", v, " is out of range for dim ", dim,
                   " of size ", size, " (valid range [0, ", size, "))");
    }
  };
  if (host.dtype() == DType::i32) {
    scan(host.data<int32_t>());
  } else {
    scan(host.data<int64_t>());
  }
}

// Shapes for gather/scatter: index has x's rank and fits in x except along dim.
void check_fits(const char* op, const Tensor& index, const char* name, const Tensor& t, int64_t dim,
                bool along_dim_too) {
  STRATA_CHECK(index.dim() == t.dim(), op, ": index has shape ", shape_str(index.shape()), " but ",
               name, " has shape ", shape_str(t.shape()), "; they must have the same rank");
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d == dim && !along_dim_too) continue;
    STRATA_CHECK(index.shape()[d] <= t.shape()[d], op, ": index shape ", shape_str(index.shape()),
                 " exceeds ", name, " shape ", shape_str(t.shape()), " in dim ", d,
                 along_dim_too ? "" : detail::concat(" (only dim ", dim, " may be larger)"));
  }
}

// The gradient of scatter's or scatter_add's src [src_shape]: grad [x's shape] gathered at
// index along dim into src's leading box (the part of src that index reads), zero elsewhere.
Tensor scatter_src_grad(const Tensor& grad, int64_t dim, const Tensor& index,
                        const Shape& src_shape) {
  Tensor src_grad = zeros(src_shape, grad.options());
  leading_box(src_grad, index.shape()).copy_(gather(grad, dim, index));
  return src_grad;
}

Tensor scatter_into_copy(const char* op, const KernelTable<ScatterFn>& kernels, const Tensor& x,
                         int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) {
  check_defined(op, {&x, &index, &src});
  Device device = common_device(op, {&x, &index, &src});
  ScatterFn* kernel = kernels(device);
  STRATA_CHECK(src.dtype() == x.dtype(), op, ": src has dtype ", dtype_name(src.dtype()),
               " but x has dtype ", dtype_name(x.dtype()));
  STRATA_CHECK(!accumulate || x.dtype() != DType::boolean, op, ": dtype bool is not supported");
  check_index_dtype(op, index);
  dim = wrap_dim(dim, x.dim(), op);
  check_fits(op, index, "x", x, dim, false);
  check_fits(op, index, "src", src, dim, true);
  check_index_range(op, index, x.size(dim), dim);

  const bool recording = autograd::should_record(x, src);
  autograd::NoGradGuard forward_only;
  DType dtype = accumulate ? accumulate_dtype(x.dtype()) : x.dtype();
  Tensor out = empty(x.shape(), {dtype, device});
  out.copy_(x);
  Shape out_box = index.shape();
  out_box[dim] = x.size(dim);
  kernel(leading_box(out, out_box), dim, index, leading_box(src, index.shape()).to(dtype),
         accumulate);
  out = out.to(x.dtype());
  if (recording) {
    // scatter: the written positions take their gradient from src, so x's is zero there. With
    // repeated indices only the last write reaches the output, but every src element that wrote
    // gets the gradient (as torch does); scatter_add has no such ambiguity.
    autograd::record(
        op, {x, index, src}, {&out},
        [index = autograd::saved(index), src_shape = src.shape(), dim, accumulate](
            const autograd::Grads& grad, const autograd::NeedsGrad& needs) {
          Tensor x_grad;
          if (needs[0]) {
            x_grad = accumulate
                         ? grad[0]
                         : scatter(grad[0], dim, index, zeros(index.shape(), grad[0].options()));
          }
          Tensor src_grad = needs[2] ? scatter_src_grad(grad[0], dim, index, src_shape) : Tensor();
          return autograd::Grads{x_grad, Tensor(), src_grad};
        });
  }
  return out;
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  STRATA_CHECK(!tensors.empty(), "cat: expected at least one tensor");
  const Tensor& first = tensors[0];
  STRATA_CHECK(first.defined(), "cat: tensor 0 is undefined");
  dim = wrap_dim(dim, first.dim(), "cat");
  Shape shape = first.shape();
  shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    STRATA_CHECK(t.defined(), "cat: tensor ", i, " is undefined");
    STRATA_CHECK(t.dtype() == first.dtype(), "cat: tensor ", i, " has dtype ",
                 dtype_name(t.dtype()), " but tensor 0 has ", dtype_name(first.dtype()),
                 "; convert with .to(dtype)");
    STRATA_CHECK(t.device() == first.device(), "cat: tensor ", i, " is on ", t.device().str(),
                 " but tensor 0 is on ", first.device().str());
    bool fits = t.dim() == first.dim();
    for (int64_t d = 0; fits && d < t.dim(); ++d) fits = d == dim || t.size(d) == first.size(d);
    STRATA_CHECK(fits, "cat: tensor ", i, " has shape ", shape_str(t.shape()), " but tensor 0 has ",
                 shape_str(first.shape()), "; shapes must match except in dim ", dim);
    shape[dim] += t.size(dim);
  }
  const bool recording = autograd::should_record(tensors);
  autograd::NoGradGuard forward_only;
  Tensor out = empty(shape, first.options());
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    if (t.numel() > 0) out.narrow(dim, offset, t.size(dim)).copy_(t);
    offset += t.size(dim);
  }
  if (recording) {
    // Each input's gradient is its slice of grad (a view).
    std::vector<int64_t> sizes;
    for (const Tensor& t : tensors) sizes.push_back(t.size(dim));
    autograd::record("cat", tensors, {&out},
                     [sizes = std::move(sizes), dim](const autograd::Grads& grad,
                                                     const autograd::NeedsGrad& needs) {
                       autograd::Grads grads(sizes.size());
                       int64_t start = 0;
                       for (size_t i = 0; i < sizes.size(); ++i) {
                         if (needs[i]) grads[i] = grad[0].narrow(dim, start, sizes[i]);
                         start += sizes[i];
                       }
                       return grads;
                     });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  STRATA_CHECK(!tensors.empty(), "stack: expected at least one tensor");
  STRATA_CHECK(tensors[0].defined(), "stack: tensor 0 is undefined");
  dim = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  for (size_t i = 0; i < tensors.size(); ++i) {
    STRATA_CHECK(tensors[i].defined(), "stack: tensor ", i, " is undefined");
    STRATA_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ",
                 shape_str(tensors[i].shape()), " but tensor 0 has ", shape_str(tensors[0].shape()),
                 "; stacked tensors must have equal shapes");
  }
  const bool recording = autograd::should_record(tensors);
  autograd::NoGradGuard forward_only;
  std::vector<Tensor> unsqueezed;
  for (const Tensor& t : tensors) unsqueezed.push_back(t.unsqueeze(dim));
  Tensor out = cat(unsqueezed, dim);
  if (recording) {
    // Input i's gradient is grad's slice i along dim (a view).
    autograd::record("stack", tensors, {&out},
                     [dim](const autograd::Grads& grad, const autograd::NeedsGrad& needs) {
                       autograd::Grads grads(needs.size());
                       for (size_t i = 0; i < needs.size(); ++i) {
                         if (needs[i]) grads[i] = grad[0].select(dim, static_cast<int64_t>(i));
                       }
                       return grads;
                     });
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  dim = wrap_dim(dim, x.dim(), "split");
  int64_t n = x.size(dim);
  STRATA_CHECK(split_size > 0 || (split_size == 0 && n == 0),
               "split: split_size must be positive, ", "got ", split_size, " (dim ", dim,
               " of shape ", shape_str(x.shape()), ")");
  if (n == 0) return {x};
  std::vector<Tensor> pieces;
  for (int64_t start = 0; start < n; start += split_size) {
    pieces.push_back(x.narrow(dim, start, std::min(split_size, n - start)));
  }
  return pieces;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  STRATA_CHECK(chunks > 0, "chunk: chunks must be positive, got ", chunks);
  dim = wrap_dim(dim, x.dim(), "chunk");
  int64_t n = x.size(dim);
  if (n == 0) return std::vector<Tensor>(static_cast<size_t>(chunks), x);
  return split(x, (n + chunks - 1) / chunks, dim);
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  static const KernelTable<GatherFn> kernels{"index_select", STRATA_CPU_KERNEL(gather_kernel),
                                             STRATA_CUDA_KERNEL(gather_kernel)};
  check_defined("index_select", {&x, &index});
  GatherFn* kernel = kernels(common_device("index_select", {&x, &index}));
  dim = wrap_dim(dim, x.dim(), "index_select");
  check_index_dtype("index_select", index);
  STRATA_CHECK(index.dim() <= 1, "index_select: index must be 1-D, got shape ",
               shape_str(index.shape()));
  check_index_range("index_select", index, x.size(dim), dim);
  Shape shape = x.shape();
  shape[dim] = index.numel();
  const bool recording = autograd::should_record(x);
  autograd::NoGradGuard forward_only;
  Tensor out = empty(shape, x.options());
  kernel(out, x, dim, spread_index(index, shape, dim));
  if (recording) {
    autograd::record(
        "index_select", {x, index}, {&out},
        [index = autograd::saved(index), shape = x.shape(), dim](const autograd::Grads& grad,
                                                                 auto&) {
          return autograd::Grads{index_select_backward(grad[0], shape, dim, index), Tensor()};
        });
  }
  return out;
}

Tensor index_select_backward(const Tensor& grad, const Shape& input_shape, int64_t dim,
                             const Tensor& index) {
  static const KernelTable<ScatterFn> kernels{"index_select_backward",
                                              STRATA_CPU_KERNEL(scatter_kernel), nullptr};
  // CUDA: a sort-based grouping instead of the line-by-line scatter (see index_add_grouped_kernel).
  static const KernelTable<void(const char*, const char*, const Tensor&, const Tensor&,
                                const Tensor&)>
      grouped{"index_select_backward", nullptr, STRATA_CUDA_KERNEL(index_add_grouped_kernel)};
  check_defined("index_select_backward", {&grad, &index});
  Device device = common_device("index_select_backward", {&grad, &index});
  STRATA_CHECK(grad.dtype() != DType::boolean,
               "index_select_backward: dtype bool is not supported");
  dim = wrap_dim(dim, static_cast<int64_t>(input_shape.size()), "index_select_backward");
  check_index_dtype("index_select_backward", index);
  STRATA_CHECK(index.dim() <= 1, "index_select_backward: index must be 1-D, got shape ",
               shape_str(index.shape()));
  Shape expected = input_shape;
  expected[dim] = index.numel();
  STRATA_CHECK(grad.shape() == expected, "index_select_backward: grad has shape ",
               shape_str(grad.shape()), " but selecting ", index.numel(), " slices along dim ", dim,
               " of shape ", shape_str(input_shape), " gives ", shape_str(expected));
  if (!device.is_cpu()) {
    // [outer, V, inner] <- [outer, N, inner]; the kernel checks the indices itself.
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < dim; ++d) outer *= input_shape[d];
    for (size_t d = dim + 1; d < input_shape.size(); ++d) inner *= input_shape[d];
    Tensor out = empty(input_shape, grad.options());
    grouped(device)("index_select_backward", "index", out.view({outer, input_shape[dim], inner}),
                    grad.contiguous().view({outer, index.numel(), inner}), index.reshape({-1}));
    return out;
  }
  check_index_range("index_select_backward", index, input_shape[dim], dim);
  DType dtype = accumulate_dtype(grad.dtype());
  Tensor out = zeros(input_shape, {dtype, device});
  kernels(device)(out, dim, spread_index(index, grad.shape(), dim), grad.to(dtype), true);
  return out.to(grad.dtype());
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  static const KernelTable<GatherFn> kernels{"gather", STRATA_CPU_KERNEL(gather_kernel),
                                             STRATA_CUDA_KERNEL(gather_kernel)};
  check_defined("gather", {&x, &index});
  GatherFn* kernel = kernels(common_device("gather", {&x, &index}));
  check_index_dtype("gather", index);
  dim = wrap_dim(dim, x.dim(), "gather");
  check_fits("gather", index, "x", x, dim, false);
  check_index_range("gather", index, x.size(dim), dim);
  Shape box = index.shape();
  box[dim] = x.size(dim);
  const bool recording = autograd::should_record(x);
  autograd::NoGradGuard forward_only;
  Tensor out = empty(index.shape(), x.options());
  kernel(out, leading_box(x, box), dim, index);
  if (recording) {
    // Each gathered element's gradient goes back to where it was read; repeats add up.
    autograd::record("gather", {x, index}, {&out},
                     [index = autograd::saved(index), shape = x.shape(), dim](
                         const autograd::Grads& grad, auto&) {
                       Tensor zero = zeros(shape, grad[0].options());
                       return autograd::Grads{scatter_add(zero, dim, index, grad[0]), Tensor()};
                     });
  }
  return out;
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  static const KernelTable<ScatterFn> kernels{"scatter", STRATA_CPU_KERNEL(scatter_kernel),
                                              STRATA_CUDA_KERNEL(scatter_kernel)};
  return scatter_into_copy("scatter", kernels, x, dim, index, src, false);
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  static const KernelTable<ScatterFn> kernels{"scatter_add", STRATA_CPU_KERNEL(scatter_kernel),
                                              STRATA_CUDA_KERNEL(scatter_kernel)};
  return scatter_into_copy("scatter_add", kernels, x, dim, index, src, true);
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  static const KernelTable<void(const Tensor&, const Tensor&, const Tensor&, double)> kernels{
      "masked_fill", STRATA_CPU_KERNEL(masked_fill_kernel), STRATA_CUDA_KERNEL(masked_fill_kernel)};
  check_defined("masked_fill", {&x, &mask});
  auto* kernel = kernels(common_device("masked_fill", {&x, &mask}));
  STRATA_CHECK(mask.dtype() == DType::boolean, "masked_fill: mask must be bool, got ",
               dtype_name(mask.dtype()));
  bool broadcasts = mask.dim() <= x.dim();
  for (int64_t d = 0; broadcasts && d < mask.dim(); ++d) {
    int64_t size = mask.shape()[d], target = x.shape()[x.dim() - mask.dim() + d];
    broadcasts = size == 1 || size == target;
  }
  STRATA_CHECK(broadcasts, "masked_fill: mask of shape ", shape_str(mask.shape()),
               " does not broadcast to x of shape ", shape_str(x.shape()));
  const bool recording = autograd::should_record(x);
  autograd::NoGradGuard forward_only;
  Tensor out = empty_like(x);
  kernel(out, x, mask.expand(x.shape()), value);
  if (recording) {
    // Filled positions are constants: no gradient reaches x there.
    autograd::record("masked_fill", {x, mask}, {&out},
                     [mask = autograd::saved(mask)](const autograd::Grads& grad, auto&) {
                       return autograd::Grads{masked_fill(grad[0], mask, 0.0), Tensor()};
                     });
  }
  return out;
}

ValuesIndices topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  static const KernelTable<void(const Tensor&, const Tensor&, const Tensor&, int64_t, bool, bool)>
      kernels{"topk", STRATA_CPU_KERNEL(topk_kernel), STRATA_CUDA_KERNEL(topk_kernel)};
  check_defined("topk", {&x});
  auto* kernel = kernels(x.device());
  STRATA_CHECK(x.dtype() != DType::boolean, "topk: dtype bool is not supported");
  dim = wrap_dim(dim, x.dim(), "topk");
  int64_t n = x.size(dim);
  STRATA_CHECK(k >= 0 && k <= n, "topk: k = ", k, " is out of range for dim ", dim, " of size ", n,
               " (expected 0 <= k <= ", n, ")");
  Shape shape = x.shape();
  shape[dim] = k;
  const bool recording = autograd::should_record(x);
  autograd::NoGradGuard forward_only;
  ValuesIndices result{empty(shape, x.options()), empty(shape, {DType::i64, x.device()})};
  kernel(result.values, result.indices, x, dim, largest, sorted);
  if (recording) {
    // Each value's gradient goes back to the position it was taken from (indices are distinct).
    autograd::record("topk", {x}, {&result.values},
                     [indices = autograd::saved(result.indices), shape = x.shape(), dim](
                         const autograd::Grads& grad, auto&) {
                       Tensor zero = zeros(shape, grad[0].options());
                       return autograd::Grads{scatter(zero, dim, indices, grad[0])};
                     });
  }
  return result;
}

}  // namespace strata
