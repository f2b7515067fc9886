// Tensor geometry: construction, views and printing. Copies and fills dispatch to copy.cpp.
#include "core/tensor.hpp"

#include <algorithm>
#include <functional>
#include <iomanip>
#include <numeric>
#include <optional>
#include <sstream>

#include "core/autograd_record.hpp"
#include "core/factories.hpp"
#include "core/reduce.hpp"

namespace strata {

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

int64_t shape_numel(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

int64_t wrap_dim(int64_t dim, int64_t rank, const char* op) {
  int64_t wrapped = dim < 0 ? dim + rank : dim;
  STRATA_CHECK(wrapped >= 0 && wrapped < rank, op, ": dim ", dim,
               " is out of range for a tensor of ", rank, " dims (expected ", -rank, " <= dim < ",
               rank, ")");
  return wrapped;
}

Tensor::Tensor(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype)
    : impl_(std::make_shared<Impl>()) {
  STRATA_CHECK(shape.size() == strides.size(), "Tensor: shape ", shape_str(shape), " and strides ",
               shape_str(strides), " differ in rank");
  for (int64_t s : shape) STRATA_CHECK(s >= 0, "Tensor: negative size in shape ", shape_str(shape));
  impl_->numel = shape_numel(shape);
  impl_->storage = std::move(storage);
  impl_->shape = std::move(shape);
  impl_->strides = std::move(strides);
  impl_->offset = offset;
  impl_->dtype = dtype;
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "Tensor::size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "Tensor::stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

void* Tensor::data_ptr() const {
  STRATA_CHECK(storage().data() || numel() == 0 || !storage().defined(), "Tensor::data_ptr: the ",
               dtype_name(dtype()), " tensor of shape ", shape_str(shape()),
               " views released memory (a ZeRO-3 parameter outside its module's forward or ",
               "backward, which gather it; see zero/stage3_parameters.hpp)");
  return static_cast<char*>(storage().data()) + offset() * static_cast<int64_t>(element_size());
}

Tensor Tensor::with_geometry(Shape shape, Shape strides, int64_t offset) const {
  return Tensor(storage(), std::move(shape), std::move(strides), offset, dtype());
}

namespace {

// Resolves a single -1 in a requested shape against numel.
Shape infer_shape(Shape shape, int64_t numel, const char* op, const Shape& from) {
  int64_t known = 1;
  int infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      STRATA_CHECK(infer_at < 0, op, ": only one dimension can be -1, got ", shape_str(shape));
      infer_at = static_cast<int>(i);
    } else {
      STRATA_CHECK(shape[i] >= 0, op, ": invalid size ", shape[i], " in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    STRATA_CHECK(known > 0 && numel % known == 0, op, ": cannot view shape ", shape_str(from), " (",
                 numel, " elements) as ", shape_str(shape));
    shape[infer_at] = numel / known;
  }
  STRATA_CHECK(shape_numel(shape) == numel, op, ": shape ", shape_str(shape), " has ",
               shape_numel(shape), " elements but the tensor of shape ", shape_str(from), " has ",
               numel);
  return shape;
}

// Strides for viewing (shape, strides) as new_shape without a copy, or empty when impossible.
// Walks both shapes in chunks whose elements are laid out with one stride pattern.
std::optional<Shape> view_strides(const Shape& shape, const Shape& strides,
                                  const Shape& new_shape) {
  Shape result(new_shape.size());
  // No elements, or one element of a 0-dim tensor: any strides describe the view.
  if (shape_numel(shape) == 0 || shape.empty()) return contiguous_strides(new_shape);
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    bool chunk_ends =
        d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride);
    if (chunk_ends) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        result[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return result;
}

// The gradient of a slice or select of a tensor of `shape`: zeros, with grad written where the
// view was taken.
template <class TakeView>
Tensor scatter_into_zeros(const Tensor& grad, const Shape& shape, TakeView take_view) {
  Tensor result = zeros(shape, grad.options());
  take_view(result).copy_(grad);
  return result;
}

}  // namespace

Tensor Tensor::view(Shape new_shape) const {
  new_shape = infer_shape(std::move(new_shape), numel(), "view", shape());
  auto strides_for_view = view_strides(shape(), strides(), new_shape);
  STRATA_CHECK(strides_for_view, "view: a tensor of shape ", shape_str(shape()), " and strides ",
               shape_str(strides()), " cannot be viewed as ", shape_str(new_shape),
               " without a copy; use reshape() (which copies) or call contiguous() first");
  return autograd::record_unary(
      "view", *this, with_geometry(std::move(new_shape), std::move(*strides_for_view), offset()),
      [input_shape = shape()](const Tensor& grad) { return grad.reshape(input_shape); });
}

Tensor Tensor::reshape(Shape new_shape) const {
  new_shape = infer_shape(std::move(new_shape), numel(), "reshape", shape());
  if (auto strides_for_view = view_strides(shape(), strides(), new_shape)) {
    return autograd::record_unary(
        "reshape", *this,
        with_geometry(std::move(new_shape), std::move(*strides_for_view), offset()),
        [input_shape = shape()](const Tensor& grad) { return grad.reshape(input_shape); });
  }
  return contiguous().view(std::move(new_shape));
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  STRATA_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute: got ", dims.size(),
               " dims for a tensor of ", dim(), " dims (shape ", shape_str(shape()), ")");
  Shape new_shape(dims.size()), new_strides(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute");
    STRATA_CHECK(!seen[d], "permute: dim ", dims[i], " appears twice in ", shape_str(dims),
                 "; expected each of the ", dim(), " dims of shape ", shape_str(shape()), " once");
    seen[d] = true;
    new_shape[i] = shape()[d];
    new_strides[i] = strides()[d];
  }
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inverse[wrap_dim(dims[i], dim(), "permute")] = i;
  return autograd::record_unary(
      "permute", *this, with_geometry(std::move(new_shape), std::move(new_strides), offset()),
      [inverse](const Tensor& grad) { return grad.permute(inverse); });
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  dim0 = wrap_dim(dim0, dim(), "transpose");
  dim1 = wrap_dim(dim1, dim(), "transpose");
  Shape new_shape = shape(), new_strides = strides();
  std::swap(new_shape[dim0], new_shape[dim1]);
  std::swap(new_strides[dim0], new_strides[dim1]);
  return autograd::record_unary(
      "transpose", *this, with_geometry(std::move(new_shape), std::move(new_strides), offset()),
      [dim0, dim1](const Tensor& grad) { return grad.transpose(dim0, dim1); });
}

Tensor Tensor::t() const {
  STRATA_CHECK(dim() == 2, "t: expected a 2-D tensor, got shape ", shape_str(shape()),
               "; use transpose(dim0, dim1) for other ranks");
  return transpose(0, 1);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim(), "slice");
  STRATA_CHECK(step > 0, "slice: step must be positive, got ", step);
  int64_t n = shape()[d];
  STRATA_CHECK(start >= -n && start <= n && end <= n, "slice: range [", start, ", ", end,
               ") is out of bounds for dim ", d, " of size ", n, " (shape ", shape_str(shape()),
               "); expected ", -n, " <= start <= ", n, " and end <= ", n);
  if (start < 0) start += n;
  if (end < 0) end += n;
  end = std::max(end, start);
  Shape new_shape = shape(), new_strides = strides();
  new_shape[d] = (end - start + step - 1) / step;
  new_strides[d] = strides()[d] * step;
  return autograd::record_unary(
      "slice", *this,
      with_geometry(std::move(new_shape), std::move(new_strides), offset() + start * strides()[d]),
      [input_shape = shape(), d, start, end, step](const Tensor& grad) {
        return scatter_into_zeros(
            grad, input_shape, [&](const Tensor& full) { return full.slice(d, start, end, step); });
      });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  STRATA_CHECK(length >= 0, "narrow: length must be non-negative, got ", length);
  int64_t wrapped = wrap_dim(d, dim(), "narrow");
  if (start < 0) start += shape()[wrapped];
  STRATA_CHECK(start >= 0 && start + length <= shape()[wrapped], "narrow: start ", start,
               " + length ", length, " exceeds size ", shape()[wrapped], " of dim ", d, " (shape ",
               shape_str(shape()),
               "); expected 0 <= start and start + length <= ", shape()[wrapped]);
  return slice(wrapped, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  int64_t n = shape()[d];
  STRATA_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dim ", d,
               " of size ", n, " (shape ", shape_str(shape()), "); expected ", -n, " <= index < ",
               n);
  if (index < 0) index += n;
  Shape new_shape = shape(), new_strides = strides();
  new_shape.erase(new_shape.begin() + d);
  new_strides.erase(new_strides.begin() + d);
  return autograd::record_unary(
      "select", *this,
      with_geometry(std::move(new_shape), std::move(new_strides), offset() + index * strides()[d]),
      [input_shape = shape(), d, index](const Tensor& grad) {
        return scatter_into_zeros(grad, input_shape,
                                  [&](const Tensor& full) { return full.select(d, index); });
      });
}

Tensor Tensor::expand(Shape target) const {
  STRATA_CHECK(target.size() >= shape().size(), "expand: cannot expand shape ", shape_str(shape()),
               " to fewer dims ", shape_str(target));
  size_t lead = target.size() - shape().size();
  Shape new_strides(target.size(), 0);
  for (size_t i = 0; i < target.size(); ++i) {
    if (i < lead) {
      STRATA_CHECK(target[i] >= 0, "expand: size -1 is not allowed for a new leading dim in ",
                   shape_str(target));
      continue;
    }
    int64_t have = shape()[i - lead];
    if (target[i] == -1) target[i] = have;
    STRATA_CHECK(have == target[i] || have == 1, "expand: shape ", shape_str(shape()),
                 " cannot be expanded to ", shape_str(target), " (dim ", i, ": size ", have,
                 " is neither 1 nor ", target[i], ")");
    new_strides[i] = have == target[i] ? strides()[i - lead] : 0;
  }
  return autograd::record_unary(
      "expand", *this, with_geometry(std::move(target), std::move(new_strides), offset()),
      [input_shape = shape()](const Tensor& grad) { return sum_to(grad, input_shape); });
}

Tensor Tensor::squeeze() const {
  Shape new_shape, new_strides;
  for (int64_t i = 0; i < dim(); ++i) {
    if (shape()[i] == 1) continue;
    new_shape.push_back(shape()[i]);
    new_strides.push_back(strides()[i]);
  }
  return autograd::record_unary(
      "squeeze", *this, with_geometry(std::move(new_shape), std::move(new_strides), offset()),
      [input_shape = shape()](const Tensor& grad) { return grad.reshape(input_shape); });
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (shape()[d] != 1) return *this;
  Shape new_shape = shape(), new_strides = strides();
  new_shape.erase(new_shape.begin() + d);
  new_strides.erase(new_strides.begin() + d);
  return autograd::record_unary(
      "squeeze", *this, with_geometry(std::move(new_shape), std::move(new_strides), offset()),
      [input_shape = shape()](const Tensor& grad) { return grad.reshape(input_shape); });
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape new_shape = shape(), new_strides = strides();
  int64_t stride = d < dim() ? strides()[d] * shape()[d] : 1;
  new_shape.insert(new_shape.begin() + d, 1);
  new_strides.insert(new_strides.begin() + d, stride);
  return autograd::record_unary(
      "unsqueeze", *this, with_geometry(std::move(new_shape), std::move(new_strides), offset()),
      [input_shape = shape()](const Tensor& grad) { return grad.reshape(input_shape); });
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  start_dim = wrap_dim(start_dim, dim(), "flatten");
  end_dim = wrap_dim(end_dim, dim(), "flatten");
  STRATA_CHECK(start_dim <= end_dim, "flatten: start_dim ", start_dim, " is after end_dim ",
               end_dim);
  Shape new_shape(shape().begin(), shape().begin() + start_dim);
  int64_t merged = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) merged *= shape()[i];
  new_shape.push_back(merged);
  new_shape.insert(new_shape.end(), shape().begin() + end_dim + 1, shape().end());
  return reshape(std::move(new_shape));
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::to(Device device) const { return to(TensorOptions{dtype(), device}); }
Tensor Tensor::to(DType dtype) const { return to(TensorOptions{dtype, device()}); }

Tensor Tensor::to(TensorOptions options) const {
  if (options.dtype == dtype() && options.device == device()) return *this;
  Tensor result(
      Storage(static_cast<size_t>(numel()) * strata::element_size(options.dtype), options.device),
      shape(), contiguous_strides(shape()), 0, options.dtype);
  result.copy_(*this);
  return autograd::record_unary(
      "to", *this, std::move(result),
      [input_options = this->options()](const Tensor& grad) { return grad.to(input_options); });
}

Tensor Tensor::clone() const {
  Tensor result(Storage(nbytes(), device()), shape(), contiguous_strides(shape()), 0, dtype());
  result.copy_(*this);
  return autograd::record_unary("clone", *this, std::move(result),
                                [](const Tensor& grad) { return grad; });
}

namespace {

void print_values(std::ostream& out, const std::vector<double>& values, const Shape& shape,
                  size_t dim, size_t& index, bool floating) {
  constexpr int64_t kEdge = 3;  // elements shown at each end of a long dim
  if (dim == shape.size()) {
    double v = values[index++];
    if (floating) {
      out << std::setprecision(6) << v;
    } else {
      out << static_cast<int64_t>(v);
    }
    return;
  }
  int64_t n = shape[dim];
  int64_t inner = 1;
  for (size_t d = dim + 1; d < shape.size(); ++d) inner *= shape[d];
  out << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (n > 2 * kEdge && i == kEdge) {
      out << "..., ";
      index += static_cast<size_t>((n - 2 * kEdge) * inner);
      i = n - kEdge - 1;
      continue;
    }
    print_values(out, values, shape, dim + 1, index, floating);
    if (i + 1 < n) out << (dim + 1 == shape.size() ? ", " : ",\n ");
  }
  out << ']';
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream out;
  out << "Tensor(" << dtype_name(dtype()) << ", " << device().str() << ", " << shape_str(shape())
      << ")\n";
  std::vector<double> values = to_vector<double>();
  size_t index = 0;
  print_values(out, values, shape(), 0, index, is_floating(dtype()));
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) { return out << tensor.str(); }

}  // namespace strata
