// SPDX-License-Identifier: MIT
// Training callbacks (A07): logs, the training state callbacks see, the callback base, and the built-ins
// history, early_stopping, lr_scheduler, model_checkpoint, ema_evaluation, terminate_on_nan, lambda_callback.
#pragma once

#include <cmath>       // std::isnan
#include <functional>  // user hooks, type-erased model access
#include <limits>      // infinity
#include <memory>      // std::shared_ptr
#include <optional>    // best weights
#include <string>
#include <utility>  // std::pair, std::move
#include <vector>

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/state_dict.hpp>
#include <kexue/io/serialize.hpp>

namespace kexue::train {

/// @brief Named scalars in insertion order: "loss", metric names, "val_" + those, "lr".
class logs {
 public:
  using entry = std::pair<std::string, double>;
  /// Sets `name` (replacing its value, or appending it).
  void set(const std::string& name, double value) {
    for (auto& e : entries_) {
      if (e.first == name) {
        e.second = value;
        return;
      }
    }
    entries_.emplace_back(name, value);
  }
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  /// The value of `name`. @throws value_error "logs: no entry 'val_loss' (entries: loss, accuracy)".
  double get(const std::string& name) const {
    const double* v = find(name);
    if (v == nullptr) KEXUE_THROW(value_error, "logs", "no entry '", name, "' (", describe(), ")");
    return *v;
  }
  /// Pointer to the value of `name`, or null.
  const double* find(const std::string& name) const {
    for (const auto& e : entries_) {
      if (e.first == name) return &e.second;
    }
    return nullptr;
  }
  /// "entries: loss, accuracy" or "no entries".
  std::string describe() const {
    if (entries_.empty()) return "no entries";
    std::string s = "entries: ";
    for (std::size_t i = 0; i < entries_.size(); ++i) s += (i ? ", " : "") + entries_[i].first;
    return s;
  }
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  std::vector<entry>::const_iterator begin() const noexcept { return entries_.begin(); }
  std::vector<entry>::const_iterator end() const noexcept { return entries_.end(); }

 private:
  std::vector<entry> entries_;
};

/// @brief What a fit loop shares with its callbacks (A07: epoch and batch indices, steps per epoch, the
/// mutable learning rate, the model's weights for save/restore, a stop flag).
///
/// Epochs and steps count from 0; `epoch` is the current epoch, `step` the batch within it, `global_step`
/// the number of batches trained since the run began (kept across a resume). Setting `stop_training` ends
/// training after the current batch (from on_batch_*) or epoch (from on_epoch_*).
struct training_state {
  index_t epoch = 0;
  index_t epochs = 0;
  index_t initial_epoch = 0;  ///< first epoch of this call (> 0 when resumed from a checkpoint)
  index_t step = 0;
  index_t global_step = 0;
  index_t steps_per_epoch = 0;
  bool stop_training = false;

  std::function<double()> get_lr;                            ///< the optimizer's learning rate
  std::function<void(double)> put_lr;                        ///< sets the optimizer's learning rate
  std::function<kexue::state_dict()> model_state;            ///< the model's weights, as copies (may be empty)
  std::function<void(const kexue::state_dict&)> load_model;  ///< loads weights into the model (may be empty)

