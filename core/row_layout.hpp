// A tensor seen as rows along one dim, the geometry every row kernel (softmax, normalisation,
// cross-entropy; CPU and CUDA) walks: row r starts offset(r) elements past data_ptr() and steps by
// `step` elements. Rows are numbered in row-major order of the other dims, so the rows of tensors
// of one shape line up whatever their strides. A scalar is one row of one element.
#pragma once

#include "core/half.hpp"
#include "core/strided_loop.hpp"
#include "core/tensor.hpp"

namespace strata {

struct RowLayout {
  int64_t count = 1;   // number of rows
  int64_t length = 0;  // elements per row
  int64_t step = 1;    // element stride along a row
  int ndim = 0;        // the other dims, neighbours merged where they step as one, innermost first
  int64_t sizes[kMaxLoopDims] = {};
  int64_t strides[kMaxLoopDims] = {};

  RowLayout(const Tensor& t, int64_t dim)
      : length(t.dim() == 0 ? 1 : t.size(dim)), step(t.dim() == 0 ? 1 : t.stride(dim)) {
    for (int64_t d = t.dim() - 1; d >= 0; --d) {
      int64_t size = t.size(d), stride = t.stride(d);
      if (d == dim) continue;
      count *= size;
      if (size == 1) continue;
      if (ndim > 0 && stride == strides[ndim - 1] * sizes[ndim - 1]) {
        sizes[ndim - 1] *= size;
        continue;
      }
      STRATA_CHECK(ndim < kMaxLoopDims, "row kernel: tensor of shape ", shape_str(t.shape()),
                   " has more than ", kMaxLoopDims, " dims that cannot be merged");
      sizes[ndim] = size;
      strides[ndim] = stride;
      ++ndim;
    }
  }

  STRATA_HOST_DEVICE int64_t offset(int64_t row) const {
    int64_t result = 0;
    for (int d = 0; d < ndim; ++d) {
      result += row % sizes[d] * strides[d];
      row /= sizes[d];
    }
    return result;
  }
};

}  // namespace strata
