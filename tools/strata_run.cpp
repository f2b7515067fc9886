// strata-run: starts a Strata program on several ranks with DeepSpeed's launcher flags, through
// OpenMPI's mpirun (or Slurm's srun inside an allocation).
//
//   strata-run --num_procs 2 -- train_gpt --steps 100            2 CPU ranks on this machine
//   strata-run train_gpt --device cuda                           one rank per visible GPU
//   strata-run --hostfile hosts --include "w1:0,1@w2" train_gpt  chosen GPUs of a cluster
//
// The logic lives in tools/launcher (tested without launching anything); this file reads the
// flags and the environment, checks remote hosts answer over ssh, and runs the command, exiting
// with the job's status.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/device.hpp"
#include "core/error.hpp"
#include "io/command_line.hpp"
#include "launcher/command.hpp"
#include "launcher/hostfile.hpp"
#include "launcher/launch_env.hpp"
#include "launcher/resources.hpp"

extern char** environ;

namespace {

using namespace strata;

struct Options {
  std::string hostfile, include, exclude, master_addr, launcher = "openmpi";
  int64_t num_nodes = -1, num_gpus = -1, num_procs = 0, master_port = 29500;
  bool dry_run = false;
  std::vector<std::string> program;
};

std::string hostname() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

// Fails naming the host, the cause and ssh's own words when a remote host does not answer: mpirun
// would otherwise stall or print an opaque orted error.
void check_reachable(const std::vector<launch::HostSlots>& hosts) {
  const std::string self = hostname();
  for (const launch::HostSlots& host : hosts) {
    if (launch::is_local_host(host.name, self)) continue;
    launch::Command ssh{{}, launch::ssh_check_command(host.name)};
    const std::string line = launch::shell_line(ssh) + " 2>&1";
    FILE* pipe = popen(line.c_str(), "r");
    STRATA_CHECK(pipe, "strata-run: cannot run ssh to check host ", host.name);
    std::string said;
    char buffer[512];
    while (fgets(buffer, sizeof(buffer), pipe)) said += buffer;
    const int status = pclose(pipe);
    while (!said.empty() && said.back() == '\n') said.pop_back();
    STRATA_CHECK(status == 0, launch::unreachable_host_message(
                                  host.name, launch::shell_line(ssh),
                                  WIFEXITED(status) ? WEXITSTATUS(status) : status, said));
  }
}

launch::Job make_job(const Options& options) {
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  launch::Job job;
  launch::Selection selection{options.include, options.exclude, options.num_nodes,
                              options.num_gpus};
  const bool slurm = options.launcher == "slurm";
  STRATA_CHECK(slurm || options.launcher == "openmpi",
               "--launcher: expected openmpi or slurm, got \"", options.launcher, "\"");
  if (slurm && options.hostfile.empty()) {
    // Inside an allocation the nodes are Slurm's: each gets this node's ranks.
    job.slurm_nodes = std::max<int64_t>(options.num_nodes, 1);
    selection.num_nodes = -1;
  }
  if (options.num_procs > 0) {
    STRATA_CHECK(options.hostfile.empty() && options.include.empty() && options.exclude.empty() &&
                     options.num_gpus < 0,
                 "--num_procs starts CPU ranks on this machine; it cannot be combined with "
                 "--hostfile, --include, --exclude or --num_gpus");
    job.cpu_ranks = true;
    job.hosts =
        launch::select_resources({{"localhost", options.num_procs, "--num_procs"}}, selection);
  } else if (!options.hostfile.empty()) {
    const std::vector<launch::Host> hosts = launch::read_hostfile(options.hostfile);
    launch::check_local_slots(hosts, hostname(), visible);
    job.hosts = launch::select_resources(hosts, selection);
  } else {
    const int gpus = cuda_device_count();
    STRATA_CHECK(gpus > 0, "strata-run: no --hostfile and no visible CUDA device on this machine",
                 visible ? std::string(" (CUDA_VISIBLE_DEVICES=") + visible + ")" : "",
                 "; give --num_procs N to start N CPU ranks");
    job.hosts = launch::select_resources({launch::local_host(gpus, visible)}, selection);
  }
  job.cores = std::max<int64_t>(std::thread::hardware_concurrency(), 1);
  job.omp_threads_set = std::getenv("OMP_NUM_THREADS") != nullptr;
  job.cuda_visible_devices = visible;
  job.hostname = hostname();
  job.master_addr = options.master_addr;
  if (job.master_addr.empty() && job.slurm_nodes == 0) {
    // The first host, by a name the other hosts can resolve when any of them is remote.
    const std::string self = hostname();
    const bool all_local = std::all_of(job.hosts.begin(), job.hosts.end(), [&](const auto& host) {
      return launch::is_local_host(host.name, self);
    });
    const std::string& first = job.hosts.front().name;
    job.master_addr = all_local ? "127.0.0.1" : launch::is_local_host(first, self) ? self : first;
  }
  job.master_port = options.master_port;
  job.forwarded = launch::nccl_variables(environ);
  const char* home = std::getenv("HOME");
  job.exports =
      launch::read_deepspeed_env(std::filesystem::current_path().string(), home ? home : "");
  job.as_root = geteuid() == 0;
  job.program = options.program;
  return job;
}

int run(const Options& options) {
  const launch::Job job = make_job(options);
  const bool slurm = options.launcher == "slurm";
  const launch::Command command = slurm ? launch::srun_command(job) : launch::mpirun_command(job);
  if (options.dry_run) {
    std::printf("%s\n", launch::shell_line(command).c_str());
    return 0;
  }
  if (job.cpu_ranks && launch::rank_count(job) > job.cores) {
    std::fprintf(stderr, "strata-run: %lld ranks on %lld cores: they will share the cores\n",
                 static_cast<long long>(launch::rank_count(job)),
                 static_cast<long long>(job.cores));
  }
  if (!slurm) check_reachable(job.hosts);
  for (const auto& [key, value] : command.environment) setenv(key.c_str(), value.c_str(), 1);
  std::fprintf(stderr, "strata-run: %s\n", launch::shell_line(command).c_str());
  std::fflush(stderr);
  std::vector<char*> argv;
  for (const std::string& word : command.argv) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());  // on success the job's status becomes strata-run's
  std::perror(("strata-run: cannot run " + command.argv[0]).c_str());
  return 127;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  io::CommandLine cli("strata-run",
                      "Launches PROGRAM on several ranks with mpirun (or srun), with DeepSpeed's "
                      "launcher flags. Without --hostfile it runs on this machine: one rank per "
                      "visible GPU (CUDA_VISIBLE_DEVICES is honoured), or --num_procs CPU ranks. "
                      "NCCL_* variables and those listed in .deepspeed_env (current directory, "
                      "then home) are passed to every rank. Exits with the job's status.");
  cli.flag("hostfile", options.hostfile, "hostfile with `host slots=N` lines");
  cli.flag("include", options.include, "hosts/slots to use, e.g. worker-1:0,1@worker-2");
  cli.flag("exclude", options.exclude, "hosts/slots to leave out, same syntax as --include");
  cli.flag("num_nodes", options.num_nodes, "use the first N hosts (-1: all)");
  cli.flag("num_gpus", options.num_gpus, "use the first N GPUs of each host (-1: all)");
  cli.flag("num_procs", options.num_procs, "start N CPU ranks on this machine (0: use the GPUs)");
  cli.flag("master_addr", options.master_addr, "MASTER_ADDR for the ranks (\"\": the first host)");
  cli.flag("master_port", options.master_port, "MASTER_PORT for the ranks");
  cli.flag("launcher", options.launcher, "openmpi (mpirun) or slurm (srun, inside an allocation)");
  cli.flag("dry_run", options.dry_run, "print the command instead of running it");
  cli.rest("PROGRAM", options.program, "the program and its arguments, passed through untouched");
  cli.parse(argc, argv);
  try {
    return run(options);
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
}
