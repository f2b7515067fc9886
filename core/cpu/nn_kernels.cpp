// CPU kernels for softmax, log-softmax, layer/RMS norm and softmax cross-entropy, forward and
// backward. Every kernel works a row at a time: the row is loaded once into accumulator values
// (f32, or f64 for f64 tensors) — used in place when it already is such a contiguous run, else
// converted or gathered into a per-thread buffer — then processed by vectorised loops while it
// sits in cache, and stored back. Rows are split across threads; sums across rows (weight and bias
// gradients, the reduced loss) combine partial sums of fixed row chunks in a fixed order, so
// results do not depend on the thread count.
#include "core/nn_kernels.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/cpu/cpu_loop.hpp"
#include "core/cpu/half_vector.hpp"
#include "core/cpu/vec_math.hpp"
#include "core/dtype.hpp"
#include "core/parallel.hpp"
#include "core/row_layout.hpp"

namespace strata::cpu::STRATA_ISA {
namespace {

// Rows per parallel chunk so that a chunk holds enough elements to be worth a thread.
int64_t row_grain(int64_t length) {
  return std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(length, 1));
}

// ---- row I/O --------------------------------------------------------------------------------
// 16-bit rows convert in vector registers (convert_contiguous, core/cpu/half_vector.hpp).

// A row of n elements at src stepping by `step`, as accumulator values: src itself when it already
// holds them contiguously, otherwise a converted (or gathered) copy in scratch.
template <class T>
const compute_t<T>* load_row(const T* src, int64_t step, int64_t n, compute_t<T>* scratch) {
  if (step == 1) {
    if constexpr (std::is_same_v<T, compute_t<T>>) {
      return src;
    } else {
      convert_contiguous(src, scratch, n);
      return scratch;
    }
  }
  for (int64_t i = 0; i < n; ++i) scratch[i] = static_cast<compute_t<T>>(src[i * step]);
  return scratch;
}

// Where a row's results go: the row itself when it holds accumulator values contiguously,
// otherwise scratch, which store_row then converts into the row.
template <class T>
compute_t<T>* output_row(T* dst, int64_t step, compute_t<T>* scratch) {
  if constexpr (std::is_same_v<T, compute_t<T>>) {
    if (step == 1) return dst;
  }
  return scratch;
}

template <class T>
void store_row(T* dst, int64_t step, int64_t n, const compute_t<T>* values) {
  if (static_cast<const void*>(values) == static_cast<const void*>(dst)) return;
  if (step == 1) {
    convert_contiguous(values, dst, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) dst[i * step] = T(values[i]);
}

// Writes row values computed by values(out, i, count), which puts elements [i, i + count) as
// accumulator values at out: straight into the row when it holds accumulator values contiguously,
// else block by block through L1, converted or scattered.
template <class T, class Values>
void write_row_values(T* dst, int64_t step, int64_t n, Values&& values) {
  using A = compute_t<T>;
  if constexpr (std::is_same_v<T, A>) {
    if (step == 1) {
      values(dst, int64_t{0}, n);
      return;
    }
  }
  constexpr int64_t kRowBlock = 256;
  for (int64_t i = 0; i < n; i += kRowBlock) {
    A block[kRowBlock];
    const int64_t count = std::min(kRowBlock, n - i);
    values(block, i, count);
    store_row(dst + i * step, step, count, block);
  }
}

// Asks for row r of a contiguous-row layout to be brought into cache without waiting for it: the
// row after next, so it arrives while the current one computes.
template <class T>
void prefetch_row(const T* data, const RowLayout& rows, int64_t r) {
  if (r >= rows.count || rows.step != 1) return;
  const T* row = data + rows.offset(r);
  constexpr int64_t kLine = 64 / sizeof(T);
  for (int64_t i = 0; i < rows.length; i += kLine) __builtin_prefetch(row + i);
}

// A 1-D tensor [n] (weight, bias) as accumulator values, or `fill` everywhere when undefined.
template <class T>
std::vector<compute_t<T>> load_vector(const Tensor& t, int64_t n, compute_t<T> fill) {
  std::vector<compute_t<T>> values(n, fill);
  if (t.defined()) {
    const compute_t<T>* row =
        load_row(static_cast<const T*>(t.data_ptr()), t.stride(0), n, values.data());
    if (row != values.data()) std::copy(row, row + n, values.begin());
  }
  return values;
}

// ---- row math -------------------------------------------------------------------------------

// Always inlined, as vm::exp is, so the simd loops that call it stay vector loops. Every caller
// passes a shifted argument (x - max, x - log-sum-exp, a log-probability): never above 0 but for
// rounding, so the cheaper exp without overflow handling applies.
template <class A>
[[gnu::always_inline]] inline A exp_acc(A x) {
  if constexpr (std::is_same_v<A, float>) {
    return vm::exp_bounded_above(x);
  } else {
    return std::exp(x);
  }
}

// Sum of term(i) over [0, n) with kLanes independent accumulators (several vector registers), so
// the loop is not held to one add latency per vector. The lanes combine in a fixed order, halving
// their number each step (vector adds; one add after another would cost 64 latencies a row).
constexpr int64_t kLanes = 64;

template <class A, class Combine>
[[gnu::always_inline]] inline A combine_lanes(A* lanes, Combine combine) {
  for (int64_t width = kLanes / 2; width > 0; width /= 2) {
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) lanes[j] = combine(lanes[j], lanes[j + width]);
  }
  return lanes[0];
}

template <class A, class Term>
[[gnu::always_inline]] inline A sum_of(int64_t n, Term term) {
  A lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int64_t j = 0; j < kLanes; ++j) lanes[j] += term(i + j);
  }
  for (int64_t j = 0; i + j < n; ++j) lanes[j] += term(i + j);
  return combine_lanes(lanes, [](A a, A b) { return a + b; });
}

