// mpirun and srun command lines, and their shell rendering.
#include "launcher/command.hpp"

#include <algorithm>
#include <cctype>

#include "core/error.hpp"

namespace strata::launch {

namespace {

std::string join(const std::vector<std::string>& items, char separator) {
  std::string text;
  for (const std::string& item : items)
    text += (text.empty() ? "" : std::string(1, separator)) + item;
  return text;
}

// Slots 0..n-1: the host's first n devices, which each rank finds by its local rank.
bool is_leading(const HostSlots& host) {
  for (size_t i = 0; i < host.slots.size(); ++i) {
    if (host.slots[i] != int64_t(i)) return false;
  }
  return true;
}

std::string host_list(const std::vector<HostSlots>& hosts) {
  std::vector<std::string> items;
  for (const HostSlots& host : hosts)
    items.push_back(host.name + ":" + std::to_string(host.slots.size()));
  return join(items, ',');
}

void append(std::vector<std::string>& argv, const std::vector<std::string>& items) {
  argv.insert(argv.end(), items.begin(), items.end());
}

}  // namespace

int64_t rank_count(const Job& job) {
  int64_t ranks = 0;
  for (const HostSlots& host : job.hosts) ranks += int64_t(host.slots.size());
  return ranks;
}

Command mpirun_command(const Job& job) {
  STRATA_CHECK(!job.program.empty(), "strata-run: no program to launch; put it after the flags");
  Command command;
  if (job.as_root) {
    command.environment = {{"OMPI_ALLOW_RUN_AS_ROOT", "1"},
                           {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}};
  }
  const int64_t ranks = rank_count(job);
  std::vector<std::string>& argv = command.argv;
  argv = {"mpirun"};
  Variables exports;
  if (job.cpu_ranks && ranks <= job.cores) {
    // Each rank gets its own share of the cores, and its OpenMP pool that many threads.
    const int64_t cores_per_rank = job.cores / ranks;
    append(argv, {"--map-by", "slot:PE=" + std::to_string(cores_per_rank), "--bind-to", "core"});
    if (!job.omp_threads_set)
      exports.emplace_back("OMP_NUM_THREADS", std::to_string(cores_per_rank));
  } else {
    // GPU ranks keep every core for data loading and host work (as DeepSpeed's launch does); CPU
    // ranks beyond the core count share the cores, so pinning them would stack them on a few.
    append(argv, {"--bind-to", "none"});
    if (job.cpu_ranks && !job.omp_threads_set) exports.emplace_back("OMP_NUM_THREADS", "1");
  }
  if (!job.master_addr.empty()) exports.emplace_back("MASTER_ADDR", job.master_addr);
  exports.emplace_back("MASTER_PORT", std::to_string(job.master_port));
  for (const auto& [key, value] : exports) append(argv, {"-x", key + "=" + value});
  for (const std::string& name : job.forwarded) append(argv, {"-x", name});
  for (const auto& [key, value] : job.exports) append(argv, {"-x", key + "=" + value});

  if (job.cpu_ranks || std::all_of(job.hosts.begin(), job.hosts.end(), is_leading)) {
    append(argv, {"-np", std::to_string(ranks), "-H", host_list(job.hosts)});
    append(argv, job.program);
    return command;
  }
  // Some host runs on a subset of its GPUs (--include host:1,3): one app context per host, each
  // seeing only its chosen devices, so local rank r uses the r-th of them.
  for (size_t h = 0; h < job.hosts.size(); ++h) {
    const HostSlots& host = job.hosts[h];
    std::vector<std::string> devices;
    for (int64_t slot : host.slots) {
      devices.push_back(is_local_host(host.name, job.hostname)
                            ? local_device(slot, job.cuda_visible_devices)
                            : std::to_string(slot));
    }
    if (h > 0) argv.push_back(":");
    append(argv, {"-np", std::to_string(host.slots.size()), "-H", host_list({host}), "env",
                  "CUDA_VISIBLE_DEVICES=" + join(devices, ',')});
    append(argv, job.program);
  }
  return command;
}

Command srun_command(const Job& job) {
  STRATA_CHECK(!job.program.empty(), "strata-run: no program to launch; put it after the flags");
  const HostSlots& first = job.hosts.front();
  for (const HostSlots& host : job.hosts) {
    STRATA_CHECK(host.slots.size() == first.slots.size(),
                 "--launcher slurm: srun starts the same number of tasks on every node, but host ",
                 first.name, " has ", first.slots.size(), " slots chosen and ", host.name, " has ",
                 host.slots.size());
    STRATA_CHECK(job.cpu_ranks || is_leading(host),
                 "--launcher slurm: Slurm assigns each node's "
                 "GPUs (--gpus-per-node), so a subset such as ",
                 host.name, ":1,3 can only be launched with mpirun");
  }
  const std::string per_node = std::to_string(first.slots.size());
  const int64_t nodes = job.slurm_nodes > 0 ? job.slurm_nodes : int64_t(job.hosts.size());
  Command command;
  std::vector<std::string>& argv = command.argv;
  // --kill-on-bad-exit: a rank that fails ends the whole step, as mpirun does by default, instead
  // of leaving the others waiting in a collective until the time limit.
  argv = {"srun", "--nodes=" + std::to_string(nodes), "--ntasks-per-node=" + per_node,
          "--ntasks=" + std::to_string(nodes * int64_t(first.slots.size())),
          "--kill-on-bad-exit=1"};
  if (job.slurm_nodes == 0) {
    std::vector<std::string> names;
    for (const HostSlots& host : job.hosts) names.push_back(host.name);
    argv.push_back("--nodelist=" + join(names, ','));
  }
  if (!job.cpu_ranks) argv.push_back("--gpus-per-node=" + per_node);
  // ALL passes the launcher's environment, NCCL_* included; the rest are added to it. --export
  // separates entries by commas, so a value cannot hold one.
  std::string exports = "--export=ALL";
  Variables values = job.exports;
  if (!job.master_addr.empty()) values.emplace_back("MASTER_ADDR", job.master_addr);
  values.emplace_back("MASTER_PORT", std::to_string(job.master_port));
  for (const auto& [key, value] : values) {
    STRATA_CHECK(value.find(',') == std::string::npos, "--launcher slurm: ", key, "=", value,
                 " holds a comma, which srun --export cannot pass; use mpirun or set it in the "
                 "sbatch script");
    exports += "," + key + "=" + value;
  }
  argv.push_back(exports);
  append(argv, job.program);
  return command;
}

std::string shell_line(const Command& command) {
  auto quote = [](const std::string& word) {
    const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) ||
             std::string("-_./:=,@%+").find(c) != std::string::npos;
    });
    if (plain) return word;
    std::string quoted = "'";
    for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
  };
  std::vector<std::string> words;
  for (const auto& [key, value] : command.environment) words.push_back(key + "=" + quote(value));
  for (const std::string& word : command.argv) words.push_back(quote(word));
  return join(words, ' ');
}

