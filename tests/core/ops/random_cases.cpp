// Harness cases for the Philox-driven and lookup ops: dropout (the reference rebuilds the mask from
// the Philox words), embedding (+ its scatter-add backward) and multinomial. multinomial has no
// loop reference: its case checks that every sample is a valid class (in range, with mass, no
// repeats without replacement); random_test.cpp checks the frequencies.
#include <cmath>

#include "core/factories.hpp"
#include "core/indexing.hpp"
#include "core/nn_ops.hpp"
#include "op_harness.hpp"

namespace strata::test {
namespace {

// An offset that is not a multiple of 4, so kernels start inside a Philox block.
constexpr PhiloxState kDropoutState{0x5eed, 6};

Tensor dropout_reference(const Tensor& x, double p, PhiloxState state) {
  Tensor out = x.clone();
  double* values = out.data<double>();
  auto threshold = static_cast<uint32_t>(std::ceil(p * 16777216.0));  // p in units of 2^-24
  for (int64_t i = 0; i < out.numel(); ++i) {
    bool keep = (philox_bits(state, static_cast<uint64_t>(i)) >> 8) >= threshold;
    values[i] = keep ? values[i] / (1 - p) : 0.0;
  }
  return out;
}

Tensor embedding_reference(const Tensor& weight, const Tensor& ids) {
  int64_t dim = weight.size(1);
  Shape shape = ids.shape();
  shape.push_back(dim);
  Tensor out = zeros(shape, {weight.dtype()});
  std::vector<int64_t> id = ids.to_vector<int64_t>();
  Tensor rows = out.reshape({-1, dim});
  for (size_t i = 0; i < id.size(); ++i)
    rows.select(0, static_cast<int64_t>(i)).copy_(weight.select(0, id[i]));
  return out;
}

// 1 where sample j of a row is a class in range with positive probability that (without
// replacement) the row has not drawn before, 0 otherwise; same shape as the samples.
Tensor valid_samples(const Tensor& samples, const Tensor& probs, bool replacement) {
  Tensor p = probs.to(Device::cpu()).to(DType::f64).contiguous().reshape({-1, probs.size(-1)});
  int64_t classes = p.size(1), rows = p.size(0);
  std::vector<int64_t> s = samples.to_vector<int64_t>();
  int64_t per_row = rows ? static_cast<int64_t>(s.size()) / rows : 0;
  std::vector<double> valid(s.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<bool> seen(static_cast<size_t>(classes), false);
    for (int64_t j = 0; j < per_row; ++j) {
      int64_t c = s[r * per_row + j];
      bool ok = c >= 0 && c < classes && p.data<double>()[r * classes + c] > 0 &&
                (replacement || !seen[c]);
      if (c >= 0 && c < classes) seen[c] = true;
      valid[r * per_row + j] = ok ? 1.0 : 0.0;
    }
  }
  return from_vector(valid, samples.shape());
}

const bool registered = [] {
  for (double p : {0.0, 0.3, 1.0}) {
    register_case({
        .op = "dropout",
        .variant = "p = " + std::to_string(p),
        .dtypes = kFloatTypes,
        .make_inputs = [](InputMaker& m,
                          DType dtype) { return Tensors{m.normal(m.shape(0, 4, 9, true), dtype)}; },
        .forward = [p](const Tensors& in) { return Tensors{dropout(in[0], p, kDropoutState)}; },
        .reference =
            [p](const Tensors& in) { return Tensors{dropout_reference(in[0], p, kDropoutState)}; },
        .backward =
            [p](const Tensors&, const Tensors&, const Tensor& grad) {
              return Tensors{dropout_backward(grad, p, kDropoutState)};
            },
    });
  }
  register_case({
      .op = "dropout",
      .variant = "large tensor split across threads, p = 0.5",
      .dtypes = kFloatTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            return Tensors{m.normal({3, m.integer(20000, 30000)}, dtype)};
          },
      .forward = [](const Tensors& in) { return Tensors{dropout(in[0], 0.5, kDropoutState)}; },
      .reference =
          [](const Tensors& in) { return Tensors{dropout_reference(in[0], 0.5, kDropoutState)}; },
      .trials = 1,
  });

