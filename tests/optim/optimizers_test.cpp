// Every optimizer against reference values from libtorch (torch::optim) and DeepSpeed's FusedLamb
// formulas (tools/optim_reference), on separate parameters and on a flat group; the fused path
// equals the per-tensor path bit for bit, at every size and thread count; option errors.
#include <doctest/doctest.h>

#include <cmath>

#include "optim_test_support.hpp"
#include "reference_data.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

using optim_test::flatten;
using optim_test::make_optimizer;
using optim_test::make_params;
using optim_test::same_bits;
using optim_test::set_grads;

// f32 against libtorch's f32 (which contracts some products into FMAs) or an f64 reference.
void check_close(const std::vector<float>& got, const std::vector<float>& expected,
                 const std::string& what) {
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO(what, ", element ", i);
    CHECK(std::abs(got[i] - expected[i]) <= 2e-6 * (1 + std::abs(expected[i])));
  }
}

TEST_CASE("each optimizer matches the reference after every step, per tensor and fused") {
  for (const optim_reference::Run& run : optim_reference::kRuns) {
    std::vector<Tensor> separate = make_params(false);
    std::vector<Tensor> flat = make_params(true);
    auto per_tensor = make_optimizer(run.name, separate);
    auto fused = make_optimizer(run.name, flat);
    CHECK_FALSE(per_tensor->fused(0));
    CHECK(fused->fused(0));
    for (int step = 1; step <= optim_reference::kSteps; ++step) {
      set_grads(separate, step);
      set_grads(flat, step);
      per_tensor->step();
      fused->step();
      const std::string what = std::string(run.name) + " step " + std::to_string(step);
      check_close(flatten(separate), run.after_step[step - 1], what);
      INFO(what);
      CHECK(same_bits(flatten(flat), flatten(separate)));
    }
    CHECK(fused->fused(0));
  }
}

// Parameters large enough for several threads and several LAMB norm blocks, with odd sizes.
std::vector<Tensor> large_params(bool flat, DType dtype) {
  const std::vector<Shape> shapes = {{257, 301}, {1}, {9000}, {3, 7, 11}};
  int64_t total = 0;
  for (const Shape& s : shapes) total += shape_numel(s);
  Generator gen(7);
  Tensor values = randn({total}, DType::f32, gen);
  Tensor grads = randn({total}, DType::f32, gen);
  Tensor value_buffer = values.to(dtype);
  Tensor grad_buffer = grads.to(dtype);
  std::vector<Tensor> params;
  int64_t offset = 0;
  for (const Shape& s : shapes) {
    int64_t n = shape_numel(s);
    Tensor p = value_buffer.narrow(0, offset, n).view(s);
    Tensor g = grad_buffer.narrow(0, offset, n).view(s);
    if (!flat) {
      p = p.clone();
      g = g.clone();
    }
    p.requires_grad_();
    p.set_grad(g);
    params.push_back(p);
    offset += n;
  }
  return params;
}

TEST_CASE("fused equals per tensor bit for bit on large groups, at any thread count") {
  const int threads = get_num_threads();
  for (const char* name :
       {"adam_decay_amsgrad", "lamb", "lamb_max_coeff", "sgd_nesterov_decay", "adagrad", "adamw"}) {
    for (DType dtype : {DType::f32, DType::bf16}) {
      INFO(name, " ", dtype_name(dtype));
      std::vector<Tensor> separate = large_params(false, dtype);
      std::vector<Tensor> flat = large_params(true, dtype);
      std::vector<Tensor> one_thread = large_params(true, dtype);
      auto per_tensor = make_optimizer(name, separate);
      auto fused = make_optimizer(name, flat);
      auto serial = make_optimizer(name, one_thread);
      CHECK(fused->fused(0));
      for (int step = 0; step < 3; ++step) {
        per_tensor->step();
        fused->step();
        set_num_threads(1);
        serial->step();
        set_num_threads(threads);
      }
      CHECK(same_bits(flatten(flat), flatten(separate)));
      CHECK(same_bits(flatten(one_thread), flatten(flat)));
    }
  }
}

