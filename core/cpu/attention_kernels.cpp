// CPU flash-attention kernels: the plain, exact reference of the fused op. The forward runs an
// online softmax along each query row (one pass over its keys, rescaling the running sum and output
// whenever the maximum grows); the backward recomputes the weights from the saved log-sum-exp,
// dq one query row at a time and dk, dv one key row at a time, so each gradient row is written by
// one thread in a fixed order and no T x S matrix is ever held. Accumulation in f32 (f64 for f64).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/attention_kernels.hpp"
#include "core/dtype.hpp"
#include "core/parallel.hpp"

namespace strata::cpu::STRATA_ISA {
namespace {

// Row t of head (b, h) of a [B, H, rows, D] tensor whose head dim has stride 1.
template <class T>
struct Heads {
  T* data;
  int64_t batch_stride, head_stride, row_stride;
  explicit Heads(const Tensor& t)
      : data(static_cast<T*>(t.data_ptr())),
        batch_stride(t.stride(0)),
        head_stride(t.stride(1)),
        row_stride(t.stride(2)) {}
  T* row(int64_t b, int64_t h, int64_t t) const {
    return data + b * batch_stride + h * head_stride + t * row_stride;
  }
};

template <class Acc, class T>
Acc dot(const Acc* a, const T* b, int64_t n) {
  Acc sum = 0;
  for (int64_t d = 0; d < n; ++d) sum += a[d] * static_cast<Acc>(b[d]);
  return sum;
}

template <class Acc, class T>
void load_row(Acc* dst, const T* src, int64_t n) {
  for (int64_t d = 0; d < n; ++d) dst[d] = static_cast<Acc>(src[d]);
}

template <class Acc, class T>
void store_row(T* dst, const Acc* src, int64_t n, Acc factor) {
  for (int64_t d = 0; d < n; ++d) dst[d] = static_cast<T>(src[d] * factor);
}

// Rows of B * H * rows are numbered row-major; fn(b, h, t) runs once per row on some thread.
template <class Fn>
void for_each_row(int64_t batch, int64_t heads, int64_t rows, int64_t dim, Fn fn) {
  const int64_t grain = std::max<int64_t>(1, 16384 / (dim * std::max<int64_t>(rows, 1)));
  parallel_for(0, batch * heads * rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) fn(r / (heads * rows), r / rows % heads, r % rows);
  });
}

}  // namespace

void flash_attention_kernel(const Tensor& out, const Tensor& logsumexp, const Tensor& q,
                            const Tensor& k, const Tensor& v, bool causal, double scale) {
  const int64_t batch = q.size(0), heads = q.size(1), queries = q.size(2), keys = k.size(2),
                dim = q.size(3);
  STRATA_DISPATCH_FLOATING(q.dtype(), "flash_attention", [&] {
    using Acc = compute_t<scalar_t>;
    const Heads<const scalar_t> qh(q), kh(k), vh(v);
    const Heads<scalar_t> oh(out);
    Acc* lse = static_cast<Acc*>(logsumexp.data_ptr());
    for_each_row(batch, heads, queries, dim, [&](int64_t b, int64_t h, int64_t i) {
      std::vector<Acc> query(dim), acc(dim, Acc(0));
      load_row(query.data(), qh.row(b, h, i), dim);
      Acc max = -std::numeric_limits<Acc>::infinity(), sum = 0;
      const int64_t seen = causal ? i + 1 : keys;
      for (int64_t j = 0; j < seen; ++j) {
        const Acc score = static_cast<Acc>(scale) * dot(query.data(), kh.row(b, h, j), dim);
        if (score > max) {  // rescale what was summed against the old maximum
          const Acc shrink = std::exp(max - score);
          sum *= shrink;
          for (Acc& a : acc) a *= shrink;
          max = score;
        }
        const Acc p = std::exp(score - max);
        sum += p;
        const scalar_t* value = vh.row(b, h, j);
        for (int64_t d = 0; d < dim; ++d) acc[d] += p * static_cast<Acc>(value[d]);
      }
      store_row(oh.row(b, h, i), acc.data(), dim, Acc(1) / sum);
      lse[(b * heads + h) * queries + i] = max + std::log(sum);
    });
  });
}