template <class A>
A row_max(const A* x, int64_t n) {
  A lanes[kLanes];
  std::fill(lanes, lanes + kLanes, -std::numeric_limits<A>::infinity());
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int64_t j = 0; j < kLanes; ++j) lanes[j] = x[i + j] > lanes[j] ? x[i + j] : lanes[j];
  }
  for (int64_t j = 0; i + j < n; ++j) lanes[j] = x[i + j] > lanes[j] ? x[i + j] : lanes[j];
  return combine_lanes(lanes, [](A a, A b) { return b > a ? b : a; });
}

template <class A>
A row_sum(const A* x, int64_t n) {
  return sum_of<A>(n, [&](int64_t i) { return x[i]; });
}

template <class A>
A row_dot(const A* x, const A* y, int64_t n) {
  A s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

// sum_i e^(x_i - shift).
template <class A>
A sum_exp(const A* x, A shift, int64_t n) {
  A s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += exp_acc(x[i] - shift);
  return s;
}

// sum_i e^(x_i - shift) over [0, n), the exponentials kept in e unless it is null; next_max is set
// to the max of next[0, n) (NaN entries skipped, as row_max does).
template <class A>
A exp_pass(const A* x, A* e, int64_t n, A shift, const A* next, A& next_max) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<A, float>) {
    // Hand-vectorised for vm::exp_bounded_above16, whose table lookup scalar code cannot express:
    // one vector of sums and one of maxima, reduced in a fixed order at the end.
    __m512 sums = _mm512_setzero_ps(),
           maxima = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    const __m512 shifts = _mm512_set1_ps(shift);
    auto step = [&](int64_t i, __mmask16 m) {
      __m512 value =
          vm::exp_bounded_above16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), shifts));
      if (e) _mm512_mask_storeu_ps(e + i, m, value);
      sums = _mm512_mask_add_ps(sums, m, sums, value);
      maxima = _mm512_mask_max_ps(maxima, m, _mm512_maskz_loadu_ps(m, next + i), maxima);
    };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) step(i, __mmask16(0xffff));
    if (i < n) step(i, static_cast<__mmask16>((1u << (n - i)) - 1));
    next_max = _mm512_reduce_max_ps(maxima);
    return _mm512_reduce_add_ps(sums);
  }
#endif
  A s = 0, m = -std::numeric_limits<A>::infinity();
  if (e) {
#pragma omp simd reduction(+ : s) reduction(max : m)
    for (int64_t i = 0; i < n; ++i) {
      e[i] = exp_acc(x[i] - shift);
      s += e[i];
      m = next[i] > m ? next[i] : m;
    }
  } else {
#pragma omp simd reduction(+ : s) reduction(max : m)
    for (int64_t i = 0; i < n; ++i) {
      s += exp_acc(x[i] - shift);
      m = next[i] > m ? next[i] : m;
    }
  }
  next_max = m;
  return s;
}

