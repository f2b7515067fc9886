// .deepspeed_env parsing and the NCCL_* variables a launch forwards.
#include "launcher/launch_env.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace strata::launch {

namespace {

bool is_variable_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string trim(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace

Variables parse_deepspeed_env(const std::string& text, const std::string& path) {
  Variables variables;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    const std::string content = trim(line);
    if (content.empty() || content[0] == '#') continue;
    const size_t equals = content.find('=');
    const std::string key = trim(content.substr(0, equals));
    STRATA_CHECK(equals != std::string::npos && is_variable_name(key), path, ":", number,
                 ": expected KEY=VALUE (KEY a variable name), got \"", line, "\"");
    variables.emplace_back(key, content.substr(equals + 1));
  }
  return variables;
}

Variables read_deepspeed_env(const std::string& cwd, const std::string& home) {
  Variables merged;
  for (const std::string& dir : {home, cwd}) {  // the current directory's value wins
    const std::string path = dir + "/.deepspeed_env";
    std::ifstream file(path);
    if (dir.empty() || !file) continue;
    std::ostringstream text;
    text << file.rdbuf();
    for (auto& [key, value] : parse_deepspeed_env(text.str(), path)) {
      auto same = std::find_if(merged.begin(), merged.end(),
                               [&](const auto& entry) { return entry.first == key; });
      if (same != merged.end()) {
        same->second = value;
      } else {
        merged.emplace_back(key, value);
      }
    }
  }
  return merged;
}

std::vector<std::string> nccl_variables(const char* const* environment) {
  std::vector<std::string> names;
  for (; environment && *environment; ++environment) {
    const std::string entry = *environment;
    if (entry.rfind("NCCL_", 0) == 0) names.push_back(entry.substr(0, entry.find('=')));
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace strata::launch
