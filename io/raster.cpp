// The in-memory RGB image and its drawing (raster.hpp).
#include "io/raster.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/error.hpp"
#include "io/bitmap_font.hpp"

namespace strata::io {

int text_width(std::string_view text, int scale) {
  return text.empty() ? 0 : (static_cast<int>(text.size()) * kGlyphAdvance - 1) * scale;
}

Image::Image(int width, int height, Rgb background)
    : width_(width), height_(height), rgb_(size_t(std::max(width * height, 0)) * 3) {
  STRATA_CHECK(width > 0 && height > 0, "Image: size must be positive, got ", width, "x", height);
  fill({0, 0, width, height}, background);
}

Rgb Image::pixel(int x, int y) const {
  STRATA_CHECK(x >= 0 && x < width_ && y >= 0 && y < height_, "Image::pixel: (", x, ", ", y,
               ") is outside the ", width_, "x", height_, " image");
  const uint8_t* p = &rgb_[(size_t(y) * width_ + x) * 3];
  return {p[0], p[1], p[2]};
}

void Image::set(int x, int y, Rgb colour) {
  if (x < 0 || x >= width_ || y < 0 || y >= height_) return;
  uint8_t* p = &rgb_[(size_t(y) * width_ + x) * 3];
  p[0] = colour.r, p[1] = colour.g, p[2] = colour.b;
}

void Image::fill(Rect rect, Rgb colour) {
  for (int y = std::max(rect.y0, 0); y < std::min(rect.y1, height_); ++y)
    for (int x = std::max(rect.x0, 0); x < std::min(rect.x1, width_); ++x) set(x, y, colour);
}

void Image::outline(Rect rect, Rgb colour) {
  fill({rect.x0, rect.y0, rect.x1, rect.y0 + 1}, colour);
  fill({rect.x0, rect.y1 - 1, rect.x1, rect.y1}, colour);
  fill({rect.x0, rect.y0, rect.x0 + 1, rect.y1}, colour);
  fill({rect.x1 - 1, rect.y0, rect.x1, rect.y1}, colour);
}

// Bresenham over the rounded end points, stamping a thickness x thickness square at each step.
void Image::line(double x0, double y0, double x1, double y1, Rgb colour, int thickness, Rect clip) {
  // Points far outside the image would only cost steps: the callers map data into the plot.
  auto pixel_of = [](double v) { return static_cast<int>(std::lround(std::clamp(v, -1e5, 1e5))); };
  int ax = pixel_of(x0), ay = pixel_of(y0), bx = pixel_of(x1), by = pixel_of(y1);
  int dx = std::abs(bx - ax), dy = -std::abs(by - ay);
  int sx = ax < bx ? 1 : -1, sy = ay < by ? 1 : -1;
  int error = dx + dy, lo = -(thickness - 1) / 2;
  for (;;) {
    for (int oy = lo; oy < lo + thickness; ++oy)
      for (int ox = lo; ox < lo + thickness; ++ox)
        if (clip.contains(ax + ox, ay + oy)) set(ax + ox, ay + oy, colour);
    if (ax == bx && ay == by) break;
    int twice = 2 * error;
    if (twice >= dy) error += dy, ax += sx;
    if (twice <= dx) error += dx, ay += sy;
  }
}

void Image::text(int x, int y, std::string_view text, Rgb colour, int scale, bool vertical) {
  int length = text_width(text, scale);
  for (size_t i = 0; i < text.size(); ++i) {
    const auto& columns = glyph(text[i]);
    for (int c = 0; c < kGlyphWidth; ++c)
      for (int r = 0; r < kGlyphHeight; ++r) {
        if (!(columns[c] >> r & 1)) continue;
        int u = (static_cast<int>(i) * kGlyphAdvance + c) * scale;  // along the text
        int v = r * scale;                                          // down the glyph
        for (int du = 0; du < scale; ++du)
          for (int dv = 0; dv < scale; ++dv) {
            if (vertical)
              set(x + v + dv, y + length - 1 - (u + du), colour);
            else
              set(x + u + du, y + v + dv, colour);
          }
      }
  }
}

}  // namespace strata::io
