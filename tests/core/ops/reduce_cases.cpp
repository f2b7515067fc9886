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
double fold_mean(const std::vector<double>& v) {
  return fold_sum(v) / static_cast<double>(v.size());
}
// Two-pass variance with `correction`: NaN or inf when count <= correction, as in torch.
Fold fold_var(int64_t correction) {
  return [correction](const std::vector<double>& v) {
    double mean = fold_mean(v), m2 = 0;
    for (double e : v) m2 += (e - mean) * (e - mean);
    return m2 / std::max<double>(0, static_cast<double>(v.size()) - correction);
  };
}
Fold fold_norm(double p) {
  return [p](const std::vector<double>& v) {
    double s = 0;
    for (double e : v) s = std::isinf(p) ? std::max(s, std::abs(e)) : s + std::pow(std::abs(e), p);
    return std::isinf(p) ? s : std::pow(s, 1 / p);
  };
}
// The first position of the largest (or smallest) element, or the element itself.
Fold fold_extreme(bool largest, bool want_index) {
  return [=](const std::vector<double>& v) {
    size_t best = 0;
    for (size_t i = 1; i < v.size(); ++i) {
      if (largest ? v[i] > v[best] : v[i] < v[best]) best = i;
    }
    return want_index ? static_cast<double>(best) : v[best];
  };
}

// Reduced dims of size 0 grown to 2: amax and friends have no value for an empty reduction.
Shape nonempty_reduced(Shape shape, const Spec& spec) {
  auto rank = static_cast<int64_t>(shape.size());
  for (int64_t d = 0; d < rank; ++d) {
    bool reduced = spec.dims.empty() || std::count(spec.dims.begin(), spec.dims.end(), d) ||
                   std::count(spec.dims.begin(), spec.dims.end(), d - rank);
    if (reduced && shape[d] == 0) shape[d] = 2;
  }
  return shape;
}

// Values away from 0 with random signs, where |x|^p and its derivatives are smooth.
Tensor away_from_zero(InputMaker& m, const Shape& shape, DType dtype) {
  Tensor magnitude = m.uniform(shape, DType::f64, 0.3, 2.0, InputMaker::Layout::contiguous);
  Tensor sign = m.integers(shape, DType::f64, 0, 2);
  std::vector<double> values = magnitude.to_vector<double>(), signs = sign.to_vector<double>();
  for (size_t i = 0; i < values.size(); ++i) values[i] *= signs[i] > 0 ? 1 : -1;
  Tensor dense = from_vector(values, shape).to(dtype);
  if (dense.dim() >= 2 && m.coin()) return dense.transpose(-1, -2).contiguous().transpose(-1, -2);
  return dense;
}

enum class Values { normal, small_integers, distinct, away_from_zero };

// Inputs {x, spec}: x of a random shape (up to rank 4, or with one long dim) filled as `values`
// says, and a spec of random dims (one dim when single_dim, for max/min/argmax/argmin).
std::function<Tensors(InputMaker&, DType)> inputs(Values values, bool single_dim, bool nonempty,
                                                  bool long_dim = false) {
  return [=](InputMaker& m, DType dtype) {
    Shape s = m.shape(0, 4, values == Values::distinct ? 4 : 6, true);
    if (long_dim) {  // one dim long enough for the kernels' lanes, leaves and pairwise merges
      s = m.shape(2, 3, 3);
      s[m.integer(0, s.size() - 1)] = m.integer(33, 2500);
    }
    Spec spec = single_dim ? random_dim(m, s.size()) : random_dims(m, s.size());
    if (nonempty) s = nonempty_reduced(s, spec);
    Tensor x;
    switch (values) {
      case Values::normal: x = make_values(m, s, dtype); break;
      case Values::small_integers:
        x = dtype == DType::boolean ? m.mask(s)
                                    : m.integers(s, dtype, -3, 3, InputMaker::Layout::any);
        break;
      case Values::distinct: x = make_distinct(m, s, dtype); break;
      case Values::away_from_zero: x = away_from_zero(m, s, dtype); break;
    }
    return Tensors{x, encode(spec)};
  };
}

using Forward = std::function<Tensors(const Tensor& x, const Spec& spec)>;
using Backward = std::function<Tensor(const Tensor& x, const Tensors& outputs, const Tensor& grad,
                                      const Spec& spec)>;

// A case whose reference folds each output's elements with `folds` (one per compared output).
OpCase reduction_case(std::string op, std::string variant, std::vector<DType> dtypes,
                      std::function<Tensors(InputMaker&, DType)> make_inputs, Forward forward,
                      std::vector<std::pair<Fold, bool>> folds, Backward backward = nullptr) {
  OpCase c{
      .op = std::move(op),
      .variant = std::move(variant),
      .dtypes = std::move(dtypes),
      .make_inputs = std::move(make_inputs),
      .forward = [forward](const Tensors& in) { return forward(in[0], decode(in[1])); },
      // Each fold is paired with whether it gives an index; values compare as doubles, so
      // integer results can all be i64.
      .reference =
          [folds](const Tensors& in) {
            Tensors out;
            for (const auto& [fold, is_index] : folds) {
              DType dtype = is_index || !is_floating(in[0].dtype()) ? DType::i64 : DType::f64;
              out.push_back(reference_reduce(in[0], decode(in[1]), dtype, fold));
            }
            return out;
          },
      .trials = 8,
      .tolerance_scale = 4,
  };
  if (backward) {
    c.backward = [backward](const Tensors& in, const Tensors& outputs, const Tensor& grad) {
      return Tensors{backward(in[0], outputs, grad, decode(in[1])), Tensor()};
    };
  }
  return c;
}

