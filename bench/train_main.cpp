// strata_bench_train: single-process CPU training throughput (tokens/s) of a tiny GPT and GPT-2
// 124M, for Strata and for the same model in libtorch (as installed and in its best
// configuration), on 1 and 2 threads, next to the GEMM-bound limit. One JSON line per measurement.
//
// Every measurement runs in a fresh process: this executable re-runs itself with --child under the
// measurement's environment, because glibc reads GLIBC_TUNABLES and OpenBLAS reads
// OPENBLAS_CORETYPE when the process starts. The GEMM-bound limit is measured in a child too.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench/train.hpp"
#include "core/error.hpp"
#include "io/command_line.hpp"

namespace strata::bench {

double TrainModel::flops_per_token() const {
  const double c = static_cast<double>(width), v = static_cast<double>(vocab);
  // Per block: QKV, output, MLP weights and biases (12 C^2 + 13 C) and two LayerNorms (4 C).
  const double block = 12 * c * c + 13 * c + 4 * c;
  const double params = static_cast<double>(layers) * block + v * c + 2 * c;  // + wte, ln_f
  return 6 * params + 12.0 * static_cast<double>(layers) * c * static_cast<double>(context);
}

const std::vector<TrainModel>& train_models() {
  static const std::vector<TrainModel> models = {
      {.name = "tiny",
       .vocab = 256,
       .block = 256,
       .layers = 4,
       .heads = 4,
       .width = 256,
       .batch = 8,
       .context = 256,
       .warmup_steps = 3,
       .timed_steps = 10},
      {.name = "gpt2",
       .vocab = 50257,
       .block = 1024,
       .layers = 12,
       .heads = 12,
       .width = 768,
       .batch = 1,
       .context = 256,
       .warmup_steps = 2,
       .timed_steps = 5},
  };
  return models;
}

const TrainModel& train_model(const std::string& name) {
  for (const TrainModel& m : train_models()) {
    if (m.name == name) return m;
  }
  fail("strata_bench_train: unknown model '", name, "' (expected tiny or gpt2)");
}

StepTiming time_steps(const TrainModel& m, const std::function<double()>& step) {
  using clock = std::chrono::steady_clock;
  auto cpu_now = [] {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  };
  StepTiming timing;
  for (int i = 0; i < m.warmup_steps; ++i) timing.loss = step();
  std::vector<double> wall, cpu;
  for (int i = 0; i < m.timed_steps; ++i) {
    auto start = clock::now();
    const double cpu_start = cpu_now();
    timing.loss = step();
    cpu.push_back(cpu_now() - cpu_start);
    wall.push_back(std::chrono::duration<double>(clock::now() - start).count());
  }
  auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  timing.median_seconds = median(wall);
  timing.median_cpu_seconds = median(cpu);
  return timing;
}

}  // namespace strata::bench

namespace {

using namespace strata::bench;

constexpr const char* kDescription =
    R"(Training throughput (tokens/s: forward, cross-entropy, backward and an AdamW step on random
tokens; the median over timed steps after warm-up steps) of
  tiny  vocab 256, context 256, 4 layers, 4 heads, width 256, batch 8 x 256 tokens
  gpt2  GPT-2 124M: vocab 50257, 12 layers, 12 heads, width 768, batch 1 x 256 tokens
for, at each thread count:
  strata/default      Strata's nn::GPT and optim::AdamW, environment as is
  strata/best         the same under libtorch/best's environment
  libtorch/installed  tools/torch_reference's GPT in Debian's libtorch 1.13, environment as is
  libtorch/best       the same with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (malloc on huge pages),
                      OPENBLAS_CORETYPE=SkylakeX (OpenBLAS's AVX-512 SGEMM kernels, whatever
                      core OpenBLAS detects) and OMP_WAIT_POLICY=PASSIVE (OpenMP threads sleep at
                      once instead of spinning: on a loaded machine spinning threads lose the CPU)
Each runs in a fresh process: the bench re-runs itself (--child) with that environment, since
glibc and OpenBLAS read it at start-up; OMP_NUM_THREADS and OPENBLAS_NUM_THREADS are set to the
thread count. The libtorch rows exist when the bench was built with libtorch-dev installed;
blas_core is the kernel set OpenBLAS reports (openblas_get_corename), showing the override works.

Also, per model and thread count, the GEMM-bound limit: every GEMM of a training step (forward and
both backward products, at the model's shapes and operand layouts, attention as full T x T
products) timed alone through Strata, in a child under OMP_WAIT_POLICY=PASSIVE;
tokens_per_s there is tokens per step over the summed GEMM time, flops_per_token is nanoGPT's
6 N + 12 L C T, and each throughput row reports fraction_of_gemm_bound against it. cpu_seconds is
the step's process CPU time (all threads; a spinning thread counts). train_ratio rows give each
Strata configuration's throughput over each libtorch configuration's.)";

