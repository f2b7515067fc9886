// Trains a byte-level GPT on the quotations of Debian's fortunes package, as llm.c's train_gpt2
// trains on TinyShakespeare, with the engine (strata::initialize) and a DeepSpeed config
// (samples/gpt/ds_config.json: AdamW with warm-up and cosine decay, clipping of the gradient norm,
// bf16 or fp16): sample random windows, evaluate on held-out quotations every few hundred steps,
// then write the weights
// (safetensors), the metrics (JSON Lines, and a PNG of the loss curves with --plot) and a few
// generated quotations. The validation loss is reported next to the corpus's unigram entropy:
// a model that has learned nothing beyond byte frequencies sits at that entropy.
//
// --device cuda trains on the GPU: each step's batch is built on the host and copied over once;
// the only other wait for the device is reading the loss for the step's metrics row. --dtype bf16
// or f16 (or the config's bf16/fp16 block) keeps the weights in 16 bits (the optimizer holds f32
// master copies; f16 scales the loss).
//
// --save-dir DIR saves a checkpoint (engine.save_checkpoint: DIR/global_step<N>, DIR/latest) every
// --save-every steps and at the end; --resume DIR loads DIR's latest and continues the run up to
// --steps exactly as if it had not stopped: the engine restores the weights, optimizer, schedule,
// loss scaler, counters and dropout's generator, and the checkpoint's client state holds this
// sample's batch generator. The resumed run keeps metrics.jsonl's rows up to the checkpoint's step
// and appends its own. --stop-after N ends a run early (as if interrupted) with the schedule
// still spanning --steps.
//
// Data parallel under a launcher (strata-run --num_procs 2 -- train_gpt ..., mpirun, srun): the
// engine averages the gradients over the ranks. At each micro-step every rank draws N x
// micro-batch windows from the same generator and trains on its own share of them, so the global
// batches are the same whatever N is, as the distributed sampler's are (and the generator, the
// same on every rank, is what checkpoints keep); validation likewise, its mean averaged over the
// ranks. Rank 0 alone prints, writes the metrics and the weights, and generates text; every rank
// calls save_checkpoint, which is collective.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "samples/common/device_flags.hpp"
#include "samples/common/engine_config.hpp"
#include "samples/common/weights.hpp"
#include "strata.hpp"
#include "zero/checkpoint_state.hpp"

using namespace strata;