  /// The optimizer's learning rate. @throws value_error if the loop has no optimizer.
  double lr() const {
    KEXUE_CHECK(static_cast<bool>(get_lr), value_error, "training_state", "no optimizer, so no learning rate");
    return get_lr();
  }
  /// Sets the learning rate from now on (takes effect at the next optimizer step).
  void set_lr(double lr) {
    KEXUE_CHECK(static_cast<bool>(put_lr), value_error, "training_state", "no optimizer, so no learning rate");
    put_lr(lr);
  }
  /// True if the loop can save and load the model's weights (fit_options::model was given).
  bool has_model() const { return static_cast<bool>(model_state) && static_cast<bool>(load_model); }
};

/// @brief Base of callbacks: override any of the hooks (all do nothing by default).
///
/// Order within one fit call: on_train_begin; per epoch: on_epoch_begin, per batch (on_batch_begin,
/// on_batch_end), then, with validation data, on_validation_begin, on_validation_end (called even when
/// validation throws, so weights swapped in are swapped back), then on_epoch_end; finally on_train_end (also
/// after an early stop, not after an exception). Batch logs hold the running "loss", metrics and "lr"; epoch
/// logs the epoch's "loss", metrics, "val_" entries and "lr". Callbacks run in the order given.
///
/// A callback whose behaviour depends on the past (early stopping's best value and patience counter,
/// history) returns it from state() and takes it back in load_state(), so a resumed run continues exactly;
/// training checkpoints store it.
class callback {
 public:
  virtual ~callback() = default;
  virtual void on_train_begin(training_state& /*state*/, logs& /*logs*/) {}
  virtual void on_train_end(training_state& /*state*/, logs& /*logs*/) {}
  virtual void on_epoch_begin(training_state& /*state*/, logs& /*logs*/) {}
  virtual void on_epoch_end(training_state& /*state*/, logs& /*logs*/) {}
  virtual void on_batch_begin(training_state& /*state*/, logs& /*logs*/) {}
  virtual void on_batch_end(training_state& /*state*/, logs& /*logs*/) {}
  virtual void on_validation_begin(training_state& /*state*/, logs& /*logs*/) {}
  virtual void on_validation_end(training_state& /*state*/, logs& /*logs*/) {}
  /// State to store in a training checkpoint (empty by default).
  virtual kexue::state_dict state() const { return {}; }
  /// Restores what state() returned.
  virtual void load_state(const kexue::state_dict& /*state*/) {}
};

/// @brief A callback from lambdas (unset hooks do nothing): `lambda_callback().epoch_end([](auto& s, auto& l) {...})`.
class lambda_callback : public callback {
 public:
  using hook = std::function<void(training_state&, logs&)>;
  lambda_callback& train_begin(hook h) { return set(train_begin_, std::move(h)); }
  lambda_callback& train_end(hook h) { return set(train_end_, std::move(h)); }
  lambda_callback& epoch_begin(hook h) { return set(epoch_begin_, std::move(h)); }
  lambda_callback& epoch_end(hook h) { return set(epoch_end_, std::move(h)); }
  lambda_callback& batch_begin(hook h) { return set(batch_begin_, std::move(h)); }
  lambda_callback& batch_end(hook h) { return set(batch_end_, std::move(h)); }
  void on_train_begin(training_state& s, logs& l) override { call(train_begin_, s, l); }
  void on_train_end(training_state& s, logs& l) override { call(train_end_, s, l); }
  void on_epoch_begin(training_state& s, logs& l) override { call(epoch_begin_, s, l); }
  void on_epoch_end(training_state& s, logs& l) override { call(epoch_end_, s, l); }
  void on_batch_begin(training_state& s, logs& l) override { call(batch_begin_, s, l); }
  void on_batch_end(training_state& s, logs& l) override { call(batch_end_, s, l); }

 private:
  lambda_callback& set(hook& slot, hook h) {
    slot = std::move(h);
    return *this;
  }
  static void call(const hook& h, training_state& s, logs& l) {
    if (h) h(s, l);
  }
  hook train_begin_, train_end_, epoch_begin_, epoch_end_, batch_begin_, batch_end_;
};

/// @brief Records the epoch logs: `values("val_loss")` is one value per epoch trained (across a resume:
/// the history is part of the callback state).
class history : public callback {
 public:
  void on_epoch_end(training_state& s, logs& l) override {
    epochs_.push_back(s.epoch);
    for (const auto& [name, value] : l) {
      auto& column = column_of(name);
      column.resize(epochs_.size() - 1, std::numeric_limits<double>::quiet_NaN());
      column.push_back(value);
    }
  }
  /// The epoch indices recorded.
  const std::vector<index_t>& epochs() const { return epochs_; }
  /// One value per recorded epoch (NaN where the key was absent). @throws value_error for an unknown key.
  std::vector<double> values(const std::string& name) const {
    for (const auto& [key, column] : columns_) {
      if (key == name) {
        auto out = column;
        out.resize(epochs_.size(), std::numeric_limits<double>::quiet_NaN());
        return out;
      }
    }
    KEXUE_THROW(value_error, "history", "no entry '", name, "'");
  }
  /// Names recorded, in first-seen order.
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (const auto& c : columns_) out.push_back(c.first);
    return out;
  }
  kexue::state_dict state() const override {
    kexue::state_dict s;
    if (epochs_.empty()) return s;
    s.insert("epochs", from_vector(epochs_));
    for (const auto& key : keys()) s.insert("values." + key, from_vector(values(key)));
    return s;
  }
  void load_state(const kexue::state_dict& s) override {
    epochs_.clear();
    columns_.clear();
    if (!s.contains("epochs")) return;
    epochs_ = s.get<index_t>("epochs").to_vector();
    const auto values = s.sub("values");
    for (const auto& name : values.keys()) columns_.emplace_back(name, values.get<double>(name).to_vector());
  }

