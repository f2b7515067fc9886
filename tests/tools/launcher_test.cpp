// strata-run's logic without launching anything: hostfile parsing, include/exclude and
// num_nodes/num_gpus resolution, .deepspeed_env and NCCL_* forwarding, and the mpirun and srun
// lines they produce.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "launcher/command.hpp"
#include "launcher/hostfile.hpp"
#include "launcher/launch_env.hpp"
#include "launcher/resources.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

using launch::HostSlots;
using launch::Selection;
using Slots = std::vector<int64_t>;

const char* const kHostfile =
    "# two GPU nodes and a small one\n"
    "worker-1 slots=4\n"
    "\n"
    "   worker-2 slots=4   # trailing comment\n"
    "worker-3 slots=2\n";

std::vector<launch::Host> hosts() { return launch::parse_hostfile(kHostfile, "hosts"); }

std::vector<HostSlots> select(const Selection& selection) {
  return launch::select_resources(hosts(), selection);
}

bool same(const std::vector<HostSlots>& got, const std::vector<HostSlots>& expected) {
  if (got.size() != expected.size()) return false;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].name != expected[i].name || got[i].slots != expected[i].slots) return false;
  }
  return true;
}

TEST_CASE("hostfile: host slots=N lines, comments and blank lines") {
  std::vector<launch::Host> parsed = hosts();
  REQUIRE(parsed.size() == 3);
  CHECK(parsed[0].name == "worker-1");
  CHECK(parsed[0].slots == 4);
  CHECK(parsed[1].name == "worker-2");
  CHECK(parsed[1].origin == "hosts:4");
  CHECK(parsed[2].slots == 2);
}

TEST_CASE("hostfile: a malformed line or a duplicate host names the file and line") {
  for (const char* line : {"worker-1 4", "worker-1 slots=", "worker-1 slots=0", "worker-1 slots=x",
                           "worker-1 slots=2 extra", "worker-1 gpus=2"}) {
    CAPTURE(line);
    const std::string text = std::string("# header\n") + line + "\n";
    CHECK(test::contains(
        test::error_of([&] { launch::parse_hostfile(text, "hosts"); }),
        "hostfile hosts:2: expected `host slots=N` with N > 0, got \"" + std::string(line) + "\""));
  }
  CHECK(test::contains(
      test::error_of([] { launch::parse_hostfile("a slots=1\nb slots=2\na slots=3\n", "hf"); }),
      "hostfile hf:3: host a is listed twice (first at hf:1)"));
  CHECK(test::contains(test::error_of([] { launch::parse_hostfile("# only\n\n", "hf"); }),
                       "no `host slots=N` line"));
  CHECK(test::contains(test::error_of([] { launch::read_hostfile("/nonexistent/hosts"); }),
                       "/nonexistent/hosts: cannot be read"));
}

TEST_CASE("include and exclude select hosts and slots, DeepSpeed's way") {
  CHECK(same(select({}),
             {{"worker-1", {0, 1, 2, 3}}, {"worker-2", {0, 1, 2, 3}}, {"worker-3", {0, 1}}}));
  // Hostfile order, whatever the order in the filter.
  CHECK(same(select({.include = "worker-3@worker-1:2,0"}),
             {{"worker-1", {0, 2}}, {"worker-3", {0, 1}}}));
  CHECK(same(select({.exclude = "worker-1:0@worker-3"}),
             {{"worker-1", {1, 2, 3}}, {"worker-2", {0, 1, 2, 3}}}));
  CHECK(same(select({.exclude = "worker-3:0,1"}),
             {{"worker-1", {0, 1, 2, 3}}, {"worker-2", {0, 1, 2, 3}}}));
  CHECK(test::contains(test::error_of([] { select({.include = "worker-9"}); }),
                       "--include: host \"worker-9\" is not one of the hosts (worker-1, worker-2, "
                       "worker-3)"));
  CHECK(test::contains(test::error_of([] { select({.include = "worker-3:2"}); }),
                       "host worker-3 has 2 slots (hosts:5), so slot 2 does not exist"));
  CHECK(test::contains(test::error_of([] { select({.exclude = "worker-1:a"}); }),
                       "slot \"a\" of host worker-1 is not a non-negative integer"));
  CHECK(test::contains(test::error_of([] { select({.include = "worker-1@@worker-2"}); }),
                       "expected host[:slot,slot,...] entries joined by @"));
  CHECK(
      test::contains(test::error_of([] { select({.include = "worker-1", .exclude = "worker-2"}); }),
                     "--include and --exclude cannot be used together"));
  CHECK(test::contains(test::error_of([] { select({.include = "worker-1", .num_gpus = 1}); }),
                       "cannot be used with --include/--exclude"));
  CHECK(test::contains(test::error_of([] { select({.exclude = "worker-1@worker-2@worker-3"}); }),
                       "leaves no slot to run on"));
}

