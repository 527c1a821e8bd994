// SPDX-License-Identifier: MIT
// Keras-like progress display: a bar with steps, ETA, loss and metrics on a terminal, one line per epoch otherwise.
#pragma once

#include <chrono>    // elapsed time, ETA
#include <cmath>     // std::fabs
#include <cstdio>    // std::snprintf, fileno
#include <iostream>  // std::cout, std::cerr
#include <ostream>
#include <string>

#include <kexue/train/callbacks.hpp>

#if defined(_WIN32)
#include <io.h>  // _isatty
#else
#include <unistd.h>  // isatty
#endif

namespace kexue::train {

/// How progress_bar decides between the bar and one line per epoch.
enum class progress_display {
  automatic,  ///< the bar if the stream is std::cout or std::cerr and that descriptor is a terminal
  bar,        ///< always the bar (carriage returns)
  lines,      ///< always one line per epoch
};

/// @brief Prints training progress.
///
/// On a terminal, Keras style, redrawn in place (at most every 0.1 s, and at each epoch's last batch):
///
///     Epoch 3/10
///      32/100 [=========>....................] - ETA: 3s - loss: 0.4123 - accuracy: 0.8750
///     100/100 [==============================] - 4s 40ms/step - loss: 0.3981 - accuracy: 0.8812 - val_loss: 0.4410
///
/// Otherwise (a file, a pipe, a CI log) one line per epoch:
///
///     Epoch 3/10 - 100/100 - 4s - loss: 0.3981 - accuracy: 0.8812 - val_loss: 0.4410 - lr: 0.0010
///
/// Values print with 4 decimals, or in scientific notation below 1e-3 (as Keras). fit adds one writing to
/// std::cout when fit_options::verbose is 1.
class progress_bar : public callback {
 public:
  explicit progress_bar(std::ostream& out = std::cout, progress_display display = progress_display::automatic)
      : out_(&out), bar_(use_bar(out, display)) {}

  void on_epoch_begin(training_state& s, logs& /*l*/) override {
    epoch_start_ = last_draw_ = clock::now();
    drawn_ = false;
    if (bar_) *out_ << "Epoch " << s.epoch + 1 << "/" << s.epochs << "\n" << std::flush;
  }
  void on_batch_end(training_state& s, logs& l) override {
    if (!bar_) return;
    const auto now = clock::now();
    const bool last = s.step + 1 >= s.steps_per_epoch;
    if (last || !drawn_ || now - last_draw_ >= std::chrono::milliseconds(100)) {
      const double elapsed = seconds(now - epoch_start_);
      const double per_step = elapsed / static_cast<double>(s.step + 1);
      const double eta = per_step * static_cast<double>(s.steps_per_epoch - s.step - 1);
      *out_ << "\r" << counter(s.step + 1, s.steps_per_epoch) << " " << bar(s.step + 1, s.steps_per_epoch)
            << " - ETA: " << format_duration(eta) << format_logs(l) << "\033[K" << std::flush;
      last_draw_ = now;
      drawn_ = true;
    }
  }
  void on_epoch_end(training_state& s, logs& l) override {
    const double elapsed = seconds(clock::now() - epoch_start_);
    const index_t steps = s.step + 1 < s.steps_per_epoch ? s.step + 1 : s.steps_per_epoch;
    if (bar_) {
      char per_step[32];
      std::snprintf(per_step, sizeof per_step, "%.0fms/step",
                    1000.0 * elapsed / static_cast<double>(steps > 0 ? steps : 1));
      *out_ << "\r" << counter(steps, s.steps_per_epoch) << " " << bar(steps, s.steps_per_epoch) << " - "
            << format_duration(elapsed) << " " << per_step << format_logs(l) << "\033[K\n"
            << std::flush;
    } else {
      *out_ << "Epoch " << s.epoch + 1 << "/" << s.epochs << " - " << steps << "/" << s.steps_per_epoch << " - "
            << format_duration(elapsed) << format_logs(l) << "\n"
            << std::flush;
    }
  }

  /// True if this callback draws the bar (false: one line per epoch).
  bool draws_bar() const { return bar_; }

  /// " - loss: 0.4123 - accuracy: 0.8750" for the entries of `l`.
  static std::string format_logs(const logs& l) {
    std::string out;
    for (const auto& [name, value] : l) out += " - " + name + ": " + format_value(value);
    return out;
  }
  /// 4 decimals, or scientific notation for 0 < |v| < 1e-3: "0.4123", "1.2000e-05".
  static std::string format_value(double v) {
    char buf[48];
    const double a = std::fabs(v);
    std::snprintf(buf, sizeof buf, (a > 0 && a < 1e-3) ? "%.4e" : "%.4f", v);
    return buf;
  }
  /// "3s", "1:05" (m:ss) or "1:02:05" (h:mm:ss).
  static std::string format_duration(double seconds) {
    const auto total = static_cast<long long>(seconds + 0.5);
    char buf[48];
    if (total < 60) {
      std::snprintf(buf, sizeof buf, "%llds", total);
    } else if (total < 3600) {
      std::snprintf(buf, sizeof buf, "%lld:%02lld", total / 60, total % 60);
    } else {
      std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", total / 3600, (total / 60) % 60, total % 60);
    }
    return buf;
  }

 private:
  using clock = std::chrono::steady_clock;
  static double seconds(clock::duration d) { return std::chrono::duration<double>(d).count(); }
  static bool use_bar(std::ostream& out, progress_display display) {
    if (display != progress_display::automatic) return display == progress_display::bar;
#if defined(_WIN32)
    if (&out == &std::cout) return _isatty(1) != 0;
    if (&out == &std::cerr) return _isatty(2) != 0;
#else
    if (&out == &std::cout) return isatty(1) != 0;
    if (&out == &std::cerr) return isatty(2) != 0;
#endif
    return false;
  }
  static std::string counter(index_t done, index_t total) {
    const std::string t = std::to_string(total);
    std::string d = std::to_string(done);
    return std::string(t.size() > d.size() ? t.size() - d.size() : 0, ' ') + d + "/" + t;
  }
  static std::string bar(index_t done, index_t total) {
    constexpr int width = 30;
    const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
    if (filled >= width) return "[" + std::string(width, '=') + "]";
    std::string b = "[";
    if (filled > 0) b += std::string(static_cast<std::size_t>(filled - 1), '=') + ">";
    b += std::string(static_cast<std::size_t>(width - filled), '.');
    return b + "]";
  }

  std::ostream* out_;
  bool bar_;
  clock::time_point epoch_start_, last_draw_;
  bool drawn_ = false;
};

}  // namespace kexue::train
