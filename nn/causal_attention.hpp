// Causal attention computed block by block: only the query-key blocks on or below the diagonal are
// multiplied, and the backward is written out instead of recorded op by op. The fast path of
// nn::functional::scaled_dot_product_attention.
#pragma once

#include "core/tensor.hpp"

namespace strata::nn::detail {

// Queries per block: the products skip the blocks above the diagonal, so T = 256 multiplies
// (1 + 2 + 3 + 4) / 16 of the full T x T scores.
inline constexpr int64_t kCausalQueryBlock = 64;

// Whether causal_attention takes these operands: f32 or f64 (16-bit types keep the composed path,
// whose single products accumulate in f32), q, k, v of one batch shape, as many keys as queries.
bool causal_attention_applies(const Tensor& q, const Tensor& k, const Tensor& v);

// softmax(q k^T / sqrt(D) + causal mask) v for q, k [..., T, D] and v [..., T, Dv] -> [..., T, Dv],
// recording its own backward.
Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v);

}  // namespace strata::nn::detail