// y_i = softmax(x)_i, or log_softmax(x)_i, given shift = max(x). Returns max(next), the next
// row's shift: reading the next row inside the exp loop keeps its memory loads in flight while
// this row computes, instead of the two taking turns.
template <class A>
A softmax_row(const A* x, A* y, int64_t n, bool log, A shift, const A* next) {
  A next_max;
  if (log) {
    A log_sum_exp =
        shift + std::log(exp_pass(x, static_cast<A*>(nullptr), n, shift, next, next_max));
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - log_sum_exp;
    return next_max;
  }
  A inverse = A(1) / exp_pass(x, y, n, shift, next, next_max);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] *= inverse;
  return next_max;
}

// dx from grad g and the forward output y: softmax: dx = y (g - sum(g y));
// log_softmax: dx = g - e^y sum(g).
template <class A>
void softmax_backward_row(const A* g, const A* y, A* dx, int64_t n, bool log) {
  if (log) {
    A total = row_sum(g, n);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dx[i] = g[i] - exp_acc(y[i]) * total;
    return;
  }
  A dot = row_dot(g, y, n);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] * (g[i] - dot);
}

// The statistics of one row: mu = mean(x) when centring (layer norm), else 0 (RMS norm), and
// rstd = 1 / sqrt(mean((x - mu)^2) + eps). The first pass reads x from memory, the hardware
// prefetcher running ahead along the rows; the second finds it in L1, as does the pass that then
// writes y = (x - mu) rstd w + b.
template <class A>
std::pair<A, A> norm_stats(const A* x, int64_t n, bool center, double eps) {
  const A mu = center ? row_sum(x, n) / static_cast<A>(n) : A(0);
  const A squares = sum_of<A>(n, [&](int64_t i) { return (x[i] - mu) * (x[i] - mu); });
  return {mu, A(1) / std::sqrt(squares / static_cast<A>(n) + static_cast<A>(eps))};
}

// With xhat = (x - mu) rstd and gw = g w:
//   dx = rstd (gw - mean(gw) - xhat mean(gw xhat))   (layer norm; RMS norm drops mean(gw)),
// and, when dw/db are given, dw += g xhat, db += g.
template <class A>
void norm_backward_row(const A* g, const A* x, const A* w, A* dx, int64_t n, bool center, A mu,
                       A rstd, A* dw, A* db) {
  A sum_gw = 0, sum_gw_xhat = 0;
#pragma omp simd reduction(+ : sum_gw, sum_gw_xhat)
  for (int64_t i = 0; i < n; ++i) {
    A gw = g[i] * w[i];
    sum_gw += gw;
    sum_gw_xhat += gw * (x[i] - mu) * rstd;
  }
  A mean_gw = center ? sum_gw / static_cast<A>(n) : A(0);
  A mean_gw_xhat = sum_gw_xhat / static_cast<A>(n);
  auto input_grad = [&](int64_t i, A xhat) {
    return rstd * (g[i] * w[i] - mean_gw - xhat * mean_gw_xhat);
  };
  if (!dw) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dx[i] = input_grad(i, (x[i] - mu) * rstd);
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    A xhat = (x[i] - mu) * rstd;
    dx[i] = input_grad(i, xhat);
    dw[i] += g[i] * xhat;
    db[i] += g[i];
  }
}

// ---- cross-entropy helpers -------------------------------------------------------------------

bool valid_target(int64_t target, int64_t classes, int64_t ignore_index) {
  return target == ignore_index || (target >= 0 && target < classes);
}

// The lowest row, among those any thread noted, whose target is neither ignore_index nor a class.
class BadTargets {
 public:
  explicit BadTargets(int64_t rows) : first_(rows), rows_(rows) {}
  void note(int64_t row) {
    int64_t seen = first_.load(std::memory_order_relaxed);
    while (row < seen && !first_.compare_exchange_weak(seen, row)) {
    }
  }
  void throw_if_any(const char* op, const int64_t* targets, int64_t classes,
                    int64_t ignore_index) const {
    int64_t row = first_.load();
    if (row == rows_) return;
    fail(op, ": target ", targets[row], " at row ", row,
         " is out of range: expected a class in [0, ", classes, ") or ignore_index (", ignore_index,
         ")");
  }

