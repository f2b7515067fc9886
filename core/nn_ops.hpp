// Neural-network kernels over the last dim(s): softmax, normalisation, the fused classifier loss,
// embedding lookup and dropout; each with its backward kernel. Statistics and exponent sums
// accumulate in f32 (f64 for f64 tensors).
#pragma once

#include "core/random.hpp"
#include "core/tensor.hpp"

namespace strata {

Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);
// Backward kernels take the forward result y.
Tensor softmax_backward(const Tensor& grad, const Tensor& y, int64_t dim = -1);
Tensor log_softmax_backward(const Tensor& grad, const Tensor& y, int64_t dim = -1);

// Layer norm over the last dim of x [..., C] with optional weight and bias [C].
struct LayerNormResult {
  Tensor output;
  Tensor mean;  // [...], f32 (f64 for f64 input): kept for the backward
  Tensor rstd;  // [...], 1 / sqrt(var + eps)
};
LayerNormResult layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                           double eps = 1e-5);
struct NormGrads {
  Tensor input, weight, bias;  // weight/bias undefined when the forward had none
};
NormGrads layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& mean,
                              const Tensor& rstd, const Tensor& weight, bool has_bias);

// The residual stream of a pre-norm transformer in one pass over memory: sum = x + residual (the
// next residual) and output = layer_norm(sum), exactly as the two ops give them (sum is rounded to
// x's dtype before it is normalised). x and residual have one shape and dtype.
struct AddLayerNormResult {
  Tensor sum;
  Tensor output;
  Tensor mean;  // [...], of sum's rows, as layer_norm returns them
  Tensor rstd;
};
AddLayerNormResult add_layer_norm(const Tensor& x, const Tensor& residual, const Tensor& weight,
                                  const Tensor& bias, double eps = 1e-5);
// Gradients from those of output (grad) and of sum (grad_sum, undefined when sum got none); the
// input gradient is that of both x and residual.
NormGrads add_layer_norm_backward(const Tensor& grad, const Tensor& grad_sum, const Tensor& sum,
                                  const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                                  bool has_bias);

// RMS norm over the last dim: x / sqrt(mean(x^2) + eps) * weight.
struct RmsNormResult {
  Tensor output;
  Tensor rstd;  // [...]
};
RmsNormResult rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);
NormGrads rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& rstd,
                            const Tensor& weight);

// Softmax cross-entropy of logits [N, C] against class targets [N] (i64), fused: the backward
// recomputes the probabilities from the logits and the saved log-sum-exp, so no N x C probability
// tensor is ever stored. Targets equal to ignore_index contribute nothing.
enum class Reduction { none, mean, sum };
struct CrossEntropyResult {
  Tensor loss;         // scalar for mean/sum, [N] for none (f32 for 16-bit logits)
  Tensor log_sum_exp;  // [N], for the backward
};
CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& targets,
                                 int64_t ignore_index = -100, Reduction reduction = Reduction::mean,
                                 double label_smoothing = 0.0);
Tensor cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& targets,
                              const Tensor& log_sum_exp, int64_t ignore_index = -100,
                              Reduction reduction = Reduction::mean, double label_smoothing = 0.0);

// The fused classifier: cross_entropy that, when it records autograd, also writes d loss / d logits
// (for a unit upstream gradient) over the logits in the same pass, so training allocates no second
// [N, C] tensor; its backward scales that buffer in place by the upstream gradient and returns it
// as the logits' gradient. Valid only when nothing reads the logits afterwards, including a
// backward that saved them (logits straight from a linear layer are safe). Without recording it
// is cross_entropy and leaves the logits as they are.
CrossEntropyResult cross_entropy_inplace_grad(const Tensor& logits, const Tensor& targets,
                                              int64_t ignore_index = -100,
                                              Reduction reduction = Reduction::mean,
                                              double label_smoothing = 0.0);

// Rows of weight [V, D] picked by ids (i32/i64, any shape): [..., D].
Tensor embedding(const Tensor& weight, const Tensor& ids);
// Scatter-add of grad [..., D] into a [num_embeddings, D] gradient; deterministic order.
Tensor embedding_backward(const Tensor& grad, const Tensor& ids, int64_t num_embeddings);

// Zeroes each element with probability p and scales the rest by 1 / (1 - p). The mask is a function
// of `state` (Philox), so the backward regenerates it instead of storing it: element i (row-major)
// uses stream slot state.offset + i, so a fresh mask takes gen.draw(x.numel()).
Tensor dropout(const Tensor& x, double p, PhiloxState state);
Tensor dropout_backward(const Tensor& grad, double p, PhiloxState state);

}  // namespace strata
