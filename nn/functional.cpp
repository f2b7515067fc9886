// nn::functional: normalisations, dropout, attention and losses composed from core ops.
#include "nn/functional.hpp"

#include <cmath>
#include <limits>

#include "core/attention.hpp"
#include "core/autograd_record.hpp"
#include "core/factories.hpp"
#include "core/indexing.hpp"
#include "core/reduce.hpp"
#include "nn/causal_attention.hpp"

namespace strata::nn::functional {

namespace {

Tensor apply_reduction(const Tensor& losses, Reduction reduction) {
  switch (reduction) {
    case Reduction::none: return losses;
    case Reduction::sum: return sum(losses);
    case Reduction::mean: return mean(losses);
  }
  fail("nn::functional: unknown reduction");
}

void check_same_shape(const char* op, const Tensor& input, const Tensor& target) {
  STRATA_CHECK(input.shape() == target.shape(), op, ": input ", shape_str(input.shape()),
               " and target ", shape_str(target.shape()), " must have the same shape");
}

// Targets [...] for scores [..., C].
void check_targets(const char* op, const Tensor& scores, const Tensor& targets) {
  STRATA_CHECK(scores.dim() >= 1, op, ": expected scores [..., C], got a scalar");
  Shape expected(scores.shape().begin(), scores.shape().end() - 1);
  STRATA_CHECK(targets.shape() == expected, op, ": targets ", shape_str(targets.shape()),
               " do not match scores ", shape_str(scores.shape()), "; expected targets ",
               shape_str(expected), " (one class index per row of scores)");
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return strata::layer_norm(x, weight, bias, eps).output;
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  return strata::rms_norm(x, weight, eps).output;
}

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  STRATA_CHECK(x.dim() >= 2, "batch_norm: expected x [N, C, ...], got ", shape_str(x.shape()));
  const int64_t channels = x.size(1);
  STRATA_CHECK(running_mean.defined() == running_var.defined(), "batch_norm: give both running ",
               "statistics or neither");
  Dims dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  Shape channel_shape(x.dim(), 1);  // [1, C, 1, ...]
  channel_shape[1] = channels;

  Tensor batch_mean, batch_var;
  if (training || !running_mean.defined()) {
    const int64_t per_channel = x.numel() / channels;
    STRATA_CHECK(per_channel > 1, "batch_norm: batch statistics need more than one value per ",
                 "channel, got x ", shape_str(x.shape()));
    batch_mean = mean(x, dims, /*keepdim=*/true);
    batch_var = var(x, dims, /*correction=*/0, /*keepdim=*/true);
    if (running_mean.defined() && training) {
      autograd::NoGradGuard no_grad;
      const double unbias = static_cast<double>(per_channel) / static_cast<double>(per_channel - 1);
      mul_(running_mean, 1 - momentum);
      add_(running_mean, batch_mean.view({channels}) * momentum);
      mul_(running_var, 1 - momentum);
      add_(running_var, batch_var.view({channels}) * (momentum * unbias));
    }
  } else {
    batch_mean = running_mean.view(channel_shape);
    batch_var = running_var.view(channel_shape);
  }
  // y = x * scale + shift, with per-channel scale = weight / sqrt(var + eps) and
  // shift = bias - mean * scale: two passes over x instead of four.
  Tensor scale = rsqrt(batch_var + eps);
  if (weight.defined()) scale = scale * weight.view(channel_shape);
  Tensor shift = -(batch_mean * scale);
  if (bias.defined()) shift = shift + bias.view(channel_shape);
  return x * scale + shift;
}

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  if (!training || p == 0) return x;
  return strata::dropout(x, p, gen.draw(static_cast<uint64_t>(x.numel())));
}

namespace {

void check_attention_inputs(const char* op, const Tensor& q, const Tensor& k, const Tensor& v) {
  STRATA_CHECK(q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim() &&
                   k.size(-1) == q.size(-1) && v.size(-2) == k.size(-2),
               op, ": expected q [..., T, D], k [..., S, D], v [..., S, Dv], got q ",
               shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()));
}

