// CPU embedding gather and its deterministic scatter-add. The backward groups positions by id
// with a counting sort, then each thread owns whole output rows and adds their grad rows in
// position order, so the sums do not depend on the thread count.
#include <algorithm>
#include <vector>

#include "core/cpu/cpu_loop.hpp"
#include "core/cpu/half_vector.hpp"
#include "core/dtype.hpp"
#include "core/embedding_kernels.hpp"
#include "core/parallel.hpp"

namespace strata::cpu::STRATA_ISA {
namespace {

// Calls f(const Id* ids) with the ids' element type.
template <class F>
void with_ids(const Tensor& ids, F&& f) {
  if (ids.dtype() == DType::i32) {
    f(static_cast<const int32_t*>(ids.data_ptr()));
  } else {
    f(static_cast<const int64_t*>(ids.data_ptr()));
  }
}

// Rows of `width` elements per parallel chunk, so each chunk holds about a grain of elements.
int64_t row_grain(int64_t width) {
  return std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(width, 1));
}

// sum[d] += row[d] for d < dim; 16-bit rows are widened through `buffer` first.
template <class T>
void add_row(compute_t<T>* sum, const T* row, compute_t<T>* buffer, int64_t dim) {
  const compute_t<T>* values;
  if constexpr (std::is_same_v<compute_t<T>, T>) {
    values = row;
  } else {
    convert_contiguous(row, buffer, dim);
    values = buffer;
  }
  _Pragma("omp simd") for (int64_t d = 0; d < dim; ++d) sum[d] += values[d];
}

}  // namespace

void embedding_kernel(const Tensor& out, const Tensor& weight, const Tensor& ids) {
  const int64_t n = ids.numel(), dim = weight.size(1);
  const int64_t row_stride = weight.stride(0), column_stride = weight.stride(1);
  STRATA_DISPATCH_ALL(weight.dtype(), "embedding", [&] {
    const scalar_t* table = static_cast<const scalar_t*>(weight.data_ptr());
    scalar_t* result = static_cast<scalar_t*>(out.data_ptr());
    with_ids(ids, [&](const auto* id) {
      parallel_for(0, n, row_grain(dim), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const scalar_t* row = table + static_cast<int64_t>(id[r]) * row_stride;
          scalar_t* dst = result + r * dim;
          if (column_stride == 1) {
            std::copy_n(row, dim, dst);
          } else {
            for (int64_t c = 0; c < dim; ++c) dst[c] = row[c * column_stride];
          }
        }
      });
    });
  });
}

void embedding_backward_kernel(const Tensor& out, const Tensor& grad, const Tensor& ids) {
  const int64_t rows = out.size(0), dim = out.size(1), n = ids.numel();
  // positions[row_start[v] .. row_start[v + 1]) are the positions whose id is v, ascending.
  std::vector<int64_t> row_start(static_cast<size_t>(rows) + 1, 0);
  std::vector<int64_t> positions(static_cast<size_t>(n));
  with_ids(ids, [&](const auto* id) {
    for (int64_t i = 0; i < n; ++i) ++row_start[id[i] + 1];
    for (int64_t v = 0; v < rows; ++v) row_start[v + 1] += row_start[v];
    std::vector<int64_t> cursor(row_start.begin(), row_start.end() - 1);
    for (int64_t i = 0; i < n; ++i) positions[cursor[id[i]]++] = i;
  });
  STRATA_DISPATCH_FLOATING(grad.dtype(), "embedding_backward", [&] {
    using compute = compute_t<scalar_t>;
    const scalar_t* g = static_cast<const scalar_t*>(grad.data_ptr());
    scalar_t* result = static_cast<scalar_t*>(out.data_ptr());
    parallel_for(0, rows, row_grain(dim), [&](int64_t begin, int64_t end) {
      std::vector<compute> sum(static_cast<size_t>(dim)), widened(static_cast<size_t>(dim));
      for (int64_t v = begin; v < end; ++v) {
        std::fill(sum.begin(), sum.end(), compute(0));
        for (int64_t k = row_start[v]; k < row_start[v + 1]; ++k) {
          add_row(sum.data(), g + positions[k] * dim, widened.data(), dim);
        }
        convert_contiguous(sum.data(), result + v * dim, dim);
      }
    });
  });
}

}  // namespace strata::cpu::STRATA_ISA
