// ZeRO-3 parameter partitioning under mpirun, without the engine: forward and backward of models
// whose parameters are partitioned (gathered and released by module hooks) against the same
// models unpartitioned, on every rank: the losses and every parameter's gradient match bit for bit
// (the same computation on the same gathered values). Tied weights (GPT's head), a parameter
// unused in some passes, prefetch over the trace under a live limit, evaluation and generate(),
// the gathered state_dict, and partitioned construction (Stage3Init): the same initial values,
// with a construction peak far below the model.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "parallel/mpi_process_group.hpp"
#include "strata.hpp"
#include "zero/stage3_init.hpp"
#include "zero/stage3_parameters.hpp"

using namespace strata;

namespace {

std::shared_ptr<dist::ProcessGroup> world() {
  static std::shared_ptr<dist::ProcessGroup> group = dist::MpiProcessGroup::create_world();
  return group;
}

constexpr int64_t kVocab = 16, kContext = 8;

std::shared_ptr<nn::GPT> make_gpt(int64_t layers = 2) {
  manual_seed(7);
  return std::make_shared<nn::GPT>(nn::GPTConfig{.vocab_size = kVocab,
                                                 .block_size = kContext,
                                                 .n_layer = layers,
                                                 .n_head = 2,
                                                 .n_embd = 16,
                                                 .dropout = 0.0});
}

// Units as the engine cuts them for stage 3: one per module (and persistent ones for the
// parameters below the threshold), no flat parameters, gradients left in .grad.
std::unique_ptr<zero::Stage3Parameters> partition(nn::Module& model, int64_t threshold = 0,
                                                  zero::Stage3ScheduleOptions schedule = {}) {
  const std::vector<Tensor> parameters = model.parameters();
  zero::FlatParameters flat(parameters,
                            {.world = world()->size(),
                             .alignment = zero::kSliceAlignment,
                             .unit_starts = zero::stage3_unit_starts(model, parameters, threshold)},
                            /*flat_gradients=*/false, /*flat_params=*/false);
  return std::make_unique<zero::Stage3Parameters>(
      model, flat, world(),
      zero::Stage3Options{.schedule = schedule, .persistence_threshold = threshold});
}

// Token windows, the same on every rank.
std::pair<Tensor, Tensor> tokens(uint64_t seed) {
  Generator gen(seed);
  Tensor t = randint(0, kVocab, {4, kContext + 1}, DType::i64, gen);
  return {t.narrow(1, 0, kContext).contiguous(), t.narrow(1, 1, kContext).contiguous()};
}

Tensor gpt_loss(nn::Module& model, uint64_t seed) {
  auto [inputs, targets] = tokens(seed);
  return nn::functional::cross_entropy(model(inputs).flatten(0, 1), targets.flatten());
}

// The gradients of every parameter, in order (cloned: the next backward accumulates).
std::vector<Tensor> grads_of(nn::Module& model) {
  std::vector<Tensor> grads;
  for (const Tensor& p : model.parameters()) {
    grads.push_back(p.grad().defined() ? p.grad().clone() : Tensor());
    p.set_grad(Tensor());
  }
  return grads;
}

void check_same(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].defined() == b[i].defined());
    if (a[i].defined()) CHECK(a[i].to_vector<float>() == b[i].to_vector<float>());
  }
}

TEST_CASE("a partitioned GPT (tied head) computes the same losses and gradients") {
  for (int64_t threshold : {0, 64}) {
    CAPTURE(threshold);
    auto reference = make_gpt();
    auto model = make_gpt();
    auto params = partition(*model, threshold);
    CHECK(params->gathered_numel() < model->num_parameters());
    // Between passes only persistent units are gathered; a released parameter is never read.
    if (threshold == 0) {
      CHECK(params->gathered_numel() == 0);
      CHECK_THROWS_WITH_AS(model->wte->weight.to_vector<float>(),
                           doctest::Contains("released memory"), Error);
    }
    for (uint64_t pass = 0; pass < 3; ++pass) {
      Tensor expected = gpt_loss(*reference, pass);
      expected.backward();
      Tensor loss = gpt_loss(*model, pass);
      loss.backward();
      params->end_pass();
      CHECK(loss.item<float>() == expected.item<float>());
      check_same(grads_of(*model), grads_of(*reference));
    }
    if (threshold == 0) CHECK(params->gathered_numel() == 0);
    CHECK(params->schedule().prefetched_units() > 0);  // the traced passes gathered ahead

    // Evaluation and generation work on every rank, through the same hooks.
    {
      autograd::NoGradGuard no_grad;
      auto [inputs, targets] = tokens(9);
      CHECK((*model)(inputs).to_vector<float>() == (*reference)(inputs).to_vector<float>());
    }
    Generator a(3), b(3);
    Tensor prompt = tokens(4).first.narrow(1, 0, 2);
    CHECK(model->generate(prompt, 5, 1.0, 0, a).to_vector<int64_t>() ==
          reference->generate(prompt, 5, 1.0, 0, b).to_vector<int64_t>());

    // The gathered state_dict is the reference's.
    nn::OrderedDict<Tensor> full = params->full_state_dict(*model);
    nn::OrderedDict<Tensor> expected = reference->state_dict();
    REQUIRE(full.size() == expected.size());
    for (auto& [name, tensor] : expected) {
      CAPTURE(name);
      CHECK(full[name].to_vector<float>() == tensor.to_vector<float>());
    }
  }
}