const std::vector<DType> kIntegerTypes = {DType::i32, DType::i64, DType::boolean};

const bool registered = [] {
  // sum: floating with the backward; integer and bool sums (to i64) have no gradient.
  register_case(reduction_case(
      "sum", "floating, random dims", kFloatTypes, inputs(Values::normal, false, false),
      [](const Tensor& x, const Spec& s) { return Tensors{sum(x, s.dims, s.keepdim)}; },
      {{fold_sum, false}},
      [](const Tensor& x, const Tensors&, const Tensor& grad, const Spec& s) {
        return sum_backward(grad, x.shape(), s.dims, s.keepdim);
      }));
  OpCase integer_sum = reduction_case(
      "sum", "integer and bool to i64, random dims", kIntegerTypes,
      inputs(Values::normal, false, false),
      [](const Tensor& x, const Spec& s) { return Tensors{sum(x, s.dims, s.keepdim)}; },
      {{fold_sum, true}});
  register_case(integer_sum);
  register_case(reduction_case(
      "sum", "one long dim", kNumericTypes, inputs(Values::small_integers, false, false, true),
      [](const Tensor& x, const Spec& s) { return Tensors{sum(x, s.dims, s.keepdim)}; },
      {{fold_sum, false}}));

  register_case(reduction_case(
      "mean", "random dims", kFloatTypes, inputs(Values::normal, false, false),
      [](const Tensor& x, const Spec& s) { return Tensors{mean(x, s.dims, s.keepdim)}; },
      {{fold_mean, false}}));

  for (bool largest : {true, false}) {
    std::string name = largest ? "amax" : "amin";
    auto forward = [largest](const Tensor& x, const Spec& s) {
      return Tensors{largest ? amax(x, s.dims, s.keepdim) : amin(x, s.dims, s.keepdim)};
    };
    register_case(reduction_case(name, "ties, random dims", kAllTypes,
                                 inputs(Values::small_integers, false, true), forward,
                                 {{fold_extreme(largest, false), false}}));
    register_case(reduction_case(name, "distinct values, random dims", kFloatTypes,
                                 inputs(Values::distinct, false, true), forward,
                                 {{fold_extreme(largest, false), false}}));

    std::string with_values = largest ? "max" : "min";
    auto forward_values = [largest](const Tensor& x, const Spec& s) {
      ValuesIndices r = largest ? max(x, s.dims[0], s.keepdim) : min(x, s.dims[0], s.keepdim);
      return Tensors{r.values, r.indices};
    };
    register_case(reduction_case(
        with_values, "ties (the first wins), one dim", kAllTypes,
        inputs(Values::small_integers, true, true), forward_values,
        {{fold_extreme(largest, false), false}, {fold_extreme(largest, true), true}}));
    register_case(reduction_case(
        with_values, "distinct values, one dim", kFloatTypes, inputs(Values::distinct, true, true),
        forward_values,
        {{fold_extreme(largest, false), false}, {fold_extreme(largest, true), true}}));

    std::string arg = largest ? "argmax" : "argmin";
    register_case(reduction_case(arg, "ties (the first wins), one dim", kAllTypes,
                                 inputs(Values::small_integers, true, true),
                                 [largest](const Tensor& x, const Spec& s) {
                                   return Tensors{largest ? argmax(x, s.dims[0], s.keepdim)
                                                          : argmin(x, s.dims[0], s.keepdim)};
                                 },
                                 {{fold_extreme(largest, true), true}}));
    register_case(reduction_case(
        with_values, "ties (the first wins), one long dim", kAllTypes,
        inputs(Values::small_integers, true, true, true), forward_values,
        {{fold_extreme(largest, false), false}, {fold_extreme(largest, true), true}}));
  }

  for (int64_t correction : {0, 1, 2}) {
    register_case(reduction_case("var",
                                 "correction " + std::to_string(correction) + ", random dims",
                                 kFloatTypes, inputs(Values::normal, false, false),
                                 [correction](const Tensor& x, const Spec& s) {
                                   return Tensors{var(x, s.dims, correction, s.keepdim)};
                                 },
                                 {{fold_var(correction), false}}));
  }
  register_case(reduction_case(
      "var", "one long dim", kFloatTypes, inputs(Values::normal, false, false, true),
      [](const Tensor& x, const Spec& s) { return Tensors{var(x, s.dims, 1, s.keepdim)}; },
      {{fold_var(1), false}}));

  for (double p : {1.0, 2.0, 3.0, 0.5, std::numeric_limits<double>::infinity()}) {
    register_case(reduction_case(
        "norm", "p = " + std::to_string(p) + ", random dims", kFloatTypes,
        inputs(Values::away_from_zero, false, false),
        [p](const Tensor& x, const Spec& s) { return Tensors{norm(x, p, s.dims, s.keepdim)}; },
        {{fold_norm(p), false}}));
  }
  register_case(reduction_case(
      "norm", "p = 2, one long dim", kFloatTypes, inputs(Values::normal, false, false, true),
      [](const Tensor& x, const Spec& s) { return Tensors{norm(x, 2, s.dims, s.keepdim)}; },
      {{fold_norm(2), false}}));
  return true;
}();

}  // namespace
}  // namespace strata::test
