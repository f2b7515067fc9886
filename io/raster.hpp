// An RGB image in memory and the drawing a line chart needs: filled rectangles, thick lines
// clipped to a rectangle, and text in the built-in bitmap font (horizontal or rotated).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace strata::io {

struct Rgb {
  uint8_t r, g, b;
  bool operator==(const Rgb&) const = default;
};

// Pixels [x0, x1) x [y0, y1); y grows downwards.
struct Rect {
  int x0, y0, x1, y1;
  bool contains(int x, int y) const { return x >= x0 && x < x1 && y >= y0 && y < y1; }
};

// Width in pixels of text drawn at `scale` (each font pixel a scale x scale square).
int text_width(std::string_view text, int scale = 1);

class Image {
 public:
  Image(int width, int height, Rgb background);

  int width() const { return width_; }
  int height() const { return height_; }
  Rgb pixel(int x, int y) const;
  const std::vector<uint8_t>& rgb() const { return rgb_; }  // [height][width][3]

  void set(int x, int y, Rgb colour);  // ignores pixels outside the image
  void fill(Rect rect, Rgb colour);
  void outline(Rect rect, Rgb colour);  // the 1-pixel border inside rect

  // A line between two points in pixel coordinates, `thickness` pixels wide; only the pixels
  // inside clip are drawn.
  void line(double x0, double y0, double x1, double y1, Rgb colour, int thickness, Rect clip);

  // Text whose box has its top-left corner at (x, y). Vertical text reads bottom to top (a y
  // axis label): its box is 8*scale wide and text_width(text, scale) tall.
  void text(int x, int y, std::string_view text, Rgb colour, int scale = 1, bool vertical = false);

 private:
  int width_, height_;
  std::vector<uint8_t> rgb_;
};

}  // namespace strata::io
