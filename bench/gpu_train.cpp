// strata_bench_gpu_train: GPT-2 124M training throughput on one GPU over a sweep of micro-batch
// sizes: tokens/s, MFU and peak memory per size, one JSON line each, with the same fields as
// bench/torch_gpt2_reference.py prints for PyTorch so one script compares the two.
//
// The model is nn::GPT (vocab 50257 padded to 50304, context 1024, 12 layers, 12 heads, width 768)
// with bf16 weights; optim::AdamW keeps f32 master copies. Parameters and gradients are laid out as
// adjacent views of two flat buffers (design decision 5), so AdamW updates the whole model with one
// fused kernel call. --device cpu --tiny runs the same code on a small model on the CPU.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/gpu_bench.hpp"
#include "core/cuda_memory.hpp"
#include "io/command_line.hpp"
#include "strata.hpp"

namespace {

using namespace strata;
using namespace strata::bench::gpu;

constexpr const char* kDescription =
    R"(GPT-2 124M training throughput (forward, cross-entropy, backward, AdamW step on random tokens)
for each micro-batch size B of the sweep, B x 1024 tokens a step. Per size, a fresh model:
  tokens_per_s   B * T over the median step time of the timed steps (after the warm-up steps);
                 each step is timed by CUDA events on the current stream, and waiting for the
                 end event is the step's only synchronisation
  mfu            flops_per_token * tokens_per_s / 989e12 (H100 SXM dense bf16 peak), with
                 flops_per_token = 6 * N + 12 * L * C * T (nanoGPT's and llm.c's estimate: N the
                 parameters without the position table wpe, L layers, C width, T context)
  peak_*_bytes   strata::cuda::memory_stats after the timed steps (peak since the model was built)
The sweep stops at the first size that runs out of memory, with a line saying so; an op with no
CUDA kernel on this build gives one "unavailable" line naming it. Weights are bf16 (--dtype f32:
f32 weights, no master copies); AdamW (lr 1e-4, betas 0.9/0.95, eps 1e-8, weight decay 0.1 on
every parameter) keeps f32 master copies and states.)";

constexpr const char* kFlopsFormula = "6*N+12*L*C*T per token, N = parameters less wpe";

struct Options {
  Device device = Device::cuda(0);
  bool tiny = false;
  std::vector<int64_t> batches;  // none given: the default sweep for the model
  int warmup = 3, steps = 10;
  DType dtype = DType::bf16;
};

nn::GPTConfig model_config(bool tiny) {
  if (tiny) return {.vocab_size = 512, .block_size = 128, .n_layer = 2, .n_head = 2, .n_embd = 64};
  return {.vocab_size = 50304};  // GPT-2's 50257 padded to a multiple of 128
}

// The tokens drawn: GPT-2's real vocabulary, so the padded rows are never a target (as in llm.c).
int64_t token_count(bool tiny) { return tiny ? 500 : 50257; }

// Points every parameter at adjacent views of one flat buffer and its gradient at adjacent views
// of a second (design decision 5): AdamW then updates the group in one fused call. Returns the
// gradient buffer, which each step zeroes in one fill. Every GPT-2 parameter has a multiple of 8
// elements, so every view starts 16-byte aligned.
Tensor flatten_parameters(const std::vector<Tensor>& params) {
  autograd::NoGradGuard no_grad;
  int64_t total = 0;
  for (const Tensor& p : params) total += p.numel();
  Tensor values = empty({total}, params.front().options());
  Tensor grads = zeros({total}, params.front().options());
  int64_t offset = 0;
  for (const Tensor& p : params) {
    Tensor view = values.narrow(0, offset, p.numel()).view(p.shape());
    view.copy_(p);
    p.set_data(view);
    p.set_grad(grads.narrow(0, offset, p.numel()).view(p.shape()));
    offset += p.numel();
  }
  return grads;
}

struct Peak {
  double allocated = NAN, reserved = NAN;  // bytes; NaN (printed null) where unknown
};

// Returns the previous size's cached blocks, so the reserved peak restarts from what is live.
void reset_peak(Device device) {
  empty_cache(device);
  if (device.is_cuda()) {
    cuda::reset_peak_memory_stats(device.index);
  } else {
    reset_peak_memory_stats(device);
  }
}

Peak peak_memory(Device device) {
  if (device.is_cuda()) {
    const cuda::DeviceMemoryStats s = cuda::memory_stats(device.index);
    return {static_cast<double>(s.peak_allocated_bytes),
            static_cast<double>(s.peak_reserved_bytes)};
  }
  // The CPU allocator keeps no peak of its reserved bytes.
  return {static_cast<double>(memory_stats(device).peak_bytes), NAN};
}

// The fields every line of this bench starts with; torch_gpt2_reference.py prints the same.
JsonLine train_line(const Options& o, int64_t batch, int64_t context) {
  JsonLine line("gpu_train");
  line.text("library", "strata")
      .text("mode", "eager")
      .text("device", o.device.str())
      .text("model", o.tiny ? "tiny" : "gpt2-124M")
      .text("precision",
            o.dtype == DType::bf16 ? "bf16 weights, f32 master weights in AdamW" : "f32 weights")
      .integer("batch", batch)
      .integer("context", context)
      .integer("tokens_per_step", batch * context);
  return line;
}

