// nn::functional: the stateless forms of the layers and the losses (libtorch's F). Tensors in,
// tensor out; every function is built on core ops that record autograd, so all of them
// differentiate. Modules (nn/linear.hpp, nn/normalization.hpp, ...) hold parameters and call these.
#pragma once

#include <cstdint>

#include "core/elementwise.hpp"
#include "core/linalg.hpp"
#include "core/nn_ops.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"

namespace strata::nn::functional {

// Activations, softmax, linear and embedding are core's ops as they are.
using strata::embedding;  // (weight [V, D], ids [...]) -> [..., D]
using strata::gelu;       // gelu(x, GeluApproximation::none | tanh)
using strata::GeluApproximation;
using strata::linear;  // x [..., in], weight [out, in], bias [out]
using strata::log_softmax;
using strata::Reduction;  // none, mean, sum
using strata::relu;
using strata::sigmoid;
using strata::silu;
using strata::softmax;
using strata::tanh;

// Normalisation over the last dim, x [..., C], weight and bias [C] (either may be undefined).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);

// Batch norm of x [N, C, ...] over every dim but C. With batch statistics (training, or no running
// statistics given): normalises by the batch mean and biased variance, and when running_mean/var
// [C] are given updates them in place, r = (1 - momentum) r + momentum * batch (the variance
// unbiased, as PyTorch). Otherwise normalises by the running statistics. weight/bias [C] or
// undefined.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum = 0.1,
                  double eps = 1e-5);

// Zeroes elements with probability p and scales the rest by 1 / (1 - p) when training; the mask
// comes from x.numel() slots of gen's Philox stream. The identity when !training or p == 0.
Tensor dropout(const Tensor& x, double p, bool training = true,
               Generator& gen = default_generator());

// softmax(q k^T / sqrt(D)) v for q [..., T, D], k and v [..., S, D] -> [..., T, D]. With is_causal,
// query i attends to keys j <= i only. Dropout on the attention weights draws from gen. The one
// place attention is computed: the fused kernels live behind this body, not in its callers. bf16
// and f16 on CUDA with q [B, H, T, D], D in {32, 64, 128} and no dropout take flash_attention
// (core/attention.hpp), which never holds the T x S scores; causal f32/f64 takes the blocked path
// (nn/causal_attention.hpp); everything else the reference below.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    bool is_causal, double dropout_p = 0.0,
                                    Generator& gen = default_generator());
// The same attention composed from core ops (scores, mask, softmax, dropout, product), T x S scores
// and all: the reference the fused paths are tested against.
Tensor scaled_dot_product_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                              bool is_causal, double dropout_p = 0.0,
                                              Generator& gen = default_generator());

// Softmax cross-entropy of logits [..., C] against class indices [...] (i64), through core's
// fused kernel. Targets equal to ignore_index contribute nothing (and do not count in the mean);
// label_smoothing mixes the one-hot target with the uniform distribution.
struct CrossEntropyOptions {
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::mean;
  // The fused classifier (strata::cross_entropy_inplace_grad): the forward writes the logits'
  // gradient over the logits, so no second [..., C] tensor is allocated. Only when nothing reads
  // the logits afterwards (a training step's loss on logits straight from the output layer).
  bool gradient_into_logits = false;
};
Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const CrossEntropyOptions& options = {});
// Negative log-likelihood of log-probabilities [..., C] at class indices [...] (i64).
Tensor nll_loss(const Tensor& log_probs, const Tensor& targets, int64_t ignore_index = -100,
                Reduction reduction = Reduction::mean);
// (input - target)^2 and |input - target|, element-wise over equal shapes, then reduced.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);

}  // namespace strata::nn::functional