std::vector<std::string> ssh_check_command(const std::string& host) {
  return {"ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", host, "true"};
}

std::string unreachable_host_message(const std::string& host, const std::string& command,
                                     int status, const std::string& output) {
  // ssh's messages (OpenSSH), the cause each means, and the remedy.
  struct Cause {
    const char* says;
    const char* means;
  };
  static const Cause causes[] = {
      {"Could not resolve hostname",
       "its name does not resolve: check the spelling in the hostfile, DNS or /etc/hosts"},
      {"timed out",
       "it did not answer within 5 s: it is down, the address is wrong, or a firewall drops ssh"},
      {"Connection refused", "no ssh server listens on it: start sshd there, or fix the port"},
      {"No route to host", "no network route leads to it: check its address and the network"},
      {"Network is unreachable", "no network route leads to it: check its address and the network"},
      {"Host key verification failed",
       "its host key is unknown or changed: connect once with ssh to accept it, or fix "
       "~/.ssh/known_hosts"},
      {"Permission denied",
       "it refused this login without a password: mpirun needs key login (set it up with "
       "ssh-copy-id)"},
  };
  std::string cause;
  if (status == 127) {
    cause = "ssh is not installed on this machine (mpirun starts remote ranks with it)";
  } else {
    for (const Cause& c : causes) {
      if (output.find(c.says) != std::string::npos) {
        cause = c.means;
        break;
      }
    }
  }
  if (cause.empty()) cause = "ssh failed for a reason it did not name";
  return "strata-run: host " + host + " cannot be reached: " + cause + ". `" + command +
         "` exited with status " + std::to_string(status) + ": " +
         (output.empty() ? std::string("(no message)") : output);
}

}  // namespace strata::launch
