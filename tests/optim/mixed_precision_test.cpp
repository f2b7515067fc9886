// f16/bf16 parameters: the optimizer keeps f32 master copies, updates them exactly as it updates
// f32 parameters, and writes them back rounded to nearest-even.
#include <doctest/doctest.h>

#include "optim_test_support.hpp"

namespace strata {
namespace {

using optim_test::flatten;
using optim_test::make_optimizer;
using optim_test::make_params;
using optim_test::masters;
using optim_test::same_bits;
using optim_test::set_grads;

TEST_CASE("16-bit parameters follow the f32 run through their master copies") {
  // The reference inputs are exact in f16 and bf16, so the master copies see the f32 run's inputs.
  for (const char* name :
       {"adam_decay_amsgrad", "adamw", "sgd_momentum_dampening_decay", "lamb", "adagrad"}) {
    for (DType dtype : {DType::bf16, DType::f16}) {
      for (bool flat : {false, true}) {
        INFO(name, " ", dtype_name(dtype), flat ? " flat" : " separate");
        std::vector<Tensor> reference = make_params(false);
        std::vector<Tensor> params = make_params(flat, dtype, dtype);
        auto reference_optimizer = make_optimizer(name, reference);
        auto optimizer = make_optimizer(name, params);
        CHECK(optimizer->fused(0) == flat);
        for (int step = 1; step <= optim_reference::kSteps; ++step) {
          set_grads(reference, step);
          set_grads(params, step, dtype);
          reference_optimizer->step();
          optimizer->step();
          std::vector<float> master = masters(*optimizer, params.size());
          CHECK(same_bits(master, flatten(reference)));
          // The parameter is its master copy rounded to nearest-even.
          Tensor rounded = from_vector(master).to(dtype).to(DType::f32);
          CHECK(same_bits(flatten(params), rounded.to_vector<float>()));
        }
      }
    }
  }
}

TEST_CASE("updates smaller than a bf16 ulp accumulate in the master copy") {
  Tensor p = ones({4}, DType::bf16).requires_grad_();
  optim::SGD sgd({p}, {.lr = 1e-3});
  for (int step = 0; step < 10; ++step) {
    p.set_grad(ones({4}, DType::bf16));
    sgd.step();
  }
  // Each step moves the master by 1e-3, a quarter of bf16's spacing below 1 (2^-8): updating the
  // bf16 values themselves would round every step back to 1.
  CHECK(p.to_vector<float>() == std::vector<float>(4, static_cast<float>(BFloat16(0.99f))));
  CHECK(std::abs(masters(sgd, 1)[0] - 0.99f) < 1e-6);
}

}  // namespace
}  // namespace strata
