// The CUDA optimizer kernels against the CPU kernels: every reference run, f32 and 16-bit
// parameters with f32 masters, separate tensors and the fused flat buffer. Both sides evaluate the
// same expressions in the same order without FMA contraction (and LAMB's norms in the same
// summation order), so parameters and masters agree bit for bit.
#include <doctest/doctest.h>

#include "optim_test_support.hpp"
#include "reference_data.hpp"

namespace strata {
namespace {

using optim_test::flatten;
using optim_test::make_optimizer;
using optim_test::make_params;
using optim_test::masters;
using optim_test::same_bits;
using optim_test::set_grads;

TEST_CASE("every optimizer's CUDA kernel equals its CPU kernel") {
  if (!cuda_is_available()) {
    MESSAGE("no CUDA device: the CUDA optimizer kernels are not checked in this run");
    return;
  }
  const Device gpu = Device::cuda(0);
  for (const optim_reference::Run& run : optim_reference::kRuns) {
    for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
      for (bool flat : {false, true}) {
        INFO(run.name, " ", dtype_name(dtype), flat ? " flat" : " separate");
        std::vector<Tensor> cpu_params = make_params(flat, dtype, dtype);
        std::vector<Tensor> gpu_params = make_params(flat, dtype, dtype, gpu);
        auto cpu_optimizer = make_optimizer(run.name, cpu_params);
        auto gpu_optimizer = make_optimizer(run.name, gpu_params);
        for (int step = 1; step <= optim_reference::kSteps; ++step) {
          set_grads(cpu_params, step, dtype);
          set_grads(gpu_params, step, dtype);
          cpu_optimizer->step();
          gpu_optimizer->step();
          CHECK(same_bits(flatten(cpu_params), flatten(gpu_params)));
          if (dtype != DType::f32) {
            CHECK(same_bits(masters(*cpu_optimizer, cpu_params.size()),
                            masters(*gpu_optimizer, gpu_params.size())));
          }
        }
      }
    }
  }
}

TEST_CASE("LAMB and AdamW on CUDA equal the CPU on segments of several norm blocks") {
  if (!cuda_is_available()) {
    MESSAGE("no CUDA device: the CUDA optimizer kernels are not checked in this run");
    return;
  }
  // Segments longer than LAMB's 4096-element norm block, with ragged ends, and an empty one.
  const std::vector<int64_t> sizes = {9001, 17, 0, 4096, 12345};
  for (const char* name : {"lamb", "lamb_max_coeff", "adamw"}) {
    for (DType dtype : {DType::f32, DType::bf16}) {
      INFO(name, " ", dtype_name(dtype));
      Generator gen(7);
      std::vector<Tensor> cpu_params, gpu_params;
      for (int64_t size : sizes) {
        Tensor initial = randn({size}, {DType::f32}, gen).to(dtype);
        cpu_params.push_back(initial.clone().requires_grad_());
        gpu_params.push_back(initial.to(Device::cuda(0)).requires_grad_());
      }
      auto cpu_optimizer = make_optimizer(name, cpu_params);
      auto gpu_optimizer = make_optimizer(name, gpu_params);
      for (int step = 1; step <= 3; ++step) {
        for (size_t k = 0; k < sizes.size(); ++k) {
          Tensor grad = randn({sizes[k]}, {DType::f32}, gen).to(dtype);
          cpu_params[k].set_grad(grad);
          gpu_params[k].set_grad(grad.to(Device::cuda(0)));
        }
        cpu_optimizer->step();
        gpu_optimizer->step();
        CHECK(same_bits(flatten(cpu_params), flatten(gpu_params)));
      }
    }
  }
}

}  // namespace
}  // namespace strata
