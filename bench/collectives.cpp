// strata_bench_collectives: the bus bandwidth of Strata's MPI process group beside raw MPI, in the
// same run, for allreduce, reduce_scatter and allgather of f32 tensors. Run under mpirun:
//
//   mpirun -np 2 build/bench/strata_bench_collectives --sizes 1,16,64,256,512
//
// Sizes are in MB (2^20 bytes) of the whole buffer, as nccl-tests counts them: the allreduce
// tensor, reduce_scatter's input, allgather's output. Each call is timed from a barrier to the
// slowest rank's end; the median of --repeats calls (after one warm-up) gives algbw = bytes /
// seconds and busbw = algbw * 2(n-1)/n for allreduce, * (n-1)/n for reduce_scatter and allgather
// (nccl-tests' definitions: the bandwidth each link would carry in a ring, comparable across n);
// best_busbw_gbps is the same from the fastest call (on a loaded machine, a call in which no rank
// lost its core).
// Strata's in-place allreduce is compared with MPI_Allreduce(MPI_IN_PLACE); the others with
// MPI_Reduce_scatter_block and MPI_Allgather, out of place, on the same buffers. Strata is measured
// twice: on ordinary tensors (impl "strata"), and on symmetric ones (impl "strata_symmetric":
// ProcessGroup::empty_symmetric, the allreduce tensor, reduce_scatter's input and allgather's
// output), the buffers the engine reduces. Rank 0 prints one JSON line per measurement. Not a
// test: run it (--help).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "strata.hpp"

using namespace strata;

namespace {

struct Options {
  std::vector<int64_t> sizes = {1, 16, 64};  // MB; the list: 1,16,64,256,512
  std::vector<std::string> ops = {"allreduce", "reduce_scatter", "allgather"};
  int64_t repeats = 5;
};

struct Timing {
  double median, best;  // seconds per call, over repeats of the slowest rank's time
};

// Times repeats calls, after one warm-up call, each from a barrier to the slowest rank's end.
Timing time_calls(const std::function<void()>& call, int64_t repeats) {
  call();
  std::vector<double> samples;
  for (int64_t i = 0; i < repeats; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    double start = MPI_Wtime();
    call();
    double mine = MPI_Wtime() - start, slowest = 0;
    MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    samples.push_back(slowest);
  }
  std::sort(samples.begin(), samples.end());
  return {samples[samples.size() / 2], samples.front()};
}

void report(const std::string& op, const std::string& impl, int64_t bytes, int ranks, Timing t,
            bool shared_memory) {
  if (dist::rank() != 0) return;
  double algbw = bytes / t.median / 1e9;
  double factor = (op == "allreduce" ? 2.0 : 1.0) * (ranks - 1) / ranks;
  std::printf(
      "{\"bench\":\"collectives\",\"op\":\"%s\",\"impl\":\"%s\",\"bytes\":%lld,\"ranks\":%d,"
      "\"dtype\":\"f32\",\"seconds\":%.6f,\"algbw_gbps\":%.3f,\"busbw_gbps\":%.3f,"
      "\"best_busbw_gbps\":%.3f,\"shared_memory\":%s}\n",
      op.c_str(), impl.c_str(), static_cast<long long>(bytes), ranks, t.median, algbw,
      algbw * factor, bytes / t.best / 1e9 * factor,
      impl != "mpi" && shared_memory ? "true" : "false");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  io::CommandLine cli("strata_bench_collectives",
                      "Bus bandwidth of Strata's MPI process group beside raw MPI (run under "
                      "mpirun).");
  cli.flag("sizes", o.sizes, "buffer sizes in MB (the issue's: 1,16,64,256,512)");
  cli.flag("ops", o.ops, "collectives: allreduce, reduce_scatter, allgather");
  cli.flag("repeats", o.repeats, "timed calls per measurement (the median is reported)");
  cli.parse(argc, argv);

  dist::InitGuard guard;
  auto group = dist::MpiProcessGroup::create_world();
  const int n = group->size();
  for (int64_t mb : o.sizes) {
    // Elements of the whole buffer, a multiple of n so every rank's piece is whole.
    const int64_t count = (mb << 20) / 4 / n * n;
    const int64_t bytes = count * 4;
    Tensor a = ones({count}), b = ones({count});
    Tensor symmetric = group->empty_symmetric({count}, DType::f32);
    symmetric.fill_(1.0);
    for (const std::string& op : o.ops) {
      Timing strata_s{}, symmetric_s{}, mpi_s{};
      if (op == "allreduce") {
        strata_s = time_calls([&] { group->allreduce(a); }, o.repeats);
        symmetric_s = time_calls([&] { group->allreduce(symmetric); }, o.repeats);
        mpi_s = time_calls(
            [&] {
              MPI_Allreduce(MPI_IN_PLACE, a.data_ptr(), static_cast<int>(count), MPI_FLOAT, MPI_SUM,
                            MPI_COMM_WORLD);
            },
            o.repeats);
      } else if (op == "reduce_scatter") {
        Tensor out = b.slice(0, 0, count / n);
        strata_s = time_calls([&] { group->reduce_scatter(out, a); }, o.repeats);
        symmetric_s = time_calls([&] { group->reduce_scatter(out, symmetric); }, o.repeats);
        mpi_s = time_calls(
            [&] {
              MPI_Reduce_scatter_block(a.data_ptr(), out.data_ptr(), static_cast<int>(count / n),
                                       MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            },
            o.repeats);
      } else if (op == "allgather") {
        Tensor in = b.slice(0, 0, count / n);
        strata_s = time_calls([&] { group->allgather(a, in); }, o.repeats);
        symmetric_s = time_calls([&] { group->allgather(symmetric, in); }, o.repeats);
        mpi_s = time_calls(
            [&] {
              MPI_Allgather(in.data_ptr(), static_cast<int>(count / n), MPI_FLOAT, a.data_ptr(),
                            static_cast<int>(count / n), MPI_FLOAT, MPI_COMM_WORLD);
            },
            o.repeats);
      } else {
        fail("strata_bench_collectives: unknown op '", op,
             "'; use allreduce, reduce_scatter or allgather");
      }
      report(op, "strata", bytes, n, strata_s, group->shared_memory());
      report(op, "strata_symmetric", bytes, n, symmetric_s, group->shared_memory());
      report(op, "mpi", bytes, n, mpi_s, false);
    }
  }
  return 0;
}
