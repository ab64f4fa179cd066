// A one-line progress bar on stderr: "label [#####.....] 1234/5000 25% | loss 0.43 | 812 img/s | ETA 3m12s".
// On a terminal it redraws in place (at most ~10 times a second); otherwise (CI logs, pipes) it prints a
// line every 10% so logs stay short.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace vb {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled = true);
  ~ProgressBar();  // finishes the line
  // Sets the position to `done` of total with an extra status text ("loss 0.43 | 812 img/s").
  void update(int64_t done, const std::string& status = "");
  void finish(const std::string& status = "");

 private:
  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::string status_;
  void draw(bool final_line);
};

std::string format_duration(double seconds);  // "3m12s", "1h02m", "41s"

}  // namespace vb