 private:
  std::vector<double>& column_of(const std::string& name) {
    for (auto& c : columns_) {
      if (c.first == name) return c.second;
    }
    columns_.emplace_back(name, std::vector<double>());
    return columns_.back().second;
  }
  std::vector<index_t> epochs_;
  std::vector<std::pair<std::string, std::vector<double>>> columns_;
};

/// @brief Keras' TerminateOnNaN: ends training after the batch whose running "loss" is NaN or infinite,
/// instead of fit's default error (use with fit_options().check_finite(false); that batch's update has been
/// applied, as in Keras). nan_step() is the global step of that batch (-1 if none).
class terminate_on_nan : public callback {
 public:
  void on_batch_end(training_state& s, logs& l) override {
    const double* loss = l.find("loss");
    if (loss != nullptr && !std::isfinite(*loss)) {
      s.stop_training = true;
      nan_step_ = s.global_step - 1;
    }
  }
  index_t nan_step() const { return nan_step_; }

 private:
  index_t nan_step_ = -1;
};

/// Whether a monitored value improves by decreasing or increasing. `automatic` picks max for names
/// containing "acc", "auc", "f1", "precision" or "recall", min otherwise (as Keras' mode='auto').
enum class monitor_mode { automatic, min, max };

/// Options of early_stopping.
struct early_stopping_options {
  /// Logged value to watch (default "val_loss").
  early_stopping_options& monitor(std::string v) {
    monitor_ = std::move(v);
    return *this;
  }
  /// Direction of improvement (default automatic, see monitor_mode).
  early_stopping_options& mode(monitor_mode v) {
    mode_ = v;
    return *this;
  }
  /// Epochs without improvement before stopping (default 0: stop at the first epoch that does not improve).
  early_stopping_options& patience(index_t v) {
    patience_ = v;
    return *this;
  }
  /// Smallest change that counts as an improvement (default 0, must be >= 0).
  early_stopping_options& min_delta(double v) {
    min_delta_ = v;
    return *this;
  }
  /// Load the weights of the best epoch when training ends (default false; needs fit_options::model).
  early_stopping_options& restore_best_weights(bool v) {
    restore_ = v;
    return *this;
  }

  const std::string& monitor() const { return monitor_; }
  monitor_mode mode() const { return mode_; }
  index_t patience() const { return patience_; }
  double min_delta() const { return min_delta_; }
  bool restore_best_weights() const { return restore_; }

 private:
  std::string monitor_ = "val_loss";
  monitor_mode mode_ = monitor_mode::automatic;
  index_t patience_ = 0;
  double min_delta_ = 0;
  bool restore_ = false;
};

namespace detail {
/// True if `mode` (resolved for `name`) means larger is better.
inline bool maximizes(monitor_mode mode, const std::string& name) {
  if (mode != monitor_mode::automatic) return mode == monitor_mode::max;
  for (const char* word : {"acc", "auc", "f1", "precision", "recall"}) {
    if (name.find(word) != std::string::npos) return true;
  }
  return false;
}
/// The monitored value from epoch logs, or value_error naming the callback, the key and the keys present.
inline double monitored(const char* op, const logs& l, const std::string& name) {
  const double* v = l.find(name);
  if (v == nullptr)
    KEXUE_THROW(value_error, op, "monitored value '", name, "' is not in the logs (", l.describe(), ")");
  return *v;
}
}  // namespace detail

