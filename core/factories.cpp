// Tensor factories. Values that need computing (ranges, identity) are made on the host and copied
// to the device: they are small, and this keeps one code path.
#include "core/factories.hpp"

#include <cmath>
#include <cstring>

namespace strata {

Tensor empty(const Shape& shape, TensorOptions options) {
  for (int64_t s : shape) STRATA_CHECK(s >= 0, "empty: negative size in shape ", shape_str(shape));
  size_t nbytes = static_cast<size_t>(shape_numel(shape)) * element_size(options.dtype);
  return Tensor(Storage(nbytes, options.device), shape, contiguous_strides(shape), 0,
                options.dtype);
}

Tensor full(const Shape& shape, double value, TensorOptions options) {
  Tensor t = empty(shape, options);
  t.fill_(value);
  return t;
}

Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.options()); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.options()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.options()); }

Tensor from_blob(const void* data, const Shape& shape, DType dtype, Device device) {
  Tensor host = empty(shape, {dtype, Device::cpu()});
  if (host.nbytes()) std::memcpy(host.data_ptr(), data, host.nbytes());
  return host.to(device);
}

Tensor arange(double start, double end, double step, TensorOptions options) {
  STRATA_CHECK(step != 0, "arange: step must be non-zero");
  STRATA_CHECK(std::isfinite(start) && std::isfinite(end), "arange: start and end must be finite");
  auto n = static_cast<int64_t>(std::ceil((end - start) / step));
  std::vector<double> values(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (size_t i = 0; i < values.size(); ++i) values[i] = start + static_cast<double>(i) * step;
  return from_vector(values, {static_cast<int64_t>(values.size())}).to(options);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions options) {
  STRATA_CHECK(steps >= 0, "linspace: steps must be non-negative, got ", steps);
  std::vector<double> values(static_cast<size_t>(steps));
  double delta = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  // Fill from both ends so the last value is exactly `end`.
  for (int64_t i = 0; i < steps; ++i) {
    values[i] = i < steps / 2 ? start + delta * static_cast<double>(i)
                              : end - delta * static_cast<double>(steps - 1 - i);
  }
  return from_vector(values, {steps}).to(options);
}

Tensor eye(int64_t n, int64_t m, TensorOptions options) {
  if (m < 0) m = n;
  STRATA_CHECK(n >= 0, "eye: n must be non-negative, got ", n);
  std::vector<double> values(static_cast<size_t>(n * m), 0.0);
  for (int64_t i = 0; i < std::min(n, m); ++i) values[i * m + i] = 1.0;
  return from_vector(values, {n, m}).to(options);
}

}  // namespace strata
