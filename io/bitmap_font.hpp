// A 5x7 bitmap font for printable ASCII, for the text of plots written without a font library.
#pragma once

#include <array>
#include <cstdint>

namespace strata::io {

// A glyph is 5 columns, left to right; bit r of a column is row r from the top (rows 0-6).
// Text advances 6 pixels per character and lines are 8 pixels apart, so glyphs never touch.
constexpr int kGlyphWidth = 5, kGlyphHeight = 7, kGlyphAdvance = 6, kLineHeight = 8;

// The glyph of c; characters outside ' '..'~' get '?'.
const std::array<uint8_t, kGlyphWidth>& glyph(char c);

}  // namespace strata::io
