// Reduction front end: validates dims and dtypes, allocates the outputs, describes the input as
// [kept dims..., reduced dims...] for the kernels (reduce_kernels.hpp), and dispatches.
#include "core/reduce.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>

#include "core/autograd_record.hpp"
#include "core/dispatch.hpp"
#include "core/factories.hpp"
#include "core/reduce_dims.hpp"
#include "core/reduce_kernels.hpp"

namespace strata {

std::string dims_str(const Dims& dims) { return dims.empty() ? "[] (all dims)" : shape_str(dims); }

std::vector<bool> reduced_mask(const char* op, const Shape& shape, const Dims& dims) {
  auto rank = static_cast<int64_t>(shape.size());
  std::vector<bool> mask(static_cast<size_t>(rank), dims.empty());
  for (int64_t d : dims) {
    int64_t bound = std::max<int64_t>(rank, 1);
    STRATA_CHECK(d >= -bound && d < bound, op, ": dim ", d, " is out of range for input of shape ",
                 shape_str(shape), " (expected ", -bound, " <= dim < ", bound, ")");
    if (rank == 0) continue;
    int64_t wrapped = d < 0 ? d + rank : d;
    STRATA_CHECK(!mask[wrapped], op, ": dim ", d, " appears more than once in dims ",
                 dims_str(dims), " for input of shape ", shape_str(shape));
    mask[wrapped] = true;
  }
  return mask;
}

Shape result_shape(const Shape& shape, const std::vector<bool>& mask, bool keepdim) {
  Shape out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!mask[d]) {
      out.push_back(shape[d]);
    } else if (keepdim) {
      out.push_back(1);
    }
  }
  return out;
}

int64_t reduced_count(const Shape& shape, const std::vector<bool>& mask) {
  int64_t count = 1;
  for (size_t d = 0; d < shape.size(); ++d) count *= mask[d] ? shape[d] : 1;
  return count;
}