// A parameter used only when `use_extra` is set (unused in some passes), and a module called
// twice in the passes with `twice`.
struct Sometimes : nn::Module {
  Sometimes() : Module("Sometimes") {
    manual_seed(3);
    first = register_module("first", std::make_shared<nn::Linear>(6, 6));
    second = register_module("second", std::make_shared<nn::Linear>(6, 2));
    extra = register_parameter("extra", randn({6}));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = (*first)(x);
    if (twice) h = (*first)(tanh(h));  // one module called twice in a forward
    if (use_extra) h = h * extra;
    return (*second)(h);
  }
  std::shared_ptr<nn::Linear> first, second;
  Tensor extra;
  bool use_extra = false, twice = false;
};

TEST_CASE("a parameter unused in some passes, a module called twice, and a live limit") {
  Sometimes reference, model;
  // At most one Linear's unit (plus the next in flight) at a time.
  auto params =
      partition(model, 0, {.prefetch_numel = 64, .max_live_numel = 64, .max_reuse_distance = 0});
  Generator gen(5);
  for (int pass = 0; pass < 6; ++pass) {
    CAPTURE(pass);
    reference.use_extra = model.use_extra = pass % 3 == 1;
    reference.twice = model.twice = pass % 2 == 0;
    Tensor x = randn({3, 6}, DType::f32, gen);
    Tensor y = reference(x);
    Tensor expected = sum(y * y);
    expected.backward();
    Tensor z = model(x);
    Tensor loss = sum(z * z);
    loss.backward();
    params->end_pass();
    CHECK(loss.item<float>() == expected.item<float>());
    check_same(grads_of(model), grads_of(reference));
  }
  CHECK(params->peak_gathered_numel() <= 64 + 16 * world()->size());
  CHECK(params->gathered_numel() == 0);
}

TEST_CASE("partitioned construction: the same initial values, never the whole model") {
  const int64_t layers = 8;
  auto reference = make_gpt(layers);
  const int64_t model_bytes = reference->num_parameters() * 4;

  empty_cache();
  const size_t before = memory_stats().current_bytes;
  reset_peak_memory_stats();
  std::shared_ptr<nn::GPT> model;
  {
    zero::Stage3Init init(world());
    manual_seed(7);
    model = std::make_shared<nn::GPT>(nn::GPTConfig{.vocab_size = kVocab,
                                                    .block_size = kContext,
                                                    .n_layer = layers,
                                                    .n_head = 2,
                                                    .n_embd = 16,
                                                    .dropout = 0.0});
  }
  const size_t peak = memory_stats().peak_bytes - before;
  const size_t held = memory_stats().current_bytes - before;
  MESSAGE("construction peak ", peak, " bytes, held ", held, " of a ", model_bytes,
          "-byte model at world ", world()->size());
  CHECK(zero::is_stage3_init_partitioned(model->h->children()[0]->parameters()[0]) == true);
  CHECK(held < static_cast<size_t>(model_bytes) / world()->size() + 16384);
  // Above the partitions it ends with, construction holds one block and its initialisation's
  // temporaries at a time: a small part of the model.
  CHECK(peak < held + static_cast<size_t>(model_bytes) / 4);

  auto params = partition(*model);
  nn::OrderedDict<Tensor> full = params->full_state_dict(*model);
  for (auto& [name, tensor] : reference->state_dict()) {
    CAPTURE(name);
    CHECK(full[name].to_vector<float>() == tensor.to_vector<float>());
  }
  Tensor expected = gpt_loss(*reference, 1);
  expected.backward();
  Tensor loss = gpt_loss(*model, 1);
  loss.backward();
  params->end_pass();
  CHECK(loss.item<float>() == expected.item<float>());
  check_same(grads_of(*model), grads_of(*reference));
}

}  // namespace