/// @brief Stops training when the monitored value has not improved for `patience` epochs.
///
/// An epoch improves when value < best − min_delta (min mode) or value > best + min_delta (max mode); the
/// first epoch always does. A counter of epochs without improvement is reset on improvement; stop_training
/// is set when it exceeds patience (so patience 2 stops at the third epoch in a row without improvement).
/// With restore_best_weights, the weights of the best epoch are copied at that epoch and loaded on
/// train end. Errors (value_error): min_delta < 0, patience < 0, the monitored value absent from the logs
/// ("early_stopping: monitored value 'val_loss' is not in the logs (entries: loss, lr)"),
/// restore_best_weights without a model.
class early_stopping : public callback {
 public:
  explicit early_stopping(early_stopping_options options = {}) : options_(std::move(options)) {
    KEXUE_CHECK(options_.min_delta() >= 0, value_error, "early_stopping", "min_delta must be >= 0 (got ",
                options_.min_delta(), ")");
    KEXUE_CHECK(options_.patience() >= 0, value_error, "early_stopping", "patience must be >= 0 (got ",
                options_.patience(), ")");
    maximize_ = detail::maximizes(options_.mode(), options_.monitor());
  }
  void on_train_begin(training_state& s, logs& /*l*/) override {
    KEXUE_CHECK(!options_.restore_best_weights() || s.has_model(), value_error, "early_stopping",
                "restore_best_weights needs the model (fit_options::model)");
  }
  void on_epoch_end(training_state& s, logs& l) override {
    const double value = detail::monitored("early_stopping", l, options_.monitor());
    const double d = options_.min_delta();
    const bool improved = !has_best_ || (maximize_ ? value > best_ + d : value < best_ - d);
    if (improved) {
      best_ = value;
      has_best_ = true;
      best_epoch_ = s.epoch;
      wait_ = 0;
      if (options_.restore_best_weights()) best_weights_ = s.model_state();
    } else if (++wait_ > options_.patience()) {
      s.stop_training = true;
      stopped_epoch_ = s.epoch;
    }
  }
  void on_train_end(training_state& s, logs& /*l*/) override {
    if (options_.restore_best_weights() && best_weights_ && best_epoch_ != s.epoch) s.load_model(*best_weights_);
  }
  /// Best monitored value so far, and the epoch it was reached at (-1 before any epoch).
  double best() const { return best_; }
  index_t best_epoch() const { return best_epoch_; }
  /// The epoch at which training was stopped, or -1.
  index_t stopped_epoch() const { return stopped_epoch_; }

  kexue::state_dict state() const override {
    kexue::state_dict s;
    s.insert("best", kexue::scalar<double>(best_));
    s.insert("has_best", kexue::scalar<bool>(has_best_));
    s.insert("best_epoch", kexue::scalar<index_t>(best_epoch_));
    s.insert("wait", kexue::scalar<index_t>(wait_));
    if (best_weights_) s.merge("best_weights", *best_weights_);
    return s;
  }
  void load_state(const kexue::state_dict& s) override {
    best_ = s.get<double>("best").item();
    has_best_ = s.get<bool>("has_best").item();
    best_epoch_ = s.get<index_t>("best_epoch").item();
    wait_ = s.get<index_t>("wait").item();
    const auto weights = s.sub("best_weights");
    best_weights_.reset();
    if (!weights.empty()) best_weights_ = weights;
  }

 private:
  early_stopping_options options_;
  bool maximize_ = false;
  bool has_best_ = false;
  double best_ = 0;
  index_t best_epoch_ = -1, stopped_epoch_ = -1, wait_ = 0;
  std::optional<kexue::state_dict> best_weights_;
};

/// @brief Sets the learning rate from a schedule: per epoch, `fn(epoch, current_lr)` at each epoch begin
/// (Keras' LearningRateScheduler; A07's 1e-2 / 1e-3 / 1e-4 by epoch), or per batch, `fn(global_step,
/// current_lr)` before each batch (A07's linear warm-up). The value set is in the logs as "lr".
/// Errors: a schedule returning a negative or non-finite value (value_error "lr_scheduler: schedule
/// returned -0.1 at epoch 3").
class lr_scheduler : public callback {
 public:
  using schedule = std::function<double(index_t, double)>;
  /// Calls `fn(epoch, lr)` at each epoch begin.
  static lr_scheduler per_epoch(schedule fn) { return lr_scheduler(std::move(fn), false); }
  /// Calls `fn(global_step, lr)` before each batch.
  static lr_scheduler per_batch(schedule fn) { return lr_scheduler(std::move(fn), true); }

  void on_epoch_begin(training_state& s, logs& /*l*/) override {
    if (!per_batch_) apply(s, s.epoch, "epoch");
  }
  void on_batch_begin(training_state& s, logs& /*l*/) override {
    if (per_batch_) apply(s, s.global_step, "step");
  }

 private:
  lr_scheduler(schedule fn, bool per_batch) : fn_(std::move(fn)), per_batch_(per_batch) {}
  void apply(training_state& s, index_t at, const char* what) {
    const double lr = fn_(at, s.lr());
    KEXUE_CHECK(std::isfinite(lr) && lr >= 0, value_error, "lr_scheduler", "schedule returned ", lr, " at ", what, " ",
                at);
    s.set_lr(lr);
  }
  schedule fn_;
  bool per_batch_;
};

