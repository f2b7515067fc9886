// PNG line plots, decoded here independently of the writer: the signature, every chunk's CRC,
// the inflated rows' size, and where the series' colours land (2-pixel lines, log-scale y).
#include <doctest/doctest.h>

#include <zlib.h>

#include <cmath>
#include <fstream>
#include <iterator>

#include "io/bitmap_font.hpp"
#include "io/metrics_log.hpp"
#include "io/plot_png.hpp"
#include "io_files.hpp"
#include "test_support.hpp"

using namespace strata;
using strata::test::contains;
using strata::test::error_of;

namespace {

struct Decoded {
  int width = 0, height = 0;
  std::vector<uint8_t> rows;  // height * (1 + width * 3): each row a filter byte, then RGB

  io::Rgb pixel(int x, int y) const {
    const uint8_t* p = &rows[size_t(y) * (1 + width * 3) + 1 + x * 3];
    return {p[0], p[1], p[2]};
  }
  // The rows of column x that have colour c, top to bottom.
  std::vector<int> rows_with(int x, io::Rgb c) const {
    std::vector<int> found;
    for (int y = 0; y < height; ++y)
      if (pixel(x, y) == c) found.push_back(y);
    return found;
  }
};

uint32_t be32(const std::string& bytes, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

Decoded decode_png(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes(std::istreambuf_iterator<char>(in), {});
  REQUIRE(bytes.size() > 8);
  REQUIRE(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  Decoded png;
  std::string idat, last_type;
  for (size_t at = 8; at < bytes.size();) {
    REQUIRE(at + 12 <= bytes.size());
    uint32_t length = be32(bytes, at);
    REQUIRE(at + 12 + length <= bytes.size());
    std::string type = bytes.substr(at + 4, 4), data = bytes.substr(at + 8, length);
    uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(bytes.data() + at + 4), length + 4);
    CHECK_MESSAGE(crc == be32(bytes, at + 8 + length), "CRC of chunk " << type);
    if (type == "IHDR") {
      REQUIRE(length == 13);
      png.width = static_cast<int>(be32(data, 0));
      png.height = static_cast<int>(be32(data, 4));
      CHECK(data.substr(8) == std::string("\x08\x02\x00\x00\x00", 5));  // 8-bit RGB
    }
    if (type == "IDAT") idat += data;
    last_type = type;
    at += 12 + length;
  }
  CHECK(last_type == "IEND");
  REQUIRE(png.width > 0);
  uLongf size = png.height * (1 + png.width * 3);
  png.rows.resize(size + 1);  // one spare byte: more data than expected would fill it
  uLongf got = png.rows.size();
  REQUIRE(uncompress(png.rows.data(), &got, reinterpret_cast<const Bytef*>(idat.data()),
                     idat.size()) == Z_OK);
  CHECK(got == size);
  png.rows.resize(size);
  for (int y = 0; y < png.height; ++y) REQUIRE(png.rows[size_t(y) * (1 + png.width * 3)] == 0);
  return png;
}

}  // namespace

TEST_CASE("a line plot is a valid PNG with each series drawn in its colour, 2 pixels wide") {
  test::TempDir dir;
  io::PlotSeries flat{"flat", {}, {}}, rising{"rising", {}, {}};
  for (int i = 0; i <= 10; ++i) {
    flat.x.push_back(i), flat.y.push_back(2.0);
    rising.x.push_back(i), rising.y.push_back(i / 10.0);
  }
  io::PlotOptions options;
  options.title = "Loss", options.x_label = "step", options.y_label = "loss";
  io::write_line_plot_png(dir / "plot.png", {flat, rising}, options);
  CHECK(!std::filesystem::exists(dir / ("plot.png.tmp" + std::to_string(::getpid()))));

  Decoded png = decode_png(dir / "plot.png");
  CHECK(png.width == 800);
  CHECK(png.height == 500);
  CHECK(png.pixel(0, 0) == io::Rgb{255, 255, 255});
  int column = png.width * 2 / 5;  // left of the legend
  auto flat_rows = png.rows_with(column, io::series_colour(0));
  auto rising_rows = png.rows_with(column, io::series_colour(1));
  REQUIRE(flat_rows.size() == 2);  // a horizontal line, 2 pixels thick
  CHECK(flat_rows[1] == flat_rows[0] + 1);
  REQUIRE(!rising_rows.empty());
  CHECK(rising_rows.front() > flat_rows.back());  // y 0.4 is below y 2
  // The title: black pixels in the band above the plot.
  int black = 0;
  for (int y = 0; y < 30; ++y)
    for (int x = 0; x < png.width; ++x) black += png.pixel(x, y) == io::Rgb{0, 0, 0};
  CHECK(black > 20);
}

TEST_CASE("a log-scale y axis draws an exponential as a straight line") {
  io::PlotSeries curve{"10^(x/5)", {}, {}};
  for (int i = 0; i <= 100; ++i)
    curve.x.push_back(i / 10.0), curve.y.push_back(std::pow(10, i / 50.0));
  curve.x.push_back(11), curve.y.push_back(-1);  // not drawable on a log axis: skipped
  auto middle_row = [&](bool log_y, int x) {
    io::PlotOptions options;
    options.log_y = log_y;
    io::Image image = io::render_line_plot({curve}, options);
    double sum = 0;
    int count = 0;
    for (int y = 0; y < image.height(); ++y)
      if (image.pixel(x, y) == io::series_colour(0)) sum += y, ++count;
    REQUIRE(count > 0);
    return sum / count;
  };
  // Three equally spaced columns: equally spaced rows on a log axis only.
  double a = middle_row(true, 240), b = middle_row(true, 340), c = middle_row(true, 440);
  CHECK(std::fabs((a - b) - (b - c)) <= 1.5);
  a = middle_row(false, 240), b = middle_row(false, 340), c = middle_row(false, 440);
  CHECK(std::fabs((a - b) - (b - c)) > 10);
}

TEST_CASE("the bitmap font has a glyph per printable character, and '?' for the rest") {
  CHECK(io::glyph('A') != io::glyph('B'));
  CHECK(io::glyph(' ') == std::array<uint8_t, 5>{});
  CHECK(io::glyph('\x01') == io::glyph('?'));
  for (char c = '!'; c <= '~'; ++c) {
    int bits = 0;
    for (uint8_t column : io::glyph(c)) bits += column != 0 && column < 0x80;
    CHECK_MESSAGE(bits > 0, "glyph of '" << c << "' is empty");
  }
}

TEST_CASE("plot_metrics_png plots train and validation loss from a metrics log") {
  test::TempDir dir;
  {
    io::MetricsLog log(dir / "metrics.jsonl");
    for (int step = 1; step <= 20; ++step) {
      log.write({{"step", step}, {"split", "train"}, {"loss", 4.0 / step}});
      if (step % 5 == 0) log.write({{"step", step}, {"split", "val"}, {"loss", 5.0 / step}});
    }
  }
  io::plot_metrics_png(dir / "metrics.jsonl", dir / "loss.png", "step", {"loss:train", "loss:val"});
  Decoded png = decode_png(dir / "loss.png");
  int column = png.width / 3;
  CHECK(!png.rows_with(column, io::series_colour(0)).empty());
  CHECK(!png.rows_with(column, io::series_colour(1)).empty());

  std::string message = error_of(
      [&] { io::plot_metrics_png(dir / "metrics.jsonl", dir / "x.png", "step", {"accuracy"}); });
  CHECK(contains(message, "'accuracy'"));
  CHECK(contains(message, "its fields are: step, split, loss"));
  CHECK(!std::filesystem::exists(dir / "x.png"));
}

TEST_CASE("degenerate plots: one point, gaps, nothing drawable, and bad input") {
  auto pixels_of = [](const io::Image& image, io::Rgb colour) {
    int count = 0;
    for (int y = 0; y < image.height(); ++y)
      for (int x = 0; x < image.width(); ++x) count += image.pixel(x, y) == colour;
    return count;
  };
  io::Rgb colour = io::series_colour(0);
  // No legend (empty name), so the series' colour can only come from its points.
  io::Image one = io::render_line_plot({{"", {3}, {7}}});
  CHECK(pixels_of(one, colour) == 4);  // a 2x2 dot
  double nan = std::nan("");
  io::Image gap = io::render_line_plot({{"", {0, 1, 2, 3, 4}, {1, nan, 5, nan, 1}}});
  CHECK(pixels_of(gap, colour) == 12);  // three lone points: nothing joins across a gap
  io::Image nothing = io::render_line_plot({{"", {0, 1}, {nan, INFINITY}}});
  CHECK(pixels_of(nothing, colour) == 0);
  io::PlotOptions log;
  log.log_y = true;
  io::Image wide = io::render_line_plot({{"", {0, 1}, {1e-300, 1e300}}}, log);
  CHECK(pixels_of(wide, colour) > 0);

  CHECK(contains(error_of([] {
                   io::render_line_plot({{"s", {1, 2}, {1}}});
                 }),
                 "series 's' has 2 x values but 1 y values"));
  io::PlotOptions tiny;
  tiny.width = 10;
  CHECK(contains(error_of([&] { io::render_line_plot({}, tiny); }), "at least 200x150"));
}
