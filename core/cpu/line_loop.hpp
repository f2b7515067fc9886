// Loops over lines along one dim: for tensors that agree in shape except along `dim` (gather's
// output and input, topk's values and input, ...), every position of the other dims owns one line
// through each tensor. The positions are walked with the element-wise machinery (for_each_row), so
// each line is handled by exactly one thread and its elements are visited in order: scatter-adds
// along a line are deterministic whatever the thread count.
#pragma once

#include <array>

#include "core/cpu/cpu_loop.hpp"

namespace strata::cpu {

template <int N>
struct LineLoop {
  StridedLoop<N> positions;  // over the dims other than `dim`
  int64_t line_stride[N];    // bytes between neighbours along `dim`
};

template <int N>
LineLoop<N> make_line_loop(const std::array<const Tensor*, N>& operands, int64_t dim) {
  // Each operand without `dim`: a view of the first element of every line.
  std::array<Tensor, N> heads;
  std::array<const Tensor*, N> head_ptrs;
  LineLoop<N> lines;
  for (int i = 0; i < N; ++i) {
    const Tensor& t = *operands[i];
    Shape shape = t.shape(), strides = t.strides();
    shape.erase(shape.begin() + dim);
    strides.erase(strides.begin() + dim);
    heads[i] = Tensor(t.storage(), shape, strides, t.offset(), t.dtype());
    head_ptrs[i] = &heads[i];
    lines.line_stride[i] = t.strides()[dim] * static_cast<int64_t>(t.element_size());
  }
  lines.positions = make_strided_loop<N>(head_ptrs);
  return lines;
}

// Calls fn(ptrs, strides, count) for runs of `count` line heads (ptrs[i] + e * strides[i] is the
// head of line e in operand i), split across the pool; line_length sets the grain.
template <int N, class Fn>
void for_each_line_run(const LineLoop<N>& lines, const std::array<const Tensor*, N>& operands,
                       int64_t line_length, Fn&& fn) {
  std::array<char*, N> base;
  for (int i = 0; i < N; ++i) base[i] = static_cast<char*>(operands[i]->data_ptr());
  int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, line_length));
  for_each_row<N>(lines.positions, base, fn, grain);
}

}  // namespace strata::cpu
