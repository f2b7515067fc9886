// plot_metrics: draws curves from a metrics log (io/metrics_log.hpp, written by the samples) as a
// PNG, e.g. train and validation loss against the step.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/plot_png.hpp"

namespace {

constexpr const char* kUsage =
    "usage: plot_metrics METRICS.jsonl OUT.png [--x step] [--y loss,val_loss] [--title T] "
    "[--logy]\n"
    "\n"
    "Plots fields of a metrics log (JSON Lines, or CSV for a .csv file) against a field, one\n"
    "line per --y field, and writes the chart as a PNG.\n"
    "  --x FIELD      the x axis (default: step)\n"
    "  --y F1,F2,...  the fields to plot (default: loss); F:SPLIT takes F from the rows whose\n"
    "                 \"split\" is SPLIT, e.g. --y loss:train,loss:val\n"
    "  --title T      a title above the chart\n"
    "  --logy         a logarithmic y axis\n";

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> parts;
  for (size_t begin = 0; begin <= list.size();) {
    size_t end = std::min(list.find(',', begin), list.size());
    if (end > begin) parts.push_back(list.substr(begin, end - begin));
    begin = end + 1;
  }
  return parts;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "plot_metrics: %s\n\n%s", message.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> paths;
  std::string x_field = "step";
  std::vector<std::string> y_fields = {"loss"};
  strata::io::PlotOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool has_value = i + 1 < argc;
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--logy") {
      options.log_y = true;
    } else if (arg == "--x" || arg == "--y" || arg == "--title") {
      if (!has_value) return usage_error(arg + " needs a value");
      std::string value = argv[++i];
      if (arg == "--x") x_field = value;
      if (arg == "--y") y_fields = split_commas(value);
      if (arg == "--title") options.title = value;
    } else if (arg.starts_with("--")) {
      return usage_error("unknown option " + arg);
    } else {
      paths.push_back(arg);
    }
  }
  if (paths.size() != 2) return usage_error("expected METRICS.jsonl and OUT.png");
  if (y_fields.empty()) return usage_error("--y names no field");
  try {
    strata::io::plot_metrics_png(paths[0], paths[1], x_field, y_fields, options);
  } catch (const strata::Error& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 1;
  }
  std::printf("wrote %s\n", paths[1].c_str());
  return 0;
}