 private:
  std::atomic<int64_t> first_;
  int64_t rows_;
};

int64_t count_kept(const int64_t* targets, int64_t rows, int64_t ignore_index) {
  int64_t kept = 0;
  for (int64_t r = 0; r < rows; ++r) kept += targets[r] != ignore_index;
  return kept;
}

// norm_kernel, and add_norm_kernel when residual is defined: each row of x is then replaced by
// sum = x + residual, stored (rounded to the storage type, as the add op rounds it) and
// normalised as stored.
void norm_rows(const Tensor& sum, const Tensor& y, const Tensor& mean, const Tensor& rstd,
               const Tensor& x, const Tensor& residual, const Tensor& weight, const Tensor& bias,
               double eps) {
  const bool center = mean.defined(), fused = residual.defined();
  STRATA_DISPATCH_FLOATING(x.dtype(), center ? "layer_norm" : "rms_norm", [&] {
    using A = compute_t<scalar_t>;
    const int64_t last = x.dim() - 1;
    const RowLayout in(x, last), out(y, last);
    const RowLayout residual_rows = fused ? RowLayout(residual, last) : in;
    const RowLayout sum_rows = fused ? RowLayout(sum, last) : in;
    const int64_t n = in.length;
    const std::vector<A> w = load_vector<scalar_t>(weight, n, A(1));
    const std::vector<A> b = load_vector<scalar_t>(bias, n, A(0));
    const auto* x_data = static_cast<const scalar_t*>(x.data_ptr());
    const auto* residual_data = fused ? static_cast<const scalar_t*>(residual.data_ptr()) : nullptr;
    auto* sum_data = fused ? static_cast<scalar_t*>(sum.data_ptr()) : nullptr;
    auto* y_data = static_cast<scalar_t*>(y.data_ptr());
    A* mean_data = center ? mean.data<A>() : nullptr;
    A* rstd_data = rstd.data<A>();
    const A* w_data = w.data();
    const A* b_data = b.data();
    parallel_for(0, in.count, row_grain(n), [&](int64_t begin, int64_t end) {
      std::vector<A> x_buffer(n), residual_buffer(fused ? n : 0), sum_buffer(fused ? n : 0);
      // y = (x - mu) rstd w + b for row r, whose values are x_row. A parameter rather than a
      // variable the fused path reassigns, so the plain path's loops compile as tightly as before
      // the fusion (a reassigned row pointer cost layer_norm a third of its bandwidth).
      auto normalize = [&](int64_t r, const A* x_row) {
        const auto [mu, row_rstd] = norm_stats(x_row, n, center, eps);
        write_row_values(y_data + out.offset(r), out.step, n, [&](A* values, int64_t i, int64_t m) {
          _Pragma("omp simd") for (int64_t j = 0; j < m; ++j) {
            values[j] = (x_row[i + j] - mu) * row_rstd * w_data[i + j] + b_data[i + j];
          }
        });
        if (center) mean_data[r] = mu;
        rstd_data[r] = row_rstd;
      };
      for (int64_t r = begin; r < end; ++r) {
        const A* x_row = load_row(x_data + in.offset(r), in.step, n, x_buffer.data());
        if (!fused) {
          normalize(r, x_row);
          continue;
        }
        const A* residual_row = load_row(residual_data + residual_rows.offset(r),
                                         residual_rows.step, n, residual_buffer.data());
        scalar_t* sum_dst = sum_data + sum_rows.offset(r);
        A* sum_row = output_row(sum_dst, sum_rows.step, sum_buffer.data());
        _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) {
          sum_row[i] = x_row[i] + residual_row[i];
        }
        store_row(sum_dst, sum_rows.step, n, sum_row);
        normalize(r, load_row(sum_dst, sum_rows.step, n, sum_buffer.data()));
      }
    });
  });
}

}  // namespace

// ---- kernels --------------------------------------------------------------------------------

