// The PNG encoder (png.hpp). Layout: the 8-byte signature, then chunks (length, type, data,
// CRC-32 of type and data): IHDR, IDAT (the zlib stream of the rows, each row a filter byte 0 and
// its RGB bytes), IEND.
#include "io/png.hpp"

#include <zlib.h>

#include "core/error.hpp"
#include "io/file.hpp"

namespace strata::io {

namespace {

void append_be32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>(value >> shift);
}

void append_chunk(std::string& out, const char (&type)[5], const std::string& data) {
  append_be32(out, static_cast<uint32_t>(data.size()));
  std::string body = type + data;
  uLong crc =
      crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  out += body;
  append_be32(out, static_cast<uint32_t>(crc));
}

}  // namespace

std::string encode_png(const Image& image) {
  const int width = image.width(), height = image.height();
  const size_t row_bytes = size_t(width) * 3;
  std::string rows;
  rows.reserve(height * (1 + row_bytes));
  for (int y = 0; y < height; ++y) {
    rows += '\0';  // filter type: none
    rows.append(reinterpret_cast<const char*>(image.rgb().data()) + y * row_bytes, row_bytes);
  }
  std::string deflated(compressBound(static_cast<uLong>(rows.size())), '\0');
  uLongf deflated_size = deflated.size();
  int status = compress2(reinterpret_cast<Bytef*>(deflated.data()), &deflated_size,
                         reinterpret_cast<const Bytef*>(rows.data()), rows.size(), 6);
  STRATA_CHECK(status == Z_OK, "encode_png: zlib's compress2 failed (", status, ")");
  deflated.resize(deflated_size);

  std::string header;
  append_be32(header, width);
  append_be32(header, height);
  header +=
      {8, 2, 0, 0, 0};  // 8 bits per sample, truecolour, deflate, adaptive filters, no interlace
  std::string png = "\x89PNG\r\n\x1a\n";
  append_chunk(png, "IHDR", header);
  append_chunk(png, "IDAT", deflated);
  append_chunk(png, "IEND", "");
  return png;
}

void write_png(const std::filesystem::path& path, const Image& image) {
  write_file(path, encode_png(image), "write_png");  // atomic: temporary name, fsync, rename
}

}  // namespace strata::io