struct Config {
  std::string library, name;
  std::vector<std::string> env;  // NAME=value; the rest of the environment is inherited
};

// libtorch's best configuration (docs/BENCHMARKS.md), which Strata's rows are also measured under.
constexpr const char* kHugePages = "GLIBC_TUNABLES=glibc.malloc.hugetlb=1";
constexpr const char* kAvx512Blas = "OPENBLAS_CORETYPE=SkylakeX";
constexpr const char* kPassiveWait = "OMP_WAIT_POLICY=PASSIVE";

// Every child starts with the best configuration's variables removed (run_in_child), so "default"
// and "installed" mean the system's defaults even when the caller had set them.
const std::vector<Config>& configs() {
  static const std::vector<Config> all = {
      {"strata", "default", {}},
      {"strata", "best", {kHugePages, kAvx512Blas, kPassiveWait}},
#ifdef STRATA_BENCH_TORCH
      {"libtorch", "installed", {}},
      {"libtorch", "best", {kHugePages, kAvx512Blas, kPassiveWait}},
#endif
  };
  return all;
}

// The child: one measurement. It prints any train_gemm JSON lines, then one line for the parent:
// "result seconds cpu_seconds loss blas_core" for a library, "result seconds flops" for the GEMM
// bound (per step).
int run_child(const std::string& what, const std::string& model_name, int threads, bool quick,
              bool gemms) {
  TrainModel model = train_model(model_name);
  if (quick) {
    model.warmup_steps = 1;
    model.timed_steps = 3;
  }
  if (what == "gemm-bound") {
    GemmBound bound = measure_gemm_bound(model, threads, gemms);
    std::printf("result %.9g %.9g\n", bound.gemm_seconds_per_step, bound.gemm_flops_per_step);
    return 0;
  }
  StepTiming timing;
  std::string core;
  if (what == "strata") {
    timing = train_strata(model, threads);
#ifdef STRATA_BENCH_TORCH
  } else if (what == "libtorch") {
    timing = train_torch(model, threads);
    core = openblas_core();
#endif
  } else {
    std::fprintf(stderr, "strata_bench_train: unknown child '%s'\n", what.c_str());
    return 2;
  }
  std::printf("result %.9g %.9g %.9g %s\n", timing.median_seconds, timing.median_cpu_seconds,
              timing.loss, core.empty() ? "-" : core.c_str());
  return 0;
}

// Runs `self --child what --models model --threads threads [flags]` under env (NAME=value; the rest
// of the environment is inherited, less the variables of libtorch's best configuration), echoes the
// JSON lines it prints and returns the numbers of its result line (empty if it failed).
std::vector<std::string> run_in_child(const std::string& self, const std::vector<std::string>& env,
                                      const std::string& what, const TrainModel& model, int threads,
                                      const std::string& flags) {
  std::string command = "env -u GLIBC_TUNABLES -u OPENBLAS_CORETYPE -u OMP_WAIT_POLICY";
  for (const std::string& var : env) command += " " + var;
  command += " OMP_NUM_THREADS=" + std::to_string(threads) +
             " OPENBLAS_NUM_THREADS=" + std::to_string(threads) + " '" + self + "' --child " +
             what + " --models " + model.name + " --threads " + std::to_string(threads) + flags;
  FILE* pipe = popen(command.c_str(), "r");
  STRATA_CHECK(pipe, "strata_bench_train: cannot run ", command);
  std::vector<std::string> result;
  char line[4096];
  while (std::fgets(line, sizeof(line), pipe)) {
    if (line[0] == '{') {
      std::fputs(line, stdout);
      std::fflush(stdout);
    } else if (!std::strncmp(line, "result ", 7)) {
      std::istringstream words(line + 7);
      for (std::string word; words >> word;) result.push_back(word);
    }
  }
  if (pclose(pipe) != 0) result.clear();
  return result;
}

struct Measured {
  double seconds = NAN, cpu_seconds = NAN, loss = NAN;
  std::string core;
};

