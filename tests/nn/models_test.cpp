// The reference models: GPT (size, shapes, loss at init, the tied head's gradient, generation,
// learning), and the image classifiers.
#include <doctest/doctest.h>

#include <cmath>

#include "nn_test_support.hpp"
#include "strata.hpp"
#include "test_support.hpp"

namespace strata::nn {
namespace {

GPTConfig tiny_config() {
  return {.vocab_size = 32, .block_size = 8, .n_layer = 2, .n_head = 2, .n_embd = 16};
}

TEST_CASE("GPT-2 124M has 124,439,808 parameters (the tied head counted once)") {
  manual_seed(0);
  GPT gpt(GPTConfig{});
  CHECK(gpt.num_parameters() == 124'439'808);
  CHECK(gpt.parameters().size() == 2 + 12 * 12 + 2);
  CHECK(gpt.h->size() == 12);
  // GPT-2 initialisation: 0.02 everywhere, 0.02 / sqrt(24) on the residual projections.
  auto block = gpt.h->at<TransformerBlock>(5);
  CHECK(std::sqrt(var(block->attn->c_attn->weight).item<double>()) ==
        doctest::Approx(0.02).epsilon(0.02));
  CHECK(std::sqrt(var(block->mlp->c_proj->weight).item<double>()) ==
        doctest::Approx(0.02 / std::sqrt(24.0)).epsilon(0.02));
  CHECK(std::sqrt(var(block->attn->c_proj->weight).item<double>()) ==
        doctest::Approx(0.02 / std::sqrt(24.0)).epsilon(0.02));
  CHECK(std::sqrt(var(gpt.wpe->weight).item<double>()) == doctest::Approx(0.02).epsilon(0.02));
  CHECK(sum(abs(block->mlp->c_fc->bias)).item<double>() == 0);
  CHECK(mean(block->ln_1->weight).item<double>() == 1);
}

TEST_CASE("GPT names its parameters as GPT-2 does, and prints its tree") {
  GPT gpt(tiny_config());
  auto names = gpt.named_parameters().keys();
  CHECK(names.front() == "wte.weight");
  CHECK(names[1] == "wpe.weight");
  CHECK(names[2] == "h.0.ln_1.weight");
  CHECK(gpt.named_parameters().contains("h.1.attn.c_attn.weight"));
  CHECK(gpt.named_parameters().contains("h.1.mlp.c_proj.bias"));
  CHECK(names.back() == "ln_f.bias");
  CHECK(gpt.named_parameters().at("h.0.attn.c_attn.weight").shape() == Shape{48, 16});
  std::ostringstream out;
  out << gpt;
  CHECK(test::contains(out.str(), "GPT(  # "));
  CHECK(test::contains(out.str(), "(wte): Embedding(32, 16)  # 512 parameters"));
  CHECK(test::contains(out.str(), "(c_attn): Linear(in_features=16, out_features=48, bias=true)"));
}

TEST_CASE("GPT forward: logits [B, T, V]; loss at init is about ln(V)") {
  manual_seed(1);
  GPT gpt(tiny_config());
  Tensor ids = randint(0, 32, {3, 8});
  Tensor logits = gpt(ids);
  CHECK(logits.shape() == Shape{3, 8, 32});
  Tensor targets = randint(0, 32, {3, 8});
  double loss = functional::cross_entropy(logits, targets).item<double>();
  CHECK(loss == doctest::Approx(std::log(32.0)).epsilon(0.03));
  CHECK(gpt(ids.narrow(1, 0, 5)).shape() == Shape{3, 5, 32});
  CHECK(test::contains(test::error_of([&] {
                         gpt(randint(0, 32, {1, 9}));
                       }),
                       "longer than block_size 8"));
  // Causal: the logits at position t do not depend on later tokens.
  Tensor changed = ids.clone();
  changed.narrow(1, 6, 2).fill_(0);
  CHECK(gpt(changed).narrow(1, 0, 6).to_vector<float>() ==
        logits.narrow(1, 0, 6).to_vector<float>());
}

TEST_CASE("the tied weight's gradient receives the embedding's and the head's contributions") {
  manual_seed(2);
  GPT gpt(tiny_config());
  Tensor ids = from_vector<int64_t>({1, 2, 3, 1, 5, 5, 7, 2}, {1, 8});  // tokens 1, 2, 3, 5, 7
  Tensor targets = randint(0, 32, {1, 8});
  auto loss_of = [&] { return functional::cross_entropy(gpt(ids), targets); };

  loss_of().backward();
  Tensor total = gpt.wte->weight.grad().clone();
  gpt.zero_grad();
  // The head's contribution alone: block the gradient that flows into the embedding lookup.
  HookId hook =
      gpt.wte->register_forward_hook([](Module&, const std::vector<Tensor>&, const Tensor& output) {
        autograd::register_hook(output, [](const Tensor& grad) { return zeros_like(grad); });
      });
  loss_of().backward();
  gpt.wte->remove_hook(hook);
  Tensor head = gpt.wte->weight.grad();
  Tensor lookup = total - head;  // [V, C]
  std::vector<double> lookup_rows = sum(abs(lookup), {1}).to_vector<double>();
  std::vector<double> head_rows = sum(abs(head), {1}).to_vector<double>();
  for (int64_t token = 0; token < 32; ++token) {
    bool used = token == 1 || token == 2 || token == 3 || token == 5 || token == 7;
    INFO("token ", token);
    CHECK(head_rows[token] > 0);  // every row of the head gets a gradient
    if (used) {
      CHECK(lookup_rows[token] > 1e-6 * head_rows[token]);
    } else {
      CHECK(lookup_rows[token] == 0);
    }
  }
}

TEST_CASE("generate: deterministic for a seed, greedy with top_k = 1, crops to block_size") {
  manual_seed(3);
  GPT gpt(tiny_config());
  Tensor prompt = from_vector<int64_t>({4, 9, 1, 0, 0, 7}, {2, 3});
  Generator first(42), second(42);
  Tensor a = gpt.generate(prompt, 10, 1.0, 0, first);
  Tensor b = gpt.generate(prompt, 10, 1.0, 0, second);
  CHECK(a.shape() == Shape{2, 13});
  CHECK(a.to_vector<int64_t>() == b.to_vector<int64_t>());
  CHECK(a.narrow(1, 0, 3).to_vector<int64_t>() == prompt.to_vector<int64_t>());
  CHECK(gpt.is_training());  // generate restores the mode
  CHECK_FALSE(a.requires_grad());

  // top_k = 1 is greedy: the argmax of the last position, over the last block_size tokens.
  Generator any(7);
  Tensor greedy = gpt.generate(prompt, 8, 0.8, 1, any);
  gpt.eval();
  Tensor expected = prompt;
  {
    autograd::NoGradGuard no_grad;
    for (int step = 0; step < 8; ++step) {
      const int64_t length = expected.size(1), context = std::min<int64_t>(length, 8);
      Tensor logits = gpt(expected.narrow(1, length - context, context));
      Tensor next = argmax(logits.select(1, context - 1), -1, /*keepdim=*/true);
      expected = cat({expected, next}, 1);
    }
  }
  CHECK(greedy.to_vector<int64_t>() == expected.to_vector<int64_t>());
  CHECK(test::contains(test::error_of([&] { gpt.generate(prompt, 1, 0.0); }), "temperature > 0"));
}

TEST_CASE("a tiny GPT overfits a fixed batch with plain SGD") {
  manual_seed(4);
  GPT gpt(tiny_config());
  Tensor batch = randint(0, 32, {4, 9});
  Tensor inputs = batch.narrow(1, 0, 8), targets = batch.narrow(1, 1, 8);
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    gpt.zero_grad();
    Tensor loss = functional::cross_entropy(gpt(inputs), targets);
    loss.backward();
    (step == 0 ? first : last) = loss.item<double>();
    autograd::NoGradGuard no_grad;
    for (const Tensor& p : gpt.parameters()) sub_(p, p.grad() * 0.5);
  }
  MESSAGE("loss ", first, " -> ", last);
  CHECK(first == doctest::Approx(std::log(32.0)).epsilon(0.03));
  CHECK(last < 0.5 * first);
}

TEST_CASE("the fused classifier gives a GPT the unfused loss and gradients exactly") {
  manual_seed(5);
  GPT gpt(tiny_config());
  Tensor batch = randint(0, 32, {3, 9});
  Tensor inputs = batch.narrow(1, 0, 8), targets = batch.narrow(1, 1, 8);
  auto loss_and_grads = [&](bool fused) {
    gpt.zero_grad();
    Tensor loss = functional::cross_entropy(gpt(inputs), targets, {.gradient_into_logits = fused});
    loss.backward();
    std::vector<std::vector<float>> grads = {loss.to_vector<float>()};
    for (const Tensor& p : gpt.parameters()) grads.push_back(p.grad().to_vector<float>());
    return grads;
  };
  std::vector<std::vector<float>> unfused = loss_and_grads(false), fused = loss_and_grads(true);
  REQUIRE(fused.size() == unfused.size());
  for (size_t k = 0; k < fused.size(); ++k) CHECK_MESSAGE(fused[k] == unfused[k], "tensor ", k);
}

TEST_CASE("GPT with dropout: training draws masks, eval is deterministic") {
  GPTConfig config = tiny_config();
  config.dropout = 0.2;
  manual_seed(5);
  GPT gpt(config);
  Tensor ids = randint(0, 32, {2, 8});
  CHECK(gpt(ids).to_vector<float>() != gpt(ids).to_vector<float>());
  gpt.eval();
  CHECK(gpt(ids).to_vector<float>() == gpt(ids).to_vector<float>());
}

TEST_CASE("image classifiers: shapes and sizes") {
  manual_seed(6);
  CNNClassifier cnn;
  CHECK(cnn.num_parameters() < 1'000'000);
  CHECK(cnn.num_parameters() == (9 * 32 + 32) + 2 * 32 + (9 * 32 * 64 + 64) + 2 * 64 +
                                    (64 * 7 * 7 * 128 + 128) + (128 * 10 + 10));
  Tensor images = rand({5, 1, 28, 28});
  CHECK(cnn(images).shape() == Shape{5, 10});
  CHECK(cnn.named_buffers().size() == 4);
  Tensor loss = functional::cross_entropy(cnn(images), randint(0, 10, {5}));
  loss.backward();
  for (const auto& [name, p] : cnn.named_parameters()) CHECK_MESSAGE(p.grad().defined(), name);
  cnn.eval();
  CHECK(cnn(images).to_vector<float>() == cnn(images).to_vector<float>());

  MLPClassifier mlp(784, {256, 128}, 10, 0.1);
  CHECK(mlp.num_parameters() == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  CHECK(mlp(images).shape() == Shape{5, 10});
}

}  // namespace
}  // namespace strata::nn
