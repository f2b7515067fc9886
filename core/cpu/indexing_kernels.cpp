// CPU gather / scatter / masked_fill / topk. Gathers and scatters walk lines along `dim`
// (cpu/line_loop.hpp): each line belongs to one thread and is visited in order, so scatter-adds are
// deterministic. Contiguous runs of index_select rows are plain copies.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/convert.hpp"
#include "core/cpu/line_loop.hpp"
#include "core/dtype.hpp"
#include "core/indexing_kernels.hpp"

namespace strata::cpu::STRATA_ISA {
namespace {

// Runs fn with an index_t of the index tensor's dtype (i32 or i64; checked by the front end).
template <class Fn>
void with_index_type(DType dtype, Fn&& fn) {
  if (dtype == DType::i32) {
    fn(int32_t{});
  } else {
    fn(int64_t{});
  }
}

// Visits (e, j) for the e-th line of a run and the j-th element along it, j ascending within each
// line. The nest puts the smaller byte stride innermost.
template <class Fn>
void visit_lines(int64_t lines, int64_t length, bool along_line_inner, Fn&& fn) {
  if (along_line_inner) {
    for (int64_t e = 0; e < lines; ++e)
      for (int64_t j = 0; j < length; ++j) fn(e, j);
  } else {
    for (int64_t j = 0; j < length; ++j)
      for (int64_t e = 0; e < lines; ++e) fn(e, j);
  }
}

template <class T>
T& element(char* base, int64_t offset_bytes) {
  return *reinterpret_cast<T*>(base + offset_bytes);
}

}  // namespace

void gather_kernel(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  if (out.numel() == 0) return;
  std::array<const Tensor*, 3> operands = {&out, &x, &index};
  LineLoop<3> lines = make_line_loop<3>(operands, dim);
  const int64_t length = out.shape()[dim];
  const int64_t out_step = lines.line_stride[0], x_step = lines.line_stride[1],
                index_step = lines.line_stride[2];
  STRATA_DISPATCH_ALL(out.dtype(), "gather", [&] {
    with_index_type(index.dtype(), [&](auto index_tag) {
      using index_t = decltype(index_tag);
      for_each_line_run<3>(lines, operands, length, [&](char** p, const int64_t* s, int64_t n) {
        if (s[2] == 0 && s[0] == sizeof(scalar_t) && s[1] == sizeof(scalar_t)) {
          // One index for the whole run (index_select): copy contiguous rows.
          for (int64_t j = 0; j < length; ++j) {
            index_t i = element<index_t>(p[2], j * index_step);
            std::memcpy(p[0] + j * out_step, p[1] + i * x_step, n * sizeof(scalar_t));
          }
          return;
        }
        visit_lines(n, length, std::abs(out_step) < std::abs(s[0]), [&](int64_t e, int64_t j) {
          index_t i = element<index_t>(p[2], e * s[2] + j * index_step);
          element<scalar_t>(p[0], e * s[0] + j * out_step) =
              element<scalar_t>(p[1], e * s[1] + i * x_step);
        });
      });
    });
  });
}

void scatter_kernel(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
                    bool accumulate) {
  if (src.numel() == 0) return;
  std::array<const Tensor*, 3> operands = {&out, &index, &src};
  LineLoop<3> lines = make_line_loop<3>(operands, dim);
  const int64_t length = src.shape()[dim];
  const int64_t out_step = lines.line_stride[0], index_step = lines.line_stride[1],
                src_step = lines.line_stride[2];
  STRATA_DISPATCH_ALL(out.dtype(), "scatter", [&] {
    using acc_t = compute_t<scalar_t>;
    with_index_type(index.dtype(), [&](auto index_tag) {
      using index_t = decltype(index_tag);
      for_each_line_run<3>(lines, operands, length, [&](char** p, const int64_t* s, int64_t n) {
        visit_lines(n, length, std::abs(src_step) < std::abs(s[2]), [&](int64_t e, int64_t j) {
          index_t i = element<index_t>(p[1], e * s[1] + j * index_step);
          scalar_t& dst = element<scalar_t>(p[0], e * s[0] + i * out_step);
          scalar_t value = element<scalar_t>(p[2], e * s[2] + j * src_step);
          dst = accumulate ? convert<scalar_t>(convert<acc_t>(dst) + convert<acc_t>(value)) : value;
        });
      });
    });
  });
}

void masked_fill_kernel(const Tensor& out, const Tensor& x, const Tensor& mask, double value) {
  if (out.numel() == 0) return;
  auto loop = make_strided_loop<3>({&out, &x, &mask});
  std::array<char*, 3> base = {static_cast<char*>(out.data_ptr()), static_cast<char*>(x.data_ptr()),
                               static_cast<char*>(mask.data_ptr())};
  STRATA_DISPATCH_ALL(out.dtype(), "masked_fill", [&] {
    const scalar_t fill = convert<scalar_t>(value);
    for_each_row<3>(loop, base, [fill](char** p, const int64_t* s, int64_t n) {
      if (s[0] == sizeof(scalar_t) && s[1] == sizeof(scalar_t) && s[2] == sizeof(bool)) {
        auto* dst = reinterpret_cast<scalar_t*>(p[0]);
        auto* in = reinterpret_cast<const scalar_t*>(p[1]);
        auto* m = reinterpret_cast<const bool*>(p[2]);
        _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) dst[i] = m[i] ? fill : in[i];
        return;
      }
      for (int64_t i = 0; i < n; ++i) {
        element<scalar_t>(p[0], i * s[0]) =
            element<bool>(p[2], i * s[2]) ? fill : element<scalar_t>(p[1], i * s[1]);
      }
    });
  });
}