// One size of the sweep: builds the model, trains warmup + steps steps, prints its line.
double measure(const Options& o, int64_t batch) {
  const nn::GPTConfig config = model_config(o.tiny);
  const int64_t T = config.block_size;
  reset_peak(o.device);
  manual_seed(1337);
  nn::GPT model(config);
  model.to(o.device);
  if (o.dtype != DType::f32) model.to(o.dtype);
  std::vector<Tensor> params = model.parameters();
  Tensor grads = flatten_parameters(params);
  optim::AdamW optimizer(params, {.lr = 1e-4, .betas = {0.9, 0.95}, .weight_decay = 0.1});

  Generator gen(7);
  Tensor ids = randint(0, token_count(o.tiny), {batch, T + 1}, {DType::i64}, gen).to(o.device);
  Tensor inputs = ids.narrow(1, 0, T).contiguous();             // [B, T]
  Tensor targets = ids.narrow(1, 1, T).contiguous().flatten();  // [B * T]
  auto step = [&] {
    Tensor logits = model(inputs);  // [B, T, V]
    Tensor loss = nn::functional::cross_entropy(logits.flatten(0, 1), targets);
    grads.fill_(0.0);
    loss.backward();
    optimizer.step();
    return loss;
  };

  Tensor loss;
  for (int i = 0; i < o.warmup; ++i) loss = step();
  DeviceTimer timer(o.device);
  std::vector<double> seconds;
  for (int i = 0; i < o.steps; ++i) {
    timer.start();
    loss = step();
    seconds.push_back(timer.stop());
  }
  const Peak peak = peak_memory(o.device);

  const double step_seconds = median(seconds);
  const double tokens_per_s = static_cast<double>(batch * T) / step_seconds;
  const int64_t n_params = model.num_parameters();
  const int64_t n_flops_params = n_params - model.wpe->weight.numel();
  const double flops_per_token = 6.0 * static_cast<double>(n_flops_params) +
                                 12.0 * static_cast<double>(config.n_layer * config.n_embd * T);
  train_line(o, batch, T)
      .text("status", "ok")
      .integer("warmup_steps", o.warmup)
      .integer("timed_steps", o.steps)
      .number("step_seconds", step_seconds)
      .number("tokens_per_s", tokens_per_s)
      .integer("n_params", n_params)
      .integer("n_params_flops", n_flops_params)
      .number("flops_per_token", flops_per_token)
      .text("flops_formula", kFlopsFormula)
      .number("peak_flops", kH100BF16PeakFlops)
      .number("mfu", flops_per_token * tokens_per_s / kH100BF16PeakFlops)
      .number("peak_allocated_bytes", peak.allocated)
      .number("peak_reserved_bytes", peak.reserved)
      .boolean("adamw_fused", optimizer.fused(0))
      .number("loss", loss.item<double>())
      .print();
  return tokens_per_s;
}

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0) return Device::cuda(std::atoi(text.c_str() + 5));
  fail("unknown device '", text, "' (expected cuda, cuda:N or cpu)");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string device = "cuda", dtype = "bf16";
  strata::io::CommandLine cli("strata_bench_gpu_train", kDescription);
  cli.flag("device", device, "cuda (cuda:N for device N) or cpu");
  cli.flag("tiny", o.tiny, "vocab 512, context 128, 2 layers, 2 heads, width 64: a smoke test");
  cli.flag("batches", o.batches, "micro-batch sizes; none: 4,8,16,32, or 2,4 with --tiny");
  cli.flag("warmup", o.warmup, "untimed steps first");
  cli.flag("steps", o.steps, "timed steps");
  cli.flag("dtype", dtype, "bf16 or f32 weights");
  cli.parse(argc, argv);
  try {
    o.device = parse_device(device);
    STRATA_CHECK(dtype == "bf16" || dtype == "f32", "--dtype expects bf16 or f32, got '", dtype,
                 "'");
    o.dtype = dtype == "bf16" ? DType::bf16 : DType::f32;
    STRATA_CHECK(o.warmup >= 0 && o.steps >= 1, "--warmup must be >= 0 and --steps >= 1, got ",
                 o.warmup, " and ", o.steps);
    if (o.batches.empty())
      o.batches = o.tiny ? std::vector<int64_t>{2, 4} : std::vector<int64_t>{4, 8, 16, 32};
    print_device(o.device, "gpu_train");
  } catch (const Error& e) {
    std::fprintf(stderr, "strata_bench_gpu_train: %s\n", e.what());
    return 2;
  }

  const int64_t context = model_config(o.tiny).block_size;
  int64_t best_batch = 0;
  double best_tokens_per_s = 0;
  int status = 0;
  for (int64_t batch : o.batches) {
    try {
      const double tokens_per_s = measure(o, batch);
      if (tokens_per_s > best_tokens_per_s) {
        best_tokens_per_s = tokens_per_s;
        best_batch = batch;
      }
    } catch (const Error& e) {
      // Out of memory ends the sweep (larger sizes need more); so does a missing kernel, which
      // every size would hit alike. Anything else is a bug: reported, and the exit status says so.
      const Failure failure = classify(e.what());
      train_line(o, batch, context)
          .text("status", failure_status(failure))
          .text("error", e.what())
          .print();
      if (failure == Failure::error) status = 1;
      break;
    }
  }
  if (best_batch > 0) {
    JsonLine("gpu_train_best")
        .text("library", "strata")
        .text("mode", "eager")
        .text("device", o.device.str())
        .integer("batch", best_batch)
        .number("tokens_per_s", best_tokens_per_s)
        .print();
  }
  return status;
}
