// The reductions as small value types shared by the CPU and CUDA reduction kernels. Every kernel
// is one loop structure parameterised by a reducer R:
//   R::value_t                       the type elements are converted to before folding
//   R::state_t                       the running state (a sum, an extreme and its index, ...)
//   R::identity()                    the state of no elements
//   r.update(state, x, index)        folds in element x (already converted to acc_t), whose
//                                    position along the reduced dims is index
//   R::combine(a, b)                 merges two states; a covers elements before b
//   r.store(state, count, values, indices, o)  writes output o from the state of count elements
// Kernels only decide the order in which elements are folded and states combined; that order is
// fixed by shapes alone, so results never depend on the thread count.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/convert.hpp"
#include "core/half.hpp"

namespace strata::reducers {

// ---- element maps applied before summing, and what a sum becomes at the end -------------------

struct Plain {
  template <class T>
  STRATA_HOST_DEVICE T operator()(T x) const {
    return x;
  }
};
struct Abs {
  template <class T>
  STRATA_HOST_DEVICE T operator()(T x) const {
    return x < T(0) ? -x : x;
  }
};
struct Square {
  template <class T>
  STRATA_HOST_DEVICE T operator()(T x) const {
    return x * x;
  }
};
template <class T>
struct AbsPow {  // |x|^p for the general p-norm
  T p;
  STRATA_HOST_DEVICE T operator()(T x) const { return std::pow(x < T(0) ? -x : x, p); }
};

struct Total {
  template <class T>
  STRATA_HOST_DEVICE T operator()(T s, int64_t) const {
    return s;
  }
};
struct Average {  // the mean of count elements; NaN for none, as 0 / 0
  template <class T>
  STRATA_HOST_DEVICE T operator()(T s, int64_t count) const {
    return s / static_cast<T>(count);
  }
};
struct SquareRoot {
  template <class T>
  STRATA_HOST_DEVICE T operator()(T s, int64_t) const {
    return std::sqrt(s);
  }
};
template <class T>
struct Root {  // s^(1/p)
  T inverse_p;
  STRATA_HOST_DEVICE T operator()(T s, int64_t) const { return std::pow(s, inverse_p); }
};

// ---- reducers ---------------------------------------------------------------------------------

// sum of map(x), then finish(sum, count): sum, mean, and the 1-, 2- and p-norms.
template <class acc_t, class Map = Plain, class Finish = Total>
struct SumReducer {
  using value_t = acc_t;
  using state_t = acc_t;
  Map map{};
  Finish finish{};
  STRATA_HOST_DEVICE static state_t identity() { return acc_t(0); }
  STRATA_HOST_DEVICE void update(state_t& s, acc_t x, int64_t) const { s += map(x); }
  STRATA_HOST_DEVICE static state_t combine(state_t a, state_t b) { return a + b; }
  template <class out_t>
  STRATA_HOST_DEVICE void store(state_t s, int64_t count, out_t* values, int64_t*,
                                int64_t o) const {
    values[o] = convert<out_t>(finish(s, count));
  }
};

template <class T>
STRATA_HOST_DEVICE bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) {
    return x != x;
  } else {
    return false;
  }
}

// The largest (or smallest) of map(x); a NaN wins, as in torch.amax.
template <class acc_t, bool largest, class Map = Plain>
struct ExtremeReducer {
  using value_t = acc_t;
  using state_t = acc_t;
  Map map{};
  STRATA_HOST_DEVICE static state_t identity() {
    if constexpr (largest && std::is_same_v<Map, Abs>) {
      return acc_t(0);  // the max-abs of no elements is 0, as the other norms
    } else if constexpr (std::is_floating_point_v<acc_t>) {
      return largest ? -std::numeric_limits<acc_t>::infinity()
                     : std::numeric_limits<acc_t>::infinity();
    } else {
      return largest ? std::numeric_limits<acc_t>::lowest() : std::numeric_limits<acc_t>::max();
    }
  }
  STRATA_HOST_DEVICE static bool beats(acc_t x, acc_t s) {
    return (largest ? x > s : x < s) || is_nan(x);
  }
  STRATA_HOST_DEVICE void update(state_t& s, acc_t x, int64_t) const {
    acc_t y = map(x);
    s = beats(y, s) && !is_nan(s) ? y : s;
  }
  STRATA_HOST_DEVICE static state_t combine(state_t a, state_t b) {
    return beats(b, a) && !is_nan(a) ? b : a;
  }
  template <class out_t>
  STRATA_HOST_DEVICE void store(state_t s, int64_t, out_t* values, int64_t*, int64_t o) const {
    values[o] = convert<out_t>(s);
  }
};

// The largest (or smallest) element and its index; the first on ties, the first NaN if any.
template <class acc_t, bool largest>
struct ArgExtremeReducer {
  using value_t = acc_t;
  struct state_t {
    acc_t value;
    int64_t index;
  };
  using Extreme = ExtremeReducer<acc_t, largest>;
  STRATA_HOST_DEVICE static state_t identity() { return {Extreme::identity(), -1}; }
  STRATA_HOST_DEVICE void update(state_t& s, acc_t x, int64_t index) const {
    bool take = s.index < 0 || (Extreme::beats(x, s.value) && !is_nan(s.value));
    s.value = take ? x : s.value;
    s.index = take ? index : s.index;
  }
  STRATA_HOST_DEVICE static state_t combine(state_t a, state_t b) {
    if (b.index < 0) return a;
    if (a.index < 0) return b;
    bool a_nan = is_nan(a.value), b_nan = is_nan(b.value);
    bool tie = (a_nan && b_nan) || (!a_nan && !b_nan && a.value == b.value);
    if (tie) return b.index < a.index ? b : a;
    return Extreme::beats(b.value, a.value) && !a_nan ? b : a;
  }
  template <class out_t>
  STRATA_HOST_DEVICE void store(state_t s, int64_t, out_t* values, int64_t* indices,
                                int64_t o) const {
    if (values) values[o] = convert<out_t>(s.value);
    if (indices) indices[o] = s.index;
  }
};

// Variance by Welford's update, merged with Chan et al.'s formula: stable for any mean.
template <class acc_t>
struct WelfordReducer {
  using value_t = acc_t;
  struct state_t {
    acc_t count;
    acc_t mean;
    acc_t m2;  // sum of squared deviations from mean
  };
  acc_t correction;
  STRATA_HOST_DEVICE static state_t identity() { return {acc_t(0), acc_t(0), acc_t(0)}; }
  STRATA_HOST_DEVICE void update(state_t& s, acc_t x, int64_t) const {
    s.count += acc_t(1);
    acc_t delta = x - s.mean;
    s.mean += delta / s.count;
    s.m2 += delta * (x - s.mean);
  }
  STRATA_HOST_DEVICE static state_t combine(state_t a, state_t b) {
    acc_t count = a.count + b.count;
    if (count == acc_t(0)) return a;
    acc_t delta = b.mean - a.mean;
    acc_t b_share = b.count / count;
    return {count, a.mean + delta * b_share, a.m2 + b.m2 + delta * delta * a.count * b_share};
  }
  template <class out_t>
  STRATA_HOST_DEVICE void store(state_t s, int64_t, out_t* values, int64_t*, int64_t o) const {
    acc_t dof = s.count - correction;
    values[o] = convert<out_t>(s.m2 / (dof > acc_t(0) ? dof : acc_t(0)));
  }
};

}  // namespace strata::reducers