std::string self_path() {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  STRATA_CHECK(n > 0, "strata_bench_train: cannot read /proc/self/exe");
  return std::string(path, static_cast<size_t>(n));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> models = {"tiny", "gpt2"};
  std::vector<int64_t> thread_counts = {1, 2};
  int repeat = 2;
  bool quick = false, gemms = false;
  std::string child;
  strata::io::CommandLine cli("strata_bench_train", kDescription);
  cli.flag("models", models, "models to run");
  cli.flag("threads", thread_counts, "thread counts");
  cli.flag("repeat", repeat, "rounds over the configurations; each reports its fastest round");
  cli.flag("quick", quick,
           "1 warm-up and 3 timed steps instead of the defaults (tiny 3 + 10, gpt2 2 + 5)");
  cli.flag("gemms", gemms,
           "also print one train_gemm line per GEMM of the step (shape, layout, GFLOP/s)");
  cli.flag("child", child,
           "internal, how the bench re-runs itself: measure strata, libtorch or gemm-bound in "
           "this process, for the one model of --models at the one count of --threads");
  cli.parse(argc, argv);
  repeat = std::max(1, repeat);
  try {
    if (!child.empty()) {
      STRATA_CHECK(models.size() == 1 && thread_counts.size() == 1,
                   "--child measures one model at one thread count, got ", models.size(),
                   " models and ", thread_counts.size(), " thread counts");
      return run_child(child, models[0], static_cast<int>(thread_counts[0]), quick, gemms);
    }
    const std::string self = self_path();
    for (const std::string& name : models) {
      const TrainModel& model = train_model(name);
      const double tokens = static_cast<double>(model.tokens_per_step());
      for (const int64_t thread_count : thread_counts) {
        const int threads = static_cast<int>(thread_count);
        std::vector<std::string> bound_result = run_in_child(
            self, {kPassiveWait}, "gemm-bound", model, threads, gemms ? " --gemms" : "");
        STRATA_CHECK(bound_result.size() == 2, "strata_bench_train: the GEMM-bound run failed");
        GemmBound bound{std::stod(bound_result[0]), std::stod(bound_result[1])};
        const double bound_tokens_per_s = tokens / bound.gemm_seconds_per_step;
        std::printf(R"({"bench":"train_gemm_bound","name":"%s","threads":%d,)"
                    R"("flops_per_token":%.4g,"gemm_flops_per_token":%.4g,"gemm_gflops":%.1f,)"
                    R"("seconds":%.6g,"tokens_per_s":%.0f})"
                    "\n",
                    name.c_str(), threads, model.flops_per_token(),
                    bound.gemm_flops_per_step / tokens, bound.gflops(), bound.gemm_seconds_per_step,
                    bound_tokens_per_s);
        std::fflush(stdout);
        std::map<std::string, double> throughput;
        // Rounds over all configurations in turn, so that a stretch of load elsewhere on the
        // machine falls on every configuration alike; each keeps its fastest round.
        std::vector<Measured> fastest(configs().size());
        for (int round = 0; round < repeat; ++round) {
          for (size_t c = 0; c < configs().size(); ++c) {
            const Config& config = configs()[c];
            std::vector<std::string> result = run_in_child(self, config.env, config.library, model,
                                                           threads, quick ? " --quick" : "");
            if (result.size() != 4) continue;
            Measured r{std::stod(result[0]), std::stod(result[1]), std::stod(result[2]),
                       result[3] == "-" ? "" : result[3]};
            if (!(r.seconds >= fastest[c].seconds)) fastest[c] = r;
          }
        }
        for (size_t c = 0; c < configs().size(); ++c) {
          const Config& config = configs()[c];
          const Measured& r = fastest[c];
          const double tokens_per_s = tokens / r.seconds;
          throughput[config.library + "/" + config.name] = tokens_per_s;
          std::printf(R"({"bench":"train","name":"%s","library":"%s","config":"%s","threads":%d,)"
                      R"("tokens_per_step":%.0f,"seconds":%.6g,"cpu_seconds":%.6g,)"
                      R"("tokens_per_s":%.0f,"fraction_of_gemm_bound":%.3f,"loss":%.4f)",
                      name.c_str(), config.library.c_str(), config.name.c_str(), threads, tokens,
                      r.seconds, r.cpu_seconds, tokens_per_s, tokens_per_s / bound_tokens_per_s,
                      r.loss);
          if (!r.core.empty()) std::printf(R"(,"blas_core":"%s")", r.core.c_str());
          std::printf("}\n");
          std::fflush(stdout);
        }
        for (const char* strata : {"strata/default", "strata/best"}) {
          for (const char* torch : {"libtorch/installed", "libtorch/best"}) {
            if (!throughput.count(torch)) continue;
            std::printf(R"({"bench":"train_ratio","name":"%s","threads":%d,"strata":"%s",)"
                        R"("libtorch":"%s","ratio":%.3f})"
                        "\n",
                        name.c_str(), threads, strata, torch,
                        throughput[strata] / throughput[torch]);
          }
        }
        std::fflush(stdout);
      }
    }
  } catch (const strata::Error& e) {
    std::fprintf(stderr, "strata_bench_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
