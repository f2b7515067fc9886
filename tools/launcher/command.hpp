// The command that starts a job: OpenMPI's `mpirun` line, or Slurm's `srun` line inside an
// allocation, built from the chosen slots, the forwarded environment and the user's program.
// Pure functions: strata-run prints the command (--dry_run) or runs it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "launcher/launch_env.hpp"
#include "launcher/resources.hpp"

namespace strata::launch {

struct Job {
  std::vector<HostSlots> hosts;  // one rank per slot, ranks in host order then slot order
  bool cpu_ranks = false;        // ranks without GPUs (--num_procs): placed on the local cores
  int64_t cores = 1;             // cores of this machine, for CPU ranks
  bool omp_threads_set = false;  // OMP_NUM_THREADS is already in the environment
  const char* cuda_visible_devices = nullptr;  // the launcher's, for local slot subsets
  std::string hostname;                        // this machine's, to tell its slots from others'
  std::string master_addr;                     // "" under srun without a hostfile: not exported
  int64_t master_port = 29500;
  std::vector<std::string> forwarded;  // variables passed by name (NCCL_*)
  Variables exports;                   // variables passed with a value (.deepspeed_env)
  bool as_root = false;                // OpenMPI refuses root unless told it is meant
  int64_t slurm_nodes = 0;             // srun without a hostfile: nodes of the allocation to use
  std::vector<std::string> program;    // the user's program and its arguments
};

struct Command {
  Variables environment;  // set for the launcher itself (mpirun reads OMPI_ALLOW_RUN_AS_ROOT*)
  std::vector<std::string> argv;
};

Command mpirun_command(const Job& job);
Command srun_command(const Job& job);

// The command as one line a POSIX shell runs as is: `NAME=value ... argv`, quoted where needed.
std::string shell_line(const Command& command);

// The ranks a job starts.
int64_t rank_count(const Job& job);

// The command that checks ssh reaches `host` without a password prompt, as mpirun needs.
std::vector<std::string> ssh_check_command(const std::string& host);

// What is wrong when the ssh check of `host` (`command`, as shown to the user) exited with
// `status` (the shell's: 127 when ssh is missing) and printed `output`: the cause read from ssh's
// message (a name that does not resolve, no answer, no ssh server, no route, a key or password
// refused, an unknown host key), what to do about it, and ssh's own words.
std::string unreachable_host_message(const std::string& host, const std::string& command,
                                     int status, const std::string& output);

}  // namespace strata::launch