TEST_CASE("num_nodes and num_gpus take the first hosts and slots, within the hostfile's slots") {
  CHECK(
      same(select({.num_nodes = 2, .num_gpus = 2}), {{"worker-1", {0, 1}}, {"worker-2", {0, 1}}}));
  CHECK(same(select({.num_nodes = 1}), {{"worker-1", {0, 1, 2, 3}}}));
  CHECK(test::contains(test::error_of([] { select({.num_gpus = 3}); }),
                       "--num_gpus 3 asks for more GPUs per node, but host worker-3 has 2 slots "
                       "(hosts:5)"));
  CHECK(test::contains(test::error_of([] { select({.num_nodes = 4}); }),
                       "--num_nodes 4 asks for more nodes than the 3 host(s) available"));
  CHECK(test::contains(test::error_of([] { select({.num_gpus = 0}); }), "--num_gpus 0"));
  // The local machine: its visible GPUs are its slots.
  launch::Host local = launch::local_host(2, "4,6");
  CHECK(test::contains(test::error_of([&] { launch::select_resources({local}, {.num_gpus = 4}); }),
                       "host localhost has 2 slots (the visible CUDA devices of this machine, "
                       "CUDA_VISIBLE_DEVICES=4,6)"));
  CHECK(launch::local_device(1, "4,6") == "6");
  CHECK(launch::local_device(1, nullptr) == "1");
}

TEST_CASE("CUDA_VISIBLE_DEVICES bounds the slots a hostfile gives this machine") {
  const std::vector<launch::Host> file =
      launch::parse_hostfile("node7 slots=4\nnode8 slots=8\n", "hosts");
  launch::check_local_slots(file, "node7", nullptr);  // unset: the hostfile is trusted
  launch::check_local_slots(file, "node9", "0,1");    // neither host is this machine
  launch::check_local_slots(file, "node7", "4,5,6,7");
  CHECK(test::contains(test::error_of([&] { launch::check_local_slots(file, "node7", "2,3"); }),
                       "hostfile hosts:1: host node7 (this machine) has slots=4, but "
                       "CUDA_VISIBLE_DEVICES=2,3 makes 2 GPU(s) visible here; lower its slots or "
                       "widen CUDA_VISIBLE_DEVICES"));
  CHECK(test::contains(test::error_of([&] { launch::check_local_slots(file, "node7", ""); }),
                       "makes 0 GPU(s) visible here"));
  const std::vector<launch::Host> local = launch::parse_hostfile("localhost slots=2\n", "h");
  CHECK(test::contains(test::error_of([&] { launch::check_local_slots(local, "node7", "1"); }),
                       "host localhost (this machine) has slots=2"));
}

TEST_CASE(".deepspeed_env: KEY=VALUE lines, comments and blank lines; malformed lines named") {
  launch::Variables variables = launch::parse_deepspeed_env(
      "# cluster settings\n\nNCCL_IB_DISABLE=1\n  PYTHONPATH=/a:/b \nEMPTY=\nURL=x=y\n", "env");
  CHECK(variables ==
        launch::Variables{
            {"NCCL_IB_DISABLE", "1"}, {"PYTHONPATH", "/a:/b"}, {"EMPTY", ""}, {"URL", "x=y"}});
  CHECK(test::contains(test::error_of([] { launch::parse_deepspeed_env("A=1\nexport\n", "e"); }),
                       "e:2: expected KEY=VALUE (KEY a variable name), got \"export\""));
  CHECK(test::contains(test::error_of([] { launch::parse_deepspeed_env("1A=x\n", "e"); }),
                       "e:1: expected KEY=VALUE"));

  // The current directory's file wins over the home directory's for the same key.
  const auto root = std::filesystem::temp_directory_path() / "strata_launcher_test";
  std::filesystem::create_directories(root / "cwd");
  std::filesystem::create_directories(root / "home");
  std::ofstream(root / "home" / ".deepspeed_env") << "A=home\nB=home\n";
  std::ofstream(root / "cwd" / ".deepspeed_env") << "# here\nB=cwd\nC=cwd\n";
  CHECK(launch::read_deepspeed_env((root / "cwd").string(), (root / "home").string()) ==
        launch::Variables{{"A", "home"}, {"B", "cwd"}, {"C", "cwd"}});
  CHECK(launch::read_deepspeed_env((root / "none").string(), "").empty());
  std::filesystem::remove_all(root);

  const char* environment[] = {"PATH=/bin", "NCCL_SOCKET_IFNAME=eth0", "NCCL_DEBUG=INFO",
                               "MY_NCCL_X=1", nullptr};
  CHECK(launch::nccl_variables(environment) ==
        std::vector<std::string>{"NCCL_DEBUG", "NCCL_SOCKET_IFNAME"});
}

