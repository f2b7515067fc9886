// IDX reader (idx.hpp): header checks, then the values decoded from big-endian into a tensor.
#include "io/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/factories.hpp"
#include "io/file.hpp"

namespace strata::io {
namespace {

constexpr const char* kOp = "read_idx";

// Decodes n big-endian values of type Stored at p into out, converted to Out.
template <class Stored, class Out>
void decode_big_endian(const unsigned char* p, int64_t n, void* out) {
  using Bits = std::conditional_t<
      sizeof(Stored) == 1, uint8_t,
      std::conditional_t<sizeof(Stored) == 2, uint16_t,
                         std::conditional_t<sizeof(Stored) == 4, uint32_t, uint64_t>>>;
  auto* dst = static_cast<Out*>(out);
  for (int64_t i = 0; i < n; ++i, p += sizeof(Stored)) {
    Bits bits = 0;
    for (size_t b = 0; b < sizeof(Stored); ++b) bits = static_cast<Bits>(bits << 8 | p[b]);
    dst[i] = static_cast<Out>(std::bit_cast<Stored>(bits));
  }
}

struct IdxType {
  uint8_t code;
  const char* name;
  int64_t bytes;  // per value in the file
  DType dtype;    // of the tensor it is read into
  void (*decode)(const unsigned char*, int64_t, void*);
};
constexpr IdxType kIdxTypes[] = {
    {0x08, "u8", 1, DType::i32, decode_big_endian<uint8_t, int32_t>},
    {0x09, "i8", 1, DType::i32, decode_big_endian<int8_t, int32_t>},
    {0x0B, "i16", 2, DType::i32, decode_big_endian<int16_t, int32_t>},
    {0x0C, "i32", 4, DType::i32, decode_big_endian<int32_t, int32_t>},
    {0x0D, "f32", 4, DType::f32, decode_big_endian<float, float>},
    {0x0E, "f64", 8, DType::f64, decode_big_endian<double, double>},
};

const IdxType& idx_type(uint8_t code, const std::filesystem::path& path) {
  for (const IdxType& type : kIdxTypes)
    if (type.code == code) return type;
  fail(kOp, ": ", path, " has the unknown element type code ", static_cast<int>(code),
       "; expected one of 8 (u8), 9 (i8), 11 (i16), 12 (i32), 13 (f32), 14 (f64)");
}

// An open gzFile, closed on scope exit.
class GzReader {
 public:
  explicit GzReader(const std::filesystem::path& path) : path_(path) {
    file_ = gzopen(path.c_str(), "rb");
    STRATA_CHECK(file_ != nullptr, kOp, ": cannot open ", path, " for reading");
    gzbuffer(file_, 1 << 20);
  }
  ~GzReader() { gzclose(file_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes into dst; fewer only at the end of the data. Throws on corrupt gzip data.
  int64_t read(void* dst, int64_t n) {
    int64_t total = 0;
    while (total < n) {
      auto chunk = static_cast<unsigned>(std::min<int64_t>(n - total, 1 << 30));
      int got = gzread(file_, static_cast<char*>(dst) + total, chunk);
      int status = Z_OK;
      std::string_view message = gzerror(file_, &status);
      // zlib prefixes its message with the path, which the error names already.
      std::string prefix = path_.string() + ": ";
      if (message.starts_with(prefix)) message.remove_prefix(prefix.size());
      STRATA_CHECK(got >= 0 && status == Z_OK, kOp, ": ", path_, " is corrupt: zlib reports '",
                   message, "'");
      if (got == 0) break;
      total += got;
    }
    return total;
  }
  // True when the file is not gzip'd (zlib passes it through unchanged).
  bool plain() const { return gzdirect(file_) != 0; }

 private:
  std::filesystem::path path_;
  gzFile file_;
};

}  // namespace

Tensor read_idx(const std::filesystem::path& path) {
  require_regular_file(path, kOp);
  auto file_bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  GzReader in(path);

  unsigned char magic[4];
  int64_t got = in.read(magic, 4);
  STRATA_CHECK(got == 4, kOp, ": ", path, " is truncated: it holds ", got,
               " bytes, an IDX header needs at least 4");
  STRATA_CHECK(magic[0] == 0 && magic[1] == 0, kOp, ": ", path,
               " is not an IDX file: it starts with the bytes ", static_cast<int>(magic[0]), ", ",
               static_cast<int>(magic[1]), "; expected 0, 0, a type code and the rank");
  const IdxType& type = idx_type(magic[2], path);
  int64_t rank = magic[3];

  std::vector<unsigned char> size_bytes(4 * rank);
  got = in.read(size_bytes.data(), 4 * rank);
  STRATA_CHECK(got == 4 * rank, kOp, ": ", path, " is truncated: its header declares rank ", rank,
               ", which needs ", 4 * rank, " bytes of sizes; found ", got);
  Shape shape(rank);
  int64_t numel = 1;
  for (int64_t d = 0; d < rank; ++d) {
    const unsigned char* p = &size_bytes[4 * d];
    shape[d] = int64_t{p[0]} << 24 | int64_t{p[1]} << 16 | int64_t{p[2]} << 8 | p[3];
    STRATA_CHECK(shape[d] == 0 || numel <= std::numeric_limits<int64_t>::max() / 16 / shape[d], kOp,
                 ": ", path, " is corrupt: its header declares the impossible shape ",
                 shape_str(shape));
    numel *= shape[d];
  }
  int64_t data_bytes = numel * type.bytes;
  int64_t header_bytes = 4 + 4 * rank;
  auto declared = [&] {
    return detail::concat(data_bytes, " bytes of values (shape ", shape_str(shape), " of ",
                          type.name, ")");
  };
  // Check the size before allocating, so that a corrupt header fails here and not in malloc.
  if (in.plain()) {
    STRATA_CHECK(header_bytes + data_bytes == file_bytes, kOp, ": ", path, " is ",
                 header_bytes + data_bytes > file_bytes ? "truncated" : "corrupt",
                 ": its header declares ", declared(), " after the ", header_bytes,
                 "-byte header, but the file holds ", file_bytes - header_bytes, " bytes there");
  } else {
    // Deflate expands by at most 1032:1.
    STRATA_CHECK(data_bytes <= 1032 * file_bytes, kOp, ": ", path,
                 " is corrupt: its header declares ", declared(), ", more than a gzip file of ",
                 file_bytes, " bytes can hold");
  }

  std::vector<unsigned char> raw(data_bytes);
  got = in.read(raw.data(), data_bytes);
  STRATA_CHECK(got == data_bytes, kOp, ": ", path, " is truncated: its header declares ",
               declared(), ", found ", got);
  unsigned char extra;
  STRATA_CHECK(in.read(&extra, 1) == 0, kOp, ": ", path, " is corrupt: it holds more than the ",
               declared(), " that its header declares");

  Tensor out = empty(shape, {type.dtype});
  type.decode(raw.data(), numel, out.data_ptr());
  return out;
}

}  // namespace strata::io
