// Optimizer state dicts: a run interrupted, saved and loaded into a fresh optimizer continues
// exactly as the uninterrupted run; mismatched states are errors that name every key.
#include <doctest/doctest.h>

#include "optim_test_support.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

using optim_test::flatten;
using optim_test::make_optimizer;
using optim_test::make_params;
using optim_test::same_bits;
using optim_test::set_grads;

TEST_CASE("state_dict round trip: continuing after a load equals the uninterrupted run") {
  struct Case {
    const char* name;
    DType dtype;
    bool flat;
  };
  for (const Case& c :
       {Case{"adam_decay_amsgrad", DType::f32, true}, Case{"sgd_nesterov_decay", DType::f32, false},
        Case{"lamb", DType::bf16, true}, Case{"adagrad", DType::f16, false},
        Case{"adamw", DType::bf16, false}}) {
    INFO(c.name, " ", dtype_name(c.dtype), c.flat ? " flat" : " separate");
    std::vector<Tensor> whole = make_params(c.flat, c.dtype, c.dtype);
    auto uninterrupted = make_optimizer(c.name, whole);
    std::vector<Tensor> first = make_params(c.flat, c.dtype, c.dtype);
    auto before = make_optimizer(c.name, first);
    for (int step = 1; step <= 3; ++step) {
      set_grads(whole, step, c.dtype);
      set_grads(first, step, c.dtype);
      uninterrupted->step();
      before->step();
    }
    optim::StateDict state = before->state_dict();
    CHECK(state.scalars.at("state.0.step") == 3);
    CHECK(state.scalars.at("param_groups.0.size") == 3);

    // A fresh optimizer over fresh parameters holding the saved values (as a checkpoint loads).
    std::vector<Tensor> second = make_params(c.flat, c.dtype, c.dtype);
    for (size_t i = 0; i < second.size(); ++i) {
      autograd::NoGradGuard no_grad;
      second[i].copy_(first[i]);
    }
    auto after = make_optimizer(c.name, second);
    after->param_groups()[0].options.lr = 123;  // replaced by the saved lr
    after->load_state_dict(state);
    CHECK(after->param_groups()[0].options.lr == before->param_groups()[0].options.lr);
    for (int step = 4; step <= optim_reference::kSteps; ++step) {
      set_grads(whole, step, c.dtype);
      set_grads(second, step, c.dtype);
      uninterrupted->step();
      after->step();
    }
    CHECK(after->fused(0) == c.flat);
    CHECK(same_bits(flatten(second), flatten(whole)));
  }
}

TEST_CASE("a state dict is a snapshot, and one saved before any step loads as a fresh state") {
  std::vector<Tensor> params = make_params(false);
  auto adam = make_optimizer("adam", params);
  optim::StateDict fresh = adam->state_dict();
  CHECK(fresh.tensors.empty());
  set_grads(params, 1);
  adam->step();
  optim::StateDict saved = adam->state_dict();
  std::vector<float> exp_avg = saved.tensors.at("state.2.exp_avg").to_vector<float>();
  adam->step();
  CHECK(saved.tensors.at("state.2.exp_avg").to_vector<float>() == exp_avg);
  adam->load_state_dict(fresh);
  CHECK(adam->state_dict().tensors.empty());
}

TEST_CASE("loading a state that does not fit names what differs") {
  std::vector<Tensor> params = make_params(false);
  auto adam = make_optimizer("adam", params);
  set_grads(params, 1);
  adam->step();
  const optim::StateDict good = adam->state_dict();

  Tensor extra = ones({2}).requires_grad_();
  optim::Adam two_groups(make_params(false), {});
  two_groups.add_param_group({extra});
  CHECK(
      test::contains(test::error_of([&] { two_groups.load_state_dict(good); }),
                     "Adam::load_state_dict: the state has 1 parameter groups, this optimizer 2"));

  optim::Adam fewer({params[0], params[1]}, {});
  CHECK(test::contains(test::error_of([&] { fewer.load_state_dict(good); }),
                       "parameter group 0 has 3 parameters in the state, 2 in this optimizer"));

  optim::StateDict broken = good;
  broken.tensors.erase("state.1.exp_avg_sq");
  broken.tensors["state.2.exp_avg"] = zeros({7});
  broken.scalars["param_groups.0.velocity"] = 1;
  std::string message = test::error_of([&] { adam->load_state_dict(broken); });
  CHECK(test::contains(message, "missing keys: state.1.exp_avg_sq"));
  CHECK(test::contains(message, "unexpected keys: param_groups.0.velocity"));
  CHECK(test::contains(message,
                       "mismatched shapes: state.2.exp_avg has shape [7], its parameter "
                       "[2, 3, 2]"));

  // An SGD state lacks Adam's moments; a 16-bit optimizer's state its master copies.
  auto sgd = make_optimizer("sgd_momentum_dampening_decay", params);
  sgd->step();
  message = test::error_of([&] { adam->load_state_dict(sgd->state_dict()); });
  CHECK(test::contains(message, "missing keys: state.0.exp_avg state.0.exp_avg_sq"));
  CHECK(test::contains(message, "unexpected keys: state.0.momentum_buffer"));
  std::vector<Tensor> half = make_params(false, DType::bf16, DType::bf16);
  auto half_adam = make_optimizer("adam", half);
  CHECK(test::contains(test::error_of([&] { half_adam->load_state_dict(good); }),
                       "missing keys: state.0.master state.1.master state.2.master"));
}

}  // namespace
}  // namespace strata
