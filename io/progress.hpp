// A progress line for long work (training loops): step/total, the caller's metrics, throughput,
// elapsed time and ETA. On a terminal the line is rewritten in place; into a file or a pipe each
// line is appended, so logs keep the history.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace strata::io {

// "0.4s", "12.3s", "3m05s", "1h02m"; "?" for a negative or non-finite duration.
std::string format_duration(double seconds);

// Three significant digits with a k/M/G/T suffix: "5.50", "950", "12.3k", "4.57M".
std::string format_rate(double per_second);

struct ProgressMetric {
  std::string_view name;  // "loss", "lr", ...
  double value;           // printed with 4 significant digits
};

struct ProgressOptions {
  int64_t every_steps = 0;     // print on every multiple of this step (0: off)
  double every_seconds = 1.0;  // print when this long has passed since the last line (0: off)
  std::string unit = "";       // what update's `items` count ("tokens", "samples"): prints unit/s
  double smoothing = 0.05;     // per-step weight of the newest step in the rate average (0, 1]
  int64_t start_step = 0;      // the step a resumed run starts after
  enum class Line { automatic, overwrite, append } line = Line::automatic;  // automatic: isatty
};

class Progress {
 public:
  using Clock = std::function<double()>;  // seconds from any fixed origin

  // Steps run to `total` (0: unknown, no ETA). Lines go to out, std::cout by default; `now` is
  // the clock (the steady clock by default; tests pass their own).
  explicit Progress(int64_t total, ProgressOptions options = {});
  Progress(int64_t total, ProgressOptions options, std::ostream& out, Clock now = {});
  ~Progress();  // ends a line left open on a terminal
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Step `step` is done, `items` of options.unit processed since the previous update. Prints a
  // line when due (and always for the first update and step == total).
  void update(int64_t step, const std::vector<ProgressMetric>& metrics = {}, double items = 0);

  // Ends the current terminal line, so that other output can follow (a no-op when appending).
  void finish();

  double seconds_per_step() const;  // the smoothed rate (NaN before the first update)

 private:
  bool due(int64_t step, double now) const;
  std::string line(int64_t step, const std::vector<ProgressMetric>& metrics, double now) const;

  int64_t total_;
  ProgressOptions options_;
  std::ostream& out_;
  Clock now_;
  bool overwrite_;
  double start_, last_update_, last_print_ = 0;
  int64_t last_step_;
  bool printed_ = false, line_open_ = false;
  // Step-weighted moving averages of seconds and items per step, and the total weight they carry
  // (dividing by it removes the bias of starting from zero, as in Adam).
  double avg_seconds_ = 0, avg_items_ = 0, avg_weight_ = 0;
};

}  // namespace strata::io