void topk_kernel(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim,
                 bool largest, bool sorted) {
  if (values.numel() == 0) return;
  std::array<const Tensor*, 3> operands = {&values, &indices, &x};
  LineLoop<3> lines = make_line_loop<3>(operands, dim);
  const int64_t k = values.shape()[dim], n = x.shape()[dim];
  const int64_t values_step = lines.line_stride[0], indices_step = lines.line_stride[1],
                x_step = lines.line_stride[2];
  STRATA_DISPATCH_NUMERIC(x.dtype(), "topk", [&] {
    using value_t = compute_t<scalar_t>;
    struct Entry {
      value_t value;
      int64_t index;
    };
    // A total order: by value (NaN above everything, as torch), ties by position, so the result
    // does not depend on the sorting algorithm.
    auto before = [largest](const Entry& a, const Entry& b) {
      bool a_nan = false, b_nan = false;
      if constexpr (std::is_floating_point_v<value_t>) {
        a_nan = std::isnan(a.value);
        b_nan = std::isnan(b.value);
      }
      if (a_nan != b_nan) return largest ? a_nan : b_nan;
      if (!a_nan && a.value != b.value) return largest ? a.value > b.value : a.value < b.value;
      return a.index < b.index;
    };
    for_each_line_run<3>(lines, operands, n, [&](char** p, const int64_t* s, int64_t count) {
      std::vector<Entry> line(static_cast<size_t>(n));
      for (int64_t e = 0; e < count; ++e) {
        for (int64_t j = 0; j < n; ++j) {
          line[j] = {convert<value_t>(element<scalar_t>(p[2], e * s[2] + j * x_step)), j};
        }
        if (sorted) {
          std::partial_sort(line.begin(), line.begin() + k, line.end(), before);
        } else {
          // The k best in their original order.
          std::nth_element(line.begin(), line.begin() + k, line.end(), before);
          std::sort(line.begin(), line.begin() + k,
                    [](const Entry& a, const Entry& b) { return a.index < b.index; });
        }
        for (int64_t j = 0; j < k; ++j) {
          element<scalar_t>(p[0], e * s[0] + j * values_step) = convert<scalar_t>(line[j].value);
          element<int64_t>(p[1], e * s[1] + j * indices_step) = line[j].index;
        }
      }
    });
  });
}

}  // namespace strata::cpu::STRATA_ISA
