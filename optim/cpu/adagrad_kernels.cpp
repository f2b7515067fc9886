// Adagrad with lr decay and weight decay (optim/adagrad.hpp) on the CPU. Weight decay is added
// unconditionally: with weight_decay 0 it adds 0 p, which leaves a finite gradient as it is.
#include <cmath>

#include "optim/cpu/update_loop.hpp"

namespace strata::cpu::STRATA_ISA {

void adagrad_kernel(const optim::UpdateRange& range, const optim::AdagradStep& step) {
  for_each_update_chunk(range, "Adagrad", [&](auto* p, const auto* g, int64_t i, int64_t n) {
    using C = std::remove_pointer_t<decltype(p)>;
    const C clr = static_cast<C>(step.clr), weight_decay = static_cast<C>(step.weight_decay);
    const C eps = static_cast<C>(step.eps);
    C* sum = state_data<C>(range, 0) + i;
    _Pragma("omp simd") for (int64_t j = 0; j < n; ++j) {
      C d = g[j] + weight_decay * p[j];
      C s = sum[j] + d * d;
      sum[j] = s;
      p[j] = p[j] - clr * (d / (std::sqrt(s) + eps));
    }
  });
}

}  // namespace strata::cpu::STRATA_ISA