TEST_CASE("parameters without a gradient are skipped; a strided parameter is updated in place") {
  Tensor a = ones({2, 3}).requires_grad_();
  Tensor b = ones({3});
  b.requires_grad_();
  Tensor base = ones({3, 2});
  Tensor c = base.t();  // strided view [2, 3]
  c.requires_grad_();
  optim::SGD sgd({a, b, c}, {.lr = 0.5});
  a.set_grad(full({2, 3}, 2.0));
  c.set_grad(from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  sgd.step();
  CHECK(a.to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(b.to_vector<float>() == std::vector<float>(3, 1.0f));
  CHECK(c.to_vector<float>() == std::vector<float>{0.5f, 0.0f, -0.5f, -1.0f, -1.5f, -2.0f});
  CHECK(base.to_vector<float>() == std::vector<float>{0.5f, -1.0f, 0.0f, -1.5f, -0.5f, -2.0f});
}

TEST_CASE("parameter groups have their own options; zero_grad") {
  std::vector<Tensor> first = make_params(false);
  Tensor extra = ones({4}).requires_grad_();
  optim::Adam adam(first, {.lr = 0.1});
  optim::ParamGroup& group = adam.add_param_group({extra});
  CHECK(group.options.lr == 0.1);
  group.options.lr = 0.0;  // frozen
  adam.param_groups()[0].options.lr = 0.01;
  set_grads(first, 1);
  extra.set_grad(ones({4}));
  adam.step();
  CHECK(extra.to_vector<float>() == std::vector<float>(4, 1.0f));
  CHECK(adam.param_groups().size() == 2);

  adam.zero_grad(/*set_to_none=*/false);
  CHECK(extra.grad().to_vector<float>() == std::vector<float>(4, 0.0f));
  adam.zero_grad();
  CHECK_FALSE(extra.grad().defined());
  CHECK_FALSE(first[0].grad().defined());

  // zero_grad(false) keeps flat gradients as views of their buffer.
  std::vector<Tensor> flat = make_params(true);
  optim::SGD sgd(flat, {.lr = 0.1});
  set_grads(flat, 1);
  sgd.zero_grad(false);
  CHECK(sgd.fused(0));
  CHECK(flatten({flat[0].grad(), flat[1].grad(), flat[2].grad()}) ==
        std::vector<float>(optim_test::reference_numel(), 0.0f));
}

TEST_CASE("invalid options and parameters are errors that name them") {
  Tensor p = ones({2}).requires_grad_();
  CHECK(test::contains(test::error_of([&] { optim::SGD sgd({p}, {}); }),
                       "SGD has no default learning rate"));
  CHECK(test::contains(
      test::error_of([&] { optim::SGD sgd({p}, {.lr = 0.1, .dampening = 0.5, .nesterov = true}); }),
      "nesterov needs momentum > 0 and dampening 0"));
  CHECK(test::contains(test::error_of([&] {
                         optim::Adam adam({p}, {.betas = {0.9, 1.0}});
                       }),
                       "Adam: betas[1] must be in [0, 1), got 1"));
  CHECK(test::contains(test::error_of([&] { optim::AdamW adamw({p}, {.lr = -1}); }),
                       "AdamW: lr must be >= 0, got -1"));
  CHECK(test::contains(
      test::error_of([&] { optim::Lamb lamb({p}, {.max_coeff = 0.1, .min_coeff = 0.2}); }),
      "min_coeff <= max_coeff"));
  CHECK(test::contains(test::error_of([&] {
                         optim::Adam adam({p, p}, {});
                       }),
                       "is already optimized"));
  Tensor integer = zeros({2}, DType::i64);
  CHECK(test::contains(test::error_of([&] { optim::Adagrad adagrad({integer}, {}); }),
                       "Adagrad: parameter 0 of the new group has dtype i64"));
}

TEST_CASE("AdamW's default weight decay is PyTorch's, Adam's is 0") {
  Tensor p = ones({1}).requires_grad_();
  CHECK(optim::AdamW({p}, {}).defaults().weight_decay == 1e-2);
  CHECK(optim::Adam({p}, {}).defaults().weight_decay == 0.0);
  CHECK(optim::Adagrad({p}, {}).defaults().eps == 1e-10);
}

}  // namespace
}  // namespace strata
