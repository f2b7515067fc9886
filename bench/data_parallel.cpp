// strata_bench_dp: data parallelism's cost on this machine, for the GPT of the samples trained
// through the engine (AdamW, clipping) at one OpenMP thread per rank. Run under mpirun:
//
//   OMP_NUM_THREADS=1 mpirun -np 2 build/bench/strata_bench_dp
//
// Three loops alternate in segments of --steps steps, --repeats times after a warm-up segment:
// - single: rank 0 alone trains without a group while the other ranks sleep (they wait in a
//   polled, sleeping barrier, so they leave their cores to it);
// - overlap: every rank trains data-parallel, each bucket reduced as soon as its gradients are
//   ready (zero_optimization.overlap_comm);
// - after backward: the same with overlap_comm off, every bucket reduced after backward.
// Every loop has the same micro-batch per rank. The medians of the segments' seconds per step give
// the scaling efficiency, tokens/s of N ranks / (N * tokens/s of one rank), and the share of the
// reduction hidden behind backward with overlap: 1 - waited / in flight (engine.last_reduction(),
// the wall_clock_breakdown's numbers). Rank 0 prints one JSON line. Not a test: run it (--help).
#include <mpi.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "strata.hpp"
#include "zero/from_config.hpp"

using namespace strata;

namespace {

struct Options {
  int64_t layers = 4, heads = 4, width = 256, context = 128, batch = 8;  // train_gpt's defaults
  int64_t bucket = 1 << 19;  // zero_optimization.reduce_bucket_size, elements
  int64_t steps = 4;         // optimizer steps per timed segment
  int64_t repeats = 5;       // segments of each loop
};

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds of this process, all its threads: a rank's progress thread spinning in MPI while it
// waits for the other ranks shows here, and, unlike the wall clock, not the load of other jobs.
double process_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// A barrier that sleeps while it waits: a rank with nothing to do leaves its core to the others
// (OpenMPI's MPI_Barrier spins).
void sleeping_barrier() {
  MPI_Request request;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  int done = 0;
  for (MPI_Test(&request, &done, MPI_STATUS_IGNORE); !done;
       MPI_Test(&request, &done, MPI_STATUS_IGNORE))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// One training loop: its engine, its batches and its timings.
struct Loop {
  zero::Engine engine;
  Generator batches;
  std::vector<double> seconds_per_step, cpu_seconds_per_step, in_flight_ms, waited_ms;
};

std::unique_ptr<Loop> make_loop(const Options& o, std::shared_ptr<dist::ProcessGroup> group,
                                bool overlap) {
  manual_seed(1);
  auto model = std::make_shared<nn::GPT>(nn::GPTConfig{.vocab_size = 256,
                                                       .block_size = o.context,
                                                       .n_layer = o.layers,
                                                       .n_head = o.heads,
                                                       .n_embd = o.width});
  io::Config config;
  config.train_micro_batch_size_per_gpu = o.batch;
  config.optimizer.type = "AdamW";
  config.optimizer.params = {
      .lr = 1e-3, .betas = std::array<double, 2>{0.9, 0.95}, .weight_decay = 0.1};
  config.gradient_clipping = 1.0;
  config.steps_per_print = 1 << 30;
  config.zero_optimization.reduce_bucket_size = o.bucket;
  config.zero_optimization.overlap_comm = overlap;
  config = config.resolve(group ? group->size() : 1);
  auto optimizer = zero::make_optimizer(config, model->parameters());
  static std::ostringstream log;  // the engine logs nothing at this steps_per_print
  const uint64_t rank = group ? static_cast<uint64_t>(group->rank()) : 0;
  return std::unique_ptr<Loop>(
      new Loop{zero::Engine(config, model, optimizer, nullptr, nullptr, {.out = &log}, group),
               Generator(5 + rank)});
}

void run_segment(Loop& loop, const Options& o, const Tensor& tokens, bool timed) {
  double in_flight = 0, waited = 0;
  const double start = seconds_now(), start_cpu = process_cpu_seconds();
  for (int64_t i = 0; i < o.steps; ++i) {
    io::TokenBatch batch = io::sample_token_windows(tokens, o.batch, o.context, loop.batches);
    Tensor logits = loop.engine(batch.inputs);
    loop.engine.backward(nn::functional::cross_entropy(
        logits.flatten(0, 1), batch.targets.flatten(), {.gradient_into_logits = true}));
    loop.engine.step();
    in_flight += loop.engine.last_reduction().in_flight_ms;
    waited += loop.engine.last_reduction().waited_ms;
  }
  const double seconds = seconds_now() - start, cpu = process_cpu_seconds() - start_cpu;
  if (!timed) return;
  const double steps = static_cast<double>(o.steps);
  loop.seconds_per_step.push_back(seconds / steps);
  loop.cpu_seconds_per_step.push_back(cpu / steps);
  loop.in_flight_ms.push_back(in_flight / steps);
  loop.waited_ms.push_back(waited / steps);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  io::CommandLine cli("strata_bench_dp",
                      "Data-parallel scaling efficiency and the reduction hidden behind backward, "
                      "for the samples' GPT at one thread per rank (run under mpirun -np 2, with "
                      "OMP_NUM_THREADS=1).");
  cli.flag("layers", o.layers, "transformer blocks");
  cli.flag("heads", o.heads, "attention heads");
  cli.flag("width", o.width, "embedding width");
  cli.flag("context", o.context, "tokens per sequence");
  cli.flag("batch", o.batch, "sequences per micro-step on each rank");
  cli.flag("bucket", o.bucket, "reduce_bucket_size: gradient elements per bucket");
  cli.flag("steps", o.steps, "optimizer steps per timed segment");
  cli.flag("repeats", o.repeats, "timed segments of each loop");
  cli.parse(argc, argv);

  dist::InitGuard guard;
  set_num_threads(1);
  auto group = dist::MpiProcessGroup::create_world();
  const int n = group->size();
  STRATA_CHECK(n > 1, "strata_bench_dp: run it under mpirun with 2 or more ranks, got ", n);
  Generator corpus(3);
  const Tensor tokens = randint(0, 256, {1 << 16}, DType::i64, corpus);

  std::unique_ptr<Loop> single;  // rank 0 only
  if (group->rank() == 0) single = make_loop(o, nullptr, false);
  std::unique_ptr<Loop> overlap = make_loop(o, group, true);
  std::unique_ptr<Loop> after_backward = make_loop(o, group, false);
  for (int64_t r = 0; r <= o.repeats; ++r) {
    const bool timed = r > 0;  // the first segments warm up
    if (single) run_segment(*single, o, tokens, timed);
    sleeping_barrier();
    run_segment(*overlap, o, tokens, timed);
    sleeping_barrier();
    run_segment(*after_backward, o, tokens, timed);
    sleeping_barrier();
  }
  if (group->rank() != 0) return 0;

  const double tokens_per_step = static_cast<double>(o.batch * o.context);
  const double single_s = median(single->seconds_per_step);
  const double dp_s = median(overlap->seconds_per_step);
  const double off_s = median(after_backward->seconds_per_step);
  const double in_flight = median(overlap->in_flight_ms), waited = median(overlap->waited_ms);
  const double off_in_flight = median(after_backward->in_flight_ms);
  std::printf(
      "{\"bench\":\"data_parallel\",\"ranks\":%d,\"threads_per_rank\":1,\"parameters\":%lld,"
      "\"micro_batch\":%lld,\"context\":%lld,\"bucket_elements\":%lld,"
      "\"single_ms_per_step\":%.2f,\"single_tokens_per_s\":%.0f,\"dp_ms_per_step\":%.2f,"
      "\"dp_tokens_per_s\":%.0f,\"scaling_efficiency_percent\":%.1f,"
      "\"single_cpu_ms_per_step\":%.2f,\"dp_cpu_ms_per_step\":%.2f,"
      "\"overlap_off_ms_per_step\":%.2f,\"overlap_off_cpu_ms_per_step\":%.2f,\"overlap_off_"
      "reduction_ms\":%.2f,"
      "\"reduction_in_flight_ms\":%.2f,\"reduction_waited_ms\":%.2f,\"hidden_percent\":%.1f}\n",
      n, static_cast<long long>(overlap->engine.flat_parameters().numel()),
      static_cast<long long>(o.batch), static_cast<long long>(o.context),
      static_cast<long long>(o.bucket), 1e3 * single_s, tokens_per_step / single_s, 1e3 * dp_s,
      n * tokens_per_step / dp_s, 100 * single_s / dp_s, 1e3 * median(single->cpu_seconds_per_step),
      1e3 * median(overlap->cpu_seconds_per_step), 1e3 * off_s,
      1e3 * median(after_backward->cpu_seconds_per_step), off_in_flight, in_flight, waited,
      in_flight > 0 ? 100 * (1 - waited / in_flight) : 0.0);
  return 0;
}