namespace {

struct Options {
  std::string config = STRATA_SAMPLES_DIR "/gpt/ds_config.json";
  std::string data = "/usr/share/games/fortunes";
  std::string out = "runs/gpt";
  std::string load;  // weights to start from
  std::string device = "cpu";
  std::string dtype;       // empty: as the config says
  int64_t steps = 0;       // 0: the schedule's total_num_steps
  int64_t stop_after = 0;  // 0: run to --steps
  std::string save_dir;    // empty: no checkpoints
  int64_t save_every = 0;  // 0: a checkpoint at the end only
  std::string resume;      // a checkpoint directory to continue from
  int64_t batch = 0;       // 0: the config's train_micro_batch_size_per_gpu
  int64_t context = 128;
  int64_t layers = 4, heads = 4, width = 256;
  double dropout = 0.0;
  int64_t eval_every = 250, eval_batches = 16;
  double val_fraction = 0.05;
  int64_t samples = 3, sample_tokens = 200, top_k = 40;
  double temperature = 0.8;
  int64_t seed = 0;  // the config's
  int threads = 0;
  bool plot = false;
};

io::CommandLine command_line(Options& o) {
  io::CommandLine cli("train_gpt",
                      "Trains a byte-level GPT on the fortunes quotations and writes its weights, "
                      "metrics and generated text to --out.");
  cli.flag("data", o.data, "directory of fortune files (Debian package fortunes)");
  cli.flag("config", o.config, "DeepSpeed-style config (JSON or YAML): optimizer, schedule, ...");
  cli.flag("out", o.out, "output directory: model.safetensors, metrics.jsonl, loss.png");
  cli.flag("load", o.load, "start from these weights (model.safetensors of an earlier run)");
  cli.flag("device", o.device, "cpu, cuda or cuda:N");
  cli.flag("dtype", o.dtype,
           "weights' dtype: f32, bf16 or f16 (f32 masters), over the config's bf16/fp16 blocks");
  cli.flag("steps", o.steps,
           "optimizer steps, also the schedule's total_num_steps (0: the config's)");
  cli.flag("stop-after", o.stop_after,
           "end the run after this step, the schedule still spanning --steps (0: at --steps)");
  cli.flag("save-dir", o.save_dir, "checkpoint directory: DIR/global_step<N> and DIR/latest");
  cli.flag("save-every", o.save_every, "steps between checkpoints (0: only at the end)");
  cli.flag("resume", o.resume, "continue the run saved in this checkpoint directory (its latest)");
  cli.flag("batch", o.batch, "sequences per micro-step, over the config's micro-batch size");
  cli.flag("context", o.context, "tokens (bytes) per sequence");
  cli.flag("layers", o.layers, "transformer blocks");
  cli.flag("heads", o.heads, "attention heads");
  cli.flag("width", o.width, "embedding width");
  cli.flag("dropout", o.dropout, "dropout probability");
  cli.flag("eval-every", o.eval_every, "steps between validation losses");
  cli.flag("eval-batches", o.eval_batches, "batches per validation loss");
  cli.flag("val-fraction", o.val_fraction, "fraction of quotations held out for validation");
  cli.flag("samples", o.samples, "quotations to generate at the end");
  cli.flag("sample-tokens", o.sample_tokens, "bytes per generated quotation");
  cli.flag("top-k", o.top_k, "sample among the k most likely bytes (0: all)");
  cli.flag("temperature", o.temperature, "sampling temperature");
  cli.flag("threads", o.threads, "CPU threads (0: OpenMP's default)");
  cli.flag("plot", o.plot, "also write loss.png");
  return cli;
}

// printf on rank 0 only: the other ranks hold the same model and would print the same lines.
template <class... Args>
void print0(const char* format, Args... args) {
  if (dist::rank() == 0) std::printf(format, args...);
}

// This rank's o.batch windows of a batch of ranks x o.batch drawn from `gen`: every rank draws the
// same windows and takes its own share, so the batches do not depend on the number of ranks.
io::TokenBatch rank_share(const Tensor& tokens, const Options& o, int ranks, int rank,
                          Generator& gen) {
  io::TokenBatch all = io::sample_token_windows(tokens, ranks * o.batch, o.context, gen);
  return {all.inputs.narrow(0, rank * o.batch, o.batch),
          all.targets.narrow(0, rank * o.batch, o.batch)};
}

// Mean loss over `batches` fixed validation batches (the same ones at every evaluation), each
// rank on its share and the ranks' means averaged over `group` (null: one rank).
double evaluate(nn::GPT& model, const Tensor& tokens, const Options& o, Device device,
                dist::ProcessGroup* group) {
  autograd::NoGradGuard no_grad;
  model.eval();
  Generator batches(static_cast<uint64_t>(o.seed) + 1);
  Tensor total = zeros({}, {DType::f32, device});  // summed on the device: one read at the end
  for (int64_t i = 0; i < o.eval_batches; ++i) {
    io::TokenBatch batch =
        rank_share(tokens, o, group ? group->size() : 1, group ? group->rank() : 0, batches);
    Tensor logits = model(batch.inputs.to(device));
    // f32 also for 16-bit logits (cross-entropy accumulates and returns f32).
    total = total +
            nn::functional::cross_entropy(logits.flatten(0, 1), batch.targets.to(device).flatten());
  }
  model.train();
  Tensor mean = full({1}, total.item<double>() / static_cast<double>(o.eval_batches), DType::f64);
  if (group) group->allreduce(mean, dist::ReduceOp::avg);
  return mean.item<double>();
}

// The sample's state outside the engine, kept as the checkpoint's client state: where its batch
// generator is in its stream (its seed is the config's).
std::string client_state(const Generator& batches) {
  const PhiloxState state = batches.state();
  return zero::scalars_to_json({{"batches.seed", static_cast<double>(state.seed)},
                                {"batches.offset", static_cast<double>(state.offset)}});
}

void restore_client_state(Generator& batches, const zero::LoadedCheckpoint& loaded) {
  const std::string what = "checkpoint " + loaded.path.string() + ", client state";
  std::map<std::string, double> state = zero::scalars_from_json(loaded.client_state, what);
  STRATA_CHECK(state.count("batches.seed") && state.count("batches.offset"), "train_gpt: ", what,
               " has no batches.seed and batches.offset: not a checkpoint of train_gpt");
  STRATA_CHECK(state["batches.seed"] == static_cast<double>(batches.seed()), "train_gpt: ", what,
               ": its batches were drawn with seed ", state["batches.seed"],
               ", and this run's config has seed ", batches.seed());
  batches.set_state(
      {.seed = batches.seed(), .offset = static_cast<uint64_t>(state["batches.offset"])});
}

// The rows of the run a resumed run continues, up to the checkpoint's step: rows written after
// the checkpoint (by a run that went on past it) are dropped. None when `path` does not exist.
std::vector<io::MetricsRow> earlier_rows(const std::filesystem::path& path, int64_t step) {
  std::vector<io::MetricsRow> rows;
  if (!std::filesystem::exists(path)) return rows;
  for (io::MetricsRow& row : io::read_metrics(path))
    if (io::number_field(row, "step").value_or(0) <= static_cast<double>(step))
      rows.push_back(std::move(row));
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  command_line(o).parse(argc, argv);
  dist::InitGuard guard;  // the ranks of a launcher's job; one rank otherwise
  const int ranks = dist::world_size(), rank = dist::rank();
  try {
    if (o.threads > 0) set_num_threads(o.threads);
    const Device device = samples::select_device(o.device);
    io::Config ds_config = samples::load_sample_config(o.config, o.dtype, o.batch);
    if (o.steps == 0) o.steps = ds_config.scheduler.params.total_num_steps.value_or(2000);
    if (ds_config.scheduler.type == "WarmupCosineLR" || ds_config.scheduler.type == "WarmupDecayLR")
      ds_config.scheduler.params.total_num_steps = std::max<int64_t>(o.steps, 1);
    o.batch = ds_config.resolve(ranks).train_micro_batch_size_per_gpu.value();
    o.seed = ds_config.seed;
    if (rank == 0) std::filesystem::create_directories(o.out);

    // Data: quotations split into train and validation, as bytes.
    io::TextCorpus quotes = io::read_fortunes(o.data);
    io::CorpusSplit split =
        io::split_documents(quotes, o.val_fraction, static_cast<uint64_t>(o.seed));
    Tensor train_tokens = io::encode_bytes(split.train);
    Tensor val_tokens = io::encode_bytes(split.validation);
    io::Entropy entropy = io::unigram_entropy(train_tokens);
    print0(
        "corpus: %zu quotations, %lld train / %lld validation bytes; unigram entropy %.3f "
        "nats (%.3f bits) per byte\n",
        quotes.documents.size(), static_cast<long long>(train_tokens.numel()),
        static_cast<long long>(val_tokens.numel()), entropy.nats, entropy.bits);

    // Model, and the engine with its optimizer and schedule.
    manual_seed(static_cast<uint64_t>(o.seed));
    nn::GPTConfig config{.vocab_size = 256,
                         .block_size = o.context,
                         .n_layer = o.layers,
                         .n_head = o.heads,
                         .n_embd = o.width,
                         .dropout = o.dropout};
    auto model = std::make_shared<nn::GPT>(config);
    if (!o.load.empty()) samples::load_weights(*model, o.load);
    model->to(device);
    print0(
        "model: %lld parameters, %lld layers, %lld heads, width %lld, context %lld; %s on %s, "
        "%d rank(s)\n",
        static_cast<long long>(model->num_parameters()), static_cast<long long>(o.layers),
        static_cast<long long>(o.heads), static_cast<long long>(o.width),
        static_cast<long long>(o.context), samples::config_dtype(ds_config).c_str(),
        device.str().c_str(), ranks);
    auto [engine, optimizer, loader, scheduler] = initialize(
        ds_config, model, {.log = {.total_steps = o.steps, .tokens_per_sample = o.context}});

    // Resuming: the engine's state from the checkpoint, the batch generator from its client state.
    Generator batches(static_cast<uint64_t>(o.seed));
    if (!o.resume.empty()) {
      zero::LoadedCheckpoint loaded = engine.load_checkpoint(o.resume);
      restore_client_state(batches, loaded);
      STRATA_CHECK(engine.global_steps() <= o.steps, "train_gpt: ", loaded.path.string(),
                   " is at step ", engine.global_steps(), ", past --steps ", o.steps);
      print0("resumed: %s, step %lld\n", loaded.path.c_str(),
             static_cast<long long>(engine.global_steps()));
    }
    const int64_t first_step = engine.global_steps() + 1;
    const int64_t last_step = o.stop_after > 0 ? std::min(o.stop_after, o.steps) : o.steps;

    // Training: each optimizer step is gradient_accumulation_steps micro-steps. Metrics: rank 0.
    const auto metrics_path = std::filesystem::path(o.out) / "metrics.jsonl";
    std::unique_ptr<io::MetricsLog> metrics;
    if (rank == 0) {
      std::vector<io::MetricsRow> earlier = o.resume.empty()
                                                ? std::vector<io::MetricsRow>{}
                                                : earlier_rows(metrics_path, first_step - 1);
      metrics = std::make_unique<io::MetricsLog>(metrics_path);
      for (const io::MetricsRow& row : earlier) metrics->write(row);
    }
    double val_loss = NAN;
    for (int64_t step = first_step; step <= last_step; ++step) {
      const double lr = engine.get_lr()[0];
      for (int64_t micro = 0; micro < engine.gradient_accumulation_steps(); ++micro) {
        io::TokenBatch batch = rank_share(train_tokens, o, ranks, rank, batches);
        Tensor logits = engine(batch.inputs.to(device));  // [B, T, V]
        // The fused classifier: the logits are not read again, so their gradient overwrites them.
        engine.backward(nn::functional::cross_entropy(logits.flatten(0, 1),
                                                      batch.targets.to(device).flatten(),
                                                      {.gradient_into_logits = true}));
        engine.step();
      }
      if (metrics)
        metrics->write({{"step", step},
                        {"split", "train"},
                        {"loss", engine.loss()},
                        {"lr", lr},
                        {"grad_norm", engine.get_global_grad_norm()}});
      if (step % o.eval_every == 0 || step == last_step) {
        val_loss = evaluate(*model, val_tokens, o, device, engine.group().get());
        if (metrics) metrics->write({{"step", step}, {"split", "val"}, {"loss", val_loss}});
        engine.finish_log_line();
        print0("step %lld: validation loss %.4f\n", static_cast<long long>(step), val_loss);
      }
      // After the evaluation: the state saved is the one the next step starts from.
      if (!o.save_dir.empty() &&
          ((o.save_every > 0 && step % o.save_every == 0) || step == last_step)) {
        const auto saved = engine.save_checkpoint(o.save_dir, {}, client_state(batches));
        engine.finish_log_line();
        print0("checkpoint: %s\n", saved.c_str());
      }
    }

    if (first_step > last_step)
      val_loss = evaluate(*model, val_tokens, o, device, engine.group().get());
    if (rank != 0) return 0;  // the rest is rank 0's: the weights, the plot, the text
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
      io::plot_metrics_png(metrics->path(), png, "step", {"loss:train", "loss:val"},
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
    // With other ranks, end the job: they would wait for this one in the next collective.
    if (ranks > 1) dist::abort(std::string("train_gpt: ") + e.what());
    std::fprintf(stderr, "train_gpt: %s\n", e.what());
    return 1;
  }
}