void flash_attention_backward_kernel(const Tensor& dq, const Tensor& dk, const Tensor& dv,
                                     const Tensor& grad_out, const Tensor& q, const Tensor& k,
                                     const Tensor& v, const Tensor& out, const Tensor& logsumexp,
                                     bool causal, double scale) {
  const int64_t batch = q.size(0), heads = q.size(1), queries = q.size(2), keys = k.size(2),
                dim = q.size(3);
  STRATA_DISPATCH_FLOATING(q.dtype(), "flash_attention_backward", [&] {
    using Acc = compute_t<scalar_t>;
    const Heads<const scalar_t> qh(q), kh(k), vh(v), oh(out), doh(grad_out);
    const Heads<scalar_t> dqh(dq), dkh(dk), dvh(dv);
    const Acc* lse = static_cast<const Acc*>(logsumexp.data_ptr());
    const Acc s = static_cast<Acc>(scale);
    // delta_i = sum_d dO_id O_id = sum_j P_ij dP_ij: the softmax backward's row term.
    std::vector<Acc> delta(batch * heads * queries);
    for_each_row(batch, heads, queries, dim, [&](int64_t b, int64_t h, int64_t i) {
      const scalar_t* o = oh.row(b, h, i);
      const scalar_t* g = doh.row(b, h, i);
      Acc sum = 0;
      for (int64_t d = 0; d < dim; ++d) sum += static_cast<Acc>(g[d]) * static_cast<Acc>(o[d]);
      delta[(b * heads + h) * queries + i] = sum;
    });
    // With P_ij = exp(s q_i.k_j - lse_i) and dS_ij = P_ij (dO_i.v_j - delta_i):
    // dq_i = s sum_j dS_ij k_j, over the keys query i sees.
    for_each_row(batch, heads, queries, dim, [&](int64_t b, int64_t h, int64_t i) {
      std::vector<Acc> query(dim), grad(dim), acc(dim, Acc(0));
      load_row(query.data(), qh.row(b, h, i), dim);
      load_row(grad.data(), doh.row(b, h, i), dim);
      const int64_t row = (b * heads + h) * queries + i;
      const int64_t seen = causal ? i + 1 : keys;
      for (int64_t j = 0; j < seen; ++j) {
        const scalar_t* key = kh.row(b, h, j);
        const Acc p = std::exp(s * dot(query.data(), key, dim) - lse[row]);
        const Acc ds = p * (dot(grad.data(), vh.row(b, h, j), dim) - delta[row]);
        for (int64_t d = 0; d < dim; ++d) acc[d] += ds * static_cast<Acc>(key[d]);
      }
      store_row(dqh.row(b, h, i), acc.data(), dim, s);
    });
    // dv_j = sum_i P_ij dO_i and dk_j = s sum_i dS_ij q_i, over the queries that see key j.
    for_each_row(batch, heads, keys, dim, [&](int64_t b, int64_t h, int64_t j) {
      std::vector<Acc> key(dim), value(dim), acc_k(dim, Acc(0)), acc_v(dim, Acc(0));
      load_row(key.data(), kh.row(b, h, j), dim);
      load_row(value.data(), vh.row(b, h, j), dim);
      for (int64_t i = causal ? j : 0; i < queries; ++i) {
        const int64_t row = (b * heads + h) * queries + i;
        const scalar_t* query = qh.row(b, h, i);
        const scalar_t* grad = doh.row(b, h, i);
        const Acc p = std::exp(s * dot(key.data(), query, dim) - lse[row]);
        const Acc ds = p * (dot(value.data(), grad, dim) - delta[row]);
        for (int64_t d = 0; d < dim; ++d) {
          acc_v[d] += p * static_cast<Acc>(grad[d]);
          acc_k[d] += ds * static_cast<Acc>(query[d]);
        }
      }
      store_row(dvh.row(b, h, j), acc_v.data(), dim, Acc(1));
      store_row(dkh.row(b, h, j), acc_k.data(), dim, s);
    });
  });
}

}  // namespace strata::cpu::STRATA_ISA
