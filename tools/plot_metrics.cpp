// plot_metrics: draws curves from a metrics log (io/metrics_log.hpp, written by the samples) as a
// PNG, e.g. train and validation loss against the step.
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/command_line.hpp"
#include "io/plot_png.hpp"

int main(int argc, char** argv) {
  std::string metrics, out, x_field = "step";
  std::vector<std::string> y_fields = {"loss"};
  strata::io::PlotOptions options;
  strata::io::CommandLine cli("plot_metrics",
                              "Plots fields of a metrics log (JSON Lines, or CSV for a .csv file) "
                              "against a field, one\nline per --y field, and writes the chart as a "
                              "PNG.");
  cli.positional("METRICS.jsonl", metrics, "the metrics log");
  cli.positional("OUT.png", out, "the chart to write");
  cli.flag("x", x_field, "the x axis");
  cli.flag("y", y_fields,
           "the fields to plot; F:SPLIT takes F from the rows whose \"split\" is SPLIT, e.g. "
           "--y loss:train,loss:val");
  cli.flag("title", options.title, "a title above the chart");
  cli.flag("logy", options.log_y, "a logarithmic y axis");
  cli.parse(argc, argv);
  try {
    strata::io::plot_metrics_png(metrics, out, x_field, y_fields, options);
  } catch (const strata::Error& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 1;
  }
  std::printf("wrote %s\n", out.c_str());
  return 0;
}
