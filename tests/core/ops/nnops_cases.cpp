// Harness cases for the neural-network kernels: softmax and log_softmax along any dim, layer_norm
// and rms_norm with and without their affine parameters, add_layer_norm, and softmax
// cross-entropy with every reduction, ignore_index and label smoothing. References are plain f64
// loops. Rows longer than 1024 elements take the CUDA kernels' block-per-row path.
#include <cmath>
#include <limits>
#include <span>

#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "core/nn_ops.hpp"
#include "op_harness.hpp"

namespace strata::test {
namespace {

// ---- references -----------------------------------------------------------------------------

// Softmax (or log_softmax) of a contiguous f64 tensor along dim: each row is (outer, inner) with
// `length` elements `inner` apart.
Tensor reference_softmax(const Tensor& x, int64_t dim, bool log) {
  Tensor y = x.clone();
  Shape shape = x.dim() == 0 ? Shape{1} : x.shape();
  int64_t d = dim < 0 ? dim + static_cast<int64_t>(shape.size()) : dim;
  int64_t outer = 1, inner = 1, length = shape[d];
  for (int64_t k = 0; k < d; ++k) outer *= shape[k];
  for (size_t k = d + 1; k < shape.size(); ++k) inner *= shape[k];
  const double* in = x.data<double>();
  double* out = y.data<double>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      auto element = [&](int64_t c) { return o * length * inner + c * inner + i; };
      double max = -std::numeric_limits<double>::infinity();
      for (int64_t c = 0; c < length; ++c) max = std::max(max, in[element(c)]);
      double sum = 0;
      for (int64_t c = 0; c < length; ++c) sum += std::exp(in[element(c)] - max);
      for (int64_t c = 0; c < length; ++c) {
        double shifted = in[element(c)] - max;
        out[element(c)] = log ? shifted - std::log(sum) : std::exp(shifted) / sum;
      }
    }
  }
  return y;
}

// Layer norm (center) or RMS norm over the last dim: {y, mean, rstd} (no mean for RMS norm).
Tensors reference_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, bool center,
                       double eps) {
  Shape rows_shape(x.shape().begin(), x.shape().end() - 1);
  int64_t length = x.size(-1), rows = shape_numel(rows_shape);
  Tensor y = x.clone(), mean = zeros(rows_shape, {DType::f64}),
         rstd = zeros(rows_shape, {DType::f64});
  const double* in = x.data<double>();
  double* out = y.data<double>();
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = in + r * length;
    double mu = 0;
    if (center) {
      for (int64_t c = 0; c < length; ++c) mu += row[c];
      mu /= static_cast<double>(length);
    }
    double var = 0;
    for (int64_t c = 0; c < length; ++c) var += (row[c] - mu) * (row[c] - mu);
    double inv = 1 / std::sqrt(var / static_cast<double>(length) + eps);
    for (int64_t c = 0; c < length; ++c) {
      double w = weight.defined() ? weight.data<double>()[c] : 1.0;
      double b = bias.defined() ? bias.data<double>()[c] : 0.0;
      out[r * length + c] = (row[c] - mu) * inv * w + b;
    }
    mean.data<double>()[r] = mu;
    rstd.data<double>()[r] = inv;
  }
  return center ? Tensors{y, mean, rstd} : Tensors{y, rstd};
}

struct CrossEntropyOptions {
  int64_t ignore_index;
  Reduction reduction;
  double label_smoothing;
};

