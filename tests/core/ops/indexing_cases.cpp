// Harness cases for joining, splitting and indexing: cat, stack, split, chunk, index_select,
// gather, scatter, scatter_add, masked_fill and topk. References are loops over multi-indices in
// f64; backward lambdas are the rules autograd will use (cat/stack/split by slicing, index_select
// by index_select_backward, gather by scatter_add, scatter and topk by scatter of the gradient).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/factories.hpp"
#include "core/indexing.hpp"
#include "op_harness.hpp"

namespace strata::test {
namespace {

using Index = std::vector<int64_t>;

const std::vector<DType> kExactTypes = {DType::i32, DType::i64, DType::boolean};
const std::vector<DType> kIntegerTypes = {DType::i32, DType::i64};
const int64_t kDims[] = {0, 1, -1};

// Calls fn(index) for every multi-index of shape in row-major order.
void for_each_index(const Shape& shape, const std::function<void(const Index&)>& fn) {
  if (shape_numel(shape) == 0) return;
  Index index(shape.size(), 0);
  for (;;) {
    fn(index);
    int64_t d = static_cast<int64_t>(shape.size()) - 1;
    for (; d >= 0; --d) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

// An f64 tensor of shape holding value(index) at each index.
Tensor tabulate(const Shape& shape, const std::function<double(const Index&)>& value) {
  std::vector<double> values;
  for_each_index(shape, [&](const Index& i) { values.push_back(value(i)); });
  return from_vector(values, shape);
}

int64_t flat(const Shape& shape, const Index& index) {
  Shape strides = contiguous_strides(shape);
  return std::inner_product(index.begin(), index.end(), strides.begin(), int64_t{0});
}

// An index (or shape) with entry dim replaced by value.
Index with(Index index, int64_t dim, int64_t value) {
  index[dim] = value;
  return index;
}

// Random values of any dtype, in a random layout.
Tensor values_of(InputMaker& m, const Shape& shape, DType dtype) {
  if (dtype == DType::boolean) return m.mask(shape);
  if (is_floating(dtype)) return m.normal(shape, dtype);
  return m.integers(shape, dtype, -50, 50, InputMaker::Layout::any);
}

// Indices in [0, bound), i32 or i64 at random, in a random layout.
Tensor indices_of(InputMaker& m, const Shape& shape, int64_t bound) {
  DType dtype = m.coin() ? DType::i64 : DType::i32;
  return m.integers(shape, dtype, 0, std::max<int64_t>(bound, 1), InputMaker::Layout::any);
}

// A shape on which `dim` is valid: rank 1..4 (at least dim + 1), sizes up to 5, maybe empty.
Shape shape_for(InputMaker& m, int64_t dim) {
  return m.shape(dim >= 0 ? static_cast<int>(dim) + 1 : 1, 4, 5, true);
}

int64_t wrap(int64_t dim, size_t rank) { return dim < 0 ? dim + static_cast<int64_t>(rank) : dim; }

// Registers c for the float dtypes, with its backward, and again without backward for `exact`
// dtypes (integers, bool), where gradients mean nothing.
void register_float_and_exact(OpCase c, const std::vector<DType>& exact) {
  OpCase exact_case = c;
  exact_case.variant += ", integer/bool dtypes";
  exact_case.dtypes = exact;
  exact_case.backward = nullptr;
  exact_case.trials = 2;
  c.dtypes = kFloatTypes;
  register_case(std::move(c));
  register_case(std::move(exact_case));
}

void register_joining_cases() {
  for (int64_t dim : kDims) {
    std::string on_dim = "dim " + std::to_string(dim);
    register_float_and_exact(
        {
            .op = "cat",
            .variant = "3 tensors, sizes 0..4 along " + on_dim,
            .make_inputs =
                [dim](InputMaker& m, DType dtype) {
                  Shape shape = shape_for(m, dim);
                  int64_t d = wrap(dim, shape.size());
                  Tensors in;
                  for (int i = 0; i < 3; ++i)
                    in.push_back(values_of(m, with(shape, d, m.integer(0, 4)), dtype));
                  return in;
                },
            .forward = [dim](const Tensors& in) { return Tensors{cat(in, dim)}; },
            .reference =
                [dim](const Tensors& in) {
                  int64_t d = wrap(dim, in[0].shape().size());
                  Shape shape = in[0].shape();
                  shape[d] = in[0].size(d) + in[1].size(d) + in[2].size(d);
                  return Tensors{tabulate(shape, [&](const Index& i) {
                    int64_t k = 0, j = i[d];
                    while (j >= in[k].size(d)) j -= in[k++].size(d);
                    return at(in[k], with(i, d, j));
                  })};
                },
            .backward =
                [dim](const Tensors& in, const Tensors&, const Tensor& grad) {
                  int64_t d = wrap(dim, in[0].shape().size()), offset = 0;
                  Tensors grads;
                  for (const Tensor& t : in) {
                    grads.push_back(grad.narrow(d, offset, t.size(d)));
                    offset += t.size(d);
                  }
                  return grads;
                },
        },
        kExactTypes);
    register_float_and_exact(
        {
            .op = "stack",
            .variant = "3 tensors along " + on_dim,
            .make_inputs =
                [dim](InputMaker& m, DType dtype) {
                  Shape shape = m.shape(dim >= 1 ? static_cast<int>(dim) : 0, 3, 5, true);
                  return Tensors{values_of(m, shape, dtype), values_of(m, shape, dtype),
                                 values_of(m, shape, dtype)};
                },
            .forward = [dim](const Tensors& in) { return Tensors{stack(in, dim)}; },
            .reference =
                [dim](const Tensors& in) {
                  int64_t d = wrap(dim, in[0].shape().size() + 1);
                  Shape shape = in[0].shape();
                  shape.insert(shape.begin() + d, 3);
                  return Tensors{tabulate(shape, [&](const Index& i) {
                    Index source = i;
                    source.erase(source.begin() + d);
                    return at(in[i[d]], source);
                  })};
                },
            .backward =
                [dim](const Tensors& in, const Tensors&, const Tensor& grad) {
                  int64_t d = wrap(dim, in[0].shape().size() + 1);
                  return Tensors{grad.select(d, 0), grad.select(d, 1), grad.select(d, 2)};
                },
        },
        kExactTypes);
  }
}

// split and chunk: the pieces are views; the backward of piece 0 is cat(grad, zeros...).
void register_splitting_cases() {
  auto pieces_reference = [](const Tensor& x, int64_t d, const std::vector<int64_t>& sizes) {
    Tensors pieces;
    int64_t start = 0;
    for (int64_t size : sizes) {
      pieces.push_back(tabulate(with(x.shape(), d, size),
                                [&](const Index& i) { return at(x, with(i, d, i[d] + start)); }));
      start += size;
    }
    return pieces;
  };
  auto piece_zero_backward = [](int64_t dim) {
    return [dim](const Tensors& in, const Tensors& out, const Tensor& grad) {
      Tensors parts = {grad};
      for (size_t i = 1; i < out.size(); ++i)
        parts.push_back(zeros(out[i].shape(), grad.options()));
      return Tensors{cat(parts, dim)};
    };
  };
  for (int64_t dim : {int64_t{0}, int64_t{-1}}) {
    for (int64_t split_size : {1, 2, 3}) {
      register_float_and_exact(
          {
              .op = "split",
              .variant =
                  "split_size " + std::to_string(split_size) + " along dim " + std::to_string(dim),
              .make_inputs =
                  [dim](InputMaker& m, DType dtype) {
                    return Tensors{values_of(m, shape_for(m, dim), dtype)};
                  },
              .forward = [dim,
                          split_size](const Tensors& in) { return split(in[0], split_size, dim); },
              .reference =
                  [=](const Tensors& in) {
                    int64_t d = wrap(dim, in[0].shape().size()), n = in[0].size(d);
                    std::vector<int64_t> sizes;
                    for (int64_t start = 0; start < n; start += split_size)
                      sizes.push_back(std::min(split_size, n - start));
                    if (n == 0) sizes.push_back(0);
                    return pieces_reference(in[0], d, sizes);
                  },
              .backward = piece_zero_backward(dim),
          },
          kExactTypes);
    }
    for (int64_t chunks : {1, 2, 3, 5}) {
      register_float_and_exact(
          {
              .op = "chunk",
              .variant = std::to_string(chunks) + " chunks along dim " + std::to_string(dim),
              .make_inputs =
                  [dim](InputMaker& m, DType dtype) {
                    return Tensors{values_of(m, shape_for(m, dim), dtype)};
                  },
              .forward = [dim, chunks](const Tensors& in) { return chunk(in[0], chunks, dim); },
              .reference =
                  [=](const Tensors& in) {
                    int64_t d = wrap(dim, in[0].shape().size()), n = in[0].size(d);
                    // torch.chunk: pieces of ceil(n / chunks); `chunks` empty pieces when n = 0.
                    std::vector<int64_t> sizes;
                    int64_t size = (n + chunks - 1) / chunks;
                    for (int64_t start = 0; start < n; start += size)
                      sizes.push_back(std::min(size, n - start));
                    if (n == 0) sizes.assign(chunks, 0);
                    return pieces_reference(in[0], d, sizes);
                  },
              .backward = piece_zero_backward(dim),
          },
          kExactTypes);
    }
  }
}

// gather/scatter inputs: x, then index (its sizes fit in x except along dim), then src.
// `unique` draws distinct indices within each line, so scatter's result has no write order.
Tensors gather_scatter_inputs(InputMaker& m, DType dtype, int64_t dim, bool with_src, bool unique) {
  Shape x_shape = shape_for(m, dim);
  int64_t d = wrap(dim, x_shape.size());
  Shape index_shape = x_shape;
  for (int64_t& size : index_shape) size = std::min(size, m.integer(1, size + 1));
  int64_t n = x_shape[d];
  index_shape[d] = n == 0 ? 0 : unique ? m.integer(0, n) : m.integer(0, 5);
  Tensors in = {values_of(m, x_shape, dtype), indices_of(m, index_shape, n)};
  if (unique) {
    std::vector<double> values(static_cast<size_t>(shape_numel(index_shape)));
    for_each_index(with(index_shape, d, 1), [&](const Index& line) {
      std::vector<int64_t> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), m.rng());
      for (int64_t j = 0; j < index_shape[d]; ++j)
        values[flat(index_shape, with(line, d, j))] = static_cast<double>(order[j]);
    });
    in[1] = from_vector(values, index_shape).to(in[1].dtype());
  }
  if (with_src) {
    Shape src_shape = index_shape;
    for (int64_t& size : src_shape) size += m.integer(0, 1);
    in.push_back(values_of(m, src_shape, dtype));
  }
  return in;
}

// x with src written (or added) at index along d, in index order, as f64.
Tensor scatter_reference(const Tensors& in, int64_t d, bool accumulate) {
  const Tensor &x = in[0], &index = in[1], &src = in[2];
  std::vector<double> out;
  for_each_index(x.shape(), [&](const Index& i) { out.push_back(at(x, i)); });
  for_each_index(index.shape(), [&](const Index& i) {
    double& target = out[flat(x.shape(), with(i, d, static_cast<int64_t>(at(index, i))))];
    target = accumulate ? target + at(src, i) : at(src, i);
  });
  return from_vector(out, x.shape());
}

void register_indexing_cases() {
  for (int64_t dim : kDims) {
    std::string on_dim = "along dim " + std::to_string(dim);
    register_float_and_exact(
        {
            .op = "index_select",
            .variant = "repeated indices " + on_dim,
            .make_inputs =
                [dim](InputMaker& m, DType dtype) {
                  Shape shape = shape_for(m, dim);
                  int64_t n = shape[wrap(dim, shape.size())];
                  return Tensors{values_of(m, shape, dtype),
                                 indices_of(m, {n == 0 ? 0 : m.integer(0, 6)}, n)};
                },
            .forward =
                [dim](const Tensors& in) { return Tensors{index_select(in[0], dim, in[1])}; },
            .reference =
                [dim](const Tensors& in) {
                  int64_t d = wrap(dim, in[0].shape().size());
                  return Tensors{
                      tabulate(with(in[0].shape(), d, in[1].numel()), [&](const Index& i) {
                        return at(in[0], with(i, d, static_cast<int64_t>(at(in[1], {i[d]}))));
                      })};
                },
            .backward =
                [dim](const Tensors& in, const Tensors&, const Tensor& grad) {
                  return Tensors{index_select_backward(grad, in[0].shape(), dim, in[1]), Tensor()};
                },
        },
        kExactTypes);
    register_float_and_exact(
        {
            .op = "gather",
            .variant = "index smaller than x " + on_dim,
            .make_inputs =
                [dim](InputMaker& m, DType dtype) {
                  return gather_scatter_inputs(m, dtype, dim, false, false);
                },
            .forward = [dim](const Tensors& in) { return Tensors{gather(in[0], dim, in[1])}; },
            .reference =
                [dim](const Tensors& in) {
                  int64_t d = wrap(dim, in[0].shape().size());
                  return Tensors{tabulate(in[1].shape(), [&](const Index& i) {
                    return at(in[0], with(i, d, static_cast<int64_t>(at(in[1], i))));
                  })};
                },
            .backward =
                [dim](const Tensors& in, const Tensors&, const Tensor& grad) {
                  return Tensors{
                      scatter_add(zeros(in[0].shape(), grad.options()), dim, in[1], grad),
                      Tensor()};
                },
        },
        kExactTypes);
    register_float_and_exact(
        {
            .op = "scatter",
            .variant = "distinct indices per line " + on_dim,
            .make_inputs =
                [dim](InputMaker& m, DType dtype) {
                  return gather_scatter_inputs(m, dtype, dim, true, true);
                },
            .forward =
                [dim](const Tensors& in) { return Tensors{scatter(in[0], dim, in[1], in[2])}; },
            .reference =
                [dim](const Tensors& in) {
                  return Tensors{scatter_reference(in, wrap(dim, in[0].shape().size()), false)};
                },
            // Written positions take their gradient from src, the rest from x.
            .backward =
                [dim](const Tensors& in, const Tensors&, const Tensor& grad) {
                  int64_t d = wrap(dim, in[0].shape().size());
                  Tensor src_grad = zeros(in[2].shape(), grad.options());
                  Tensor box = src_grad;
                  for (int64_t k = 0; k < in[1].dim(); ++k) box = box.narrow(k, 0, in[1].size(k));
                  box.copy_(gather(grad, d, in[1]));
                  return Tensors{scatter(grad, d, in[1], zeros(in[1].shape(), grad.options())),
                                 Tensor(), src_grad};
                },
        },
        kExactTypes);
    register_case({
        .op = "scatter",
        .variant = "repeated indices, the last write wins, " + on_dim,
        .dtypes = {DType::f32, DType::i64, DType::boolean},
        .make_inputs =
            [dim](InputMaker& m, DType dtype) {
              return gather_scatter_inputs(m, dtype, dim, true, false);
            },
        .forward = [dim](const Tensors& in) { return Tensors{scatter(in[0], dim, in[1], in[2])}; },
        .reference =
            [dim](const Tensors& in) {
              return Tensors{scatter_reference(in, wrap(dim, in[0].shape().size()), false)};
            },
    });
    register_float_and_exact(
        {
            .op = "scatter_add",
            .variant = "repeated indices " + on_dim,
            .make_inputs =
                [dim](InputMaker& m, DType dtype) {
                  return gather_scatter_inputs(m, dtype, dim, true, false);
                },
            .forward =
                [dim](const Tensors& in) { return Tensors{scatter_add(in[0], dim, in[1], in[2])}; },
            .reference =
                [dim](const Tensors& in) {
                  return Tensors{scatter_reference(in, wrap(dim, in[0].shape().size()), true)};
                },
            .backward =
                [dim](const Tensors& in, const Tensors&, const Tensor& grad) {
                  int64_t d = wrap(dim, in[0].shape().size());
                  Tensor src_grad = zeros(in[2].shape(), grad.options());
                  Tensor box = src_grad;
                  for (int64_t k = 0; k < in[1].dim(); ++k) box = box.narrow(k, 0, in[1].size(k));
                  box.copy_(gather(grad, d, in[1]));
                  return Tensors{grad, Tensor(), src_grad};
                },
        },
        kIntegerTypes);
  }
}

void register_masked_fill_cases() {
  constexpr double kValue = -2.5;
  register_float_and_exact(
      {
          .op = "masked_fill",
          .variant = "broadcast mask",
          .make_inputs =
              [](InputMaker& m, DType dtype) {
                Shape shape = m.shape(0, 4, 5, true);
                return Tensors{values_of(m, shape, dtype), m.mask(m.broadcastable(shape))};
              },
          .forward = [](const Tensors& in) { return Tensors{masked_fill(in[0], in[1], kValue)}; },
          .reference =
              [](const Tensors& in) {
                DType dtype = in[0].dtype();
                double fill = is_floating(dtype)        ? kValue
                              : dtype == DType::boolean ? 1.0
                                                        : std::trunc(kValue);
                Tensor mask = in[1].expand(in[0].shape()).contiguous();
                return Tensors{tabulate(in[0].shape(), [&](const Index& i) {
                  return at(mask, i) != 0 ? fill : at(in[0], i);
                })};
              },
          .backward =
              [](const Tensors& in, const Tensors&, const Tensor& grad) {
                return Tensors{masked_fill(grad, in[1], 0.0), Tensor()};
              },
      },
      kExactTypes);
}

// topk's k as a function of the dim's size n.
struct TopkVariant {
  std::string name;
  bool largest, sorted;
  int64_t (*k)(int64_t n);
};

void register_topk_cases() {
  const TopkVariant variants[] = {
      {"largest 3, sorted", true, true, [](int64_t n) { return std::min<int64_t>(n, 3); }},
      {"smallest n, sorted", false, true, [](int64_t n) { return n; }},
      {"largest n/2, unsorted", true, false, [](int64_t n) { return n / 2; }},
      {"smallest 2, unsorted", false, false, [](int64_t n) { return std::min<int64_t>(n, 2); }},
  };
  for (const TopkVariant& v : variants) {
    for (int64_t dim : {int64_t{0}, int64_t{-1}}) {
      register_float_and_exact(
          {
              .op = "topk",
              .variant = v.name + " along dim " + std::to_string(dim),
              .make_inputs =
                  [dim](InputMaker& m, DType dtype) {
                    Shape shape = m.shape(1, 3, 7, true);
                    // Few distinct integers, so ties are common.
                    return Tensors{is_floating(dtype)
                                       ? m.normal(shape, dtype)
                                       : m.integers(shape, dtype, -4, 4, InputMaker::Layout::any)};
                  },
              .forward =
                  [v, dim](const Tensors& in) {
                    int64_t k = v.k(in[0].size(dim));
                    ValuesIndices r = topk(in[0], k, dim, v.largest, v.sorted);
                    return Tensors{r.values, r.indices};
                  },
              // Order by value, ties by position; unsorted keeps the chosen in position order.
              .reference =
                  [v, dim](const Tensors& in) {
                    const Tensor& x = in[0];
                    int64_t d = wrap(dim, x.shape().size()), n = x.size(d), k = v.k(n);
                    Shape shape = with(x.shape(), d, k);
                    std::vector<double> values(shape_numel(shape)), indices(shape_numel(shape));
                    for_each_index(with(x.shape(), d, 1), [&](const Index& line) {
                      std::vector<int64_t> order(static_cast<size_t>(n));
                      std::iota(order.begin(), order.end(), 0);
                      auto value = [&](int64_t j) { return at(x, with(line, d, j)); };
                      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
                        return v.largest ? value(a) > value(b) : value(a) < value(b);
                      });
                      if (!v.sorted) std::sort(order.begin(), order.begin() + k);
                      for (int64_t j = 0; j < k; ++j) {
                        int64_t at_out = flat(shape, with(line, d, j));
                        values[at_out] = value(order[j]);
                        indices[at_out] = static_cast<double>(order[j]);
                      }
                    });
                    return Tensors{from_vector(values, shape), from_vector(indices, shape)};
                  },
              .backward =
                  [dim](const Tensors& in, const Tensors& out, const Tensor& grad) {
                    return Tensors{
                        scatter(zeros(in[0].shape(), grad.options()), dim, out[1], grad)};
                  },
          },
          kIntegerTypes);
    }
  }
}

const bool registered = [] {
  register_joining_cases();
  register_splitting_cases();
  register_indexing_cases();
  register_masked_fill_cases();
  register_topk_cases();
  return true;
}();

}  // namespace
}  // namespace strata::test
