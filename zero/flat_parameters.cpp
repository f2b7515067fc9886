// Flat parameter and gradient buffers (flat_parameters.hpp).
#include "zero/flat_parameters.hpp"

#include "core/autograd_record.hpp"
#include "core/error.hpp"
#include "core/factories.hpp"

namespace strata::zero {

FlatParameters::FlatParameters(const std::vector<Tensor>& parameters) {
  for (size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& p = parameters[i];
    STRATA_CHECK(p.defined() && is_floating(p.dtype()), "FlatParameters: parameter ", i,
                 " must be a defined floating tensor");
    STRATA_CHECK(p.device() == parameters[0].device(), "FlatParameters: parameter ", i, " is on ",
                 p.device().str(), ", parameter 0 on ", parameters[0].device().str(),
                 "; move the model to one device before initialize");
    FlatBuffer* buffer = nullptr;
    for (FlatBuffer& b : buffers_)
      if (b.members[0].dtype() == p.dtype()) buffer = &b;
    if (!buffer) buffer = &buffers_.emplace_back();
    for (const Tensor& m : buffer->members)
      STRATA_CHECK(!m.is_same(p), "FlatParameters: parameter ", i, " (shape ", shape_str(p.shape()),
                   ") is listed twice");
    buffer->begins.push_back(
        buffer->members.empty() ? 0 : buffer->begins.back() + buffer->members.back().numel());
    buffer->members.push_back(p);
  }
  autograd::NoGradGuard no_grad;
  for (FlatBuffer& b : buffers_) {
    const Tensor& first = b.members[0];
    const int64_t n = b.begins.back() + b.members.back().numel();
    b.params = empty({n}, {first.dtype(), first.device()});
    b.grads = zeros({n}, {first.dtype(), first.device()});
    for (size_t i = 0; i < b.members.size(); ++i) {
      const Tensor& p = b.members[i];
      Tensor view = b.params.narrow(0, b.begins[i], p.numel()).view(p.shape());
      view.copy_(p);
      p.set_data(view);
      p.set_grad(b.grads.narrow(0, b.begins[i], p.numel()).view(p.shape()));
    }
  }
}

std::vector<Tensor> FlatParameters::grad_buffers() const {
  std::vector<Tensor> grads;
  for (const FlatBuffer& b : buffers_) grads.push_back(b.grads);
  return grads;
}

std::vector<Tensor> FlatParameters::parameters() const {
  std::vector<Tensor> params;
  for (const FlatBuffer& b : buffers_)
    params.insert(params.end(), b.members.begin(), b.members.end());
  return params;
}

int64_t FlatParameters::numel() const {
  int64_t n = 0;
  for (const FlatBuffer& b : buffers_) n += b.params.numel();
  return n;
}

void FlatParameters::zero_grads() const {
  for (const FlatBuffer& b : buffers_) Tensor(b.grads).fill_(0);
}

void FlatParameters::check_intact() const {
  for (const FlatBuffer& b : buffers_) {
    for (size_t i = 0; i < b.members.size(); ++i) {
      const Tensor& p = b.members[i];
      const Tensor g = p.grad();
      STRATA_CHECK(p.storage().is_same(b.params.storage()) && p.offset() == b.begins[i],
                   "Engine: parameter ", i, " of the ", dtype_name(p.dtype()), " buffer (shape ",
                   shape_str(p.shape()),
                   ") no longer views the engine's flat buffer: do not move or convert the model "
                   "after initialize");
      STRATA_CHECK(
          g.defined() && g.storage().is_same(b.grads.storage()) && g.offset() == b.begins[i],
          "Engine: the .grad of parameter ", i, " of the ", dtype_name(p.dtype()),
          " buffer (shape ", shape_str(p.shape()),
          ") was replaced: the engine zeroes gradients itself; do not call "
          "zero_grad() on the model or optimizer (or call zero_grad(false))");
    }
  }
}

}  // namespace strata::zero
