// The metrics log: JSON Lines and CSV round trips (arbitrary fields, text, NaN and infinities,
// exact doubles), rows cut short by a crash, appending, and the errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

#include "io/file.hpp"
#include "io/metrics_log.hpp"
#include "io_files.hpp"
#include "test_support.hpp"

using namespace strata;
using strata::test::contains;
using strata::test::error_of;

namespace {

double number(const io::MetricsRow& row, const std::string& name) {
  auto value = io::number_field(row, name);
  REQUIRE(value.has_value());
  return *value;
}

}  // namespace

TEST_CASE("JSON Lines round-trip any fields, text, exact doubles, and NaN/inf as null") {
  test::TempDir dir;
  const double third = 1.0 / 3, tiny = std::numeric_limits<double>::denorm_min();
  {
    io::MetricsLog log(dir / "metrics.jsonl");
    log.write({{"step", 1},
               {"split", "train"},
               {"loss", 2.5},
               {"lr", 3e-4},
               {"tokens_per_s", 12345.678}});
    log.write({{"step", int64_t(1) << 53},
               {"split", "val"},
               {"loss", std::nan("")},
               {"odd \"name\"\t", -INFINITY},
               {"third", third},
               {"tiny", tiny}});
    log.write({{"note", "tab\there, \"quoted\", é"}, {"flag", true}});
    log.write({});
  }
  std::string text = io::read_file(dir / "metrics.jsonl", "test");
  CHECK(text.find("{\"step\": 1, \"split\": \"train\", \"loss\": 2.5, \"lr\": 0.0003, ") == 0);
  CHECK(contains(text, "\"loss\": null, \"odd \\\"name\\\"\\u0009\": null"));
  CHECK(text.back() == '\n');

  auto rows = io::read_metrics(dir / "metrics.jsonl");
  REQUIRE(rows.size() == 4);
  REQUIRE(rows[0].size() == 5);
  CHECK(rows[0][3].name == "lr");  // file order
  CHECK(number(rows[0], "lr") == 3e-4);
  CHECK(number(rows[0], "tokens_per_s") == 12345.678);
  CHECK(io::text_field(rows[0], "split") == "train");
  CHECK(!io::number_field(rows[0], "split").has_value());
  CHECK(!io::number_field(rows[0], "missing").has_value());
  CHECK(number(rows[1], "step") == 9007199254740992.0);
  CHECK(std::isnan(number(rows[1], "loss")));
  CHECK(std::isnan(number(rows[1], "odd \"name\"\t")));
  CHECK(number(rows[1], "third") == third);  // bit for bit
  CHECK(number(rows[1], "tiny") == tiny);
  CHECK(io::text_field(rows[2], "note") == "tab\there, \"quoted\", é");
  CHECK(number(rows[2], "flag") == 1);
  CHECK(rows[3].empty());
}

TEST_CASE("read_metrics reads hand-written JSON and names the bad line") {
  test::TempDir dir;
  test::write_bytes(dir / "m.jsonl",
                    " { \"a\" :1e3,\"b\":\"\\u00e9\\n\", \"c\": false }\r\n\n{\"a\": -2}\n");
  auto rows = io::read_metrics(dir / "m.jsonl");
  REQUIRE(rows.size() == 2);
  CHECK(number(rows[0], "a") == 1000);
  CHECK(io::text_field(rows[0], "b") == "é\n");
  CHECK(number(rows[0], "c") == 0);
  CHECK(number(rows[1], "a") == -2);

  test::write_bytes(dir / "bad.jsonl", "{\"a\": 1}\n{\"a\": [1]}\n{\"a\": 2}\n");
  std::string message = error_of([&] { io::read_metrics(dir / "bad.jsonl"); });
  CHECK(contains(message, "bad.jsonl"));
  CHECK(contains(message, "line 2"));
  CHECK(contains(error_of([&] { io::read_metrics(dir / "none.jsonl"); }), "does not exist"));
}

TEST_CASE("a row cut short by a crash is skipped when reading and dropped when appending") {
  test::TempDir dir;
  auto path = dir / "metrics.jsonl";
  {
    io::MetricsLog log(path);
    log.write({{"step", 1}, {"loss", 3.0}});
    log.write({{"step", 2}, {"loss", 2.0}});
  }
  { std::ofstream(path, std::ios::app) << "{\"step\": 3, \"lo"; }
  CHECK(io::read_metrics(path).size() == 2);
  {
    io::MetricsLogOptions options;
    options.append = true;
    io::MetricsLog log(path, options);
    log.write({{"step", 3}, {"loss", 1.0}});
  }
  auto rows = io::read_metrics(path);
  REQUIRE(rows.size() == 3);
  CHECK(number(rows[2], "loss") == 1.0);
  std::string text = io::read_file(path, "test");
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);

  { io::MetricsLog fresh(path); }  // without append the file starts over
  CHECK(io::read_metrics(path).empty());
}

TEST_CASE("CSV logs have declared columns and round-trip text, nan and inf") {
  test::TempDir dir;
  io::MetricsLogOptions options;
  options.csv_columns = {"step", "split", "loss", "lr"};
  {
    io::MetricsLog log(dir / "metrics.csv", options);
    log.write({{"step", 1}, {"split", "train"}, {"loss", 2.25}, {"lr", 1e-3}});
    log.write({{"split", "va,l \"x\""}, {"step", 2}, {"loss", std::nan("")}});  // lr left out
    log.write({{"step", 3}, {"loss", INFINITY}});
    CHECK(contains(error_of([&] { log.write({{"step", 4}, {"acc", 0.9}}); }), "'acc'"));
  }
  CHECK(io::read_file(dir / "metrics.csv", "test") ==
        "step,split,loss,lr\n1,\"train\",2.25,0.001\n2,\"va,l \"\"x\"\"\",nan,\n3,,inf,\n");
  auto rows = io::read_metrics(dir / "metrics.csv");
  REQUIRE(rows.size() == 3);
  CHECK(number(rows[0], "lr") == 1e-3);
  CHECK(io::text_field(rows[1], "split") == "va,l \"x\"");
  CHECK(std::isnan(number(rows[1], "loss")));
  CHECK(!io::number_field(rows[1], "lr").has_value());
  CHECK(number(rows[2], "loss") == INFINITY);
  CHECK(!io::text_field(rows[2], "split").has_value());

  options.append = true;
  { io::MetricsLog log(dir / "metrics.csv", options); }  // same columns: appends
  CHECK(io::read_metrics(dir / "metrics.csv").size() == 3);
  options.csv_columns = {"step", "loss"};
  CHECK(contains(error_of([&] { io::MetricsLog log(dir / "metrics.csv", options); }),
                 "its columns are 'step,split,loss,lr'"));
  CHECK(contains(error_of([&] { io::MetricsLog log(dir / "other.csv"); }), "csv_columns"));
  CHECK(contains(error_of([&] { io::MetricsLog log(dir / "other.jsonl", options); }),
                 "not a .csv path"));
}