launch::Job cluster_job() {
  launch::Job job;
  job.hosts = select({.num_nodes = 2});
  job.master_addr = "worker-1";
  job.forwarded = {"NCCL_DEBUG"};
  job.exports = {{"PYTHONPATH", "/a:/b"}};
  job.program = {"train_gpt", "--device", "cuda", "--config", "ds config.json"};
  return job;
}

TEST_CASE("mpirun line: hosts and slots, exports, the program after the launcher's flags") {
  launch::Job job = cluster_job();
  CHECK(launch::rank_count(job) == 8);
  CHECK(launch::shell_line(launch::mpirun_command(job)) ==
        "mpirun --bind-to none -x MASTER_ADDR=worker-1 -x MASTER_PORT=29500 -x NCCL_DEBUG "
        "-x PYTHONPATH=/a:/b -np 8 -H worker-1:4,worker-2:4 train_gpt --device cuda --config "
        "'ds config.json'");

  // A subset of GPUs: one app context per host, each seeing only its chosen devices.
  job.hosts = select({.include = "worker-1:1,3@worker-3"});
  job.as_root = true;
  CHECK(launch::shell_line(launch::mpirun_command(job)) ==
        "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --bind-to none "
        "-x MASTER_ADDR=worker-1 -x MASTER_PORT=29500 -x NCCL_DEBUG -x PYTHONPATH=/a:/b "
        "-np 2 -H worker-1:2 env CUDA_VISIBLE_DEVICES=1,3 train_gpt --device cuda --config "
        "'ds config.json' : -np 2 -H worker-3:2 env CUDA_VISIBLE_DEVICES=0,1 train_gpt --device "
        "cuda --config 'ds config.json'");

  // Local GPU subset under CUDA_VISIBLE_DEVICES: slots index the visible devices.
  launch::Job local;
  local.hosts =
      launch::select_resources({launch::local_host(3, "5,6,7")}, {.include = "localhost:2"});
  local.cuda_visible_devices = "5,6,7";
  local.master_addr = "127.0.0.1";
  local.program = {"prog"};
  CHECK(launch::shell_line(launch::mpirun_command(local)) ==
        "mpirun --bind-to none -x MASTER_ADDR=127.0.0.1 -x MASTER_PORT=29500 -np 1 -H "
        "localhost:1 env CUDA_VISIBLE_DEVICES=7 prog");
  // This machine named by its hostname in a hostfile: the same mapping; another host's slots are
  // its own device numbers.
  local.hostname = "node7";
  local.hosts =
      launch::select_resources(launch::parse_hostfile("node7 slots=3\nnode8 slots=2\n", "hosts"),
                               {.include = "node7:2@node8:1"});
  CHECK(launch::shell_line(launch::mpirun_command(local)) ==
        "mpirun --bind-to none -x MASTER_ADDR=127.0.0.1 -x MASTER_PORT=29500 -np 1 -H node7:1 env "
        "CUDA_VISIBLE_DEVICES=7 prog : -np 1 -H node8:1 env CUDA_VISIBLE_DEVICES=1 prog");
}

TEST_CASE("mpirun line for CPU ranks: cores shared out, or unpinned when ranks exceed cores") {
  launch::Job job;
  job.cpu_ranks = true;
  job.hosts = {{"localhost", {0, 1}}};
  job.cores = 8;
  job.master_addr = "127.0.0.1";
  job.master_port = 6000;
  job.program = {"prog", "it's"};
  CHECK(launch::shell_line(launch::mpirun_command(job)) ==
        "mpirun --map-by slot:PE=4 --bind-to core -x OMP_NUM_THREADS=4 -x MASTER_ADDR=127.0.0.1 "
        "-x MASTER_PORT=6000 -np 2 -H localhost:2 prog 'it'\\''s'");
  job.cores = 1;
  job.omp_threads_set = true;  // the user's OMP_NUM_THREADS is inherited, not overridden
  CHECK(launch::shell_line(launch::mpirun_command(job)) ==
        "mpirun --bind-to none -x MASTER_ADDR=127.0.0.1 -x MASTER_PORT=6000 -np 2 -H localhost:2 "
        "prog 'it'\\''s'");
  job.program.clear();
  CHECK(test::contains(test::error_of([&] { launch::mpirun_command(job); }), "no program"));
}