// Whether flash_attention's tensor-core kernels take these operands: bf16/f16 on CUDA, q [B, H, T,
// D] with D in {32, 64, 128}, k and v [B, H, S, D] of q's dtype, S == T when causal.
bool flash_attention_applies(const Tensor& q, const Tensor& k, const Tensor& v, bool is_causal) {
  const int64_t dim = q.size(-1);
  return q.device().is_cuda() && is_16bit_float(q.dtype()) && k.dtype() == q.dtype() &&
         v.dtype() == q.dtype() && q.dim() == 4 && (dim == 32 || dim == 64 || dim == 128) &&
         k.size(0) == q.size(0) && k.size(1) == q.size(1) && v.shape() == k.shape() &&
         (!is_causal || k.size(2) == q.size(2));
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    bool is_causal, double dropout_p, Generator& gen) {
  check_attention_inputs("scaled_dot_product_attention", q, k, v);
  if (dropout_p == 0 && flash_attention_applies(q, k, v, is_causal)) {
    return flash_attention(q, k, v, is_causal, 1.0 / std::sqrt(static_cast<double>(q.size(-1))))
        .output;
  }
  if (is_causal && dropout_p == 0 && detail::causal_attention_applies(q, k, v)) {
    return detail::causal_attention(q, k, v);
  }
  return scaled_dot_product_attention_reference(q, k, v, is_causal, dropout_p, gen);
}

Tensor scaled_dot_product_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                              bool is_causal, double dropout_p, Generator& gen) {
  check_attention_inputs("scaled_dot_product_attention_reference", q, k, v);
  const int64_t queries = q.size(-2), keys = k.size(-2);
  // Scaling q ([T, D]) is cheaper than scaling the scores ([T, S]).
  Tensor scores = matmul(q * (1.0 / std::sqrt(static_cast<double>(q.size(-1)))),
                         k.transpose(-2, -1));  // [..., T, S]
  if (is_causal) {
    // Key j is hidden from query i when j > i.
    const TensorOptions index_options{DType::i64, q.device()};
    Tensor key_index = arange(keys, index_options).view({1, keys});
    Tensor query_index = arange(queries, index_options).view({queries, 1});
    Tensor future = gt(key_index, query_index);  // [T, S]
    scores = masked_fill(scores, future, -std::numeric_limits<double>::infinity());
  }
  Tensor weights = dropout(softmax(scores, -1), dropout_p, dropout_p > 0, gen);
  return matmul(weights, v);  // [..., T, Dv]
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const CrossEntropyOptions& options) {
  check_targets("cross_entropy", logits, targets);
  const int64_t classes = logits.size(-1);
  auto* op =
      options.gradient_into_logits ? &strata::cross_entropy_inplace_grad : &strata::cross_entropy;
  Tensor loss = op(logits.reshape({-1, classes}), targets.reshape({-1}), options.ignore_index,
                   options.reduction, options.label_smoothing)
                    .loss;
  return options.reduction == Reduction::none ? loss.view(targets.shape()) : loss;
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& targets, int64_t ignore_index,
                Reduction reduction) {
  check_targets("nll_loss", log_probs, targets);
  const int64_t classes = log_probs.size(-1);
  Tensor rows = log_probs.reshape({-1, classes});  // [N, C]
  Tensor flat_targets = targets.reshape({-1});     // [N]
  Tensor kept = ne(flat_targets, static_cast<double>(ignore_index));
  // Ignored rows gather class 0 and are then multiplied by 0.
  Tensor safe_targets = where(kept, flat_targets, zeros_like(flat_targets));
  Tensor picked = gather(rows, 1, safe_targets.unsqueeze(1)).squeeze(1);  // [N]
  Tensor weights = kept.to(picked.dtype());
  Tensor losses = -(picked * weights);
  switch (reduction) {
    case Reduction::none: return losses.view(targets.shape());
    case Reduction::sum: return sum(losses);
    case Reduction::mean: return sum(losses) / sum(weights);
  }
  fail("nll_loss: unknown reduction");
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape("mse_loss", input, target);
  Tensor difference = input - target;
  return apply_reduction(difference * difference, reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape("l1_loss", input, target);
  return apply_reduction(abs(input - target), reduction);
}

}  // namespace strata::nn::functional
