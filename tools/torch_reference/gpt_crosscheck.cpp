// gpt_crosscheck: the same GPT in Strata and in libtorch (torch_gpt.hpp), with identical weights
// and batch, compared on the loss and on every parameter's gradient after one forward and backward.
// Prints one line per parameter with the relative error max|g_strata - g_torch| / max|g_torch|,
// then the worst; exits 0 when the loss and every gradient agree within --tolerance.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include "strata.hpp"
#include "tools/torch_reference/torch_gpt.hpp"

using namespace strata;

namespace {

struct Options {
  int64_t vocab = 256, context = 64, layers = 2, heads = 4, width = 64, batch = 4;
  int64_t seed = 1;
  double tolerance = 1e-4;
};

torch::Tensor to_torch(const Tensor& t) {
  Tensor host = t.detach().to(Device::cpu()).contiguous();
  auto dtype = host.dtype() == DType::i64 ? torch::kLong : torch::kFloat;
  return torch::from_blob(host.data_ptr(), host.shape(), dtype).clone();
}

// max |a - b| / max |b| over the elements (b the reference).
double relative_error(const Tensor& strata_value, const torch::Tensor& reference) {
  torch::Tensor ours = to_torch(strata_value);
  double scale = reference.abs().max().item<double>();
  return (ours - reference).abs().max().item<double>() / std::max(scale, 1e-30);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  io::CommandLine cli("gpt_crosscheck",
                      "Compares Strata's GPT with the same model in libtorch: loss and every "
                      "gradient after one forward and backward on the same weights and batch.");
  cli.flag("vocab", o.vocab, "vocabulary size");
  cli.flag("context", o.context, "sequence length (and block size)");
  cli.flag("layers", o.layers, "transformer blocks");
  cli.flag("heads", o.heads, "attention heads");
  cli.flag("width", o.width, "embedding width");
  cli.flag("batch", o.batch, "sequences in the batch");
  cli.flag("seed", o.seed, "seed of the weights and the batch");
  cli.flag("tolerance", o.tolerance, "largest relative error accepted");
  cli.parse(argc, argv);

  manual_seed(static_cast<uint64_t>(o.seed));
  nn::GPT model({.vocab_size = o.vocab,
                 .block_size = o.context,
                 .n_layer = o.layers,
                 .n_head = o.heads,
                 .n_embd = o.width});
  torch_reference::TorchGpt reference(
      torch_reference::TorchGptConfig{o.vocab, o.context, o.layers, o.heads, o.width});
  {
    torch::NoGradGuard no_grad;
    auto torch_parameters = reference->named_parameters();
    int64_t copied = 0;
    for (const auto& [name, tensor] : model.state_dict()) {
      torch::Tensor* target = torch_parameters.find("transformer." + name);
      if (!target) {
        std::fprintf(stderr, "gpt_crosscheck: libtorch's GPT has no parameter transformer.%s\n",
                     name.c_str());
        return 1;
      }
      target->copy_(to_torch(tensor));
      ++copied;
    }
    if (copied != static_cast<int64_t>(torch_parameters.size())) {
      std::fprintf(stderr, "gpt_crosscheck: copied %lld of libtorch's %zu parameters\n",
                   static_cast<long long>(copied), torch_parameters.size());
      return 1;
    }
  }

  Tensor ids = randint(0, o.vocab, {o.batch, o.context}, DType::i64);
  Tensor targets = randint(0, o.vocab, {o.batch, o.context}, DType::i64);
  Tensor loss = nn::functional::cross_entropy(model(ids).flatten(0, 1), targets.flatten());
  loss.backward();
  torch::Tensor torch_loss = torch::nn::functional::cross_entropy(
      reference->forward(to_torch(ids)).flatten(0, 1), to_torch(targets).flatten());
  torch_loss.backward();

  double worst = std::abs(loss.item<double>() - torch_loss.item<double>()) /
                 std::abs(torch_loss.item<double>());
  std::printf("loss: strata %.8f, libtorch %.8f, relative error %.3g\n", loss.item<double>(),
              torch_loss.item<double>(), worst);
  std::string worst_name = "loss";
  auto torch_parameters = reference->named_parameters();
  for (const auto& [name, parameter] : model.named_parameters()) {
    double error = relative_error(parameter.grad(), torch_parameters["transformer." + name].grad());
    std::printf("%-28s %-14s relative error %.3g\n", name.c_str(),
                shape_str(parameter.shape()).c_str(), error);
    if (error > worst) worst = error, worst_name = name;
  }
  bool ok = worst <= o.tolerance;
  std::printf("worst: %s, relative error %.3g (tolerance %.1g): %s\n", worst_name.c_str(), worst,
              o.tolerance, ok ? "ok" : "MISMATCH");
  return ok ? 0 : 1;
}
