// Parsing the launchers' environment variables (parallel/launch_env.hpp).
#include "parallel/launch_env.hpp"

#include <charconv>
#include <cstdlib>
#include <cstring>

#include "core/error.hpp"

namespace strata::dist {

const char* launcher_name(Launcher launcher) {
  switch (launcher) {
    case Launcher::none: return "none";
    case Launcher::openmpi: return "OpenMPI";
    case Launcher::pmix: return "PMIx";
    case Launcher::pmi: return "PMI";
    case Launcher::slurm: return "Slurm";
  }
  return "unknown";
}

namespace {

// The variable's value as a non-negative integer, or nullopt when unset.
std::optional<int> read_int(const EnvLookup& lookup, const char* name) {
  const char* text = lookup(name);
  if (text == nullptr) return std::nullopt;
  int value = -1;
  const char* end = text + std::strlen(text);
  auto [stop, error] = std::from_chars(text, end, value);
  STRATA_CHECK(error == std::errc() && stop == end && stop != text && value >= 0,
               "dist: environment variable ", name, "='", text,
               "' is not a non-negative integer (set by the launcher; is it overridden?)");
  return value;
}

struct Names {
  Launcher launcher;
  const char* rank;
  const char* size;        // null: the launcher does not export it
  const char* local_rank;  // null: as above
  const char* local_size;  // null: as above
};

constexpr Names kLaunchers[] = {
    {Launcher::openmpi, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
     "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
    {Launcher::pmix, "PMIX_RANK", nullptr, nullptr, nullptr},
    {Launcher::pmi, "PMI_RANK", "PMI_SIZE", nullptr, nullptr},
    {Launcher::slurm, "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", nullptr},
};

void check_below(const std::optional<int>& index, const std::optional<int>& size,
                 const Names& names, const char* index_name, const char* size_name) {
  if (!index || !size) return;
  STRATA_CHECK(*index < *size, "dist: ", launcher_name(names.launcher), "'s ", index_name, "=",
               *index, " is not below ", size_name, "=", *size);
}

}  // namespace

LaunchEnv parse_launch_env(const EnvLookup& lookup) {
  for (const Names& names : kLaunchers) {
    if (lookup(names.rank) == nullptr) continue;
    LaunchEnv env;
    env.launcher = names.launcher;
    env.rank = read_int(lookup, names.rank);
    if (names.size) env.world_size = read_int(lookup, names.size);
    if (names.local_rank) env.local_rank = read_int(lookup, names.local_rank);
    if (names.local_size) env.local_size = read_int(lookup, names.local_size);
    check_below(env.rank, env.world_size, names, names.rank, names.size);
    check_below(env.local_rank, env.local_size, names, names.local_rank, names.local_size);
    return env;
  }
  return {};
}

LaunchEnv launch_env() {
  return parse_launch_env([](const char* name) { return std::getenv(name); });
}

}  // namespace strata::dist
