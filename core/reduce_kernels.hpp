// The interface between the reduction front end (reduce.cpp) and the device kernels: which
// reduction, and the input's geometry with its dims split into kept and reduced groups.
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/cpu/isa.hpp"
#include "core/reducers.hpp"
#include "core/tensor.hpp"

namespace strata {

enum class ReduceOp : uint8_t {
  sum,       // values: sum (i64 for bool and integer inputs)
  mean,      // values: sum / count
  amax,      // values
  amin,      // values
  argmax,    // values and/or indices (one reduced dim)
  argmin,    // values and/or indices (one reduced dim)
  var,       // values: sum of squared deviations / (count - param), param = correction
  norm1,     // values: sum |x|
  norm2,     // values: sqrt(sum x^2)
  norm_inf,  // values: max |x|
  norm_p,    // values: (sum |x|^param)^(1 / param)
};

inline constexpr int kMaxReduceDims = 16;

// The input seen as [kept dims..., reduced dims...], each group merged into as few dims as
// possible. Arrays are innermost first; strides count input elements. Outputs are contiguous in
// the order of the kept dims, so output o is the o-th kept index. The front end guarantees one of
// two layouts:
//   rows:    one contiguous reduced dim (reduced_stride[0] == 1), or none; kept dims any strides.
//   columns: the innermost kept dim is contiguous (kept_stride[0] == 1); reduced dims any
//            strides, walked in the given order.
struct ReduceGeometry {
  enum class Layout : uint8_t { rows, columns };
  Layout layout = Layout::rows;
  int64_t outputs = 1;  // product of kept sizes
  int64_t reduced = 1;  // product of reduced sizes: the count of elements per output
  int kept_ndim = 0;
  int64_t kept_shape[kMaxReduceDims] = {};
  int64_t kept_stride[kMaxReduceDims] = {};
  int reduced_ndim = 0;
  int64_t reduced_shape[kMaxReduceDims] = {};
  int64_t reduced_stride[kMaxReduceDims] = {};
};

// Calls fn(reducer, std::type_identity<out_t>{}) with the reducer that computes op on elements
// of type T, and the element type of its values output; throws for ops T does not support.
template <class T, class Fn>
void visit_reducer(ReduceOp op, double param, Fn&& fn) {
  using namespace reducers;
  using acc_t = compute_t<T>;  // f32 for 16-bit floats
  constexpr bool floating = std::is_floating_point_v<acc_t>;
  using sum_t = std::conditional_t<floating, acc_t, int64_t>;  // integer sums are i64
  using sum_out_t = std::conditional_t<floating, T, int64_t>;
  using same = std::type_identity<T>;
  switch (op) {
    case ReduceOp::sum: return fn(SumReducer<sum_t>{}, std::type_identity<sum_out_t>{});
    case ReduceOp::amax: return fn(ExtremeReducer<acc_t, true>{}, same{});
    case ReduceOp::amin: return fn(ExtremeReducer<acc_t, false>{}, same{});
    case ReduceOp::argmax: return fn(ArgExtremeReducer<acc_t, true>{}, same{});
    case ReduceOp::argmin: return fn(ArgExtremeReducer<acc_t, false>{}, same{});
    default: break;
  }
  if constexpr (floating) {
    auto p = static_cast<acc_t>(param);
    switch (op) {
      case ReduceOp::mean: return fn(SumReducer<acc_t, Plain, Average>{}, same{});
      case ReduceOp::var: return fn(WelfordReducer<acc_t>{p}, same{});
      case ReduceOp::norm1: return fn(SumReducer<acc_t, Abs>{}, same{});
      case ReduceOp::norm2: return fn(SumReducer<acc_t, Square, SquareRoot>{}, same{});
      case ReduceOp::norm_inf: return fn(ExtremeReducer<acc_t, true, Abs>{}, same{});
      case ReduceOp::norm_p:
        return fn(SumReducer<acc_t, AbsPow<acc_t>, Root<acc_t>>{{p}, {acc_t(1) / p}}, same{});
      default: break;
    }
  }
  fail("reduce: reduction ", static_cast<int>(op), " is not defined for dtype ",
       dtype_name(dtype_of<T>()));
}

}  // namespace strata

// x is the input; values (dtype per op) and indices (i64) are contiguous outputs with
// geometry.outputs elements, either may be undefined when the op does not produce it.
STRATA_DECLARE_CPU_KERNEL(void, reduce_kernel,
                          (const strata::ReduceGeometry& geometry, strata::ReduceOp op,
                           double param, const strata::Tensor& x, const strata::Tensor& values,
                           const strata::Tensor& indices))

namespace strata::cuda {
void reduce_kernel(const ReduceGeometry& geometry, ReduceOp op, double param, const Tensor& x,
                   const Tensor& values, const Tensor& indices);
}  // namespace strata::cuda