namespace {

struct GeometryDim {
  int64_t size;
  int64_t stride;
};

// Drops size-1 dims and merges each dim into its inner neighbour when both strides line up.
// dims are innermost first.
std::vector<GeometryDim> coalesce(const std::vector<GeometryDim>& dims) {
  std::vector<GeometryDim> merged;
  for (const GeometryDim& d : dims) {
    if (d.size == 1) continue;
    if (!merged.empty()) {
      GeometryDim& inner = merged.back();
      if (d.stride == inner.stride * inner.size) {
        inner.size *= d.size;
        continue;
      }
    }
    merged.push_back(d);
  }
  return merged;
}

// Fills g with the geometry of x reduced over mask; false when neither kernel layout applies.
// Kept dims stay in order (the outputs are contiguous in it); reduced dims are sorted by stride,
// innermost first: any order gives the same reduction up to rounding, and this one finds
// contiguous runs in permuted tensors.
bool make_geometry(const Tensor& x, const std::vector<bool>& mask, ReduceGeometry& g) {
  std::vector<GeometryDim> kept, reduced;
  bool empty_reduction = false;
  for (int64_t d = x.dim() - 1; d >= 0; --d) {
    int64_t size = x.shape()[d];
    if (mask[d]) {
      reduced.push_back({size, x.strides()[d]});
      empty_reduction |= size == 0;
    } else {
      kept.push_back({size, x.strides()[d]});
    }
  }
  std::stable_sort(reduced.begin(), reduced.end(),
                   [](const GeometryDim& a, const GeometryDim& b) { return a.stride < b.stride; });
  if (empty_reduction) reduced.clear();
  kept = coalesce(kept);
  reduced = coalesce(reduced);
  STRATA_CHECK(kept.size() <= kMaxReduceDims && reduced.size() <= kMaxReduceDims,
               "reduction: input of shape ", shape_str(x.shape()), " has more than ",
               kMaxReduceDims, " dims that cannot be merged; make it contiguous first");
  g = ReduceGeometry{};
  g.outputs = 1;
  g.reduced = empty_reduction ? 0 : 1;
  g.kept_ndim = static_cast<int>(kept.size());
  for (size_t i = 0; i < kept.size(); ++i) {
    g.kept_shape[i] = kept[i].size;
    g.kept_stride[i] = kept[i].stride;
    g.outputs *= kept[i].size;
  }
  g.reduced_ndim = static_cast<int>(reduced.size());
  for (size_t i = 0; i < reduced.size(); ++i) {
    g.reduced_shape[i] = reduced[i].size;
    g.reduced_stride[i] = reduced[i].stride;
    g.reduced *= reduced[i].size;
  }
  if (g.reduced_ndim == 0 || (g.reduced_ndim == 1 && g.reduced_stride[0] == 1)) {
    g.layout = ReduceGeometry::Layout::rows;
    return true;
  }
  if (g.kept_ndim > 0 && g.kept_stride[0] == 1) {
    g.layout = ReduceGeometry::Layout::columns;
    return true;
  }
  return false;
}

struct Results {
  Tensor values;
  Tensor indices;
};

// Runs op over the dims in mask. values_dtype: the dtype of the values output, or nothing when
// only indices are wanted.
Results run_reduction(ReduceOp op, double param, const Tensor& x, const std::vector<bool>& mask,
                      bool keepdim, std::optional<DType> values_dtype, bool with_indices) {
  static const KernelTable<void(const ReduceGeometry&, ReduceOp, double, const Tensor&,
                                const Tensor&, const Tensor&)>
      kernels{"reduce", STRATA_CPU_KERNEL(reduce_kernel), STRATA_CUDA_KERNEL(reduce_kernel)};
  Shape out_shape = result_shape(x.shape(), mask, keepdim);
  Results r;
  if (values_dtype) r.values = empty(out_shape, {*values_dtype, x.device()});
  if (with_indices) r.indices = empty(out_shape, {DType::i64, x.device()});
  if (shape_numel(out_shape) == 0) return r;
  ReduceGeometry g;
  if (make_geometry(x, mask, g)) {
    kernels(x.device())(g, op, param, x, r.values, r.indices);
    return r;
  }
  // Neither fast layout: copy to [kept..., reduced...] contiguous, which is the rows layout.
  std::vector<int64_t> order;
  std::vector<bool> permuted_mask;
  for (bool reduced : {false, true}) {
    for (int64_t d = 0; d < x.dim(); ++d) {
      if (mask[d] == reduced) {
        order.push_back(d);
        permuted_mask.push_back(reduced);
      }
    }
  }
  autograd::NoGradGuard forward_only;  // the packing copy is not part of the graph
  Tensor packed = x.permute(order).contiguous();
  make_geometry(packed, permuted_mask, g);
  kernels(x.device())(g, op, param, packed, r.values, r.indices);
  return r;
}

void check_floating(const char* op, const Tensor& x) {
  STRATA_CHECK(is_floating(x.dtype()), op,
               ": expected a floating input (f32, f64, f16, bf16), got ", dtype_name(x.dtype()),
               " of shape ", shape_str(x.shape()), "; convert it with .to(DType::f32) first");
}

// max/min/amax/amin and the arg variants have no value for an empty reduction.
void check_nonempty(const char* op, const Tensor& x, const std::vector<bool>& mask,
                    const Dims& dims) {
  STRATA_CHECK(reduced_count(x.shape(), mask) > 0, op, ": cannot reduce over dims ", dims_str(dims),
               " of input of shape ", shape_str(x.shape()),
               ": they hold no elements, and the extreme of no elements is undefined");
}

Results extreme_along(const char* op, ReduceOp kind, const Tensor& x, int64_t dim, bool keepdim,
                      bool with_values) {
  std::vector<bool> mask = reduced_mask(op, x.shape(), {dim});
  check_nonempty(op, x, mask, {dim});
  return run_reduction(kind, 0, x, mask, keepdim,
                       with_values ? std::optional<DType>(x.dtype()) : std::nullopt, true);
}

}  // namespace

Tensor sum(const Tensor& x, const Dims& dims, bool keepdim) {
  DType out = is_floating(x.dtype()) ? x.dtype() : DType::i64;
  Tensor result =
      run_reduction(ReduceOp::sum, 0, x, reduced_mask("sum", x.shape(), dims), keepdim, out, false)
          .values;
  return autograd::record_unary("sum", x, result,
                                [shape = x.shape(), dims, keepdim](const Tensor& grad) {
                                  return sum_backward(grad, shape, dims, keepdim);
                                });
}

Tensor mean(const Tensor& x, const Dims& dims, bool keepdim) {
  check_floating("mean", x);
  Tensor result = run_reduction(ReduceOp::mean, 0, x, reduced_mask("mean", x.shape(), dims),
                                keepdim, x.dtype(), false)
                      .values;
  return autograd::record_unary("mean", x, result,
                                [shape = x.shape(), dims, keepdim](const Tensor& grad) {
                                  return mean_backward(grad, shape, dims, keepdim);
                                });
}