// {loss, log_sum_exp} as torch defines them: loss_r = lse_r - (1 - eps) x_rt - eps / C sum_c x_rc
// for kept rows, 0 for ignored rows; mean divides by the number of kept rows.
Tensors reference_cross_entropy(const Tensor& logits, const Tensor& targets,
                                CrossEntropyOptions o) {
  int64_t rows = logits.size(0), classes = logits.size(1);
  Tensor lse = zeros({rows}, {DType::f64}), losses = zeros({rows}, {DType::f64});
  double total = 0;
  int64_t kept = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const double* x = logits.data<double>() + r * classes;
    double max = -std::numeric_limits<double>::infinity(), sum = 0, sum_x = 0;
    for (int64_t c = 0; c < classes; ++c) max = std::max(max, x[c]);
    for (int64_t c = 0; c < classes; ++c) {
      sum += std::exp(x[c] - max);
      sum_x += x[c];
    }
    lse.data<double>()[r] = max + std::log(sum);
    int64_t target = targets.data<int64_t>()[r];
    if (target == o.ignore_index) continue;
    double loss = lse.data<double>()[r] - (1 - o.label_smoothing) * x[target] -
                  o.label_smoothing / static_cast<double>(classes) * sum_x;
    losses.data<double>()[r] = loss;
    total += loss;
    ++kept;
  }
  if (o.reduction == Reduction::none) return {losses, lse};
  double value = o.reduction == Reduction::mean ? total / static_cast<double>(kept) : total;
  return {full({}, value, {DType::f64}), lse};
}

// ---- inputs ---------------------------------------------------------------------------------

// Class targets [rows] in [0, classes), about a quarter of them ignore_index, row 0 always kept
// (so a mean over kept rows is defined); laid out contiguously or strided at random.
Tensor make_targets(InputMaker& m, int64_t rows, int64_t classes, int64_t ignore_index) {
  Tensor targets = m.integers({rows}, DType::i64, 0, classes, InputMaker::Layout::any);
  int64_t* data = targets.data<int64_t>();
  for (int64_t r = 0; r < rows; ++r) {
    int64_t& target = data[r * targets.stride(0)];
    if (r > 0 && m.coin(0.25)) target = ignore_index;
    if (r == 0 && target == ignore_index) target = (ignore_index + 1) % classes;
  }
  return targets;
}

const char* reduction_name(Reduction reduction) {
  switch (reduction) {
    case Reduction::none: return "none";
    case Reduction::mean: return "mean";
    case Reduction::sum: return "sum";
  }
  return "?";
}

// ---- cases ----------------------------------------------------------------------------------

void register_softmax_cases(bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  struct Variant {
    const char* name;
    int64_t dim;
    int min_rank, max_rank;
    int64_t max_size;
    // Rows of min_length..max_size elements, 1..3 of them (along dim 0 or the last dim), when
    // min_length > 0; a random shape otherwise.
    int64_t min_length;
  };
  const Variant variants[] = {
      {"last dim, any rank incl. scalar and empty", -1, 0, 4, 8, 0},
      {"dim 0", 0, 1, 3, 7, 0},
      {"dim 1 of rank 3+", 1, 3, 4, 5, 0},
      {"long rows", -1, 2, 2, 300, 1},
      {"rows over 1024", -1, 2, 2, 1500, 1025},
      {"strided rows over 1024 along dim 0", 0, 2, 2, 1300, 1025},
  };
  for (const Variant& v : variants) {
    register_case({
        .op = op,
        .variant = v.name,
        .dtypes = kFloatTypes,
        .make_inputs =
            [v](InputMaker& m, DType dtype) {
              Shape s = m.shape(v.min_rank, v.max_rank, v.max_size, true);
              if (v.min_length > 0) {
                int64_t rows = m.integer(1, 3), length = m.integer(v.min_length, v.max_size);
                s = v.dim == 0 ? Shape{length, rows} : Shape{rows, length};
              }
              return Tensors{m.normal(s, dtype, 3.0)};
            },
        .forward =
            [v, log](const Tensors& in) {
              return Tensors{log ? log_softmax(in[0], v.dim) : softmax(in[0], v.dim)};
            },
        .reference =
            [v, log](const Tensors& in) { return Tensors{reference_softmax(in[0], v.dim, log)}; },
        .backward =
            [v, log](const Tensors&, const Tensors& out, const Tensor& grad) {
              return Tensors{log ? log_softmax_backward(grad, out[0], v.dim)
                                 : softmax_backward(grad, out[0], v.dim)};
            },
        .trials = v.min_length > 1 ? 1 : 4,
    });
  }
}

