// What the launcher told this process through its environment: which launcher started it, and the
// rank, world size and local rank it assigned. A pure function of the variables, so every
// launcher's layout is testable with fake environments; dist::init() (parallel/dist.hpp) reads the
// real one.
//
// Launchers, in the order they are recognised (mpirun inside a Slurm allocation sets both its own
// variables and Slurm's; its own describe the job):
//   OpenMPI's mpirun:   OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE
//   PMIx (srun --mpi=pmix, prterun): PMIX_RANK (no size or local rank in the environment)
//   PMI-1/2 (MPICH's hydra, srun --mpi=pmi2): PMI_RANK, PMI_SIZE
//   Slurm's srun:       SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID
// A launcher's rank and size are hints: once MPI is initialised, MPI's own are the truth (a program
// run directly in an sbatch script sees SLURM_PROCID=0 and SLURM_NTASKS of the whole allocation,
// yet is a world of one).
#pragma once

#include <functional>
#include <optional>
#include <string_view>

namespace strata::dist {

enum class Launcher { none, openmpi, pmix, pmi, slurm };

const char* launcher_name(Launcher launcher);

struct LaunchEnv {
  Launcher launcher = Launcher::none;  // none: a plain process, a world of one
  std::optional<int> rank;
  std::optional<int> world_size;
  std::optional<int> local_rank;
  std::optional<int> local_size;
};

// Looks a variable up: its value, or null when unset (std::getenv's contract).
using EnvLookup = std::function<const char*(const char* name)>;

// Reads the launcher's variables through `lookup`. Error, naming the variable, for a value that is
// not a non-negative integer or for a rank outside its size.
LaunchEnv parse_launch_env(const EnvLookup& lookup);
// parse_launch_env of this process's environment.
LaunchEnv launch_env();

}  // namespace strata::dist