/// Options of model_checkpoint.
struct model_checkpoint_options {
  /// Logged value deciding "best" (default "val_loss").
  model_checkpoint_options& monitor(std::string v) {
    monitor_ = std::move(v);
    return *this;
  }
  model_checkpoint_options& mode(monitor_mode v) {
    mode_ = v;
    return *this;
  }
  /// Save only when the monitored value improves (default false: save every epoch).
  model_checkpoint_options& save_best_only(bool v) {
    best_only_ = v;
    return *this;
  }

  const std::string& monitor() const { return monitor_; }
  monitor_mode mode() const { return mode_; }
  bool save_best_only() const { return best_only_; }

 private:
  std::string monitor_ = "val_loss";
  monitor_mode mode_ = monitor_mode::automatic;
  bool best_only_ = false;
};

/// @brief Saves the model's weights (io::save, atomic) at epoch ends: every epoch, or only when the monitored
/// value improves. `{epoch}` in the path is replaced by the 1-based epoch number ("model-{epoch}.kx").
/// Errors: no model (value_error "model_checkpoint: needs the model (fit_options::model)"), the monitored
/// value absent with save_best_only (value_error), the file not writable (io_error from io::save).
class model_checkpoint : public callback {
 public:
  explicit model_checkpoint(std::string path, model_checkpoint_options options = {})
      : path_(std::move(path)), options_(std::move(options)) {
    maximize_ = detail::maximizes(options_.mode(), options_.monitor());
  }
  void on_train_begin(training_state& s, logs& /*l*/) override {
    KEXUE_CHECK(s.has_model(), value_error, "model_checkpoint", "needs the model (fit_options::model)");
  }
  void on_epoch_end(training_state& s, logs& l) override {
    if (options_.save_best_only()) {
      const double v = detail::monitored("model_checkpoint", l, options_.monitor());
      if (has_best_ && !(maximize_ ? v > best_ : v < best_)) return;
      best_ = v;
      has_best_ = true;
    }
    last_path_ = path_for(s.epoch);
    io::save(s.model_state(), last_path_);
  }
  /// The file written last ("" if none).
  const std::string& last_path() const { return last_path_; }
  /// The path for (0-based) epoch `epoch`.
  std::string path_for(index_t epoch) const {
    std::string out = path_;
    const std::string key = "{epoch}";
    for (auto pos = out.find(key); pos != std::string::npos; pos = out.find(key)) {
      out.replace(pos, key.size(), std::to_string(epoch + 1));
    }
    return out;
  }
  kexue::state_dict state() const override {
    kexue::state_dict s;
    s.insert("best", kexue::scalar<double>(best_));
    s.insert("has_best", kexue::scalar<bool>(has_best_));
    return s;
  }
  void load_state(const kexue::state_dict& s) override {
    best_ = s.get<double>("best").item();
    has_best_ = s.get<bool>("has_best").item();
  }

 private:
  std::string path_;
  model_checkpoint_options options_;
  bool maximize_ = false, has_best_ = false;
  double best_ = 0;
  std::string last_path_;
};

/// @brief EMA evaluation (A13): swaps averaged weights in for validation and the training weights back
/// afterwards. `apply` loads the averaged weights (e.g. an EMA optimizer wrapper's apply), `restore` puts the
/// training weights back; restore runs even if validation throws (fit calls on_validation_end then).
/// Callbacks that save weights at epoch end (model_checkpoint, early_stopping) see the training weights,
/// since validation ends before on_epoch_end.
class ema_evaluation : public callback {
 public:
  ema_evaluation(std::function<void()> apply, std::function<void()> restore)
      : apply_(std::move(apply)), restore_(std::move(restore)) {
    KEXUE_CHECK(apply_ && restore_, value_error, "ema_evaluation", "apply and restore must both be set");
  }
  /// For an optim::ema wrapper (or anything with apply() and restore()), held by reference.
  template <class Ema>
  static std::shared_ptr<ema_evaluation> of(Ema& ema) {
    return std::make_shared<ema_evaluation>([&ema] { ema.apply(); }, [&ema] { ema.restore(); });
  }
  void on_validation_begin(training_state& /*s*/, logs& /*l*/) override {
    apply_();
    applied_ = true;
  }
  void on_validation_end(training_state& /*s*/, logs& /*l*/) override {
    if (applied_) restore_();
    applied_ = false;
  }

 private:
  std::function<void()> apply_, restore_;
  bool applied_ = false;
};

}  // namespace kexue::train
