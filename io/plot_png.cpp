// Line charts as PNG (plot_png.hpp): axis ranges and "nice" ticks, the layout of the margins,
// then the drawing, back to front: grid, series, frame and ticks, labels, legend.
#include "io/plot_png.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "io/bitmap_font.hpp"
#include "io/metrics_log.hpp"
#include "io/png.hpp"

namespace strata::io {

namespace {

constexpr Rgb kWhite{255, 255, 255}, kBlack{0, 0, 0}, kGrid{228, 228, 228}, kGrey{160, 160, 160};
constexpr int kTick = 5;       // tick mark length, pixels
constexpr int kLineWidth = 2;  // series lines, pixels

std::string format(const char* pattern, int precision, double value) {
  char text[32];
  std::snprintf(text, sizeof text, pattern, precision, value);
  return text;
}

// One axis in axis units (log10 of the value on a log axis): the range shown and its ticks.
struct Axis {
  double lo, hi;
  bool log;
  std::vector<double> ticks;
  std::vector<std::string> labels;

  double unit(double value) const { return log ? std::log10(value) : value; }
  bool shows(double value) const { return std::isfinite(value) && (!log || value > 0); }
};

// 1, 2 or 5 times a power of ten, so that about `count` steps cover range.
double nice_step(double range, int count) {
  double raw = range / count, power = std::pow(10, std::floor(std::log10(raw)));
  double f = raw / power;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * power;
}

// As many decimals as the step needs ("0.25" for steps of 0.05), exponents for extreme values.
std::string tick_label(double value, double step) {
  if (std::fabs(value) < step * 1e-6) value = 0;  // not "-0.00" from rounding
  if (std::fabs(value) >= 1e6 || step < 1e-4) return format("%.*g", 3, value);
  return format("%.*f", std::max(0, int(-std::floor(std::log10(step) + 1e-9))), value);
}

void add_linear_ticks(Axis& axis, double lo, double hi, int count, bool log) {
  double step = nice_step(hi - lo, count);
  for (double k = std::ceil(lo / step); k * step <= hi + step * 1e-9; ++k) {  // k * step: no drift
    double t = k * step;
    if (log && t <= 0) continue;
    axis.ticks.push_back(log ? std::log10(t) : t);
    axis.labels.push_back(tick_label(t, step));
  }
}

// [lo, hi] widened by pad of its span on each side (a flat range gets some span).
Axis linear_axis(double lo, double hi, double pad) {
  if (hi <= lo) {
    double span = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= span, hi += span;
  }
  double margin = (hi - lo) * pad;
  Axis axis{lo - margin, hi + margin, false, {}, {}};
  add_linear_ticks(axis, axis.lo, axis.hi, 5, false);
  return axis;
}

// Ticks at powers of ten when the range spans decades, else at 1-2-5 or 1..9 times them, else
// (within one decade's digit) at linear steps.
Axis log_axis(double lo, double hi) {
  double a = std::log10(lo), b = std::log10(hi);
  if (b - a < 1e-6) a -= 0.1, b += 0.1;
  double margin = (b - a) * 0.05;
  Axis axis{a - margin, b + margin, true, {}, {}};
  static const std::vector<std::vector<int>> multiples = {
      {1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
  int stride = std::max(1, int(std::ceil((axis.hi - axis.lo) / 8)));  // at most ~8 decades labelled
  for (const auto& set : multiples) {
    axis.ticks.clear(), axis.labels.clear();
    for (int e = int(std::floor(axis.lo)); e <= int(std::ceil(axis.hi)); ++e)
      for (int m : set) {
        double t = std::log10(m) + e;
        if (t < axis.lo || t > axis.hi || (e % stride + stride) % stride != 0) continue;
        axis.ticks.push_back(t);
        axis.labels.push_back(format("%.*g", 6, m * std::pow(10.0, e)));
      }
    if (axis.ticks.size() >= 3) return axis;
  }
  if (axis.ticks.size() >= 2) return axis;
  axis.ticks.clear(), axis.labels.clear();
  add_linear_ticks(axis, std::pow(10, axis.lo), std::pow(10, axis.hi), 4, true);
  return axis;
}

}  // namespace

Rgb series_colour(size_t i) {
  static constexpr Rgb kColours[] = {
      {31, 119, 180}, {255, 127, 14},  {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
      {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return kColours[i % std::size(kColours)];
}

Image render_line_plot(const std::vector<PlotSeries>& series, const PlotOptions& options) {
  STRATA_CHECK(options.width >= 200 && options.height >= 150,
               "render_line_plot: the image must be at least 200x150 pixels, got ", options.width,
               "x", options.height);
  // The ranges of the points that can be drawn.
  double inf = INFINITY, x_lo = inf, x_hi = -inf, y_lo = inf, y_hi = -inf;
  Axis y_probe{0, 0, options.log_y, {}, {}};
  for (const PlotSeries& s : series) {
    STRATA_CHECK(s.x.size() == s.y.size(), "render_line_plot: series '", s.name, "' has ",
                 s.x.size(), " x values but ", s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !y_probe.shows(s.y[i])) continue;
      x_lo = std::min(x_lo, s.x[i]), x_hi = std::max(x_hi, s.x[i]);
      y_lo = std::min(y_lo, s.y[i]), y_hi = std::max(y_hi, s.y[i]);
    }
  }
  if (x_lo > x_hi) x_lo = 0, x_hi = 1, y_lo = 1, y_hi = 10;  // nothing to draw: empty axes
  Axis x_axis = linear_axis(x_lo, x_hi, 0.02);               // end points clear of the frame
  Axis y_axis = options.log_y ? log_axis(y_lo, y_hi) : linear_axis(y_lo, y_hi, 0.05);

  // Margins: room for the title, the tick labels and the axis labels.
  int y_labels_width = 0;
  for (const auto& label : y_axis.labels)
    y_labels_width = std::max(y_labels_width, text_width(label));
  int last_x_label = x_axis.labels.empty() ? 0 : text_width(x_axis.labels.back());
  int left = 10 + (options.y_label.empty() ? 0 : kLineHeight + 6) + y_labels_width + 4 + kTick;
  int top = options.title.empty() ? 15 : 10 + 2 * kLineHeight + 10;
  int right = options.width - std::max(20, last_x_label / 2 + 6);
  int bottom = options.height - 10 - (options.x_label.empty() ? 0 : kLineHeight + 6) - kLineHeight -
               4 - kTick;
  Rect plot{left, top, right, bottom};
  auto px = [&](double u) {
    return left + (u - x_axis.lo) / (x_axis.hi - x_axis.lo) * (right - 1 - left);
  };
  auto py = [&](double u) {
    return bottom - 1 - (u - y_axis.lo) / (y_axis.hi - y_axis.lo) * (bottom - 1 - top);
  };

  Image image(options.width, options.height, kWhite);
  for (double t : x_axis.ticks)
    image.fill({int(std::lround(px(t))), top, int(std::lround(px(t))) + 1, bottom}, kGrid);
  for (double t : y_axis.ticks)
    image.fill({left, int(std::lround(py(t))), right, int(std::lround(py(t))) + 1}, kGrid);

  for (size_t k = 0; k < series.size(); ++k) {
    const PlotSeries& s = series[k];
    bool joined = false;  // the previous point was drawn: join it to this one
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !y_axis.shows(s.y[i])) {
        joined = false;
        continue;
      }
      double x = px(s.x[i]), y = py(y_axis.unit(s.y[i]));
      size_t from = joined ? i - 1 : i;  // a lone point is a dot
      image.line(px(s.x[from]), py(y_axis.unit(s.y[from])), x, y, series_colour(k), kLineWidth,
                 plot);
      joined = true;
    }
  }

  image.outline(plot, kBlack);
  for (size_t i = 0; i < x_axis.ticks.size(); ++i) {
    int x = int(std::lround(px(x_axis.ticks[i])));
    image.fill({x, bottom, x + 1, bottom + kTick}, kBlack);
    image.text(x - text_width(x_axis.labels[i]) / 2, bottom + kTick + 4, x_axis.labels[i], kBlack);
  }
  for (size_t i = 0; i < y_axis.ticks.size(); ++i) {
    int y = int(std::lround(py(y_axis.ticks[i])));
    image.fill({left - kTick, y, left, y + 1}, kBlack);
    image.text(left - kTick - 4 - text_width(y_axis.labels[i]), y - kGlyphHeight / 2,
               y_axis.labels[i], kBlack);
  }
  image.text((left + right - text_width(options.x_label)) / 2, bottom + kTick + 4 + kLineHeight + 6,
             options.x_label, kBlack);
  image.text(10, (top + bottom - text_width(options.y_label)) / 2, options.y_label, kBlack, 1,
             true);
  image.text((options.width - text_width(options.title, 2)) / 2, 10, options.title, kBlack, 2);

  // The legend, in the top right corner of the plot (where falling loss curves are not).
  int names_width = 0;
  for (const PlotSeries& s : series) names_width = std::max(names_width, text_width(s.name));
  if (names_width > 0) {
    int row = kLineHeight + 4, x1 = right - 8, x0 = x1 - (5 + 20 + 5 + names_width + 5);
    Rect box{x0, top + 8, x1, top + 8 + 6 + int(series.size()) * row};
    image.fill(box, kWhite);
    image.outline(box, kGrey);
    for (size_t k = 0; k < series.size(); ++k) {
      int y = box.y0 + 5 + int(k) * row;
      image.line(x0 + 5, y + 3, x0 + 25, y + 3, series_colour(k), kLineWidth, box);
      image.text(x0 + 30, y, series[k].name, kBlack);
    }
  }
  return image;
}

void write_line_plot_png(const std::filesystem::path& path, const std::vector<PlotSeries>& series,
                         const PlotOptions& options) {
  write_png(path, render_line_plot(series, options));
}

void plot_metrics_png(const std::filesystem::path& metrics_path,
                      const std::filesystem::path& png_path, const std::string& x_field,
                      const std::vector<std::string>& y_fields, PlotOptions options) {
  STRATA_CHECK(!y_fields.empty(), "plot_metrics_png: no y fields to plot from ", metrics_path);
  std::vector<MetricsRow> rows = read_metrics(metrics_path);
  std::vector<PlotSeries> series;
  for (const std::string& spec : y_fields) {
    size_t colon = spec.find(':');
    std::string field = spec.substr(0, colon);
    std::string split = colon == std::string::npos ? "" : spec.substr(colon + 1);
    PlotSeries s{spec, {}, {}};
    for (const MetricsRow& row : rows) {
      if (!split.empty() && text_field(row, "split") != split) continue;
      auto x = number_field(row, x_field), y = number_field(row, field);
      if (x && y) s.x.push_back(*x), s.y.push_back(*y);
    }
    if (s.x.empty()) {
      std::vector<std::string> names;
      for (const MetricsRow& row : rows)
        for (const MetricField& f : row)
          if (std::find(names.begin(), names.end(), f.name) == names.end()) names.push_back(f.name);
      std::string listed;
      for (const std::string& name : names) listed += (listed.empty() ? "" : ", ") + name;
      fail("plot_metrics_png: no row of ", metrics_path, " has the numbers '", x_field, "' and '",
           field, "'", split.empty() ? "" : " with split '" + split + "'",
           "; its fields are: ", listed.empty() ? "(none)" : listed);
    }
    series.push_back(std::move(s));
  }
  if (options.x_label.empty()) options.x_label = x_field;
  if (options.y_label.empty() && y_fields.size() == 1) options.y_label = y_fields[0];
  write_line_plot_png(png_path, series, options);
}

}  // namespace strata::io
