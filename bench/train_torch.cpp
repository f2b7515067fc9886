// strata_bench_train's libtorch side: tools/torch_reference's GPT (the same architecture and
// shapes as nn::GPT), cross-entropy, backward and torch::optim::AdamW with the same settings.
#include <dlfcn.h>
#include <torch/torch.h>

#include "bench/train.hpp"
#include "tools/torch_reference/torch_gpt.hpp"

namespace strata::bench {

StepTiming train_torch(const TrainModel& m, int threads) {
  // at::set_num_threads sets OpenMP's threads; OpenBLAS's own pool follows OPENBLAS_NUM_THREADS,
  // which the driver sets in this process's environment.
  at::set_num_threads(threads);
  torch::manual_seed(1337);
  torch_reference::TorchGpt model(torch_reference::TorchGptConfig{.vocab_size = m.vocab,
                                                                  .block_size = m.block,
                                                                  .n_layer = m.layers,
                                                                  .n_head = m.heads,
                                                                  .n_embd = m.width});
  {
    // GPT-2's initialisation, as nn::GPT's (libtorch's defaults give the tied head logits in the
    // hundreds): matrices N(0, 0.02), biases 0, LayerNorm weights 1.
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) {
      if (p.dim() == 2) p.normal_(0.0, 0.02);
    }
    for (auto& named : model->named_parameters()) {
      if (named.key().ends_with(".bias")) named.value().zero_();
    }
  }
  torch::optim::AdamW optimizer(
      model->parameters(), torch::optim::AdamWOptions(1e-4).betas({0.9, 0.95}).weight_decay(0.1));
  torch::Tensor ids = torch::randint(m.vocab, {m.batch, m.context + 1}, torch::kLong);
  torch::Tensor inputs = ids.narrow(1, 0, m.context).contiguous();
  torch::Tensor targets = ids.narrow(1, 1, m.context).contiguous().flatten();
  return time_steps(m, [&] {
    torch::Tensor logits = model->forward(inputs);  // [B, T, V]
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits.flatten(0, 1), targets);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    return loss.item<double>();
  });
}

std::string openblas_core() {
  // libtorch loads OpenBLAS (through Debian's libblas.so.3 alternative); ask it which kernels it
  // picked, which is how OPENBLAS_CORETYPE is seen to take effect.
  using CoreName = char* (*)();
  auto name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return name ? name() : "";
}

}  // namespace strata::bench