void register_norm_cases(bool center) {
  const char* op = center ? "layer_norm" : "rms_norm";
  struct Variant {
    const char* name;
    bool weight, bias;
    int64_t min_length, max_length;  // [1..3, min..max] rows when max_length > 0
  };
  const Variant layer_variants[] = {{"weight and bias", true, true, 0, 0},
                                    {"weight only", true, false, 0, 0},
                                    {"bias only", false, true, 0, 0},
                                    {"no affine", false, false, 0, 0},
                                    {"long rows, weight and bias", true, true, 100, 300},
                                    {"rows over 1024, weight and bias", true, true, 1025, 1400}};
  const Variant rms_variants[] = {{"weight", true, false, 0, 0},
                                  {"no weight", false, false, 0, 0},
                                  {"long rows, weight", true, false, 100, 300},
                                  {"rows over 1024, weight", true, false, 1025, 1400}};
  for (const Variant& v :
       center ? std::span<const Variant>(layer_variants) : std::span<const Variant>(rms_variants)) {
    // The input gradient's sensitivity to the rounding of the inputs grows as rstd^2, and a row of
    // one or two elements can have rstd up to 1 / sqrt(eps): short rows use an eps that bounds
    // rstd at 10, so the f32 gradient stays comparable with the f64 one at f32 tolerances.
    const double eps = v.max_length > 0 ? 1e-5 : 1e-2;
    register_case({
        .op = op,
        .variant = v.name,
        .dtypes = kFloatTypes,
        .make_inputs =
            [v](InputMaker& m, DType dtype) {
              Shape s = v.max_length > 0
                            ? Shape{m.integer(1, 3), m.integer(v.min_length, v.max_length)}
                            : m.shape(1, 4, 8);
              Shape params = {s.back()};
              return Tensors{m.normal(s, dtype, 2.0),
                             v.weight ? m.normal(params, dtype, 1.0) : Tensor(),
                             v.bias ? m.normal(params, dtype, 1.0) : Tensor()};
            },
        .forward =
            [center, eps](const Tensors& in) {
              if (!center) {
                RmsNormResult r = rms_norm(in[0], in[1], eps);
                return Tensors{r.output, r.rstd};
              }
              LayerNormResult r = layer_norm(in[0], in[1], in[2], eps);
              return Tensors{r.output, r.mean, r.rstd};
            },
        .reference =
            [center, eps](const Tensors& in) {
              return reference_norm(in[0], in[1], in[2], center, eps);
            },
        .backward =
            [center](const Tensors& in, const Tensors& out, const Tensor& grad) {
              NormGrads g =
                  center ? layer_norm_backward(grad, in[0], out[1], out[2], in[1], in[2].defined())
                         : rms_norm_backward(grad, in[0], out[1], in[1]);
              return Tensors{g.input, g.weight, g.bias};
            },
        .trials = v.min_length > 1024 ? 1 : 4,
    });
  }
}

