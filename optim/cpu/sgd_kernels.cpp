// SGD with momentum, dampening, Nesterov and weight decay (optim/sgd.hpp) on the CPU. Weight decay
// is added unconditionally: with weight_decay 0 it adds 0 p, which leaves a finite gradient as it
// is.
#include "optim/cpu/update_loop.hpp"

namespace strata::cpu::STRATA_ISA {

void sgd_kernel(const optim::UpdateRange& range, const optim::SgdStep& step) {
  with_flag(step.momentum != 0, [&](auto has_momentum) {
    for_each_update_chunk(range, "SGD", [&](auto* p, const auto* g, int64_t i, int64_t n) {
      using C = std::remove_pointer_t<decltype(p)>;
      const C lr = static_cast<C>(step.lr), weight_decay = static_cast<C>(step.weight_decay);
      const C momentum = static_cast<C>(step.momentum);
      const C undamped = static_cast<C>(1.0 - step.dampening);
      const bool first = step.first, nesterov = step.nesterov;
      C* buf = has_momentum ? state_data<C>(range, 0) + i : nullptr;
      _Pragma("omp simd") for (int64_t j = 0; j < n; ++j) {
        C d = g[j] + weight_decay * p[j];
        if constexpr (decltype(has_momentum)::value) {
          C b = first ? d : momentum * buf[j] + undamped * d;
          buf[j] = b;
          d = nesterov ? d + momentum * b : b;
        }
        p[j] = p[j] - lr * d;
      }
    });
  });
}

}  // namespace strata::cpu::STRATA_ISA