  for (DType id_dtype : {DType::i64, DType::i32}) {
    register_case({
        .op = "embedding",
        .variant = std::string("ids ") + std::string(dtype_name(id_dtype)),
        .dtypes = kFloatTypes,
        .make_inputs =
            [id_dtype](InputMaker& m, DType dtype) {
              int64_t rows = m.integer(1, 12), dim = m.integer(1, 9);
              // Few rows and more ids than rows: most rows collect several gradients.
              return Tensors{m.normal({rows, dim}, dtype),
                             m.integers(m.shape(0, 3, 6, true), id_dtype, 0, rows)};
            },
        .forward = [](const Tensors& in) { return Tensors{embedding(in[0], in[1])}; },
        .reference = [](const Tensors& in) { return Tensors{embedding_reference(in[0], in[1])}; },
        .backward =
            [](const Tensors& in, const Tensors&, const Tensor& grad) {
              return Tensors{embedding_backward(grad, in[1], in[0].size(0)), Tensor()};
            },
        .cuda = false,
    });
  }
  register_case({
      .op = "embedding",
      .variant = "integer and bool tables (forward)",
      .dtypes = {DType::i32, DType::i64, DType::boolean},
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            Shape table = {m.integer(1, 12), m.integer(1, 9)};
            Tensor weight =
                dtype == DType::boolean ? m.mask(table) : m.integers(table, dtype, -50, 50);
            if (m.coin()) weight = weight.t().contiguous().t();  // column-major table
            return Tensors{weight, m.integers(m.shape(0, 3, 6, true), DType::i64, 0, table[0])};
          },
      .forward = [](const Tensors& in) { return Tensors{embedding(in[0], in[1])}; },
      .reference = [](const Tensors& in) { return Tensors{embedding_reference(in[0], in[1])}; },
      .cuda = false,
  });

  for (bool replacement : {true, false}) {
    register_case({
        .op = "multinomial",
        .variant = replacement ? "with replacement" : "without replacement",
        .dtypes = kFloatTypes,
        // Inputs: probs ([C] or [N, C], some classes without mass, maybe transposed) and the
        // number of samples as an i64 scalar.
        .make_inputs =
            [replacement](InputMaker& m, DType dtype) {
              int64_t rows = m.integer(0, 5), classes = m.integer(1, 8);
              std::vector<double> values(static_cast<size_t>(std::max<int64_t>(rows, 1) * classes));
              int64_t positive = classes;  // fewest classes with mass in any row
              for (int64_t r = 0; r < std::max<int64_t>(rows, 1); ++r) {
                int64_t row_positive = 0;
                for (int64_t c = 0; c < classes; ++c) {
                  // Class 0 always has mass, so every row can be sampled.
                  bool zero = c > 0 && m.coin(0.3);
                  values[r * classes + c] = zero ? 0.0 : m.real(0.05, 3.0);
                  row_positive += !zero;
                }
                positive = std::min(positive, row_positive);
              }
              Tensor probs = rows == 0 ? from_vector(values, {classes}).to(dtype)
                                       : from_vector(values, {rows, classes}).to(dtype);
              if (rows > 1 && m.coin()) probs = probs.t().contiguous().t();
              int64_t samples = replacement ? m.integer(1, 12) : m.integer(1, positive);
              return Tensors{probs, from_vector(std::vector<int64_t>{samples}, {})};
            },
        .forward =
            [replacement](const Tensors& in) {
              Tensor samples = multinomial(in[0], in[1].item<int64_t>(), replacement);
              return Tensors{valid_samples(samples, in[0], replacement)};
            },
        .reference =
            [](const Tensors& in) {
              Shape shape = in[0].shape();
              shape.back() = in[1].item<int64_t>();
              return Tensors{ones(shape, {DType::f64})};
            },
        .cuda = false,
    });
  }
  return true;
}();

}  // namespace
}  // namespace strata::test
