// Harness cases for the reductions (core/reduce.hpp). A case's dims and keepdim are drawn per
// trial and travel as a second input, an i64 "spec" tensor [keepdim, dims...], so forward,
// reference and backward all see the same choice. References fold each output's elements in f64
// with plain loops.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "core/factories.hpp"
#include "core/reduce.hpp"
#include "op_harness.hpp"

namespace strata::test {
namespace {

const std::vector<DType> kAllTypes(std::begin(kAllDTypes), std::end(kAllDTypes));

struct Spec {
  Dims dims;
  bool keepdim;
};

Tensor encode(const Spec& spec) {
  std::vector<int64_t> values = {spec.keepdim ? 1 : 0};
  values.insert(values.end(), spec.dims.begin(), spec.dims.end());
  return from_vector(values);
}

Spec decode(const Tensor& t) {
  std::vector<int64_t> values = t.to_vector<int64_t>();
  return {Dims(values.begin() + 1, values.end()), values[0] != 0};
}

// A random subset of a rank-`rank` shape's dims, in random order, some written negative; empty
// (all dims) now and then.
Spec random_dims(InputMaker& m, int64_t rank) {
  Spec spec{{}, m.coin()};
  if (rank == 0 || m.coin(0.2)) return spec;
  for (int64_t d = 0; d < rank; ++d) {
    if (m.coin()) spec.dims.push_back(m.coin() ? d - rank : d);
  }
  std::shuffle(spec.dims.begin(), spec.dims.end(), m.rng());
  return spec;
}

// One dim (maybe negative) for max/min/argmax/argmin; a 0-dim input takes 0 or -1.
Spec random_dim(InputMaker& m, int64_t rank) {
  int64_t bound = std::max<int64_t>(rank, 1);
  int64_t d = m.integer(0, bound - 1);
  return {{m.coin() ? d - bound : d}, m.coin()};
}

Tensor make_values(InputMaker& m, const Shape& shape, DType dtype) {
  if (dtype == DType::boolean) return m.mask(shape);
  if (!is_floating(dtype)) return m.integers(shape, dtype, -50, 50, InputMaker::Layout::any);
  return m.normal(shape, dtype);
}

// Distinct values (a shuffled grid), so max/min have no ties and their gradients are defined.
Tensor make_distinct(InputMaker& m, const Shape& shape, DType dtype) {
  int64_t n = shape_numel(shape);
  std::vector<double> values(static_cast<size_t>(n));
  double step = dtype == DType::boolean || is_floating(dtype) ? 0.25 : 1.0;
  for (int64_t i = 0; i < n; ++i) values[i] = static_cast<double>(i - n / 2) * step;
  std::shuffle(values.begin(), values.end(), m.rng());
  Tensor dense = from_vector(values, shape).to(dtype);
  if (dense.dim() >= 2 && m.coin()) return dense.transpose(-1, -2).contiguous().transpose(-1, -2);
  return dense;
}

// The f64 reference: fold(elements, index of each along the reduced dims) for every output, the
// elements of an output in row-major order of its reduced dims.
using Fold = std::function<double(const std::vector<double>&)>;
Tensor reference_reduce(const Tensor& x, const Spec& spec, DType out_dtype, const Fold& fold) {
  int64_t rank = x.dim();
  std::vector<bool> reduced(static_cast<size_t>(rank), spec.dims.empty());
  for (int64_t d : spec.dims) {
    if (rank > 0) reduced[d < 0 ? d + rank : d] = true;
  }
  Shape out_shape, keep_shape;
  for (int64_t d = 0; d < rank; ++d) {
    if (!reduced[d]) out_shape.push_back(x.shape()[d]);
    if (!reduced[d] || spec.keepdim) keep_shape.push_back(reduced[d] ? 1 : x.shape()[d]);
  }
  std::vector<std::vector<double>> groups(static_cast<size_t>(shape_numel(out_shape)));
  std::vector<int64_t> index(static_cast<size_t>(rank), 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t out = 0;
    for (int64_t d = 0; d < rank; ++d) {
      if (!reduced[d]) out = out * x.shape()[d] + index[d];
    }
    groups[out].push_back(at(x, index));
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++index[d] < x.shape()[d]) break;
      index[d] = 0;
    }
  }
  std::vector<double> results;
  for (const auto& group : groups) results.push_back(fold(group));
  return from_vector(results, keep_shape).to(out_dtype);
}

double fold_sum(const std::vector<double>& v) {
  double s = 0;
  for (double e : v) s += e;
  return s;
}

const bool registered = [] {
  // Floating sums, with the backward; integer and bool sums (to i64) have no gradient.
  register_case({
      .op = "sum",
      .variant = "floating, random dims, keepdim, layouts",
      .dtypes = kFloatTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            Shape s = m.shape(0, 4, 6, true);
            return Tensors{make_values(m, s, dtype), encode(random_dims(m, s.size()))};
          },
      .forward =
          [](const Tensors& in) {
            Spec spec = decode(in[1]);
            return Tensors{sum(in[0], spec.dims, spec.keepdim)};
          },
      .reference =
          [](const Tensors& in) {
            return Tensors{reference_reduce(in[0], decode(in[1]), DType::f64, fold_sum)};
          },
      .backward =
          [](const Tensors& in, const Tensors&, const Tensor& grad) {
            Spec spec = decode(in[1]);
            return Tensors{sum_backward(grad, in[0].shape(), spec.dims, spec.keepdim), Tensor()};
          },
      .trials = 12,
      .tolerance_scale = 4,
  });
  register_case({
      .op = "sum",
      .variant = "integer and bool to i64, random dims",
      .dtypes = {DType::i32, DType::i64, DType::boolean},
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            Shape s = m.shape(0, 4, 6, true);
            return Tensors{make_values(m, s, dtype), encode(random_dims(m, s.size()))};
          },
      .forward =
          [](const Tensors& in) {
            Spec spec = decode(in[1]);
            return Tensors{sum(in[0], spec.dims, spec.keepdim)};
          },
      .reference =
          [](const Tensors& in) {
            return Tensors{reference_reduce(in[0], decode(in[1]), DType::i64, fold_sum)};
          },
      .trials = 8,
  });
  return true;
}();

}  // namespace
}  // namespace strata::test
