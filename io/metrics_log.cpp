// The metrics log's writer (metrics_log.hpp); the reader is metrics_read.cpp.
#include "io/metrics_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/error.hpp"
#include "io/file.hpp"
#include "io/json_string.hpp"

namespace strata::io {

namespace {

constexpr std::string_view kOp = "MetricsLog";

// The shortest text that reads back to the same double: "0.0003", "1e-05", "0.1"; integers
// (steps, counts) in full: "1000000", not "1e+06".
std::string number_text(double value) {
  char buffer[32];
  char* end =
      std::fabs(value) < 0x1p53 && value == std::trunc(value)
          ? std::to_chars(buffer, buffer + sizeof buffer, static_cast<int64_t>(value)).ptr
          : std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general).ptr;
  return std::string(buffer, end);
}

std::string csv_cell(const MetricField::Value& value) {
  if (const double* number = std::get_if<double>(&value))
    return std::isnan(*number) ? "nan" : number_text(*number);  // to_chars writes "-nan" too
  std::string out = "\"";
  for (char c : std::get<std::string>(value))
    out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + '"';
}

}  // namespace

MetricsLog::MetricsLog(const std::filesystem::path& path, MetricsLogOptions options)
    : path_(path), csv_columns_(std::move(options.csv_columns)) {
  bool csv = is_csv_path(path);
  STRATA_CHECK(!csv || !csv_columns_.empty(), kOp, ": ", path,
               " is a CSV file: name its columns in MetricsLogOptions::csv_columns");
  STRATA_CHECK(csv || csv_columns_.empty(), kOp, ": csv_columns given, but ", path,
               " is not a .csv path (JSON Lines takes any fields)");
  std::string header;
  for (const std::string& column : csv_columns_) {
    STRATA_CHECK(column.find_first_of(",\"\r\n") == std::string::npos, kOp, ": CSV column '",
                 column, "' contains a comma, quote or line break");
    header += (header.empty() ? "" : ",") + column;
  }

  // Appending: a row cut short by a crash (no newline yet) is dropped, so that the next row
  // starts on a line of its own.
  std::string existing;
  if (options.append && std::filesystem::exists(path)) {
    existing = read_file(path, kOp);
    size_t whole = existing.rfind('\n') == std::string::npos ? 0 : existing.rfind('\n') + 1;
    if (whole < existing.size()) std::filesystem::resize_file(path, whole);
    existing.resize(whole);
  }
  int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (options.append ? 0 : O_TRUNC);
  fd_ = ::open(path.c_str(), flags, 0644);
  STRATA_CHECK(fd_ >= 0, kOp, ": cannot open ", path, " for writing: ", std::strerror(errno));
  if (!csv) return;
  if (existing.empty()) {
    write_line(header + "\n");
    return;
  }
  std::string first = existing.substr(0, existing.find('\n'));
  if (!first.empty() && first.back() == '\r') first.pop_back();
  STRATA_CHECK(first == header, kOp, ": cannot append to ", path, ": its columns are '", first,
               "', this log's are '", header, "'");
}

MetricsLog::~MetricsLog() { ::close(fd_); }

void MetricsLog::write(const MetricsRow& row) {
  std::string line;
  if (csv_columns_.empty()) {
    for (const MetricField& field : row) {
      line += (line.empty() ? "{" : ", ") + json_string(field.name) + ": ";
      const double* number = std::get_if<double>(&field.value);
      if (!number)
        line += json_string(std::get<std::string>(field.value));
      else
        line += std::isfinite(*number) ? number_text(*number) : "null";
    }
    line += line.empty() ? "{}\n" : "}\n";
  } else {
    std::vector<std::string> cells(csv_columns_.size());
    for (const MetricField& field : row) {
      auto column = std::find(csv_columns_.begin(), csv_columns_.end(), field.name);
      STRATA_CHECK(column != csv_columns_.end(), kOp, ": field '", field.name,
                   "' is not one of the CSV columns of ", path_);
      cells[column - csv_columns_.begin()] = csv_cell(field.value);
    }
    for (size_t c = 0; c < cells.size(); ++c) line += (c ? "," : "") + cells[c];
    line += '\n';
  }
  write_line(line);
}

// One write() for the whole line: the row is either on the file or not at all.
void MetricsLog::write_line(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    STRATA_CHECK(n > 0, kOp, ": writing to ", path_, " failed: ", std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

}  // namespace strata::io
