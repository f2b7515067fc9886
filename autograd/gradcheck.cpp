// gradcheck: analytical gradients of <fn(inputs), v> by one backward, numerical ones by central
// differences element by element.
#include "autograd/gradcheck.hpp"

#include <cmath>
#include <sstream>

#include "autograd/engine.hpp"
#include "core/autograd_record.hpp"
#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "core/reduce.hpp"

namespace strata::autograd {

namespace {

// <fn(inputs), direction> as a double, without recording.
double projected(const DifferentiableFn& fn, const std::vector<Tensor>& inputs,
                 const Tensor& direction) {
  NoGradGuard no_grad;
  Tensor output = fn(inputs);
  return sum(mul(output.to(DType::f64), direction)).item<double>();
}

}  // namespace

GradcheckResult gradcheck(const DifferentiableFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  // Fresh contiguous leaves, so the check neither touches the caller's .grad nor depends on
  // whether fn's inputs were views.
  std::vector<Tensor> leaves;
  for (const Tensor& input : inputs) {
    Tensor leaf = input.detach().contiguous().clone();
    if (input.requires_grad()) leaf.requires_grad_();
    leaves.push_back(leaf);
  }
  Tensor output = fn(leaves);
  STRATA_CHECK(output.requires_grad(), "gradcheck: the function's output does not require grad; ",
               "at least one input must require grad and reach the output");
  Generator generator(options.seed);
  Tensor direction = randn(output.shape(), {DType::f64, output.device()}, generator);
  backward({output}, {direction.to(output.dtype())});

  GradcheckResult result;
  std::ostringstream report;
  for (size_t i = 0; i < leaves.size(); ++i) {
    Tensor& leaf = leaves[i];
    if (!leaf.requires_grad()) continue;
    std::vector<double> analytical = leaf.grad().defined() ? leaf.grad().to_vector<double>()
                                                           : std::vector<double>(leaf.numel(), 0.0);
    std::vector<double> values = leaf.to_vector<double>();
    Tensor flat = leaf.detach().view({-1});
    double worst = -1, worst_analytical = 0, worst_numerical = 0;
    int64_t worst_at = -1;
    for (int64_t j = 0; j < leaf.numel(); ++j) {
      Tensor element = flat.slice(0, j, j + 1);
      element.fill_(values[j] + options.eps);
      double plus = projected(fn, leaves, direction);
      element.fill_(values[j] - options.eps);
      double minus = projected(fn, leaves, direction);
      element.fill_(values[j]);
      double numerical = (plus - minus) / (2 * options.eps);
      double error = std::abs(analytical[j] - numerical);
      result.max_abs_error = std::max(result.max_abs_error, error);
      double allowed = options.atol + options.rtol * std::abs(numerical);
      if (!(error <= allowed) && error - allowed > worst) {
        worst = error - allowed;
        worst_at = j;
        worst_analytical = analytical[j];
        worst_numerical = numerical;
      }
    }
    if (worst_at >= 0) {
      result.ok = false;
      report << "input " << i << " (shape " << shape_str(leaf.shape()) << "): element " << worst_at
             << " has analytical gradient " << worst_analytical << " but finite differences give "
             << worst_numerical << "; ";
    }
  }
  result.message = result.ok ? "ok" : report.str();
  return result;
}

}  // namespace strata::autograd
