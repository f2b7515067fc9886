// Fused scaled-dot-product attention that never materialises the T x S score matrix: the forward
// keeps a running (online) softmax per query row and returns the row's log-sum-exp, from which the
// backward recomputes the attention weights tile by tile (FlashAttention-2).
//
// Layout: q [B, H, T, D], k and v [B, H, S, D] (any strides; the head dim is read contiguously
// when its stride is 1, and copied to be so otherwise). Scores are q k^T * scale, with key j hidden
// from query i when causal and j > i (causal needs S == T). 16-bit inputs accumulate in f32, f32 in
// f32, f64 in f64; the log-sum-exp is f32 (f64 for f64 inputs).
#pragma once

#include "core/tensor.hpp"

namespace strata {

struct FlashAttentionResult {
  Tensor output;     // [B, H, T, D], a view of [B, T, H, D] memory (heads side by side per token)
  Tensor logsumexp;  // [B, H, T], log(sum_j exp(score_ij)): kept for the backward
};
FlashAttentionResult flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                                     double scale);

struct FlashAttentionGrads {
  Tensor q, k, v;  // shapes of q, k, v
};
// Gradients from grad_out [B, H, T, D] and the forward's output and logsumexp.
FlashAttentionGrads flash_attention_backward(const Tensor& grad_out, const Tensor& q,
                                             const Tensor& k, const Tensor& v, const Tensor& out,
                                             const Tensor& logsumexp, bool causal, double scale);

}  // namespace strata