void register_cross_entropy_cases() {
  for (Reduction reduction : {Reduction::none, Reduction::mean, Reduction::sum}) {
    for (double smoothing : {0.0, 0.1}) {
      for (int64_t ignore_index : {int64_t{-100}, int64_t{1}}) {
        for (int64_t min_classes : {int64_t{2}, int64_t{100}, int64_t{1025}}) {
          // Vocabulary-length rows (the CUDA block-per-row path) once per reduction and smoothing.
          if (min_classes > 1024 && ignore_index != -100) continue;
          CrossEntropyOptions o{ignore_index, reduction, smoothing};
          std::string variant = std::string("reduction ") + reduction_name(reduction) +
                                ", label_smoothing " + std::to_string(smoothing) +
                                ", ignore_index " + std::to_string(ignore_index) + ", classes " +
                                std::to_string(min_classes) + "+";
          register_case({
              .op = "cross_entropy",
              .variant = variant,
              .dtypes = kFloatTypes,
              .make_inputs =
                  [o, min_classes](InputMaker& m, DType dtype) {
                    int64_t rows = m.integer(1, min_classes > 1024 ? 2 : 8);
                    int64_t classes = m.integer(min_classes, min_classes * 3 / 2 + 7);
                    return Tensors{m.normal({rows, classes}, dtype, 3.0),
                                   make_targets(m, rows, classes, o.ignore_index)};
                  },
              .forward =
                  [o](const Tensors& in) {
                    CrossEntropyResult r =
                        cross_entropy(in[0], in[1], o.ignore_index, o.reduction, o.label_smoothing);
                    return Tensors{r.loss, r.log_sum_exp};
                  },
              .reference =
                  [o](const Tensors& in) { return reference_cross_entropy(in[0], in[1], o); },
              .backward =
                  [o](const Tensors& in, const Tensors& out, const Tensor& grad) {
                    return Tensors{
                        cross_entropy_backward(grad, in[0], in[1], out[1], o.ignore_index,
                                               o.reduction, o.label_smoothing),
                        Tensor()};
                  },
              .trials = min_classes > 1024 ? 1 : 2,
          });
        }
      }
    }
  }
}

// add_layer_norm: sum = x + residual and layer_norm(sum), compared as {output, sum, mean, rstd};
// the backward is that of the output (the sum's gradient adds to the input gradient as is).
void register_add_layer_norm_cases() {
  struct Variant {
    const char* name;
    bool affine;
    int64_t min_length, max_length;  // [1..3, min..max] rows when max_length > 0
  };
  const Variant variants[] = {{"weight and bias", true, 0, 0},
                              {"no affine", false, 0, 0},
                              {"long rows", true, 100, 300},
                              {"rows over 1024", true, 1025, 1400}};
  for (const Variant& v : variants) {
    const double eps = v.max_length > 0 ? 1e-5 : 1e-2;  // as for layer_norm
    register_case({
        .op = "add_layer_norm",
        .variant = v.name,
        .dtypes = kFloatTypes,
        .make_inputs =
            [v](InputMaker& m, DType dtype) {
              Shape s = v.max_length > 0
                            ? Shape{m.integer(1, 3), m.integer(v.min_length, v.max_length)}
                            : m.shape(1, 4, 8);
              // Multiples of 1/16 in [-6.25, 6.25]: their sums are exact in every dtype, so the
              // f64 reference normalises the sum the op stores.
              auto sixteenths = [&] {
                return mul_(m.integers(s, dtype, -100, 101, InputMaker::Layout::any), 1.0 / 16);
              };
              Shape params = {s.back()};
              return Tensors{sixteenths(), sixteenths(),
                             v.affine ? m.normal(params, dtype, 1.0) : Tensor(),
                             v.affine ? m.normal(params, dtype, 1.0) : Tensor()};
            },
        .forward =
            [eps](const Tensors& in) {
              AddLayerNormResult r = add_layer_norm(in[0], in[1], in[2], in[3], eps);
              return Tensors{r.output, r.sum, r.mean, r.rstd};
            },
        .reference =
            [eps](const Tensors& in) {
              Tensor sum = in[0] + in[1];
              Tensors norm = reference_norm(sum, in[2], in[3], true, eps);
              return Tensors{norm[0], sum, norm[1], norm[2]};
            },
        .backward =
            [](const Tensors& in, const Tensors& out, const Tensor& grad) {
              NormGrads g = add_layer_norm_backward(grad, Tensor(), out[1], out[2], out[3], in[2],
                                                    in[3].defined());
              return Tensors{g.input, g.input, g.weight, g.bias};
            },
        .trials = v.min_length > 1024 ? 1 : 4,
    });
  }
}

const bool registered = [] {
  register_softmax_cases(false);
  register_softmax_cases(true);
  register_norm_cases(true);
  register_norm_cases(false);
  register_add_layer_norm_cases();
  register_cross_entropy_cases();
  return true;
}();

}  // namespace
}  // namespace strata::test
