// The progress line: duration and rate formatting, which steps print, the line's fields under a
// fake clock, the smoothed rate, and terminal versus log output.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "io/progress.hpp"

using namespace strata;

namespace {

int count_lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("durations print as 12.3s, 3m05s, 1h02m") {
  CHECK(io::format_duration(0) == "0.0s");
  CHECK(io::format_duration(0.44) == "0.4s");
  CHECK(io::format_duration(12.34) == "12.3s");
  CHECK(io::format_duration(59.94) == "59.9s");
  CHECK(io::format_duration(59.96) == "1m00s");
  CHECK(io::format_duration(185) == "3m05s");
  CHECK(io::format_duration(3599.4) == "59m59s");
  CHECK(io::format_duration(3599.6) == "1h00m");
  CHECK(io::format_duration(3720) == "1h02m");
  CHECK(io::format_duration(100 * 3600 + 59 * 60 + 40) == "101h00m");
  CHECK(io::format_duration(-1) == "?");
  CHECK(io::format_duration(std::nan("")) == "?");
  CHECK(io::format_duration(INFINITY) == "?");
}

TEST_CASE("rates print with three significant digits and k/M/G suffixes") {
  CHECK(io::format_rate(0) == "0.00");
  CHECK(io::format_rate(5.5) == "5.50");
  CHECK(io::format_rate(42.25) == "42.2");
  CHECK(io::format_rate(950) == "950");
  CHECK(io::format_rate(999.4) == "999");
  CHECK(io::format_rate(999.6) == "1.00k");
  CHECK(io::format_rate(12345) == "12.3k");
  CHECK(io::format_rate(4567890) == "4.57M");
  CHECK(io::format_rate(2.5e9) == "2.50G");
  CHECK(io::format_rate(std::nan("")) == "?");
}

TEST_CASE("Progress prints every N steps with metrics, throughput, elapsed time and ETA") {
  double now = 0;  // the clock: the tests move it
  std::ostringstream out;
  io::ProgressOptions options;
  options.every_steps = 10;
  options.every_seconds = 0;
  options.unit = "tokens";
  {
    io::Progress progress(100, options, out, [&] { return now; });
    for (int step = 1; step <= 100; ++step) {
      now += 0.5;
      progress.update(step, {{"loss", 2.5}, {"lr", 3e-4}}, 1000);
    }
  }
  std::string text = out.str();
  CHECK(text.find('\r') == std::string::npos);  // a string stream is no terminal: one line each
  CHECK(count_lines(text) == 11);               // the first step, then every tenth
  CHECK(text.find(
            "step   1/100 | loss 2.5 | lr 0.0003 | 2.00k tokens/s | 0.5s elapsed | ETA 49.5s\n") ==
        0);
  CHECK(text.find(
            "step  10/100 | loss 2.5 | lr 0.0003 | 2.00k tokens/s | 5.0s elapsed | ETA 45.0s\n") !=
        std::string::npos);
  CHECK(text.find(
            "step 100/100 | loss 2.5 | lr 0.0003 | 2.00k tokens/s | 50.0s elapsed | ETA 0.0s\n") !=
        std::string::npos);
}

TEST_CASE("Progress prints after a minimum interval, and always the last step") {
  double now = 0;  // the clock: the tests move it
  std::ostringstream out;
  io::ProgressOptions options;
  options.every_seconds = 1.0;
  io::Progress progress(10, options, out, [&] { return now; });
  for (int step = 1; step <= 10; ++step) {
    now += 0.3;
    progress.update(step);
  }
  std::string text = out.str();
  CHECK(count_lines(text) == 4);  // steps 1 (t 0.3), 5 (t 1.5), 9 (t 2.7) and the last
  CHECK(text.find("step  5/10 |") != std::string::npos);
  CHECK(text.find("step  9/10 |") != std::string::npos);
  CHECK(text.find("step 10/10 |") != std::string::npos);
}

TEST_CASE("Progress smooths the step time, without a bias towards zero at the start") {
  double now = 0;  // the clock: the tests move it
  std::ostringstream out;
  io::ProgressOptions options;
  options.smoothing = 0.05;
  options.start_step = 20;  // a resumed run
  io::Progress progress(0, options, out, [&] { return now; });
  CHECK(std::isnan(progress.seconds_per_step()));
  now = 4;
  progress.update(22);  // two steps in 4 s
  CHECK(progress.seconds_per_step() == doctest::Approx(2.0));
  now = 5;
  progress.update(23);  // one step in 1 s: the average moves towards it by its weight
  double kept = 0.95 * (1 - 0.95 * 0.95);
  CHECK(progress.seconds_per_step() == doctest::Approx((kept * 2 + 0.05 * 1) / (kept + 0.05)));
  CHECK(out.str().find("step 22 | 4.0s elapsed\n") == 0);  // unknown total: no ETA
}

TEST_CASE("Progress overwrites its line on a terminal and ends it on finish") {
  double now = 0;  // the clock: the tests move it
  std::ostringstream out;
  io::ProgressOptions options;
  options.line = io::ProgressOptions::Line::overwrite;
  options.every_seconds = 0;
  options.every_steps = 1;
  io::Progress progress(3, options, out, [&] { return now; });
  for (int step = 1; step <= 3; ++step) {
    now += 1;
    progress.update(step, {{"loss", 1.0 / step}});
  }
  CHECK(count_lines(out.str()) == 0);
  CHECK(out.str().find("\rstep 2/3 | loss 0.5 | 2.0s elapsed | ETA 1.0s\033[K") !=
        std::string::npos);
  progress.finish();
  CHECK(out.str().back() == '\n');
  progress.finish();  // nothing open: no second newline
  CHECK(count_lines(out.str()) == 1);
}
