// Progress of long commands on stderr: after the first second, a bar with rate and ETA redrawn in
// place on a terminal, or a plain line every 10 s when stderr is a file or a pipe (CI logs);
// nothing with --quiet. Not thread-safe: callers serialize updates.
#pragma once

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace k2sim::cli {

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  /// `what` names the task ("ensemble", "validation"), `unit` what is counted ("runs", "d").
  Progress(bool quiet, std::string what, std::string unit)
      : enabled_(!quiet),
        tty_(::isatty(::fileno(stderr)) != 0),
        what_(std::move(what)),
        unit_(std::move(unit)),
        start_(Clock::now()),
        last_(start_) {}
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() { finish(); }

  /// `done` of `total` units finished; `note` is shown after the figures (an arm's name, a target).
  void update(double done, double total, const std::string& note = "") {
    if (!enabled_ || total <= 0.0) return;
    const auto now = Clock::now();
    const double elapsed = seconds(start_, now);
    if (elapsed < 1.0) return;  // short runs stay silent
    if (seconds(last_, now) < (tty_ ? 0.1 : 10.0) && shown_) return;
    last_ = now;
    shown_ = true;
    const double fraction = std::clamp(done / total, 0.0, 1.0);
    const double rate = done / elapsed;
    const std::string eta =
        fraction > 0.0 ? fmt::format("ETA {}", duration(elapsed * (1.0 - fraction) / fraction))
                       : "ETA ?";
    const std::string figures = fmt::format("{:g}/{:g} {}, {:.3g} {}/s, {}", round3(done),
                                            round3(total), unit_, rate, unit_, eta);
    if (tty_) {
      constexpr int kWidth = 24;
      const int filled = static_cast<int>(fraction * kWidth + 0.5);
      std::string line = fmt::format("\r{} [{}{}] {:3.0f}% {}{}", what_, std::string(filled, '#'),
                                     std::string(kWidth - filled, '.'), 100.0 * fraction, figures,
                                     note.empty() ? "" : "  " + note);
      // One row only: a line wider than the terminal would wrap, and '\r' would leave rows behind.
      if (const std::size_t columns = terminal_columns(); line.size() > columns) {
        line.resize(columns);
      }
      const std::size_t width = line.size();
      if (width < width_) line += std::string(width_ - width, ' ');
      width_ = width;
      std::fputs(line.c_str(), stderr);
    } else {
      fmt::print(stderr, "k2sim: {}: {:.0f}% ({}){}\n", what_, 100.0 * fraction, figures,
                 note.empty() ? "" : ", " + note);
    }
    std::fflush(stderr);
  }

  /// Clears the bar (terminal) and prints the total time of a task that showed progress (not when
  /// the task ends by an exception: its error follows).
  void finish() {
    if (!enabled_ || !shown_) return;
    const double elapsed = seconds(start_, Clock::now());
    if (std::uncaught_exceptions() > 0) {
      if (tty_) fmt::print(stderr, "\r{}\r", std::string(width_, ' '));
    } else if (tty_) {
      fmt::print(stderr, "\r{}\r{}: done in {}\n", std::string(width_, ' '), what_,
                 duration(elapsed));
    } else {
      fmt::print(stderr, "k2sim: {}: done in {}\n", what_, duration(elapsed));
    }
    std::fflush(stderr);
    shown_ = false;
    enabled_ = false;
  }

 private:
  static double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }
  /// Columns of the terminal on stderr, less one (80 when unknown).
  static std::size_t terminal_columns() {
    winsize w{};
    if (::ioctl(::fileno(stderr), TIOCGWINSZ, &w) == 0 && w.ws_col > 1) return w.ws_col - 1u;
    return 79;
  }
  static double round3(double x) { return x >= 100.0 ? std::round(x) : std::round(x * 10) / 10; }
  static std::string duration(double s) {
    if (s < 90.0) return fmt::format("{:.0f} s", s);
    if (s < 5400.0)
      return fmt::format("{:.0f} min {:02.0f} s", std::floor(s / 60.0), std::fmod(s, 60.0));
    return fmt::format("{:.1f} h", s / 3600.0);
  }

  bool enabled_;
  bool tty_;
  std::string what_;
  std::string unit_;
  Clock::time_point start_;
  Clock::time_point last_;
  bool shown_ = false;
  std::size_t width_ = 0;
};

}  // namespace k2sim::cli
