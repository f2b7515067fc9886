// strata_bench_train's Strata side: nn::GPT, cross-entropy, backward and optim::AdamW, the loop of
// samples/gpt/train_gpt.cpp without data loading, clipping or evaluation.
#include "bench/train.hpp"
#include "strata.hpp"

namespace strata::bench {

StepTiming train_strata(const TrainModel& m, int threads) {
  set_num_threads(threads);
  manual_seed(1337);
  nn::GPT model(nn::GPTConfig{.vocab_size = m.vocab,
                              .block_size = m.block,
                              .n_layer = m.layers,
                              .n_head = m.heads,
                              .n_embd = m.width});
  optim::AdamW optimizer(model.parameters(),
                         {.lr = 1e-4, .betas = {0.9, 0.95}, .weight_decay = 0.1});
  Generator tokens(7);
  Tensor ids = randint(0, m.vocab, {m.batch, m.context + 1}, {DType::i64}, tokens);
  Tensor inputs = ids.narrow(1, 0, m.context).contiguous();
  Tensor targets = ids.narrow(1, 1, m.context).contiguous().flatten();
  return time_steps(m, [&] {
    Tensor logits = model(inputs);  // [B, T, V]
    Tensor loss = nn::functional::cross_entropy(logits.flatten(0, 1), targets);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    return loss.item<double>();
  });
}

}  // namespace strata::bench