namespace {

// amax and amin share their backward: the gradient is split among the elements equal to result.
Tensor extreme_over(const char* name, ReduceOp op, const Tensor& x, const Dims& dims,
                    bool keepdim) {
  std::vector<bool> mask = reduced_mask(name, x.shape(), dims);
  check_nonempty(name, x, mask, dims);
  Tensor result = run_reduction(op, 0, x, mask, keepdim, x.dtype(), false).values;
  return autograd::record_unary(
      name, x, result,
      [x = autograd::saved(x), y = autograd::saved(result), dims, keepdim](const Tensor& grad) {
        return amax_backward(grad, x, y, dims, keepdim);
      });
}

}  // namespace

Tensor amax(const Tensor& x, const Dims& dims, bool keepdim) {
  return extreme_over("amax", ReduceOp::amax, x, dims, keepdim);
}

Tensor amin(const Tensor& x, const Dims& dims, bool keepdim) {
  return extreme_over("amin", ReduceOp::amin, x, dims, keepdim);
}

Tensor var(const Tensor& x, const Dims& dims, int64_t correction, bool keepdim) {
  check_floating("var", x);
  STRATA_CHECK(correction >= 0, "var: correction must be non-negative, got ", correction);
  Tensor result = run_reduction(ReduceOp::var, static_cast<double>(correction), x,
                                reduced_mask("var", x.shape(), dims), keepdim, x.dtype(), false)
                      .values;
  return autograd::record_unary(
      "var", x, result, [x = autograd::saved(x), dims, correction, keepdim](const Tensor& grad) {
        return var_backward(grad, x, dims, correction, keepdim);
      });
}

Tensor norm(const Tensor& x, double p, const Dims& dims, bool keepdim) {
  check_floating("norm", x);
  STRATA_CHECK(p > 0, "norm: p must be positive (or infinity), got ", p, " for input of shape ",
               shape_str(x.shape()));
  ReduceOp op = p == 1          ? ReduceOp::norm1
                : p == 2        ? ReduceOp::norm2
                : std::isinf(p) ? ReduceOp::norm_inf
                                : ReduceOp::norm_p;
  Tensor result =
      run_reduction(op, p, x, reduced_mask("norm", x.shape(), dims), keepdim, x.dtype(), false)
          .values;
  return autograd::record_unary(
      "norm", x, result,
      [x = autograd::saved(x), y = autograd::saved(result), p, dims, keepdim](const Tensor& grad) {
        return norm_backward(grad, x, y, p, dims, keepdim);
      });
}

namespace {

// max and min along a dim: the gradient goes to the element each index picked.
ValuesIndices extreme_along_recorded(const char* name, ReduceOp op, const Tensor& x, int64_t dim,
                                     bool keepdim) {
  Results r = extreme_along(name, op, x, dim, keepdim, true);
  Tensor values = autograd::record_unary(
      name, x, r.values,
      [indices = r.indices, shape = x.shape(), dim, keepdim](const Tensor& grad) {
        return max_backward(grad, indices, shape, dim, keepdim);
      });
  return {values, r.indices};
}

}  // namespace

ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_along_recorded("max", ReduceOp::argmax, x, dim, keepdim);
}

ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_along_recorded("min", ReduceOp::argmin, x, dim, keepdim);
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_along("argmax", ReduceOp::argmax, x, dim, keepdim, false).indices;
}

Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_along("argmin", ReduceOp::argmin, x, dim, keepdim, false).indices;
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  const Shape& from = grad.shape();
  int64_t lead = static_cast<int64_t>(from.size()) - static_cast<int64_t>(shape.size());
  STRATA_CHECK(lead >= 0, "sum_to: cannot sum a tensor of shape ", shape_str(from), " to shape ",
               shape_str(shape), ", which has more dims");
  Dims dims;
  for (int64_t d = 0; d < lead; ++d) dims.push_back(d);
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t have = from[lead + i];
    STRATA_CHECK(shape[i] == have || shape[i] == 1, "sum_to: shape ", shape_str(shape),
                 " does not broadcast to shape ", shape_str(from), " (dim ", i, ": size ", shape[i],
                 " against ", have, ")");
    if (shape[i] == 1 && have != 1) dims.push_back(lead + static_cast<int64_t>(i));
  }
  if (dims.empty()) return grad.reshape(shape);
  return sum(grad, dims, true).reshape(shape);
}

}  // namespace strata
