// CommandLine: binding, parsing and --help for program flags.
#include "io/command_line.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>

#include "core/error.hpp"
#include "io/closest_match.hpp"

namespace strata::io {

namespace {

// The number `text` spells exactly, or nothing.
template <class T>
std::optional<T> number_from(const std::string& text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || ptr != end) return std::nullopt;
  return value;
}

template <class T>
T parse_number(const std::string& name, const std::string& text, const char* kind) {
  std::optional<T> value = number_from<T>(text);
  STRATA_CHECK(value, "--", name, ": expected ", kind, ", got \"", text, "\"");
  return *value;
}

template <class T>
std::string to_text(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// "4,8,16" -> {4, 8, 16}: element(item) converts one element, or returns nothing when it is
// malformed. An empty or malformed element is an error naming the flag, the element and the list.
template <class T, class Element>
std::vector<T> parse_list(const std::string& name, const std::string& text, const char* kind,
                          Element element) {
  std::vector<T> values;
  for (size_t start = 0;;) {
    const size_t end = text.find(',', start);
    const std::string item = text.substr(start, end == std::string::npos ? end : end - start);
    std::optional<T> value = item.empty() ? std::nullopt : element(item);
    STRATA_CHECK(value, "--", name, ": expected a comma-separated list of ", kind, ", but element ",
                 values.size() + 1, " of \"", text, "\" is ",
                 item.empty() ? std::string("empty") : "\"" + item + "\"");
    values.push_back(std::move(*value));
    if (end == std::string::npos) return values;
    start = end + 1;
  }
}

// A list's default as --help shows it: "4,8,16", or "none".
template <class T>
std::string join(const std::vector<T>& values) {
  if (values.empty()) return "none";
  std::string text;
  for (const T& v : values) text += (text.empty() ? "" : ",") + to_text(v);
  return text;
}

}  // namespace

CommandLine::CommandLine(std::string program, std::string description)
    : program_(std::move(program)), description_(std::move(description)) {}

void CommandLine::add(Flag flag) {
  STRATA_CHECK(!find(flag.name), "CommandLine: flag --", flag.name, " is defined twice");
  flags_.push_back(std::move(flag));
}

void CommandLine::flag(const std::string& name, int64_t& value, const std::string& help) {
  add({name, help, to_text(value), false, false, [&value, name](const std::string& text) {
         value = parse_number<int64_t>(name, text, "an integer");
       }});
}

void CommandLine::flag(const std::string& name, int& value, const std::string& help) {
  add({name, help, to_text(value), false, false, [&value, name](const std::string& text) {
         value = parse_number<int>(name, text, "an integer");
       }});
}

void CommandLine::flag(const std::string& name, double& value, const std::string& help) {
  add({name, help, to_text(value), false, false, [&value, name](const std::string& text) {
         value = parse_number<double>(name, text, "a number");
       }});
}

void CommandLine::flag(const std::string& name, std::string& value, const std::string& help) {
  add({name, help, value.empty() ? "\"\"" : value, false, false,
       [&value](const std::string& text) { value = text; }});
}

void CommandLine::flag(const std::string& name, bool& value, const std::string& help) {
  add({name, help, value ? "true" : "false", true, false, [&value, name](const std::string& text) {
         STRATA_CHECK(text == "true" || text == "false" || text == "1" || text == "0", "--", name,
                      ": expected true or false, got \"", text, "\"");
         value = text == "true" || text == "1";
       }});
}

void CommandLine::flag(const std::string& name, std::vector<int64_t>& values,
                       const std::string& help) {
  add({name, help, join(values), false, true, [&values, name](const std::string& text) {
         values = parse_list<int64_t>(name, text, "integers", number_from<int64_t>);
       }});
}

void CommandLine::flag(const std::string& name, std::vector<std::string>& values,
                       const std::string& help) {
  add({name, help, join(values), false, true, [&values, name](const std::string& text) {
         values = parse_list<std::string>(
             name, text, "values", [](const std::string& item) { return std::optional(item); });
       }});
}

void CommandLine::positional(const std::string& name, std::string& value, const std::string& help,
                             bool required) {
  STRATA_CHECK(!required || positionals_.empty() || positionals_.back().required, program_,
               ": the required argument ", name, " follows an optional one");
  positionals_.push_back({name, help, required, &value});
}

void CommandLine::rest(const std::string& name, std::vector<std::string>& values,
                       const std::string& help) {
  STRATA_CHECK(!rest_, program_, ": the rest of the command line is bound twice");
  rest_help_ = {name, help, false, nullptr};
  rest_ = &values;
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
    if (rest_ && (arg == "--" || !is_flag)) {
      rest_->assign(argv + i + (arg == "--" ? 1 : 0), argv + argc);
      break;
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
      std::vector<std::string> names;
      for (const Flag& candidate : flags_) names.push_back(candidate.name);
      std::optional<std::string> closest = closest_match(name, names);
      fail(program_, ": unknown flag --", name,
           closest ? "; did you mean --" + *closest + "?" : std::string());
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
  out << " [flags]" << (rest_ ? " [--] " + rest_help_.name + "..." : "") << "\n\n"
      << description_ << "\n\n";
  std::vector<Positional> arguments = positionals_;
  if (rest_) arguments.push_back(rest_help_);
  size_t width = 0;
  for (const Positional& p : arguments) width = std::max(width, p.name.size());
  if (!arguments.empty()) out << "Arguments:\n";
  for (const Positional& p : arguments) {
    out << "  " << p.name << std::string(width - p.name.size() + 2, ' ') << p.help << "\n";
  }
  out << (arguments.empty() ? "" : "\n") << "Flags:\n";
  width = 0;
  for (const Flag& f : flags_) width = std::max(width, f.name.size());
  for (const Flag& f : flags_) {
    out << "  --" << f.name << std::string(width - f.name.size() + 2, ' ') << f.help
        << (f.is_list ? " (comma-separated; default " : " (default ") << f.default_text << ")\n";
  }
  out << "  --help" << std::string(width > 4 ? width - 4 + 2 : 2, ' ') << "this text\n";
  return out.str();
}

}  // namespace strata::io