void softmax_kernel(const Tensor& y, const Tensor& x, int64_t dim, bool log) {
  STRATA_DISPATCH_FLOATING(x.dtype(), log ? "log_softmax" : "softmax", [&] {
    using A = compute_t<scalar_t>;
    const RowLayout in(x, dim), out(y, dim);
    const int64_t n = in.length;
    const auto* x_data = static_cast<const scalar_t*>(x.data_ptr());
    auto* y_data = static_cast<scalar_t*>(y.data_ptr());
    parallel_for(0, in.count, row_grain(n), [&](int64_t begin, int64_t end) {
      // Row r + 1 is loaded (into the other x buffer when staged) before row r is computed; the
      // last row's `next` is the row itself, read again from cache.
      std::vector<A> x_buffers[2] = {std::vector<A>(n), std::vector<A>(n)};
      std::vector<A> y_buffer(n);
      auto load = [&](int64_t r) {
        return load_row(x_data + in.offset(r), in.step, n, x_buffers[r & 1].data());
      };
      const A* x_row = load(begin);
      A shift = row_max(x_row, n);
      for (int64_t r = begin; r < end; ++r) {
        prefetch_row(x_data, in, r + 2);
        const A* next_row = r + 1 < end ? load(r + 1) : x_row;
        scalar_t* y_dst = y_data + out.offset(r);
        A* y_row = output_row(y_dst, out.step, y_buffer.data());
        shift = softmax_row(x_row, y_row, n, log, shift, next_row);
        store_row(y_dst, out.step, n, y_row);
        x_row = next_row;
      }
    });
  });
}

void softmax_backward_kernel(const Tensor& dx, const Tensor& grad, const Tensor& y, int64_t dim,
                             bool log) {
  STRATA_DISPATCH_FLOATING(y.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&] {
    using A = compute_t<scalar_t>;
    const RowLayout g_rows(grad, dim), y_rows(y, dim), dx_rows(dx, dim);
    const int64_t n = y_rows.length;
    const auto* g_data = static_cast<const scalar_t*>(grad.data_ptr());
    const auto* y_data = static_cast<const scalar_t*>(y.data_ptr());
    auto* dx_data = static_cast<scalar_t*>(dx.data_ptr());
    parallel_for(0, y_rows.count, row_grain(n), [&](int64_t begin, int64_t end) {
      std::vector<A> g_buffer(n), y_buffer(n), dx_buffer(n);
      for (int64_t r = begin; r < end; ++r) {
        const A* g_row = load_row(g_data + g_rows.offset(r), g_rows.step, n, g_buffer.data());
        const A* y_row = load_row(y_data + y_rows.offset(r), y_rows.step, n, y_buffer.data());
        scalar_t* dx_dst = dx_data + dx_rows.offset(r);
        A* dx_row = output_row(dx_dst, dx_rows.step, dx_buffer.data());
        softmax_backward_row(g_row, y_row, dx_row, n, log);
        store_row(dx_dst, dx_rows.step, n, dx_row);
      }
    });
  });
}

void norm_kernel(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                 const Tensor& weight, const Tensor& bias, double eps) {
  norm_rows(Tensor(), y, mean, rstd, x, Tensor(), weight, bias, eps);
}

void add_norm_kernel(const Tensor& sum, const Tensor& y, const Tensor& mean, const Tensor& rstd,
                     const Tensor& x, const Tensor& residual, const Tensor& weight,
                     const Tensor& bias, double eps) {
  norm_rows(sum, y, mean, rstd, x, residual, weight, bias, eps);
}

