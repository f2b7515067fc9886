// The progress line (progress.hpp).
#include "io/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "core/error.hpp"

namespace strata::io {

namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Only the standard streams have a file descriptor to ask.
bool is_terminal(const std::ostream& out) {
  if (&out == &std::cout) return ::isatty(STDOUT_FILENO) == 1;
  if (&out == &std::cerr || &out == &std::clog) return ::isatty(STDERR_FILENO) == 1;
  return false;
}

template <class... Args>
std::string printf_string(const char* format, Args... args) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, args...);
  return buffer;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 59.95) return printf_string("%.1fs", seconds);
  auto whole = static_cast<int64_t>(std::llround(seconds));
  if (whole < 3600) return printf_string("%dm%02ds", int(whole / 60), int(whole % 60));
  int64_t minutes = (whole + 30) / 60;
  return printf_string("%lldh%02dm", static_cast<long long>(minutes / 60), int(minutes % 60));
}

std::string format_rate(double per_second) {
  if (!std::isfinite(per_second)) return "?";
  static const char* const suffixes[] = {"", "k", "M", "G", "T"};
  int s = 0;
  // 999.5 would round to "1000": it is "1.00k".
  for (; s < 4 && std::fabs(per_second) >= 999.5; ++s) per_second /= 1000;
  double size = std::fabs(per_second);
  int decimals = size < 9.995 ? 2 : size < 99.95 ? 1 : 0;
  return printf_string("%.*f%s", decimals, per_second, suffixes[s]);
}

Progress::Progress(int64_t total, ProgressOptions options)
    : Progress(total, std::move(options), std::cout) {}

Progress::Progress(int64_t total, ProgressOptions options, std::ostream& out, Clock now)
    : total_(total),
      options_(std::move(options)),
      out_(out),
      now_(now ? std::move(now) : Clock(steady_seconds)),
      last_step_(options_.start_step) {
  STRATA_CHECK(total >= 0, "Progress: total steps must be >= 0 (0: unknown), got ", total);
  STRATA_CHECK(options_.smoothing > 0 && options_.smoothing <= 1,
               "Progress: smoothing must be in (0, 1], got ", options_.smoothing);
  using Line = ProgressOptions::Line;
  overwrite_ =
      options_.line == Line::overwrite || (options_.line == Line::automatic && is_terminal(out_));
  start_ = last_update_ = now_();
}

Progress::~Progress() { finish(); }

void Progress::finish() {
  if (line_open_) out_ << '\n' << std::flush;
  line_open_ = false;
}

double Progress::seconds_per_step() const {
  return avg_weight_ > 0 ? avg_seconds_ / avg_weight_ : std::nan("");
}

void Progress::update(int64_t step, const std::vector<ProgressMetric>& metrics, double items) {
  double now = now_();
  int64_t steps = step - last_step_;
  if (steps > 0) {
    // The newest interval weighs as `steps` single steps would: the same average whether update
    // is called every step or every tenth.
    double keep = std::pow(1 - options_.smoothing, static_cast<double>(steps));
    avg_seconds_ = keep * avg_seconds_ + (1 - keep) * (now - last_update_) / steps;
    avg_items_ = keep * avg_items_ + (1 - keep) * items / steps;
    avg_weight_ = keep * avg_weight_ + (1 - keep);
  }
  last_step_ = step;
  last_update_ = now;
  if (!due(step, now)) return;
  if (overwrite_) {
    out_ << '\r' << line(step, metrics, now) << "\033[K" << std::flush;  // clear the old tail
    line_open_ = true;
  } else {
    out_ << line(step, metrics, now) << '\n' << std::flush;
  }
  printed_ = true;
  last_print_ = now;
}

bool Progress::due(int64_t step, double now) const {
  if (!printed_ || (total_ > 0 && step == total_)) return true;
  if (options_.every_steps > 0 && step % options_.every_steps == 0) return true;
  return options_.every_seconds > 0 && now - last_print_ >= options_.every_seconds;
}

// step  120/5000 | loss 2.346 | lr 0.0003 | 12.3k tokens/s | 1m05s elapsed | ETA 44m10s
std::string Progress::line(int64_t step, const std::vector<ProgressMetric>& metrics,
                           double now) const {
  std::string done = std::to_string(step);
  if (total_ > 0) {
    std::string total = std::to_string(total_);
    if (done.size() < total.size()) done.insert(0, total.size() - done.size(), ' ');
    done += "/" + total;
  }
  std::string text = "step " + done;
  for (const ProgressMetric& m : metrics)
    text += " | " + std::string(m.name) + " " + printf_string("%.4g", m.value);
  if (!options_.unit.empty())
    text += " | " + format_rate(avg_items_ / avg_seconds_) + " " + options_.unit + "/s";
  text += " | " + format_duration(now - start_) + " elapsed";
  if (total_ > 0)
    text += " | ETA " + format_duration(std::max<int64_t>(total_ - step, 0) * seconds_per_step());
  return text;
}

}  // namespace strata::io
