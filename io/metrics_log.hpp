// A log of training metrics that a user can plot: one row per call, each row named fields (step,
// split, loss, lr, tokens_per_s, ... any names). JSON Lines by default, CSV for a ".csv" path.
// Each row reaches the file in one write, so a crash leaves whole rows only.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace strata::io {

// A named number or text ("split": "val"). Numbers are stored as double, so integers (steps)
// up to 2^53 are exact, and written in the shortest form that reads back to the same double.
// JSON has no NaN or infinity: they are written as null and read back as NaN (CSV keeps them as
// nan, inf, -inf).
struct MetricField {
  using Value = std::variant<double, std::string>;
  std::string name;
  Value value;

  template <class T>
  requires std::is_arithmetic_v<T> MetricField(std::string name, T number)
      : name(std::move(name)), value(double(number)) {}
  MetricField(std::string name, std::string text) : name(std::move(name)), value(std::move(text)) {}
  MetricField(std::string name, const char* text) : name(std::move(name)), value(text) {}
  MetricField(std::string name, Value value) : name(std::move(name)), value(std::move(value)) {}
};

using MetricsRow = std::vector<MetricField>;

// The number named `name` in row, if the row has one (NaN for a null).
std::optional<double> number_field(const MetricsRow& row, std::string_view name);
// The text named `name` in row, if the row has one.
std::optional<std::string> text_field(const MetricsRow& row, std::string_view name);

struct MetricsLogOptions {
  bool append = false;  // keep the rows already in the file (a resumed run)
  // For a ".csv" path, the columns in order (required); a row may leave some out, and a field
  // that is not a column is an error. JSON Lines takes any fields in any row.
  std::vector<std::string> csv_columns;
};

class MetricsLog {
 public:
  explicit MetricsLog(const std::filesystem::path& path, MetricsLogOptions options = {});
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Appends one row, on the file when this returns: log.write({{"step", 10}, {"loss", 2.31}}).
  void write(const MetricsRow& row);

  const std::filesystem::path& path() const { return path_; }

 private:
  void write_line(const std::string& line);

  std::filesystem::path path_;
  std::vector<std::string> csv_columns_;  // empty for JSON Lines
  int fd_ = -1;
};

// True for a ".csv" path: MetricsLog writes and read_metrics reads CSV there, else JSON Lines.
bool is_csv_path(const std::filesystem::path& path);

// The rows of a MetricsLog file (JSON Lines, or CSV for a ".csv" path), in file order. A last
// line without its newline that does not parse (a write cut short) is skipped; any other bad
// line is an error naming the file and line.
std::vector<MetricsRow> read_metrics(const std::filesystem::path& path);

}  // namespace strata::io
