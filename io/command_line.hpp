// Command-line flags for Strata's programs (samples, tools, benchmarks): each flag is bound to a
// variable that holds its default, `--help` lists them all with their defaults, and a mistyped
// flag is an error that names the closest valid one.
//
//   Options options;                        // defaults live in the struct
//   io::CommandLine cli("train_gpt", "Trains a byte-level GPT on the fortunes corpus.");
//   cli.flag("steps", options.steps, "optimizer steps");
//   cli.flag("device", options.device, "cpu or cuda");
//   cli.parse(argc, argv);                  // exits 0 after --help, 2 after a bad flag
//
// Flags read `--name value` or `--name=value`; a bool flag may be given alone (`--plot`). A list
// flag reads a comma-separated value (`--batches 4,8,16`) that replaces its default list.
// Positional arguments (`cli.positional("DIR", dir, "the checkpoint directory")`) take the
// arguments that are not flags, in the order they are declared. A launcher binds the rest of the
// line (`cli.rest("PROGRAM", command, ...)`): everything after `--`, or from the first argument
// that is not a flag once the positionals are filled, is passed through untouched, flags included.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace strata::io {

class CommandLine {
 public:
  CommandLine(std::string program, std::string description);

  void flag(const std::string& name, int64_t& value, const std::string& help);
  void flag(const std::string& name, int& value, const std::string& help);
  void flag(const std::string& name, double& value, const std::string& help);
  void flag(const std::string& name, std::string& value, const std::string& help);
  void flag(const std::string& name, bool& value, const std::string& help);
  // Comma-separated lists; every element must be non-empty (and an integer, for the first).
  void flag(const std::string& name, std::vector<int64_t>& values, const std::string& help);
  void flag(const std::string& name, std::vector<std::string>& values, const std::string& help);
  // A positional argument; optional ones (required = false) must come after the required ones.
  void positional(const std::string& name, std::string& value, const std::string& help,
                  bool required = true);
  // The rest of the command line, verbatim (see the top comment); at most one, after the
  // positionals. It may be left empty.
  void rest(const std::string& name, std::vector<std::string>& values, const std::string& help);

  // Parses argv into the bound variables. On --help prints usage() and exits 0; on an error
  // prints the message and a pointer to --help, and exits 2.
  void parse(int argc, const char* const* argv) const;
  // The same, throwing strata::Error instead of exiting (for tests). Returns false after --help.
  bool try_parse(int argc, const char* const* argv) const;

  std::string usage() const;

 private:
  struct Flag {
    std::string name, help, default_text;
    bool is_bool = false, is_list = false;
    std::function<void(const std::string& text)> set;  // throws on a malformed value
  };
  void add(Flag flag);
  const Flag* find(const std::string& name) const;

  std::string program_, description_;
  std::vector<Flag> flags_;
  struct Positional {
    std::string name, help;
    bool required = true;
    std::string* value = nullptr;
  };
  std::vector<Positional> positionals_;
  Positional rest_help_;
  std::vector<std::string>* rest_ = nullptr;
};

}  // namespace strata::io
