// The environment a launched job gets beyond its own: the variables DeepSpeed's `.deepspeed_env`
// lists (KEY=VALUE lines, in the current directory, then the home directory) and every NCCL_*
// variable of the launcher's environment.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace strata::launch {

using Variables = std::vector<std::pair<std::string, std::string>>;  // (name, value), in order

// Parses a .deepspeed_env's text; `path` only names it in errors. Blank lines and `#` comments are
// skipped; any other line must be KEY=VALUE with KEY a shell variable name, or it is an error
// naming the file and line.
Variables parse_deepspeed_env(const std::string& text, const std::string& path);

// The variables of `cwd`/.deepspeed_env and `home`/.deepspeed_env (either may be missing); a key
// set in both takes the current directory's value, as in DeepSpeed.
Variables read_deepspeed_env(const std::string& cwd, const std::string& home);

// The names of the NCCL_* variables in `environment` (a NULL-terminated `NAME=VALUE` array, such
// as `environ`), sorted.
std::vector<std::string> nccl_variables(const char* const* environment);

}  // namespace strata::launch
