// parse_launch_env on fake environments: each launcher's variables, their precedence, and errors.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "core/error.hpp"
#include "parallel/launch_env.hpp"

using namespace strata::dist;

namespace {

LaunchEnv parse(const std::map<std::string, std::string>& vars) {
  return parse_launch_env([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

}  // namespace

TEST_CASE("no launcher variables: a world of one, no launcher") {
  LaunchEnv env = parse({{"HOME", "/root"}, {"OMPI_MCA_btl", "self"}});
  CHECK(env.launcher == Launcher::none);
  CHECK(!env.rank);
  CHECK(!env.world_size);
  CHECK(!env.local_rank);
}

TEST_CASE("OpenMPI's mpirun: rank, size, local rank and local size") {
  LaunchEnv env = parse({{"OMPI_COMM_WORLD_RANK", "5"},
                         {"OMPI_COMM_WORLD_SIZE", "8"},
                         {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                         {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}});
  CHECK(env.launcher == Launcher::openmpi);
  CHECK(env.rank == 5);
  CHECK(env.world_size == 8);
  CHECK(env.local_rank == 1);
  CHECK(env.local_size == 4);
}

TEST_CASE("Slurm's srun: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID") {
  LaunchEnv env = parse({{"SLURM_PROCID", "6"},
                         {"SLURM_NTASKS", "8"},
                         {"SLURM_LOCALID", "2"},
                         {"SLURM_JOB_ID", "1234"}});
  CHECK(env.launcher == Launcher::slurm);
  CHECK(env.rank == 6);
  CHECK(env.world_size == 8);
  CHECK(env.local_rank == 2);
  CHECK(!env.local_size);
}

TEST_CASE("PMIx and PMI: the rank, and the size where the launcher exports it") {
  LaunchEnv pmix = parse({{"PMIX_RANK", "3"}});
  CHECK(pmix.launcher == Launcher::pmix);
  CHECK(pmix.rank == 3);
  CHECK(!pmix.world_size);
  LaunchEnv pmi = parse({{"PMI_RANK", "1"}, {"PMI_SIZE", "2"}});
  CHECK(pmi.launcher == Launcher::pmi);
  CHECK(pmi.rank == 1);
  CHECK(pmi.world_size == 2);
}

TEST_CASE("mpirun inside a Slurm allocation: OpenMPI's variables describe the job") {
  LaunchEnv env = parse({{"SLURM_PROCID", "0"},
                         {"SLURM_NTASKS", "16"},
                         {"SLURM_LOCALID", "0"},
                         {"PMIX_RANK", "3"},
                         {"OMPI_COMM_WORLD_RANK", "3"},
                         {"OMPI_COMM_WORLD_SIZE", "4"},
                         {"OMPI_COMM_WORLD_LOCAL_RANK", "3"}});
  CHECK(env.launcher == Launcher::openmpi);
  CHECK(env.rank == 3);
  CHECK(env.world_size == 4);
  CHECK(env.local_rank == 3);
}

TEST_CASE("malformed launcher variables are errors naming the variable") {
  CHECK_THROWS_WITH_AS(parse({{"SLURM_PROCID", "x1"}}), doctest::Contains("SLURM_PROCID='x1'"),
                       strata::Error);
  CHECK_THROWS_WITH_AS(parse({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2 "}}),
                       doctest::Contains("SLURM_NTASKS"), strata::Error);
  CHECK_THROWS_WITH_AS(parse({{"OMPI_COMM_WORLD_RANK", "-1"}}),
                       doctest::Contains("not a non-negative integer"), strata::Error);
  CHECK_THROWS_WITH_AS(parse({{"PMI_RANK", ""}}), doctest::Contains("PMI_RANK"), strata::Error);
  CHECK_THROWS_WITH_AS(parse({{"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "4"}}),
                       doctest::Contains("SLURM_PROCID=4 is not below SLURM_NTASKS=4"),
                       strata::Error);
  CHECK_THROWS_WITH_AS(parse({{"OMPI_COMM_WORLD_RANK", "0"},
                              {"OMPI_COMM_WORLD_LOCAL_RANK", "2"},
                              {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}}),
                       doctest::Contains("OMPI_COMM_WORLD_LOCAL_RANK=2 is not below"),
                       strata::Error);
}
