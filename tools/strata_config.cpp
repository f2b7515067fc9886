// strata-config: checks a training config (DeepSpeed's ds_config.json, or YAML) the way the engine
// will read it.
//
//   strata-config validate FILE [--world-size N]   the resolved config as JSON on stdout, every
//                                                  default filled in; the batch triad in words and
//                                                  the accepted-but-inactive keys on stderr
//   strata-config keys                             every key as the Markdown table of
//   docs/CONFIG.md
//
// Exit status: 0 when the config is valid, 1 when it is not, 2 for a usage error.
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/command_line.hpp"
#include "io/config.hpp"
#include "io/config_keys.hpp"

namespace {

const char* const kUsage =
    "Usage: strata-config validate FILE [--world-size N]\n"
    "       strata-config keys\n"
    "Run strata-config validate --help for the flags.\n";

int validate(const std::string& file, int argc, const char* const* argv) {
  int64_t world_size = 1;
  strata::io::CommandLine cli("strata-config validate FILE",
                              "Checks a DeepSpeed-style config (JSON or YAML) and prints it "
                              "resolved, with every default filled in.");
  cli.flag("world-size", world_size, "data-parallel size the batch triad is resolved for");
  cli.parse(argc, argv);
  try {
    strata::io::Config config = strata::io::load_config(file, world_size);
    std::fputs(config.resolve(world_size).to_json().c_str(), stdout);
    std::fprintf(stderr, "%s: valid\n%s\n", file.c_str(), config.explain_batch(world_size).c_str());
    for (const std::string& note : config.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
    return 0;
  } catch (const strata::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string command = argc > 1 ? argv[1] : "";
  if (command == "keys" && argc == 2) {
    std::fputs(strata::io::config_keys_markdown().c_str(), stdout);
    return 0;
  }
  if (command == "validate" && argc > 2 && std::string(argv[2]).rfind("--", 0) != 0) {
    // The flags after FILE, with argv[0] kept for the program name.
    std::vector<const char*> flags = {argv[0]};
    for (int i = 3; i < argc; ++i) flags.push_back(argv[i]);
    return validate(argv[2], static_cast<int>(flags.size()), flags.data());
  }
  if (command == "validate" && argc == 3 &&
      (std::string(argv[2]) == "--help" || std::string(argv[2]) == "-h")) {
    return validate("", argc - 1, argv + 1);  // prints the flags and exits 0
  }
  std::fputs(kUsage, stderr);
  return 2;
}
