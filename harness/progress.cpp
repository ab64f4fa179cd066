#include "harness/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace vb {

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const auto t = static_cast<int64_t>(s + 0.5);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
}

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && total > 0),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  if (!finished_) finish(status_);
}

void ProgressBar::update(int64_t done, const std::string& status) {
  done_ = done;
  status_ = status;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && done_ < total_) return;
    last_draw_ = now;
    draw(false);
  } else {
    const int decile = static_cast<int>(10 * done_ / total_);
    if (decile == last_decile_ || decile >= 10) return;  // finish() prints the last line
    last_decile_ = decile;
    draw(false);
  }
}

void ProgressBar::finish(const std::string& status) {
  if (finished_) return;
  finished_ = true;
  status_ = status;
  if (enabled_) draw(true);
}

void ProgressBar::draw(bool final_line) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  const int width = 24, filled = static_cast<int>(frac * width);
  std::string bar(filled, '#');
  bar.append(width - filled, '.');
  const std::string eta = final_line  ? fmt::format("took {}", format_duration(elapsed))
                          : done_ > 0 ? fmt::format("ETA {}", format_duration(elapsed / frac - elapsed))
                                      : "ETA ?";
  const std::string line = fmt::format("{} [{}] {}/{} {:3.0f}%{}{} | {}", label_, bar, done_, total_,
                                       100 * frac, status_.empty() ? "" : " | ", status_, eta);
  if (tty_)
    fmt::print(stderr, "\r{}\033[K{}", line, final_line ? "\n" : "");
  else
    fmt::print(stderr, "{}\n", line);
  std::fflush(stderr);
}

}  // namespace vb
