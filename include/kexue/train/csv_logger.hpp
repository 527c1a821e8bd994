// SPDX-License-Identifier: MIT
// csv_logger: one CSV row per epoch (epoch and every logged value) for plotting, appended on resume.
#pragma once

#include <charconv>  // std::to_chars (shortest round-trip doubles)
#include <fstream>   // the log file
#include <string>
#include <vector>

#include <kexue/core/error.hpp>
#include <kexue/train/callbacks.hpp>

namespace kexue::train {

/// @brief Writes the epoch logs to a CSV file: a header `epoch,loss,accuracy,val_loss,...,lr` (the log
/// names in order at the first epoch end), then one row per epoch, flushed at once (a crash keeps every
/// finished epoch). Epochs are 0-based (as Keras' CSVLogger); values are the shortest text that reads back
/// as the same double ("0.1", "nan", "inf").
///
/// The file is truncated at train begin, unless `append` is set or the run was resumed from a checkpoint
/// (training_state::initial_epoch > 0): then rows are appended and, if the file already has a header, its
/// columns are kept (values for names not in it are left out; a column with no value is left empty).
/// @throws io_error "csv_logger: cannot open 'path'" / "cannot write 'path'".
class csv_logger : public callback {
 public:
  explicit csv_logger(std::string path, bool append = false, char separator = ',')
      : path_(std::move(path)), append_(append), separator_(separator) {}

  void on_train_begin(training_state& s, logs& /*l*/) override {
    columns_.clear();
    const bool append = append_ || s.initial_epoch > 0;
    if (append) {
      std::ifstream in(path_);
      std::string header;
      if (in && std::getline(in, header) && !header.empty()) {
        std::string cell;
        for (char c : header) {
          if (c == separator_) {
            columns_.push_back(cell);
            cell.clear();
          } else if (c != '\r') {
            cell += c;
          }
        }
        columns_.push_back(cell);
      }
    }
    out_.open(path_, append ? std::ios::app : std::ios::trunc);
    KEXUE_CHECK(out_.is_open(), io_error, "csv_logger", "cannot open '", path_, "'");
  }
  void on_epoch_end(training_state& s, logs& l) override {
    if (columns_.empty()) {
      columns_.push_back("epoch");
      for (const auto& e : l) columns_.push_back(e.first);
      for (std::size_t i = 0; i < columns_.size(); ++i) out_ << (i ? std::string(1, separator_) : "") << columns_[i];
      out_ << "\n";
    }
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (i) out_ << separator_;
      if (columns_[i] == "epoch") {
        out_ << s.epoch;
      } else if (const double* v = l.find(columns_[i])) {
        out_ << format(*v);
      }
    }
    out_ << "\n" << std::flush;
    KEXUE_CHECK(out_.good(), io_error, "csv_logger", "cannot write '", path_, "'");
  }
  void on_train_end(training_state& /*s*/, logs& /*l*/) override { out_.close(); }

  /// The shortest decimal text that reads back as `v`.
  static std::string format(double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
  }

 private:
  std::string path_;
  bool append_;
  char separator_;
  std::vector<std::string> columns_;
  std::ofstream out_;
};

}  // namespace kexue::train
