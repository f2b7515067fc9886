// Reading a metrics log back (metrics_log.hpp): flat JSON objects, one per line, or CSV rows
// under a header line.
#include "io/metrics_log.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "core/error.hpp"
#include "io/file.hpp"

namespace strata::io {

namespace {

// A cursor over one line, for the two formats the log writes (flat JSON objects, CSV rows).
class LineReader {
 public:
  explicit LineReader(std::string_view line) : line_(line) {}

  bool at_end() const { return at_ == line_.size(); }
  void skip_spaces() {
    while (!at_end() && (line_[at_] == ' ' || line_[at_] == '\t' || line_[at_] == '\r')) ++at_;
  }
  bool next_is(char c) {
    skip_spaces();
    return !at_end() && line_[at_] == c;
  }
  bool take(char c) {
    skip_spaces();
    if (at_end() || line_[at_] != c) return false;
    ++at_;
    return true;
  }
  void expect(char c) {
    if (!take(c)) fail("expected '", c, "' at column ", at_ + 1);
  }
  bool take_word(std::string_view word) {
    skip_spaces();
    if (line_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  double number() {
    skip_spaces();
    double value = 0;
    auto [end, error] = std::from_chars(line_.data() + at_, line_.data() + line_.size(), value);
    if (error != std::errc()) fail("expected a value at column ", at_ + 1);
    at_ = end - line_.data();
    return value;
  }

  // A JSON string: escapes \" \\ \/ \b \f \n \r \t and \u with four hex digits (decoded to
  // UTF-8; no surrogate pairs).
  std::string json_string() {
    expect('"');
    std::string out;
    while (!at_end() && line_[at_] != '"') {
      char c = line_[at_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) break;
      char e = line_[at_++];
      switch (e) {
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': append_utf8(out, hex4()); break;
        default: out += e;
      }
    }
    expect('"');
    return out;
  }

  // A CSV cell: "text" (with "" for a quote), or bare text up to the next comma.
  struct CsvCell {
    std::string text;
    bool quoted;
  };
  CsvCell csv_cell() {
    CsvCell cell{"", take('"')};
    if (!cell.quoted) {
      while (!at_end() && line_[at_] != ',') cell.text += line_[at_++];
      while (!cell.text.empty() && cell.text.back() == ' ') cell.text.pop_back();
      return cell;
    }
    for (;;) {
      if (at_end()) fail("unterminated quoted cell");
      char c = line_[at_++];
      if (c != '"')
        cell.text += c;
      else if (!at_end() && line_[at_] == '"')
        cell.text += line_[at_++];
      else
        return cell;
    }
  }

  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw std::invalid_argument(detail::concat(parts...));
  }

 private:
  unsigned hex4() {
    unsigned code = 0;
    auto [end, error] = std::from_chars(line_.data() + at_,
                                        line_.data() + std::min(at_ + 4, line_.size()), code, 16);
    if (error != std::errc() || end != line_.data() + at_ + 4) fail("bad \\u escape");
    at_ += 4;
    if (code >= 0xD800 && code < 0xE000) fail("\\u surrogates are not supported");
    return code;
  }
  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += char(code);
    } else if (code < 0x800) {
      out += {char(0xC0 | code >> 6), char(0x80 | (code & 0x3F))};
    } else {
      out += {char(0xE0 | code >> 12), char(0x80 | (code >> 6 & 0x3F)), char(0x80 | (code & 0x3F))};
    }
  }

  std::string_view line_;
  size_t at_ = 0;
};

std::vector<LineReader::CsvCell> split_csv(std::string_view line) {
  LineReader in(line);
  std::vector<LineReader::CsvCell> cells;
  do cells.push_back(in.csv_cell());
  while (in.take(','));
  in.skip_spaces();
  if (!in.at_end()) in.fail("text after a quoted cell");
  return cells;
}

// A bare cell that is all number ("2.5", "nan", "-inf") is a number; anything else is text.
MetricField::Value csv_value(LineReader::CsvCell cell) {
  double number = 0;
  const char* end = cell.text.data() + cell.text.size();
  auto [stop, error] = std::from_chars(cell.text.data(), end, number);
  if (!cell.quoted && error == std::errc() && stop == end) return number;
  return std::move(cell.text);
}

// {"step": 10, "split": "val", "loss": null}
MetricsRow parse_json_row(std::string_view line) {
  LineReader in(line);
  MetricsRow row;
  in.expect('{');
  if (!in.take('}')) {
    do {
      std::string name = in.json_string();
      in.expect(':');
      in.skip_spaces();
      if (in.take_word("null"))
        row.emplace_back(std::move(name), std::nan(""));
      else if (in.take_word("true"))
        row.emplace_back(std::move(name), 1.0);
      else if (in.take_word("false"))
        row.emplace_back(std::move(name), 0.0);
      else if (in.next_is('"'))
        row.emplace_back(std::move(name), in.json_string());
      else
        row.emplace_back(std::move(name), in.number());
    } while (in.take(','));
    in.expect('}');
  }
  in.skip_spaces();
  if (!in.at_end()) in.fail("trailing text after the object");
  return row;
}

}  // namespace

bool is_csv_path(const std::filesystem::path& path) { return path.extension() == ".csv"; }

std::optional<double> number_field(const MetricsRow& row, std::string_view name) {
  for (const MetricField& field : row)
    if (field.name == name) {
      if (const double* number = std::get_if<double>(&field.value)) return *number;
      return std::nullopt;
    }
  return std::nullopt;
}

std::optional<std::string> text_field(const MetricsRow& row, std::string_view name) {
  for (const MetricField& field : row)
    if (field.name == name) {
      if (const std::string* text = std::get_if<std::string>(&field.value)) return *text;
      return std::nullopt;
    }
  return std::nullopt;
}

std::vector<MetricsRow> read_metrics(const std::filesystem::path& path) {
  std::string text = read_file(path, "read_metrics");
  bool csv = is_csv_path(path);
  std::vector<std::string> columns;
  std::vector<MetricsRow> rows;
  size_t line_number = 0;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = std::min(text.find('\n', begin), text.size());
    std::string_view line(text.data() + begin, end - begin);
    bool torn = end == text.size();  // the last line, without its newline
    begin = end + 1;
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    try {
      if (!csv) {
        rows.push_back(parse_json_row(line));
        continue;
      }
      std::vector<LineReader::CsvCell> cells = split_csv(line);
      if (columns.empty()) {
        for (auto& cell : cells) columns.push_back(std::move(cell.text));
        continue;
      }
      if (cells.size() != columns.size())
        LineReader(line).fail(cells.size(), " cells, the header has ", columns.size(), " columns");
      MetricsRow row;
      for (size_t c = 0; c < cells.size(); ++c)
        if (cells[c].quoted || !cells[c].text.empty())  // an empty cell: the row leaves it out
          row.emplace_back(columns[c], csv_value(std::move(cells[c])));
      rows.push_back(std::move(row));
    } catch (const std::invalid_argument& error) {
      if (torn) break;
      fail("read_metrics: ", path, " line ", line_number, ": ", error.what());
    }
  }
  return rows;
}

}  // namespace strata::io
