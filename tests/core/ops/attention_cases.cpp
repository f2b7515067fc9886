// Harness cases for flash_attention: small shapes of every kind (size-1 dims, T != S, tiny head
// dims, random layouts), tile-sized shapes whose T is not a multiple of any tile (the CUDA
// tensor-core path for bf16/f16 with D = 32, 64 or 128; three tiles), and q, k, v as the
// [B, T, 3, H, D] views a fused projection produces; causal and not. The reference is
// softmax(q k^T * scale [+ mask]) v by plain f64 loops, with its log-sum-exp.
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/attention.hpp"
#include "core/factories.hpp"
#include "op_harness.hpp"

namespace strata::test {
namespace {

// {out [B, H, T, D], logsumexp [B, H, T]} of contiguous f64 q [B, H, T, D], k, v [B, H, S, D].
Tensors reference_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                            double scale) {
  const int64_t batch = q.size(0), heads = q.size(1), queries = q.size(2), keys = k.size(2),
                dim = q.size(3);
  Tensor out = zeros(q.shape(), {DType::f64});
  Tensor lse = zeros({batch, heads, queries}, {DType::f64});
  const double* qd = q.data<double>();
  const double* kd = k.data<double>();
  const double* vd = v.data<double>();
  std::vector<double> weights(keys);
  for (int64_t bh = 0; bh < batch * heads; ++bh) {
    for (int64_t i = 0; i < queries; ++i) {
      const double* query = qd + (bh * queries + i) * dim;
      const int64_t seen = causal ? i + 1 : keys;
      double max = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < seen; ++j) {
        const double* key = kd + (bh * keys + j) * dim;
        double score = 0;
        for (int64_t d = 0; d < dim; ++d) score += query[d] * key[d];
        weights[j] = score * scale;
        max = std::max(max, weights[j]);
      }
      double total = 0;
      for (int64_t j = 0; j < seen; ++j) {
        weights[j] = std::exp(weights[j] - max);
        total += weights[j];
      }
      double* row = out.data<double>() + (bh * queries + i) * dim;
      for (int64_t j = 0; j < seen; ++j) {
        const double* value = vd + (bh * keys + j) * dim;
        for (int64_t d = 0; d < dim; ++d) row[d] += weights[j] / total * value[d];
      }
      lse.data<double>()[bh * queries + i] = max + std::log(total);
    }
  }
  return {out, lse};
}

struct Sizes {
  int64_t batch, heads, queries, keys, dim;
};

// [B, H, rows, D] views of one [B, rows, 3, H, D] buffer (as a fused q/k/v projection makes them):
// rows and heads strided, the head dim contiguous.
Tensors fused_projection_views(InputMaker& m, const Sizes& s, DType dtype) {
  Tensor qkv = m.normal({s.batch, s.queries, 3 * s.heads * s.dim}, dtype, 1.0,
                        InputMaker::Layout::contiguous);
  Tensors views;
  for (int64_t which = 0; which < 3; ++which) {
    views.push_back(qkv.narrow(2, which * s.heads * s.dim, s.heads * s.dim)
                        .view({s.batch, s.queries, s.heads, s.dim})
                        .transpose(1, 2));
  }
  return views;
}

void register_attention_case(const char* variant, bool causal, double tolerance_scale, int trials,
                             std::function<Sizes(InputMaker&)> sizes, bool fused_views,
                             InputMaker::Layout layout) {
  // The scale is drawn with the shapes; make_inputs stores it for forward and reference.
  auto scale = std::make_shared<double>(1.0);
  register_case({
      .op = "flash_attention",
      .variant = std::string(variant) + (causal ? ", causal" : ", not causal"),
      .dtypes = kFloatTypes,
      .make_inputs =
          [=](InputMaker& m, DType dtype) {
            Sizes s = sizes(m);
            if (causal) s.keys = s.queries;
            *scale = 1.0 / std::sqrt(static_cast<double>(s.dim)) * m.real(0.5, 2.0);
            if (fused_views) return fused_projection_views(m, s, dtype);
            return Tensors{m.normal({s.batch, s.heads, s.queries, s.dim}, dtype, 1.0, layout),
                           m.normal({s.batch, s.heads, s.keys, s.dim}, dtype, 1.0, layout),
                           m.normal({s.batch, s.heads, s.keys, s.dim}, dtype, 1.0, layout)};
          },
      .forward =
          [=](const Tensors& in) {
            FlashAttentionResult r = flash_attention(in[0], in[1], in[2], causal, *scale);
            return Tensors{r.output, r.logsumexp};
          },
      .reference =
          [=](const Tensors& in) {
            return reference_attention(in[0], in[1], in[2], causal, *scale);
          },
      .backward =
          [=](const Tensors& in, const Tensors& out, const Tensor& grad) {
            FlashAttentionGrads g =
                flash_attention_backward(grad, in[0], in[1], in[2], out[0], out[1], causal, *scale);
            return Tensors{g.q, g.k, g.v};
          },
      .trials = trials,
      .tolerance_scale = tolerance_scale,
  });
}

const bool registered = [] {
  for (bool causal : {false, true}) {
    // Size-1 dims, T != S, head dims the tensor cores do not take, random layouts.
    register_attention_case(
        "small shapes", causal, 1.0, 4,
        [](InputMaker& m) {
          return Sizes{m.integer(1, 2), m.integer(1, 3), m.integer(1, 9), m.integer(1, 9),
                       m.integer(1, 8)};
        },
        false, InputMaker::Layout::any);
    // T past one 64-row tile and not a multiple of it; on CUDA bf16/f16 take the tensor cores,
    // which round the weights P and dS to 16 bits before their products (as FlashAttention-2
    // does): twice the default 16-bit tolerance.
    register_attention_case(
        "tiles, T not a multiple of 64", causal, 2.0, 2,
        [](InputMaker& m) {
          return Sizes{1, 1, m.integer(65, 90), m.integer(65, 90), m.coin() ? 32 : 64};
        },
        false, InputMaker::Layout::contiguous);
    // Three or more tiles, so the CUDA kernels refill a double buffer after reading it (two tiles
    // never do), over two batch entries.
    register_attention_case(
        "three tiles", causal, 2.0, 1,
        [](InputMaker& m) {
          return Sizes{2, 1, m.integer(129, 140), m.integer(129, 140), 32};
        },
        false, InputMaker::Layout::contiguous);
    // The largest tensor-core head dim.
    register_attention_case(
        "tiles, D = 128", causal, 2.0, 1,
        [](InputMaker& m) {
          return Sizes{1, 1, m.integer(65, 80), m.integer(65, 80), 128};
        },
        false, InputMaker::Layout::contiguous);
    register_attention_case(
        "fused projection views", causal, 2.0, 2,
        [](InputMaker& m) {
          const int64_t t = m.integer(10, 40);
          return Sizes{2, 2, t, t, 32};
        },
        true, InputMaker::Layout::contiguous);
  }
  return true;
}();

}  // namespace
}  // namespace strata::test
