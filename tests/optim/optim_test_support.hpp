// Shared by the optim tests: the reference parameters (tests/optim/reference_inputs.hpp) as
// separate tensors or as views of one flat buffer, their gradients per step, and the optimizer of
// each reference run (tests/optim/reference_data.hpp) by name.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "reference_inputs.hpp"
#include "strata.hpp"

namespace strata::optim_test {

namespace ref = optim_reference;

inline int64_t reference_numel() {
  int64_t n = 0;
  for (const Shape& s : ref::kShapes) n += shape_numel(s);
  return n;
}

inline std::vector<float> reference_values(int k, int step) {
  std::vector<float> values(shape_numel(ref::kShapes[k]));
  for (int64_t i = 0; i < static_cast<int64_t>(values.size()); ++i)
    values[i] = step == 0 ? ref::initial_value(k, i) : ref::grad_value(k, i, step);
  return values;
}

// The reference parameters in `dtype` on `device`: separate tensors, or adjacent views of one flat
// buffer whose gradients are adjacent views of a second flat buffer of grad_dtype (the engine's
// layout).
inline std::vector<Tensor> make_params(bool flat, DType dtype = DType::f32,
                                       DType grad_dtype = DType::f32,
                                       Device device = Device::cpu()) {
  std::vector<Tensor> params;
  Tensor values_buffer = flat ? zeros({reference_numel()}, {dtype, device}) : Tensor();
  Tensor grad_buffer = flat ? zeros({reference_numel()}, {grad_dtype, device}) : Tensor();
  int64_t offset = 0;
  for (int k = 0; k < static_cast<int>(ref::kShapes.size()); ++k) {
    const Shape& shape = ref::kShapes[k];
    Tensor initial = from_vector(reference_values(k, 0), shape).to(dtype);
    Tensor p = flat ? values_buffer.narrow(0, offset, shape_numel(shape)).view(shape)
                    : empty(shape, {dtype, device});
    p.copy_(initial);
    p.requires_grad_();
    if (flat) p.set_grad(grad_buffer.narrow(0, offset, shape_numel(shape)).view(shape));
    offset += shape_numel(shape);
    params.push_back(p);
  }
  return params;
}

// Writes the gradients of `step` (into the existing .grad, so flat gradients stay flat).
inline void set_grads(const std::vector<Tensor>& params, int step, DType grad_dtype = DType::f32) {
  for (int k = 0; k < static_cast<int>(params.size()); ++k) {
    Tensor g = from_vector(reference_values(k, step), params[k].shape())
                   .to({grad_dtype, params[k].device()});
    if (params[k].grad().defined())
      params[k].grad().copy_(g);
    else
      params[k].set_grad(g);
  }
}

inline std::vector<float> flatten(const std::vector<Tensor>& tensors) {
  std::vector<float> values;
  for (const Tensor& t : tensors) {
    std::vector<float> v = t.to_vector<float>();
    values.insert(values.end(), v.begin(), v.end());
  }
  return values;
}

// The f32 master copies of the first `count` parameters, in parameter order, from the state dict.
inline std::vector<float> masters(const optim::Optimizer& optimizer, size_t count) {
  optim::StateDict state = optimizer.state_dict();
  std::vector<Tensor> tensors;
  for (size_t i = 0; i < count; ++i) {
    const Tensor& master = state.tensors.at("state." + std::to_string(i) + ".master");
    STRATA_CHECK(master.dtype() == DType::f32, "master copy ", i, " is ",
                 dtype_name(master.dtype()), ", expected f32");
    tensors.push_back(master);
  }
  return flatten(tensors);
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The optimizer of reference run `name`, with the options tools/optim_reference gives libtorch.
inline std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name,
                                                        std::vector<Tensor> params) {
  using namespace optim;
  if (name == "sgd") return std::make_unique<SGD>(params, SGDOptions{.lr = 0.1});
  if (name == "sgd_momentum_dampening_decay")
    return std::make_unique<SGD>(
        params, SGDOptions{.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
  if (name == "sgd_nesterov_decay")
    return std::make_unique<SGD>(
        params, SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  if (name == "adam") return std::make_unique<Adam>(params, AdamOptions{.lr = 0.01});
  if (name == "adam_decay_amsgrad")
    return std::make_unique<Adam>(
        params,
        AdamOptions{.lr = 0.01, .betas = {0.8, 0.95}, .weight_decay = 0.05, .amsgrad = true});
  if (name == "adamw")
    return std::make_unique<AdamW>(params, AdamWOptions{.lr = 0.01, .weight_decay = 0.1});
  if (name == "adamw_amsgrad_eps")
    return std::make_unique<AdamW>(
        params, AdamWOptions{.lr = 0.01, .eps = 1e-3, .weight_decay = 0.1, .amsgrad = true});
  if (name == "adagrad")
    return std::make_unique<Adagrad>(
        params,
        AdagradOptions{
            .lr = 0.1, .lr_decay = 0.01, .weight_decay = 0.02, .initial_accumulator_value = 0.1});
  if (name == "lamb")
    return std::make_unique<Lamb>(params, LambOptions{.lr = 0.01, .weight_decay = 0.01});
  if (name == "lamb_max_coeff")
    return std::make_unique<Lamb>(params, LambOptions{.lr = 0.01, .max_coeff = 0.3});
  if (name == "lamb_min_coeff_no_bias_correction")
    return std::make_unique<Lamb>(params, LambOptions{.lr = 0.01,
                                                      .betas = {0.8, 0.99},
                                                      .eps = 1e-6,
                                                      .weight_decay = 0.1,
                                                      .bias_correction = false,
                                                      .min_coeff = 0.9});
  fail("make_optimizer: no reference run named ", name);
}

}  // namespace strata::optim_test
