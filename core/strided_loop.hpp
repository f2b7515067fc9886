// StridedLoop: the geometry of an element-wise pass over N tensors of one shape (already
// broadcast), reduced to as few dims as possible. Dims are stored innermost first, strides in
// bytes, so one description serves every dtype mix (casts included) on the CPU and, copied by
// value, in CUDA kernels.
#pragma once

#include <array>
#include <cstdint>

#include "core/tensor.hpp"

namespace strata {

inline constexpr int kMaxLoopDims = 16;

template <int N>
struct StridedLoop {
  int ndim = 0;
  int64_t numel = 0;
  int64_t shape[kMaxLoopDims] = {};
  int64_t strides[N][kMaxLoopDims] = {};  // bytes
};

// Builds the loop for operands that all have the same shape (expand() them first). Size-1 dims are
// dropped and neighbouring dims merged where every operand steps through them as one.
template <int N>
StridedLoop<N> make_strided_loop(const std::array<const Tensor*, N>& operands) {
  const Tensor& first = *operands[0];
  for (const Tensor* t : operands) {
    STRATA_CHECK(t->shape() == first.shape(), "strided loop: operand shape ", shape_str(t->shape()),
                 " differs from ", shape_str(first.shape()), " (broadcast operands first)");
  }
  StridedLoop<N> loop;
  loop.numel = first.numel();
  for (int64_t d = first.dim() - 1; d >= 0; --d) {
    int64_t size = first.shape()[d];
    if (size == 1) continue;
    bool merge = loop.ndim > 0;
    for (int i = 0; i < N && merge; ++i) {
      int64_t stride =
          operands[i]->strides()[d] * static_cast<int64_t>(operands[i]->element_size());
      merge = stride == loop.strides[i][loop.ndim - 1] * loop.shape[loop.ndim - 1];
    }
    if (merge) {
      loop.shape[loop.ndim - 1] *= size;
      continue;
    }
    STRATA_CHECK(loop.ndim < kMaxLoopDims, "element-wise op: tensor of shape ",
                 shape_str(first.shape()), " has more than ", kMaxLoopDims,
                 " dims that cannot be merged; make it contiguous first");
    loop.shape[loop.ndim] = size;
    for (int i = 0; i < N; ++i) {
      loop.strides[i][loop.ndim] =
          operands[i]->strides()[d] * static_cast<int64_t>(operands[i]->element_size());
    }
    ++loop.ndim;
  }
  if (loop.ndim == 0) {  // a single element (or none): one dim of size numel
    loop.ndim = 1;
    loop.shape[0] = loop.numel;
    for (int i = 0; i < N; ++i)
      loop.strides[i][0] = static_cast<int64_t>(operands[i]->element_size());
  }
  return loop;
}

}  // namespace strata

namespace strata {

// The loop over out followed by its inputs (all of out's shape), and their base addresses: what an
// element-wise kernel walks.
template <int N>
struct OperandLoop {
  StridedLoop<N> loop;
  std::array<char*, N> base;
};

template <int N>
OperandLoop<N> make_operand_loop(const Tensor& out,
                                 const std::array<const Tensor*, N - 1>& inputs) {
  std::array<const Tensor*, N> operands;
  OperandLoop<N> result;
  operands[0] = &out;
  result.base[0] = static_cast<char*>(out.data_ptr());
  for (int i = 0; i + 1 < N; ++i) {
    operands[i + 1] = inputs[i];
    result.base[i + 1] = static_cast<char*>(inputs[i]->data_ptr());
  }
  result.loop = make_strided_loop<N>(operands);
  return result;
}

}  // namespace strata
