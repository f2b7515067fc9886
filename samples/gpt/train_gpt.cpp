// Trains a byte-level GPT on the quotations of Debian's fortunes package, as llm.c's train_gpt2
// trains on TinyShakespeare: sample random windows, AdamW with warm-up and cosine decay, clip the
// gradient norm, evaluate on held-out quotations every few hundred steps, then write the weights
// (safetensors), the metrics (JSON Lines, and a PNG of the loss curves with --plot) and a few
// generated quotations. The validation loss is reported next to the corpus's unigram entropy:
// a model that has learned nothing beyond byte frequencies sits at that entropy.
//
// --device cuda trains on the GPU: each step's batch is built on the host and copied over once;
// the only other wait for the device is reading the loss for the step's log line. --dtype bf16
// or f16 keeps the weights in 16 bits (the optimizer holds f32 master copies).
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "samples/common/device_flags.hpp"
#include "samples/common/weights.hpp"
#include "strata.hpp"

using namespace strata;

namespace {

struct Options {
  std::string data = "/usr/share/games/fortunes";
  std::string out = "runs/gpt";
  std::string load;  // weights to start from
  std::string device = "cpu";
  std::string dtype = "f32";
  int64_t steps = 2000, batch = 8, context = 128;
  int64_t layers = 4, heads = 4, width = 256;
  double dropout = 0.0;
  double lr = 1e-3, min_lr_ratio = 0.1, weight_decay = 0.1, clip = 1.0;
  int64_t warmup = 100;
  int64_t eval_every = 250, eval_batches = 16;
  double val_fraction = 0.05;
  int64_t samples = 3, sample_tokens = 200, top_k = 40;
  double temperature = 0.8;
  int64_t seed = 1337;
  int threads = 0;
  bool plot = false;
};

io::CommandLine command_line(Options& o) {
  io::CommandLine cli("train_gpt",
                      "Trains a byte-level GPT on the fortunes quotations and writes its weights, "
                      "metrics and generated text to --out.");
  cli.flag("data", o.data, "directory of fortune files (Debian package fortunes)");
  cli.flag("out", o.out, "output directory: model.safetensors, metrics.jsonl, loss.png");
  cli.flag("load", o.load, "start from these weights (model.safetensors of an earlier run)");
  cli.flag("device", o.device, "cpu, cuda or cuda:N");
  cli.flag("dtype", o.dtype, "weights' dtype: f32, bf16 or f16 (f32 masters in the optimizer)");
  cli.flag("steps", o.steps, "optimizer steps (0: only evaluate and generate)");
  cli.flag("batch", o.batch, "sequences per step");
  cli.flag("context", o.context, "tokens (bytes) per sequence");
  cli.flag("layers", o.layers, "transformer blocks");
  cli.flag("heads", o.heads, "attention heads");
  cli.flag("width", o.width, "embedding width");
  cli.flag("dropout", o.dropout, "dropout probability");
  cli.flag("lr", o.lr, "peak learning rate (AdamW)");
  cli.flag("min-lr-ratio", o.min_lr_ratio, "final learning rate as a fraction of --lr");
  cli.flag("warmup", o.warmup, "warm-up steps");
  cli.flag("weight-decay", o.weight_decay, "AdamW weight decay");
  cli.flag("clip", o.clip, "gradient-norm clipping threshold (0: off)");
  cli.flag("eval-every", o.eval_every, "steps between validation losses");
  cli.flag("eval-batches", o.eval_batches, "batches per validation loss");
  cli.flag("val-fraction", o.val_fraction, "fraction of quotations held out for validation");
  cli.flag("samples", o.samples, "quotations to generate at the end");
  cli.flag("sample-tokens", o.sample_tokens, "bytes per generated quotation");
  cli.flag("top-k", o.top_k, "sample among the k most likely bytes (0: all)");
  cli.flag("temperature", o.temperature, "sampling temperature");
  cli.flag("seed", o.seed, "seed of the initialisation, the batches and the sampling");
  cli.flag("threads", o.threads, "CPU threads (0: OpenMP's default)");
  cli.flag("plot", o.plot, "also write loss.png");
  return cli;
}

// Mean loss over `batches` fixed validation batches (the same ones at every evaluation).
double evaluate(nn::GPT& model, const Tensor& tokens, const Options& o, Device device) {
  autograd::NoGradGuard no_grad;
  model.eval();
  Generator batches(static_cast<uint64_t>(o.seed) + 1);
  Tensor total = zeros({}, {DType::f32, device});  // summed on the device: one read at the end
  for (int64_t i = 0; i < o.eval_batches; ++i) {
    io::TokenBatch batch = io::sample_token_windows(tokens, o.batch, o.context, batches);
    Tensor logits = model(batch.inputs.to(device));
    // f32 also for 16-bit logits (cross-entropy accumulates and returns f32).
    total = total +
            nn::functional::cross_entropy(logits.flatten(0, 1), batch.targets.to(device).flatten());
  }
  model.train();
  return total.item<double>() / static_cast<double>(o.eval_batches);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  command_line(o).parse(argc, argv);
  try {
    if (o.threads > 0) set_num_threads(o.threads);
    const Device device = samples::select_device(o.device);
    const DType dtype = samples::parse_model_dtype(o.dtype);
    std::filesystem::create_directories(o.out);

    // Data: quotations split into train and validation, as bytes.
    io::TextCorpus quotes = io::read_fortunes(o.data);
    io::CorpusSplit split =
        io::split_documents(quotes, o.val_fraction, static_cast<uint64_t>(o.seed));
    Tensor train_tokens = io::encode_bytes(split.train);
    Tensor val_tokens = io::encode_bytes(split.validation);
    io::Entropy entropy = io::unigram_entropy(train_tokens);
    std::printf(
        "corpus: %zu quotations, %lld train / %lld validation bytes; unigram entropy %.3f "
        "nats (%.3f bits) per byte\n",
        quotes.documents.size(), static_cast<long long>(train_tokens.numel()),
        static_cast<long long>(val_tokens.numel()), entropy.nats, entropy.bits);

    // Model and optimizer.
    manual_seed(static_cast<uint64_t>(o.seed));
    nn::GPTConfig config{.vocab_size = 256,
                         .block_size = o.context,
                         .n_layer = o.layers,
                         .n_head = o.heads,
                         .n_embd = o.width,
                         .dropout = o.dropout};
    auto model = std::make_shared<nn::GPT>(config);
    if (!o.load.empty()) samples::load_weights(*model, o.load);
    model->to(dtype);
    model->to(device);
    std::printf(
        "model: %lld parameters, %lld layers, %lld heads, width %lld, context %lld; %s on %s\n",
        static_cast<long long>(model->num_parameters()), static_cast<long long>(o.layers),
        static_cast<long long>(o.heads), static_cast<long long>(o.width),
        static_cast<long long>(o.context), o.dtype.c_str(), device.str().c_str());
    optim::AdamW optimizer(model->parameters(),
                           {.lr = o.lr, .betas = {0.9, 0.95}, .weight_decay = o.weight_decay});
    optim::WarmupCosineLR schedule(optimizer, {.total_num_steps = std::max<int64_t>(o.steps, 1),
                                               .warmup_num_steps = o.warmup,
                                               .cos_min_ratio = o.min_lr_ratio,
                                               .warmup_type = optim::WarmupType::linear});

    // Training.
    io::MetricsLog metrics(std::filesystem::path(o.out) / "metrics.jsonl");
    io::Progress progress(o.steps, {.every_steps = 10, .unit = "tokens"});
    Generator batches(static_cast<uint64_t>(o.seed));
    double val_loss = NAN;
    const double tokens_per_step = static_cast<double>(o.batch * o.context);
    for (int64_t step = 1; step <= o.steps; ++step) {
      io::TokenBatch batch = io::sample_token_windows(train_tokens, o.batch, o.context, batches);
      Tensor logits = (*model)(batch.inputs.to(device));  // [B, T, V]
      // The fused classifier: the logits are not read again, so their gradient overwrites them.
      Tensor loss = nn::functional::cross_entropy(
          logits.flatten(0, 1), batch.targets.to(device).flatten(), {.gradient_into_logits = true});
      optimizer.zero_grad();
      loss.backward();
      // The norm stays on the device until it is logged, after the step has been queued.
      Tensor grad_norm =
          o.clip > 0 ? optim::clip_grad_norm_(model->parameters(), o.clip) : Tensor();
      double lr = optimizer.param_groups()[0].options.lr;
      optimizer.step();
      schedule.step();
      double train_loss = loss.item<double>();
      metrics.write({{"step", step},
                     {"split", "train"},
                     {"loss", train_loss},
                     {"lr", lr},
                     {"grad_norm", grad_norm.defined() ? grad_norm.item<double>() : NAN}});
      if (step % o.eval_every == 0 || step == o.steps) {
        val_loss = evaluate(*model, val_tokens, o, device);
        metrics.write({{"step", step}, {"split", "val"}, {"loss", val_loss}});
      }
      std::vector<io::ProgressMetric> shown = {{"loss", train_loss}, {"lr", lr}};
      if (!std::isnan(val_loss)) shown.insert(shown.begin() + 1, {"val", val_loss});
      progress.update(step, shown, tokens_per_step);
    }
    progress.finish();

    if (o.steps == 0) val_loss = evaluate(*model, val_tokens, o, device);
    const double below = 100.0 * (1.0 - val_loss / entropy.nats);
    std::printf(
        "validation loss %.4f nats per byte (%.4f bits); unigram entropy %.4f nats "
        "(%.4f bits): %.1f%% %s it\n",
        val_loss, val_loss / std::log(2.0), entropy.nats, entropy.bits, std::abs(below),
        below >= 0 ? "below" : "above");
    if (o.steps > 0) {
      auto weights = std::filesystem::path(o.out) / "model.safetensors";
      samples::save_weights(*model, weights,
                            {{"layers", std::to_string(o.layers)},
                             {"heads", std::to_string(o.heads)},
                             {"width", std::to_string(o.width)},
                             {"context", std::to_string(o.context)}});
      std::printf("weights: %s\n", weights.c_str());
    }
    if (o.plot) {
      auto png = std::filesystem::path(o.out) / "loss.png";
      io::plot_metrics_png(metrics.path(), png, "step", {"loss:train", "loss:val"},
                           {.title = "byte-level GPT on fortunes", .y_label = "loss (nats/byte)"});
      std::printf("plot: %s\n", png.c_str());
    }

    // Generated quotations, each from a short prompt.
    Generator sampling(static_cast<uint64_t>(o.seed) + 2);
    const char* prompts[] = {"The ", "Life is ", "A "};
    for (int64_t i = 0; i < o.samples; ++i) {
      std::string prompt = prompts[i % 3];
      Tensor ids = io::encode_bytes({{prompt}}, "").unsqueeze(0).to(device);
      Tensor out = model->generate(ids, o.sample_tokens, o.temperature, o.top_k, sampling);
      std::printf("--- sample %lld ---\n%s\n", static_cast<long long>(i + 1),
                  io::decode_bytes(out.select(0, 0).to(Device::cpu())).c_str());
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "train_gpt: %s\n", e.what());
    return 1;
  }
}