void norm_backward_kernel(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                          const Tensor& grad, const Tensor& x, const Tensor& mean,
                          const Tensor& rstd, const Tensor& weight) {
  const bool center = mean.defined();
  STRATA_DISPATCH_FLOATING(x.dtype(), center ? "layer_norm_backward" : "rms_norm_backward", [&] {
    using A = compute_t<scalar_t>;
    const int64_t last = x.dim() - 1;
    const RowLayout x_rows(x, last), g_rows(grad, last), dx_rows(dx, last);
    const int64_t n = x_rows.length, rows = x_rows.count;
    const std::vector<A> w = load_vector<scalar_t>(weight, n, A(1));
    const auto* x_data = static_cast<const scalar_t*>(x.data_ptr());
    const auto* g_data = static_cast<const scalar_t*>(grad.data_ptr());
    auto* dx_data = static_cast<scalar_t*>(dx.data_ptr());
    const A* mean_data = center ? mean.data<A>() : nullptr;
    const A* rstd_data = rstd.data<A>();

    // Weight and bias gradients sum over rows: each fixed chunk of rows sums into its own
    // partials, and the chunks are added in order afterwards. Chunks of at least 16 rows keep the
    // partials within an eighth of x.
    const bool param_grads = dweight.defined() || dbias.defined();
    constexpr int64_t kMaxChunks = 64, kMinChunkRows = 16;
    const int64_t chunk_rows = std::max(kMinChunkRows, (rows + kMaxChunks - 1) / kMaxChunks);
    const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
    std::vector<A> partial_w(param_grads ? chunks * n : 0), partial_b(partial_w.size());
    const int64_t chunk_grain = std::max<int64_t>(1, row_grain(n) / chunk_rows);
    parallel_for(0, chunks, chunk_grain, [&](int64_t chunk_begin, int64_t chunk_end) {
      std::vector<A> x_buffer(n), g_buffer(n), dx_buffer(n);
      for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
        A* dw = param_grads ? partial_w.data() + chunk * n : nullptr;
        A* db = param_grads ? partial_b.data() + chunk * n : nullptr;
        for (int64_t r = chunk * chunk_rows; r < std::min(rows, (chunk + 1) * chunk_rows); ++r) {
          const A* x_row = load_row(x_data + x_rows.offset(r), x_rows.step, n, x_buffer.data());
          const A* g_row = load_row(g_data + g_rows.offset(r), g_rows.step, n, g_buffer.data());
          scalar_t* dx_dst = dx_data + dx_rows.offset(r);
          A* dx_row = output_row(dx_dst, dx_rows.step, dx_buffer.data());
          norm_backward_row(g_row, x_row, w.data(), dx_row, n, center, center ? mean_data[r] : A(0),
                            rstd_data[r], dw, db);
          store_row(dx_dst, dx_rows.step, n, dx_row);
        }
      }
    });
    auto combine = [&](const Tensor& out, const std::vector<A>& partial) {
      if (!out.defined()) return;
      std::vector<A> total(n, A(0));
      for (int64_t chunk = 0; chunk < chunks; ++chunk) {
        const A* part = partial.data() + chunk * n;
        _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) total[i] += part[i];
      }
      store_row(static_cast<scalar_t*>(out.data_ptr()), out.stride(0), n, total.data());
    };
    combine(dweight, partial_w);
    combine(dbias, partial_b);
  });
}

void cross_entropy_kernel(const Tensor& loss, const Tensor& log_sum_exp, const Tensor& logits,
                          const Tensor& targets, int64_t ignore_index, Reduction reduction,
                          double label_smoothing) {
  STRATA_DISPATCH_FLOATING(logits.dtype(), "cross_entropy", [&] {
    using A = compute_t<scalar_t>;
    const RowLayout in(logits, 1);
    const int64_t rows = in.count, classes = in.length;
    const auto* x_data = static_cast<const scalar_t*>(logits.data_ptr());
    const int64_t* target_data = targets.data<int64_t>();
    A* lse_data = log_sum_exp.data<A>();
    // Row losses go straight to the output for Reduction::none, else to a buffer summed below.
    std::vector<A> row_buffer(reduction == Reduction::none ? 0 : rows);
    A* row_loss = reduction == Reduction::none ? loss.data<A>() : row_buffer.data();
    // With smoothing eps the target distribution is (1 - eps) onehot + eps / C, so
    // loss = lse - (1 - eps) x_t - eps / C sum(x).
    const A smooth = static_cast<A>(label_smoothing);
    BadTargets bad(rows);
    parallel_for(0, rows, row_grain(classes), [&](int64_t begin, int64_t end) {
      std::vector<A> x_buffer(classes);
      for (int64_t r = begin; r < end; ++r) {
        const A* x = load_row(x_data + in.offset(r), in.step, classes, x_buffer.data());
        A shift = row_max(x, classes);
        A lse = shift + std::log(sum_exp(x, shift, classes));
        lse_data[r] = lse;
        int64_t target = target_data[r];
        if (!valid_target(target, classes, ignore_index)) bad.note(r);
        if (target == ignore_index || !valid_target(target, classes, ignore_index)) {
          row_loss[r] = 0;
          continue;
        }
        A smoothed = smooth > 0 ? smooth / static_cast<A>(classes) * row_sum(x, classes) : A(0);
        row_loss[r] = lse - (A(1) - smooth) * x[target] - smoothed;
      }
    });
    bad.throw_if_any("cross_entropy", target_data, classes, ignore_index);
    if (reduction == Reduction::none) return;
    double total = 0;
    for (int64_t r = 0; r < rows; ++r) total += row_loss[r];
    if (reduction == Reduction::mean)
      total /= static_cast<double>(count_kept(target_data, rows, ignore_index));
    loss.data<A>()[0] = static_cast<A>(total);
  });
}

