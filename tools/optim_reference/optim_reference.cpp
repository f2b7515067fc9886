// The libtorch cross-check of Strata's optimizers: runs torch::optim's SGD, Adam, AdamW and
// Adagrad (libtorch 1.13, whose C++ optimizers follow torch.optim's formulas) and DeepSpeed's
// FusedLamb formulas (written here with f64 torch ops; PyTorch has no LAMB) for a few steps on the
// inputs of tests/optim/reference_inputs.hpp, and writes every parameter after every step as a
// C++ header of reference values for tests/optim. How to rerun:
// tools/optim_reference/CMakeLists.txt.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "reference_inputs.hpp"

namespace ref = strata::optim_reference;
using Params = std::vector<torch::Tensor>;

namespace {

Params initial_params(torch::Dtype dtype) {
  Params params;
  for (int k = 0; k < static_cast<int>(ref::kShapes.size()); ++k) {
    torch::Tensor p = torch::empty(ref::kShapes[k], torch::kFloat32);
    float* data = p.data_ptr<float>();
    for (int64_t i = 0; i < p.numel(); ++i) data[i] = ref::initial_value(k, i);
    params.push_back(p.to(dtype).requires_grad_());
  }
  return params;
}

torch::Tensor grad_of(int k, const torch::Tensor& param, int step) {
  torch::Tensor g = torch::empty(param.sizes(), torch::kFloat32);
  float* data = g.data_ptr<float>();
  for (int64_t i = 0; i < g.numel(); ++i) data[i] = ref::grad_value(k, i, step);
  return g.to(param.scalar_type());
}

std::vector<float> flatten(const Params& params) {
  std::vector<float> values;
  for (const torch::Tensor& p : params) {
    torch::Tensor f = p.detach().to(torch::kFloat32).contiguous();
    values.insert(values.end(), f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  }
  return values;
}

using Run = std::vector<std::vector<float>>;  // all parameters after each step

Run run_torch(const std::function<std::unique_ptr<torch::optim::Optimizer>(Params)>& make) {
  Params params = initial_params(torch::kFloat32);
  std::unique_ptr<torch::optim::Optimizer> optimizer = make(params);
  Run run;
  for (int step = 1; step <= ref::kSteps; ++step) {
    for (int k = 0; k < static_cast<int>(params.size()); ++k)
      params[k].mutable_grad() = grad_of(k, params[k], step);
    optimizer->step();
    run.push_back(flatten(params));
  }
  return run;
}

struct LambConfig {
  double lr, beta1, beta2, eps, weight_decay, max_coeff, min_coeff;
  bool bias_correction;
};

// DeepSpeed's FusedLamb (csrc/lamb/fused_lamb_cuda_kernel.cu) per parameter, in f64.
Run run_lamb(const LambConfig& c) {
  Params params = initial_params(torch::kFloat64);
  Params m, v;
  for (const torch::Tensor& p : params) {
    m.push_back(torch::zeros_like(p).detach());
    v.push_back(torch::zeros_like(p).detach());
  }
  Run run;
  torch::NoGradGuard no_grad;
  for (int step = 1; step <= ref::kSteps; ++step) {
    double step_size = c.lr;
    if (c.bias_correction)
      step_size = c.lr * std::sqrt(1 - std::pow(c.beta2, step)) / (1 - std::pow(c.beta1, step));
    for (int k = 0; k < static_cast<int>(params.size()); ++k) {
      torch::Tensor g = grad_of(k, params[k], step);
      m[k] = c.beta1 * m[k] + (1 - c.beta1) * g;
      v[k] = c.beta2 * v[k] + (1 - c.beta2) * g * g;
      torch::Tensor update = m[k] / (v[k].sqrt() + c.eps) + c.weight_decay * params[k];
      double w_norm = params[k].norm().item<double>();
      double u_norm = update.norm().item<double>();
      double ratio = 1.0;
      if (w_norm != 0 && u_norm != 0)
        ratio = std::min(std::max(w_norm / u_norm, c.min_coeff), c.max_coeff);
      params[k].sub_(step_size * ratio * update);
    }
    run.push_back(flatten(params));
  }
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT.hpp\n", argv[0]);
    return 2;
  }
  using namespace torch::optim;
  std::vector<std::pair<std::string, Run>> runs;
  auto torch_run = [&](const char* name, auto make) { runs.emplace_back(name, run_torch(make)); };
  torch_run("sgd", [](Params p) { return std::make_unique<SGD>(p, SGDOptions(0.1)); });
  torch_run("sgd_momentum_dampening_decay", [](Params p) {
    return std::make_unique<SGD>(p,
                                 SGDOptions(0.05).momentum(0.9).dampening(0.1).weight_decay(0.01));
  });
  torch_run("sgd_nesterov_decay", [](Params p) {
    return std::make_unique<SGD>(p,
                                 SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(0.01));
  });
  torch_run("adam", [](Params p) { return std::make_unique<Adam>(p, AdamOptions(0.01)); });
  torch_run("adam_decay_amsgrad", [](Params p) {
    return std::make_unique<Adam>(
        p, AdamOptions(0.01).betas(std::make_tuple(0.8, 0.95)).weight_decay(0.05).amsgrad(true));
  });
  torch_run("adamw", [](Params p) {
    return std::make_unique<AdamW>(p, AdamWOptions(0.01).weight_decay(0.1));
  });
  torch_run("adamw_amsgrad_eps", [](Params p) {
    return std::make_unique<AdamW>(p, AdamWOptions(0.01).weight_decay(0.1).eps(1e-3).amsgrad(true));
  });
  torch_run("adagrad", [](Params p) {
    return std::make_unique<Adagrad>(
        p, AdagradOptions(0.1).lr_decay(0.01).weight_decay(0.02).initial_accumulator_value(0.1));
  });
  runs.emplace_back("lamb", run_lamb({0.01, 0.9, 0.999, 1e-8, 0.01, 10.0, 0.01, true}));
  runs.emplace_back("lamb_max_coeff", run_lamb({0.01, 0.9, 0.999, 1e-8, 0.0, 0.3, 0.01, true}));
  runs.emplace_back("lamb_min_coeff_no_bias_correction",
                    run_lamb({0.01, 0.8, 0.99, 1e-6, 0.1, 10.0, 0.9, false}));

  FILE* out = std::fopen(argv[1], "w");
  if (!out) {
    std::perror(argv[1]);
    return 1;
  }
  std::fprintf(
      out,
      "// Generated by tools/optim_reference from libtorch %d.%d (torch::optim) and DeepSpeed's\n"
      "// FusedLamb formulas: every parameter (flattened, in order) after each step of the runs "
      "on\n"
      "// tests/optim/reference_inputs.hpp. Do not edit; rerun the tool.\n"
      "#pragma once\n\n#include <vector>\n\nnamespace strata::optim_reference {\n\n"
      "struct Run {\n  const char* name;\n  std::vector<std::vector<float>> after_step;\n};\n\n"
      "inline const std::vector<Run> kRuns = {\n",
      TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR);
  for (const auto& [name, run] : runs) {
    std::fprintf(out, "    {\"%s\",\n     {\n", name.c_str());
    for (const std::vector<float>& values : run) {
      std::fprintf(out, "         {");
      for (size_t i = 0; i < values.size(); ++i)
        std::fprintf(out, "%s%.9gf", i ? ", " : "", values[i]);
      std::fprintf(out, "},\n");
    }
    std::fprintf(out, "     }},\n");
  }
  std::fprintf(out, "};\n\n}  // namespace strata::optim_reference\n");
  std::fclose(out);
  return 0;
}
