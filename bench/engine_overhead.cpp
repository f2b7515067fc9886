// strata_bench_engine: the engine's overhead per training step. The same GPT trains through the
// hand-written loop of the previous issue (AdamW over flat groups, WarmupCosineLR, clipping) and
// through strata::initialize's engine with the equivalent config; segments of each alternate, and
// the medians of their seconds per step give the overhead (goal: < 2% of the step). Prints one
// JSON line. Not a test: run it (--help).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <vector>

#include "strata.hpp"

using namespace strata;

namespace {

struct Options {
  int64_t layers = 2, heads = 4, width = 128, context = 64, batch = 8;
  int64_t steps = 10;   // optimizer steps per timed segment
  int64_t repeats = 7;  // segments of each loop
  int threads = 0;      // 0: OpenMP's default
};

std::shared_ptr<nn::GPT> make_model(const Options& o) {
  manual_seed(1);
  return std::make_shared<nn::GPT>(nn::GPTConfig{.vocab_size = 256,
                                                 .block_size = o.context,
                                                 .n_layer = o.layers,
                                                 .n_head = o.heads,
                                                 .n_embd = o.width});
}

Tensor gpt_loss(const Tensor& logits, const io::TokenBatch& batch) {
  return nn::functional::cross_entropy(logits.flatten(0, 1), batch.targets.flatten(),
                                       {.gradient_into_logits = true});
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Both loops did the same work: the same weights, bit for bit.
bool same_weights(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (amax(abs(sub(a[i], b[i]))).item<double>() != 0) return false;
  return a.size() == b.size();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  io::CommandLine cli("strata_bench_engine",
                      "Seconds per training step of a GPT through the hand-written loop and "
                      "through the engine, and the engine's overhead.");
  cli.flag("layers", o.layers, "transformer blocks");
  cli.flag("heads", o.heads, "attention heads");
  cli.flag("width", o.width, "embedding width");
  cli.flag("context", o.context, "tokens per sequence");
  cli.flag("batch", o.batch, "sequences per step");
  cli.flag("steps", o.steps, "optimizer steps per timed segment");
  cli.flag("repeats", o.repeats, "timed segments of each loop");
  cli.flag("threads", o.threads, "CPU threads (0: OpenMP's default)");
  cli.parse(argc, argv);
  if (o.threads > 0) set_num_threads(o.threads);
  const int64_t total = (o.repeats + 1) * o.steps;  // + one warm-up segment
  Generator corpus(3);
  const Tensor tokens = randint(0, 256, {1 << 16}, DType::i64, corpus);

  // The hand-written loop over flat buffers, as the engine lays them out.
  auto hand_model = make_model(o);
  std::vector<Tensor> hand_params = hand_model->parameters();
  int64_t numel = 0;
  for (const Tensor& p : hand_params) numel += p.numel();
  Tensor flat = empty({numel}), flat_grads = zeros({numel});
  int64_t begin = 0;
  for (const Tensor& p : hand_params) {
    Tensor view = flat.narrow(0, begin, p.numel()).view(p.shape());
    view.copy_(p);
    p.set_data(view);
    p.set_grad(flat_grads.narrow(0, begin, p.numel()).view(p.shape()));
    begin += p.numel();
  }
  optim::AdamW optimizer(hand_params, {.lr = 1e-3, .betas = {0.9, 0.95}, .weight_decay = 0.1});
  optim::WarmupCosineLR schedule(optimizer, {.total_num_steps = total,
                                             .warmup_num_steps = o.steps,
                                             .cos_min_ratio = 0.1,
                                             .warmup_type = optim::WarmupType::linear});
  Generator hand_batches(5);
  auto hand_segment = [&] {
    for (int64_t i = 0; i < o.steps; ++i) {
      io::TokenBatch batch = io::sample_token_windows(tokens, o.batch, o.context, hand_batches);
      Tensor loss = gpt_loss((*hand_model)(batch.inputs), batch);
      loss.backward();
      optim::clip_grad_norm_(hand_params, 1.0);
      optimizer.step();
      schedule.step();
      optimizer.zero_grad(false);
    }
  };

  // The engine.
  io::Config config;
  config.train_micro_batch_size_per_gpu = o.batch;
  config.optimizer.type = "AdamW";
  config.optimizer.params = {
      .lr = 1e-3, .betas = std::array<double, 2>{0.9, 0.95}, .weight_decay = 0.1};
  config.scheduler.type = "WarmupCosineLR";
  config.scheduler.params = {.warmup_num_steps = o.steps,
                             .warmup_type = "linear",
                             .total_num_steps = total,
                             .cos_min_ratio = 0.1};
  config.gradient_clipping = 1.0;
  config.steps_per_print = 1 << 30;
  std::ostringstream log;
  auto [engine, engine_optimizer, loader, scheduler] =
      initialize(config, make_model(o), {.log = {.out = &log}});
  Generator engine_batches(5);
  auto engine_segment = [&] {
    for (int64_t i = 0; i < o.steps; ++i) {
      io::TokenBatch batch = io::sample_token_windows(tokens, o.batch, o.context, engine_batches);
      engine.backward(gpt_loss(engine(batch.inputs), batch));
      engine.step();
    }
  };

  std::vector<double> hand_seconds, engine_seconds;
  for (int64_t r = 0; r <= o.repeats; ++r) {
    double start = seconds_now();
    hand_segment();
    double middle = seconds_now();
    engine_segment();
    double end = seconds_now();
    if (r == 0) continue;  // warm-up
    hand_seconds.push_back((middle - start) / static_cast<double>(o.steps));
    engine_seconds.push_back((end - middle) / static_cast<double>(o.steps));
  }
  const double hand = median(hand_seconds), with_engine = median(engine_seconds);
  std::printf(
      "{\"bench\":\"engine_overhead\",\"parameters\":%lld,\"batch\":%lld,\"context\":%lld,"
      "\"threads\":%d,\"hand_ms_per_step\":%.3f,\"engine_ms_per_step\":%.3f,"
      "\"overhead_percent\":%.2f,\"same_weights\":%s}\n",
      static_cast<long long>(numel), static_cast<long long>(o.batch),
      static_cast<long long>(o.context), get_num_threads(), 1e3 * hand, 1e3 * with_engine,
      100 * (with_engine / hand - 1),
      same_weights(hand_params, engine.flat_parameters().parameters()) ? "true" : "false");
  return 0;
}
