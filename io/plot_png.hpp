// Line charts written as PNG without a plotting library: axes with numeric ticks, a light grid,
// one colour per series, a legend, a title and axis labels, optionally a log-scale y axis. Enough
// to look at a training run's loss curves (tools/plot_metrics, the samples' --plot).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "io/raster.hpp"

namespace strata::io {

struct PlotSeries {
  std::string name;  // shown in the legend
  std::vector<double> x,
      y;  // same length; a non-finite y (or y <= 0 on a log axis) breaks the line
};

struct PlotOptions {
  std::string title, x_label, y_label;
  bool log_y = false;
  int width = 800, height = 500;  // pixels
};

// The colour of the i-th series (matplotlib's ten, then around again).
Rgb series_colour(size_t i);

// The chart as an image, and written as a PNG file (through a temporary name, then renamed).
Image render_line_plot(const std::vector<PlotSeries>& series, const PlotOptions& options = {});
void write_line_plot_png(const std::filesystem::path& path, const std::vector<PlotSeries>& series,
                         const PlotOptions& options = {});

// Plots fields of a MetricsLog file (metrics_log.hpp) against x_field, one series per y field.
// A y field "loss:val" takes loss from the rows whose "split" is "val" only. Rows without the x
// field or the y field are skipped; a field found in no row is an error that lists the fields
// the file has. Empty axis labels default to x_field and, for one series, its field.
void plot_metrics_png(const std::filesystem::path& metrics_path,
                      const std::filesystem::path& png_path, const std::string& x_field,
                      const std::vector<std::string>& y_fields, PlotOptions options = {});

}  // namespace strata::io
