// CommandLine: binding, parsing and --help for program flags.
#include "io/command_line.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "core/error.hpp"

namespace strata::io {

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

template <class T>
T parse_number(const std::string& name, const std::string& text, const char* kind) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, value);
  STRATA_CHECK(error == std::errc() && ptr == end, "--", name, ": expected ", kind, ", got \"",
               text, "\"");
  return value;
}

template <class T>
std::string to_text(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

CommandLine::CommandLine(std::string program, std::string description)
    : program_(std::move(program)), description_(std::move(description)) {}

void CommandLine::add(Flag flag) {
  STRATA_CHECK(!find(flag.name), "CommandLine: flag --", flag.name, " is defined twice");
  flags_.push_back(std::move(flag));
}

void CommandLine::flag(const std::string& name, int64_t& value, const std::string& help) {
  add({name, help, to_text(value), false, [&value, name](const std::string& text) {
         value = parse_number<int64_t>(name, text, "an integer");
       }});
}

void CommandLine::flag(const std::string& name, int& value, const std::string& help) {
  add({name, help, to_text(value), false, [&value, name](const std::string& text) {
         value = parse_number<int>(name, text, "an integer");
       }});
}

void CommandLine::flag(const std::string& name, double& value, const std::string& help) {
  add({name, help, to_text(value), false, [&value, name](const std::string& text) {
         value = parse_number<double>(name, text, "a number");
       }});
}

void CommandLine::flag(const std::string& name, std::string& value, const std::string& help) {
  add({name, help, value.empty() ? "\"\"" : value, false,
       [&value](const std::string& text) { value = text; }});
}

void CommandLine::flag(const std::string& name, bool& value, const std::string& help) {
  add({name, help, value ? "true" : "false", true, [&value, name](const std::string& text) {
         STRATA_CHECK(text == "true" || text == "false" || text == "1" || text == "0", "--", name,
                      ": expected true or false, got \"", text, "\"");
         value = text == "true" || text == "1";
       }});
}

void CommandLine::positional(const std::string& name, std::string& value, const std::string& help,
                             bool required) {
  STRATA_CHECK(!required || positionals_.empty() || positionals_.back().required, program_,
               ": the required argument ", name, " follows an optional one");
  positionals_.push_back({name, help, required, &value});
}

const CommandLine::Flag* CommandLine::find(const std::string& name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool CommandLine::try_parse(int argc, const char* const* argv) const {
  size_t positionals = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return false;
    bool is_flag = arg.rfind("--", 0) == 0 && arg.size() > 2;
    if (!is_flag && positionals < positionals_.size()) {
      *positionals_[positionals++].value = arg;
      continue;
    }
    STRATA_CHECK(is_flag, program_, ": unexpected argument \"", arg,
                 "\"; flags look like --name value or --name=value");
    std::string name = arg.substr(2), text;
    bool has_text = false;
    if (size_t equals = name.find('='); equals != std::string::npos) {
      text = name.substr(equals + 1);
      name = name.substr(0, equals);
      has_text = true;
    }
    const Flag* f = find(name);
    if (!f) {
      const Flag* closest = nullptr;
      size_t best = 4;  // suggest only near misses
      for (const Flag& candidate : flags_) {
        size_t distance = edit_distance(name, candidate.name);
        if (distance < best) best = distance, closest = &candidate;
      }
      fail(program_, ": unknown flag --", name,
           closest ? "; did you mean --" + closest->name + "?" : std::string());
    }
    if (!has_text) {
      bool next_is_value = i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0;
      if (f->is_bool && !(next_is_value && (std::string(argv[i + 1]) == "true" ||
                                            std::string(argv[i + 1]) == "false"))) {
        text = "true";
      } else {
        STRATA_CHECK(next_is_value, program_, ": --", name, " needs a value");
        text = argv[++i];
      }
    }
    f->set(text);
  }
  for (size_t p = positionals; p < positionals_.size(); ++p) {
    STRATA_CHECK(!positionals_[p].required, program_, ": missing the argument ",
                 positionals_[p].name, " (", positionals_[p].help, ")");
  }
  return true;
}

void CommandLine::parse(int argc, const char* const* argv) const {
  try {
    if (!try_parse(argc, argv)) {
      std::fputs(usage().c_str(), stdout);
      std::exit(0);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\nRun %s --help for the list of flags.\n", e.what(), program_.c_str());
    std::exit(2);
  }
}

std::string CommandLine::usage() const {
  std::ostringstream out;
  out << "Usage: " << program_;
  for (const Positional& p : positionals_) out << (p.required ? " " + p.name : " [" + p.name + "]");
  out << " [flags]\n\n" << description_ << "\n\n";
  size_t width = 0;
  for (const Positional& p : positionals_) width = std::max(width, p.name.size());
  if (!positionals_.empty()) out << "Arguments:\n";
  for (const Positional& p : positionals_) {
    out << "  " << p.name << std::string(width - p.name.size() + 2, ' ') << p.help << "\n";
  }
  out << (positionals_.empty() ? "" : "\n") << "Flags:\n";
  width = 0;
  for (const Flag& f : flags_) width = std::max(width, f.name.size());
  for (const Flag& f : flags_) {
    out << "  --" << f.name << std::string(width - f.name.size() + 2, ' ') << f.help << " (default "
        << f.default_text << ")\n";
  }
  out << "  --help" << std::string(width > 4 ? width - 4 + 2 : 2, ' ') << "this text\n";
  return out.str();
}

}  // namespace strata::io