TEST_CASE("srun line: nodes, tasks per node, exports; what srun cannot express is an error") {
  launch::Job job = cluster_job();
  CHECK(launch::shell_line(launch::srun_command(job)) ==
        "srun --nodes=2 --ntasks-per-node=4 --ntasks=8 --kill-on-bad-exit=1 "
        "--nodelist=worker-1,worker-2 "
        "--gpus-per-node=4 --export=ALL,PYTHONPATH=/a:/b,MASTER_ADDR=worker-1,MASTER_PORT=29500 "
        "train_gpt --device cuda --config 'ds config.json'");

  // Inside an allocation without a hostfile: Slurm's nodes, this node's ranks on each.
  launch::Job allocation;
  allocation.hosts = {{"localhost", {0, 1, 2, 3}}};
  allocation.slurm_nodes = 2;
  allocation.program = {"train_gpt"};
  CHECK(launch::shell_line(launch::srun_command(allocation)) ==
        "srun --nodes=2 --ntasks-per-node=4 --ntasks=8 --kill-on-bad-exit=1 --gpus-per-node=4 "
        "--export=ALL,MASTER_PORT=29500 train_gpt");

  job.hosts = select({});
  CHECK(test::contains(test::error_of([&] { launch::srun_command(job); }),
                       "same number of tasks on every node, but host worker-1 has 4 slots chosen "
                       "and worker-3 has 2"));
  job.hosts = select({.include = "worker-1:1,2"});
  CHECK(test::contains(test::error_of([&] { launch::srun_command(job); }),
                       "can only be launched with mpirun"));
  job.hosts = select({.num_nodes = 1});
  job.exports = {{"LIST", "a,b"}};
  CHECK(
      test::contains(test::error_of([&] { launch::srun_command(job); }), "LIST=a,b holds a comma"));
}

TEST_CASE("ssh reachability: skipped for this machine, BatchMode with a timeout for others") {
  CHECK(launch::is_local_host("localhost", "node7"));
  CHECK(launch::is_local_host("127.0.0.1", "node7"));
  CHECK(launch::is_local_host("node7", "node7"));
  CHECK_FALSE(launch::is_local_host("node8", "node7"));
  CHECK(launch::shell_line({{}, launch::ssh_check_command("node8")}) ==
        "ssh -o BatchMode=yes -o ConnectTimeout=5 node8 true");
}

TEST_CASE("an unreachable host: the cause read from ssh's message, the remedy, ssh's words") {
  const std::string command = "ssh -o BatchMode=yes -o ConnectTimeout=5 node8 true";
  auto message = [&](int status, const std::string& said) {
    return launch::unreachable_host_message("node8", command, status, said);
  };
  const std::string resolve = "ssh: Could not resolve hostname node8: Name or service not known";
  CHECK(message(255, resolve) ==
        "strata-run: host node8 cannot be reached: its name does not resolve: check the spelling "
        "in the hostfile, DNS or /etc/hosts. `" +
            command + "` exited with status 255: " + resolve);
  const std::pair<const char*, const char*> cases[] = {
      {"ssh: connect to host node8 port 22: Connection timed out", "it did not answer within 5 s"},
      {"ssh: connect to host node8 port 22: Connection refused", "no ssh server listens on it"},
      {"ssh: connect to host node8 port 22: No route to host", "no network route leads to it"},
      {"ssh: connect to host node8 port 22: Network is unreachable", "no network route"},
      {"Host key verification failed.", "its host key is unknown or changed"},
      {"root@node8: Permission denied (publickey,password).",
       "it refused this login without a password: mpirun needs key login"},
      {"kex_exchange_identification: read: Connection reset by peer",
       "ssh failed for a reason it did not name"},
  };
  for (const auto& [said, cause] : cases) {
    CAPTURE(std::string(said));
    CHECK(test::contains(message(255, said), std::string("node8 cannot be reached: ") + cause));
    CHECK(test::contains(message(255, said), std::string("status 255: ") + said));
  }
  CHECK(test::contains(message(127, "sh: 1: ssh: not found"),
                       "ssh is not installed on this machine"));
  CHECK(test::contains(message(255, ""), "status 255: (no message)"));
}

}  // namespace
}  // namespace strata