void cross_entropy_backward_kernel(const Tensor& dlogits, const Tensor& grad_loss,
                                   const Tensor& logits, const Tensor& targets,
                                   const Tensor& log_sum_exp, int64_t ignore_index,
                                   Reduction reduction, double label_smoothing) {
  STRATA_DISPATCH_FLOATING(logits.dtype(), "cross_entropy_backward", [&] {
    using A = compute_t<scalar_t>;
    const RowLayout in(logits, 1), out(dlogits, 1);
    const int64_t rows = in.count, classes = in.length;
    const auto* x_data = static_cast<const scalar_t*>(logits.data_ptr());
    auto* dx_data = static_cast<scalar_t*>(dlogits.data_ptr());
    const int64_t* target_data = targets.data<int64_t>();
    const A* lse_data = log_sum_exp.data<A>();
    const A* g_data = grad_loss.data<A>();
    // d loss_r / d x_c = p_c - (1 - eps) [c == t] - eps / C, scaled by the row's upstream grad.
    A mean_scale = A(1);
    if (reduction == Reduction::mean)
      mean_scale = A(1) / static_cast<A>(count_kept(target_data, rows, ignore_index));
    const A smooth = static_cast<A>(label_smoothing);
    const A uniform = smooth / static_cast<A>(std::max<int64_t>(classes, 1));
    BadTargets bad(rows);
    parallel_for(0, rows, row_grain(classes), [&](int64_t begin, int64_t end) {
      std::vector<A> x_buffer(classes), dx_buffer(classes);
      for (int64_t r = begin; r < end; ++r) {
        scalar_t* dx_dst = dx_data + out.offset(r);
        A* dx = output_row(dx_dst, out.step, dx_buffer.data());
        int64_t target = target_data[r];
        if (!valid_target(target, classes, ignore_index)) bad.note(r);
        if (target == ignore_index || !valid_target(target, classes, ignore_index)) {
          std::fill(dx, dx + classes, A(0));
        } else {
          const A* x = load_row(x_data + in.offset(r), in.step, classes, x_buffer.data());
          const A scale = reduction == Reduction::none ? g_data[r] : g_data[0] * mean_scale;
          const A lse = lse_data[r];
          _Pragma("omp simd") for (int64_t i = 0; i < classes; ++i) {
            dx[i] = scale * (exp_acc(x[i] - lse) - uniform);
          }
          dx[target] -= scale * (A(1) - smooth);
        }
        store_row(dx_dst, out.step, classes, dx);
      }
    });
    bad.throw_if_any("cross_entropy_backward", target_data, classes, ignore_index);
  });
}

void cross_entropy_scale_grad_kernel(const Tensor& dlogits, const Tensor& grad_loss,
                                     Reduction reduction) {
  STRATA_DISPATCH_FLOATING(dlogits.dtype(), "cross_entropy_inplace_grad_backward", [&] {
    using A = compute_t<scalar_t>;
    const RowLayout rows(dlogits, 1);
    const int64_t n = rows.length;
    auto* data = static_cast<scalar_t*>(dlogits.data_ptr());
    const A* g_data = grad_loss.data<A>();
    parallel_for(0, rows.count, row_grain(n), [&](int64_t begin, int64_t end) {
      std::vector<A> buffer(n);
      for (int64_t r = begin; r < end; ++r) {
        scalar_t* row = data + rows.offset(r);
        const A scale = reduction == Reduction::none ? g_data[r] : g_data[0];
        const A* values = load_row(row, rows.step, n, buffer.data());
        write_row_values(row, rows.step, n, [&](A* out, int64_t i, int64_t m) {
          _Pragma("omp simd") for (int64_t j = 0; j < m; ++j) out[j] = values[i + j] * scale;
        });
      }
    });
  });
}

}  // namespace strata::cpu::STRATA_ISA
