// strata_bench_zero: ZeRO's time and memory on this machine, for the GPT of the samples trained
// through the engine (AdamW, clipping) at one OpenMP thread per rank. Run under mpirun:
//
//   OMP_NUM_THREADS=1 mpirun -np 2 build/bench/strata_bench_zero
//   OMP_NUM_THREADS=1 mpirun -np 2 build/bench/strata_bench_zero --runs 3:nvme --dtypes bf16 \
//       --layers 28 --width 1280 --heads 20 --context 64 --batch 1 --sub-group-size 4000000 \
//       --partitioned-init                     # 551M parameters, stage 3 + NVMe (BENCHMARKS.md)
//
// Each run of --runs ("STAGE" or "STAGE:OFFLOAD", OFFLOAD cpu or nvme) trains a fresh model in each
// of --dtypes for --warmup steps, then --steps timed steps, and rank 0 prints one JSON line: the
// median seconds per step and each rank's memory_report after training (parameters, gradients,
// optimizer states, offloaded bytes), the allocator's peak while the model and the engine were
// built (init_peak_allocated), its peak during training (peak_allocated), and peak RSS (of the
// process so far: for the footprint of one run, give one run per process). The NVMe files go to a
// fresh folder under --nvme-dir, removed after the run. With --partitioned-init, stage-3 models
// are built already partitioned (zero::Stage3Init), so that no rank ever holds one whole. Not a
// test: run it (--help).
#include <mpi.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "strata.hpp"
#include "zero/stage3_init.hpp"

using namespace strata;

