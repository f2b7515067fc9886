// Adam and AdamW, with amsgrad (optim/adam.hpp) on the CPU. Both decays are applied
// unconditionally: a decay of 0 adds 0 p to the gradient or multiplies p by 1, which leaves finite
// values as they are.
#include <cmath>

#include "optim/cpu/update_loop.hpp"

namespace strata::cpu::STRATA_ISA {

void adam_kernel(const optim::UpdateRange& range, const optim::AdamStep& step) {
  with_flag(step.amsgrad, [&](auto amsgrad) {
    for_each_update_chunk(range, "Adam", [&](auto* p, const auto* g, int64_t i, int64_t n) {
      using C = std::remove_pointer_t<decltype(p)>;
      const C beta1 = static_cast<C>(step.beta1), beta2 = static_cast<C>(step.beta2);
      const C one_minus_beta1 = static_cast<C>(1.0 - step.beta1);
      const C one_minus_beta2 = static_cast<C>(1.0 - step.beta2);
      const C eps = static_cast<C>(step.eps), step_size = static_cast<C>(step.step_size);
      const C bias_correction2_sqrt = static_cast<C>(step.bias_correction2_sqrt);
      // Adam adds the decay to the gradient; AdamW shrinks the parameter before the update.
      const C grad_decay = step.decoupled ? C(0) : static_cast<C>(step.weight_decay);
      const C shrink = static_cast<C>(step.decoupled ? 1.0 - step.lr * step.weight_decay : 1.0);
      C* exp_avg = state_data<C>(range, 0) + i;
      C* exp_avg_sq = state_data<C>(range, 1) + i;
      C* max_exp_avg_sq = amsgrad ? state_data<C>(range, 2) + i : nullptr;
      _Pragma("omp simd") for (int64_t j = 0; j < n; ++j) {
        C d = g[j] + grad_decay * p[j];
        C param = p[j] * shrink;
        C m = beta1 * exp_avg[j] + one_minus_beta1 * d;
        C v = beta2 * exp_avg_sq[j] + one_minus_beta2 * d * d;
        exp_avg[j] = m;
        exp_avg_sq[j] = v;
        if constexpr (decltype(amsgrad)::value) {
          v = std::max(max_exp_avg_sq[j], v);
          max_exp_avg_sq[j] = v;
        }
        C denom = std::sqrt(v) / bias_correction2_sqrt + eps;
        p[j] = param - step_size * (m / denom);
      }
    });
  });
}

}  // namespace strata::cpu::STRATA_ISA
