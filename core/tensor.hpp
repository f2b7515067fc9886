// Tensor: a ref-counted handle to an n-dimensional view of a Storage.
//
// Copying a Tensor copies the handle (both name the same data), like torch::Tensor. A view
// (reshape, permute, slice, expand, ...) is a new handle with its own shape, strides and offset
// over the same Storage. Strides and offsets count elements, not bytes.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "core/device.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/storage.hpp"

namespace strata {

namespace autograd {
struct Meta;
class Node;
}  // namespace autograd

using Shape = std::vector<int64_t>;

// What a new tensor is made of. Converts from a DType or a Device alone, so factories read
// zeros({2, 3}, DType::f64) or zeros({2, 3}, Device::cuda(0)).
struct TensorOptions {
  TensorOptions() = default;
  TensorOptions(DType dtype, Device device = Device::cpu()) : dtype(dtype), device(device) {}
  TensorOptions(Device device) : device(device) {}
  DType dtype = DType::f32;
  Device device = Device::cpu();
};

std::string shape_str(const Shape& shape);
int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  Tensor(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t dim) const;
  int64_t stride(int64_t dim) const;
  int64_t numel() const { return impl().numel; }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage.device(); }
  TensorOptions options() const { return {dtype(), device()}; }
  const Storage& storage() const { return impl().storage; }
  size_t element_size() const { return strata::element_size(dtype()); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(); }
  bool is_contiguous() const;
  // True when both handles view the same storage with the same geometry.
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  // True when no other handle or view shares this tensor's storage.
  bool has_unique_data() const { return impl_.use_count() == 1 && storage().use_count() == 1; }

  // Address of element [0, ..., 0].
  void* data_ptr() const;
  template <class T>
  T* data() const {
    STRATA_CHECK(dtype_of<T>() == dtype(), "Tensor::data<", dtype_name(dtype_of<T>()),
                 ">: the tensor of shape ", shape_str(shape()), " has dtype ", dtype_name(dtype()),
                 "; use data<T> with T of dtype ", dtype_name(dtype()),
                 ", or convert the tensor first with .to(dtype)");
    return static_cast<T*>(data_ptr());
  }
  // The value of a one-element tensor, converted to T (copies from the device if needed).
  template <class T>
  T item() const;
  // All elements in row-major order, converted to T, on the host.
  template <class T>
  std::vector<T> to_vector() const;

  // Views (share storage). Dims may be negative, counting from the end.
  Tensor view(Shape shape) const;     // needs compatible strides; -1 infers one size
  Tensor reshape(Shape shape) const;  // a view when possible, otherwise a contiguous copy
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // transpose of a 2-D tensor
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(Shape shape) const;  // -1 keeps a size; new leading dims allowed
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;

  // Copies.
  Tensor contiguous() const;  // this tensor when already contiguous
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor to(TensorOptions options) const;
  Tensor clone() const;
  Tensor& copy_(const Tensor& src);  // broadcasts src and converts its dtype/device
  Tensor& fill_(double value);

  // "Tensor(f32, cpu, [2, 3])" followed by the (abbreviated) values.
  std::string str() const;

  // Autograd. The record and its vocabulary are in core/autograd_record.hpp; every handle to the
  // same tensor (not to a view of it) shares one record.
  bool requires_grad() const;
  // Marks a leaf (floating dtype, no grad_fn) as wanting a gradient.
  Tensor& requires_grad_(bool requires_grad = true);
  bool is_leaf() const;  // true unless a recorded op produced this tensor
  // The accumulated gradient of a leaf: undefined until a backward reaches it.
  Tensor grad() const;
  // Replaces .grad: e.g. a view into a flat gradient buffer, or undefined to free it.
  void set_grad(const Tensor& grad) const;
  std::shared_ptr<autograd::Node> grad_fn() const;
  // The same data without the autograd record: a new leaf that does not require grad.
  Tensor detach() const;
  // Points this tensor (every handle to it) at `data`'s storage, geometry and dtype, keeping its
  // autograd record and .grad: how a module moves its parameters to another device or dtype, and
  // how the engine turns parameters into views of one flat buffer.
  void set_data(const Tensor& data) const;
  // Runs reverse mode from this tensor; `gradient` (dL/dthis) may be omitted for one element.
  // Defined by the engine in autograd/engine.cpp (link Strata::autograd or Strata::strata).
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  // The record, null when the tensor never took part in autograd.
  const std::shared_ptr<autograd::Meta>& autograd_meta() const { return impl().autograd; }
  autograd::Meta& ensure_autograd_meta() const;

 private:
  struct Impl {
    Storage storage;
    Shape shape;
    Shape strides;
    int64_t offset = 0;
    int64_t numel = 0;
    DType dtype = DType::f32;
    std::shared_ptr<autograd::Meta> autograd;
  };
  const Impl& impl() const {
    STRATA_CHECK(impl_, "use of an undefined Tensor (default-constructed or moved-from)");
    return *impl_;
  }
  Tensor with_geometry(Shape shape, Shape strides, int64_t offset) const;

  std::shared_ptr<Impl> impl_;
};

std::ostream& operator<<(std::ostream& out, const Tensor& tensor);

// Normalises a possibly negative dim against a rank, or throws naming op.
int64_t wrap_dim(int64_t dim, int64_t rank, const char* op);

}  // namespace strata

namespace strata {

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = to(TensorOptions{dtype_of<T>(), Device::cpu()}).contiguous();
  const T* begin = host.data<T>();
  return std::vector<T>(begin, begin + host.numel());
}

template <class T>
T Tensor::item() const {
  STRATA_CHECK(numel() == 1, "Tensor::item: expected a tensor with one element, got shape ",
               shape_str(shape()), "; select one element first, or read all with to_vector<T>()");
  return to_vector<T>()[0];
}

}  // namespace strata