namespace {

struct Options {
  int64_t layers = 4, heads = 4, width = 256, context = 128, batch = 8;  // train_gpt's defaults
  int64_t warmup = 2, steps = 5;
  std::vector<std::string> runs = {"0",     "1",      "2",      "3",     "1:cpu",
                                   "2:cpu", "1:nvme", "2:nvme", "3:nvme"};
  std::vector<std::string> dtypes = {"f32", "bf16"};
  std::string nvme_dir = "/tmp";
  int64_t sub_group_size = 1'000'000'000;  // the config's default: NVMe chunks of that many
  bool partitioned_init = false;
};

struct Run {
  int64_t stage = 0;
  std::string offload = "none";
  bool bf16 = false;
};

std::vector<Run> parse_runs(const Options& o) {
  std::vector<Run> runs;
  for (const std::string& dtype : o.dtypes) {
    STRATA_CHECK(dtype == "f32" || dtype == "bf16",
                 "strata_bench_zero: --dtypes takes f32 and bf16, got '", dtype, "'");
    for (const std::string& spec : o.runs) {
      STRATA_CHECK((spec.size() == 1 || (spec.size() > 2 && spec[1] == ':')) && spec[0] >= '0' &&
                       spec[0] <= '3',
                   "strata_bench_zero: --runs takes STAGE or STAGE:OFFLOAD, got '", spec, "'");
      Run run{.stage = spec[0] - '0', .bf16 = dtype == "bf16"};
      if (spec.size() > 2) run.offload = spec.substr(2);
      STRATA_CHECK(run.offload == "cpu" || run.offload == "nvme" || run.offload == "none",
                   "strata_bench_zero: offload '", run.offload, "' is not cpu or nvme");
      runs.push_back(run);
    }
  }
  return runs;
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t max_rss_bytes() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

// Trains one run and prints its line on rank 0.
void bench_run(const Options& o, const Run& run, const std::shared_ptr<dist::ProcessGroup>& group,
               const Tensor& tokens) {
  const int rank = group->rank(), n = group->size();
  const std::filesystem::path nvme_path =
      std::filesystem::path(o.nvme_dir) / "strata_bench_zero_nvme";
  if (run.offload == "nvme") {
    if (rank == 0) {
      std::filesystem::remove_all(nvme_path);
      std::filesystem::create_directories(nvme_path);
    }
    group->barrier();
  }
  io::Config config;
  config.train_micro_batch_size_per_gpu = o.batch;
  config.optimizer.type = "AdamW";
  config.optimizer.params = {
      .lr = 1e-3, .betas = std::array<double, 2>{0.9, 0.95}, .weight_decay = 0.1};
  config.gradient_clipping = 1.0;
  config.steps_per_print = 1 << 30;
  config.bf16.enabled = run.bf16;
  config.zero_optimization.stage = run.stage;
  config.zero_optimization.offload_optimizer.device = run.offload;
  if (run.offload == "nvme") config.zero_optimization.offload_optimizer.nvme_path = nvme_path;
  config.zero_optimization.sub_group_size = o.sub_group_size;

  std::vector<double> step_seconds;
  int64_t parameters = 0;
  zero::MemoryReport report;
  int64_t init_peak = 0;
  reset_peak_memory_stats();
  {
    manual_seed(1);
    const nn::GPTConfig gpt{.vocab_size = 256,
                            .block_size = o.context,
                            .n_layer = o.layers,
                            .n_head = o.heads,
                            .n_embd = o.width};
    std::shared_ptr<nn::GPT> model;
    if (run.stage == 3 && o.partitioned_init) {
      zero::Stage3Init init(group, run.bf16 ? DType::bf16 : DType::f32);
      model = std::make_shared<nn::GPT>(gpt);
    } else {
      model = std::make_shared<nn::GPT>(gpt);
    }
    std::ostringstream log;  // the engine logs nothing at this steps_per_print
    auto [engine, optimizer, loader, scheduler] =
        initialize(config, model, {.log = {.out = &log}, .group = group});
    for (const Tensor& p : engine.flat_parameters().parameters()) parameters += p.numel();
    // The peak of building the model and the engine, then that of training alone.
    init_peak = static_cast<int64_t>(memory_stats().peak_bytes);
    reset_peak_memory_stats();
    Generator batches(5 + static_cast<uint64_t>(rank));
    for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
      group->barrier();
      const double start = seconds_now();
      io::TokenBatch batch = io::sample_token_windows(tokens, o.batch, o.context, batches);
      Tensor logits = engine(batch.inputs);
      engine.backward(nn::functional::cross_entropy(logits.flatten(0, 1), batch.targets.flatten(),
                                                    {.gradient_into_logits = true}));
      engine.step();
      (void)engine.loss();  // reads the loss back: the step's work is done
      if (i >= o.warmup) step_seconds.push_back(seconds_now() - start);
    }
    report = engine.memory_report();
  }
  if (run.offload == "nvme") {
    group->barrier();
    if (rank == 0) std::filesystem::remove_all(nvme_path);
  }

  // Every rank's numbers to rank 0.
  constexpr int kFields = 7;
  const int64_t mine[kFields] = {report.parameters, report.gradients, report.optimizer_states,
                                 report.offloaded,  init_peak,        report.peak_allocated,
                                 max_rss_bytes()};
  std::vector<int64_t> all(kFields * static_cast<size_t>(n));
  MPI_Gather(mine, kFields, MPI_INT64_T, all.data(), kFields, MPI_INT64_T, 0, MPI_COMM_WORLD);
  if (rank != 0) return;
  std::sort(step_seconds.begin(), step_seconds.end());
  const double seconds = step_seconds[step_seconds.size() / 2];
  std::printf(
      "{\"bench\":\"zero\",\"stage\":%lld,\"offload_optimizer\":\"%s\",\"dtype\":\"%s\","
      "\"ranks\":%d,\"threads_per_rank\":1,\"layers\":%lld,\"width\":%lld,\"parameters\":%lld,"
      "\"micro_batch\":%lld,\"context\":%lld,\"partitioned_init\":%s,\"s_per_step\":%.4f,"
      "\"tokens_per_s\":%.0f,\"memory_per_rank\":[",
      static_cast<long long>(run.stage), run.offload.c_str(), run.bf16 ? "bf16" : "f32", n,
      static_cast<long long>(o.layers), static_cast<long long>(o.width),
      static_cast<long long>(parameters), static_cast<long long>(o.batch),
      static_cast<long long>(o.context), run.stage == 3 && o.partitioned_init ? "true" : "false",
      seconds, static_cast<double>(n * o.batch * o.context) / seconds);
  for (int r = 0; r < n; ++r) {
    const int64_t* m = all.data() + kFields * r;
    std::printf(
        "%s{\"parameters\":%lld,\"gradients\":%lld,\"optimizer_states\":%lld,\"offloaded\":%lld,"
        "\"init_peak_allocated\":%lld,\"peak_allocated\":%lld,\"max_rss\":%lld}",
        r ? "," : "", static_cast<long long>(m[0]), static_cast<long long>(m[1]),
        static_cast<long long>(m[2]), static_cast<long long>(m[3]), static_cast<long long>(m[4]),
        static_cast<long long>(m[5]), static_cast<long long>(m[6]));
  }
  std::printf("]}\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  io::CommandLine cli("strata_bench_zero",
                      "Seconds per step and memory per rank of ZeRO stages 0-3, with and without "
                      "optimizer offload, for the samples' GPT at one thread per rank (run under "
                      "mpirun -np 2, with OMP_NUM_THREADS=1).");
  cli.flag("layers", o.layers, "transformer blocks");
  cli.flag("heads", o.heads, "attention heads");
  cli.flag("width", o.width, "embedding width");
  cli.flag("context", o.context, "tokens per sequence");
  cli.flag("batch", o.batch, "sequences per step on each rank");
  cli.flag("warmup", o.warmup, "untimed steps of each run");
  cli.flag("steps", o.steps, "timed steps of each run (the median is reported)");
  cli.flag("runs", o.runs, "STAGE or STAGE:OFFLOAD (offload_optimizer cpu, nvme)");
  cli.flag("dtypes", o.dtypes, "f32, bf16: each run in each");
  cli.flag("nvme-dir", o.nvme_dir, "where the NVMe runs make their temporary folder");
  cli.flag("sub-group-size", o.sub_group_size,
           "zero_optimization.sub_group_size: elements per NVMe chunk (buffer_count chunks, of "
           "a master and each state, are in memory)");
  cli.flag("partitioned-init", o.partitioned_init,
           "build stage-3 models already partitioned (zero::Stage3Init)");
  cli.parse(argc, argv);
  const std::vector<Run> runs = parse_runs(o);

  dist::InitGuard guard;
  set_num_threads(1);
  auto group = dist::MpiProcessGroup::create_world();
  STRATA_CHECK(group->size() > 1,
               "strata_bench_zero: run it under mpirun with 2 or more ranks, got ", group->size());
  Generator corpus(3);
  const Tensor tokens = randint(0, 256, {1 << 16}, DType::i64, corpus);
  for (const Run& run : runs) bench_run(o, run, group, tokens);
  return 0;
}
