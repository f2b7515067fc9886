// Blocked causal attention (see causal_attention.hpp).
//
// Query block i (rows [s, s + r)) sees keys [0, s + r): its scores are one batched product
// q_i [..., r, D] @ k_{<s+r}^T, masked only on the diagonal r x r block, and its output p_i @
// v_{<s+r}. The backward runs the same blocks: dp_i = dy_i v^T, ds_i = softmax_backward(dp_i, p_i),
// dq_i = ds_i k, and dk, dv gather ds_i^T q_i and p_i^T dy_i over the blocks that see them. Blocks
// are visited in a fixed order, so results do not depend on the thread count.
#include "nn/causal_attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/autograd_record.hpp"
#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "core/indexing.hpp"
#include "core/linalg.hpp"
#include "core/nn_ops.hpp"

namespace strata::nn::detail {
namespace {

// [r, r] additive mask of a diagonal block: 0 where key j <= query i, -inf above the diagonal.
Tensor diagonal_mask(int64_t r, TensorOptions options) {
  const TensorOptions index_options{DType::i64, options.device};
  Tensor future = gt(arange(r, index_options).view({1, r}), arange(r, index_options).view({r, 1}));
  return masked_fill(zeros({r, r}, options), future, -std::numeric_limits<double>::infinity());
}

struct Block {
  int64_t start, rows;
  int64_t keys() const { return start + rows; }
};

std::vector<Block> query_blocks(int64_t queries) {
  std::vector<Block> blocks;
  for (int64_t start = 0; start < queries; start += kCausalQueryBlock) {
    blocks.push_back({start, std::min(kCausalQueryBlock, queries - start)});
  }
  return blocks;
}

}  // namespace

bool causal_attention_applies(const Tensor& q, const Tensor& k, const Tensor& v) {
  const bool wide = q.dtype() == DType::f32 || q.dtype() == DType::f64;
  return wide && k.dtype() == q.dtype() && v.dtype() == q.dtype() && q.dim() >= 2 &&
         k.shape() == q.shape() && v.shape().size() == q.shape().size() &&
         std::equal(v.shape().begin(), v.shape().end() - 1, q.shape().begin());
}

Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  const bool recording = autograd::should_record(q, k, v);
  autograd::NoGradGuard forward_only;
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const std::vector<Block> blocks = query_blocks(q.size(-2));
  Tensor scaled_q = q * scale;           // [..., T, D]: cheaper than scaling the scores
  std::vector<Tensor> weights, outputs;  // per block: p_i [..., r, s + r], y_i [..., r, Dv]
  for (const Block& b : blocks) {
    Tensor scores =
        matmul(scaled_q.narrow(-2, b.start, b.rows), k.narrow(-2, 0, b.keys()).transpose(-2, -1));
    add_(scores.narrow(-1, b.start, b.rows), diagonal_mask(b.rows, q.options()));
    weights.push_back(softmax(scores, -1));
    outputs.push_back(matmul(weights.back(), v.narrow(-2, 0, b.keys())));
  }
  Tensor y = outputs.size() == 1 ? outputs[0] : cat(outputs, -2);
  if (recording) {
    autograd::record(
        "scaled_dot_product_attention", {q, k, v}, {&y},
        [scaled_q = autograd::saved(scaled_q), k = autograd::saved(k), v = autograd::saved(v),
         weights = std::move(weights), blocks,
         scale](const autograd::Grads& grad, const autograd::NeedsGrad& needs) {
          const bool want_scores = needs[0] || needs[1];
          Tensor grad_k = needs[1] ? zeros(k.shape(), k.options()) : Tensor();
          Tensor grad_v = needs[2] ? zeros(v.shape(), v.options()) : Tensor();
          std::vector<Tensor> grad_q_blocks;
          for (size_t i = 0; i < blocks.size(); ++i) {
            const Block& b = blocks[i];
            Tensor grad_y = grad[0].narrow(-2, b.start, b.rows);  // [..., r, Dv]
            const Tensor& p = weights[i];                         // [..., r, s + r]
            if (needs[2]) {
              add_(grad_v.narrow(-2, 0, b.keys()), matmul(p.transpose(-2, -1), grad_y));
            }
            if (!want_scores) continue;
            Tensor grad_scores = softmax_backward(
                matmul(grad_y, v.narrow(-2, 0, b.keys()).transpose(-2, -1)), p, -1);
            if (needs[0]) grad_q_blocks.push_back(matmul(grad_scores, k.narrow(-2, 0, b.keys())));
            if (needs[1]) {
              add_(grad_k.narrow(-2, 0, b.keys()),
                   matmul(grad_scores.transpose(-2, -1), scaled_q.narrow(-2, b.start, b.rows)));
            }
          }
          Tensor grad_q;
          if (needs[0]) {
            grad_q =
                (grad_q_blocks.size() == 1 ? grad_q_blocks[0] : cat(grad_q_blocks, -2)) * scale;
          }
          return autograd::Grads{grad_q, grad_k, grad_v};
        });
  }
  return y;
}

}  // namespace strata::nn::detail
