// Hostfile parsing: `host slots=N` lines, comments and blank lines.
#include "launcher/hostfile.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace strata::launch {

std::vector<Host> parse_hostfile(const std::string& text, const std::string& path) {
  std::vector<Host> hosts;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    const std::string where = path + ":" + std::to_string(number);
    std::istringstream words(line.substr(0, line.find('#')));
    std::string name, slots, extra;
    if (!(words >> name)) continue;  // blank or comment only
    words >> slots >> extra;
    int64_t count = 0;
    const char* digits = slots.data() + 6;
    const char* end = slots.data() + slots.size();
    bool ok = slots.rfind("slots=", 0) == 0 && extra.empty();
    if (ok) {
      auto [ptr, error] = std::from_chars(digits, end, count);
      ok = error == std::errc() && ptr == end && count > 0;
    }
    STRATA_CHECK(ok, "hostfile ", where, ": expected `host slots=N` with N > 0, got \"", line,
                 "\"");
    for (const Host& seen : hosts) {
      STRATA_CHECK(seen.name != name, "hostfile ", where, ": host ", name,
                   " is listed twice (first at ", seen.origin, "); list each host once");
    }
    hosts.push_back({name, count, where});
  }
  STRATA_CHECK(!hosts.empty(), "hostfile ", path, ": no `host slots=N` line");
  return hosts;
}

std::vector<Host> read_hostfile(const std::string& path) {
  std::ifstream file(path);
  STRATA_CHECK(file, "hostfile ", path, ": cannot be read");
  std::ostringstream text;
  text << file.rdbuf();
  return parse_hostfile(text.str(), path);
}

}  // namespace strata::launch
