// DeepSpeed's hostfile: one `host slots=N` line per machine, `#` comments and blank lines allowed.
//
//   worker-1 slots=4   # 4 GPUs
//   worker-2 slots=4
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata::launch {

struct Host {
  std::string name;
  int64_t slots = 0;   // GPUs on the host, or CPU ranks when the job has no GPUs
  std::string origin;  // where it was declared ("hostfile:3"), for error messages
};

// Parses a hostfile's text; `path` only names it in errors. A malformed line or a host listed
// twice is an error naming the file, the line and what is expected.
std::vector<Host> parse_hostfile(const std::string& text, const std::string& path);
std::vector<Host> read_hostfile(const std::string& path);

}  // namespace strata::launch
