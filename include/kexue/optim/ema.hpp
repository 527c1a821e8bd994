// SPDX-License-Identifier: MIT
// Exponential moving average of the weights (A13), as an optimizer wrapper, swappable in for evaluation.
#pragma once

#include <cmath>    // std::pow
#include <string>   // names
#include <utility>  // std::forward
#include <vector>

#include <kexue/optim/optimizer.hpp>

namespace kexue::optim {

/// How the average starts (A13 (b)).
enum class ema_init {
  copy,        ///< Θ₀ = θ₀ (the article's procedure)
  zero_debias  ///< Θ₀ = 0 and the average is read as Θ / (1 − αᵗ) (bert4keras' wrapper, Adam-style)
};

/// Options of ema (defaults in brackets).
struct ema_options {
  /// α, the decay rate [0.999]; 0.9999 in the author's DGCNN/QANet settings.
  ema_options& decay(double v) {
    decay_ = v;
    return *this;
  }
  /// Initialisation [ema_init::copy].
  ema_options& init(ema_init v) {
    init_ = v;
    return *this;
  }
  double decay() const { return decay_; }
  ema_init init() const { return init_; }

 private:
  double decay_ = 0.999;
  ema_init init_ = ema_init::copy;
};

template <class T>
class ema;

/// RAII guard returned by ema::scoped_apply(): the averaged weights are in the parameters for its lifetime,
/// and the training weights come back when it is destroyed (also during stack unwinding).
template <class T>
class ema_guard {
 public:
  explicit ema_guard(ema<T>& e) : ema_(&e) { e.apply(); }
  ~ema_guard() {
    if (ema_ != nullptr) ema_->restore();
  }
  ema_guard(ema_guard&& other) noexcept : ema_(other.ema_) { other.ema_ = nullptr; }
  ema_guard(const ema_guard&) = delete;
  ema_guard& operator=(const ema_guard&) = delete;
  ema_guard& operator=(ema_guard&&) = delete;

 private:
  ema<T>* ema_;
};

/// @brief Exponential moving average of the weights (Polyak averaging; A13). After every update of the
/// wrapped optimizer (calls that do not update do not count), for every parameter and every extra tensor
/// (`buffers`, e.g. batch-norm running statistics):
///
///     Θ ← α Θ + (1 − α) θ
///
/// The average never feeds back into training: the trajectory is bit-identical with and without the
/// wrapper. With ema_init::zero_debias the average is read as Θ / (1 − αᵗ) (t = updates so far; the current
/// weights while t = 0). For evaluation: `apply()` backs the weights up and writes the average into them,
/// `restore()` puts them back (or `auto guard = e.scoped_apply();`); `apply_to(targets)` copies the average
/// into other tensors of the same shapes (an evaluation copy of the model).
///
///     auto opt = optim::ema(optim::adam<float>(params), optim::ema_options().decay(0.999));
///
/// State: `updates` (int64 scalar), `average.<j>` (T; parameters first, then buffers), and the wrapped
/// optimizer's under `inner.`. @throws value_error if α is outside [0, 1), and from step(), save_state() or
/// load_state() while the average is applied.
template <class T>
class ema : public wrapper<T> {
 public:
  template <class Inner, detail::enable_wrap<Inner, ema> = 0>
  explicit ema(Inner&& inner, const ema_options& options = {}, const std::vector<tensor<T>>& buffers = {})
      : wrapper<T>(detail::own<T>(std::forward<Inner>(inner))), options_(options) {
    detail::check_hyper(options.decay() >= 0 && options.decay() < 1, "ema", "decay must be in [0, 1)", options.decay());
    tracked_ = this->parameters();
    for (const auto& b : buffers) {
      KEXUE_CHECK(b.defined(), value_error, "ema", "undefined tensor given as a buffer");
      tracked_.push_back(b);
    }
    for (const auto& t : tracked_) {
      average_.push_back(options.init() == ema_init::copy ? t.detach().copy() : zeros_like(t.detach()));
    }
  }
  const ema_options& options() const { return options_; }
  /// Updates averaged so far.
  index_t updates() const { return updates_; }
  /// True between apply() and restore().
  bool applied() const { return !backup_.empty(); }

  /// The averaged weights (debiased with zero_debias), parameters then buffers, as new tensors.
  std::vector<tensor<T>> averages() const {
    std::vector<tensor<T>> out;
    const bool debias = options_.init() == ema_init::zero_debias;
    const double correction = debias ? 1 - std::pow(options_.decay(), static_cast<double>(updates_)) : 1;
    for (std::size_t j = 0; j < tracked_.size(); ++j) {
      if (debias && updates_ == 0) {
        out.push_back(tracked_[j].detach().copy());
        continue;
      }
      auto a = average_[j].copy();
      if (debias) {
        for (T& v : a) v = static_cast<T>(v / correction);
      }
      out.push_back(a);
    }
    return out;
  }
  /// Backs up the weights and writes the averages into them. @throws value_error if already applied.
  void apply() {
    KEXUE_CHECK(!applied(), value_error, "ema", "apply() called twice without restore()");
    const auto avg = averages();
    backup_ = detail::copies(tracked_);
    for (std::size_t j = 0; j < tracked_.size(); ++j) detail::assign(tracked_[j], avg[j]);
  }
  /// Writes the backed-up weights back. @throws value_error if not applied.
  void restore() {
    KEXUE_CHECK(applied(), value_error, "ema", "restore() called without apply()");
    for (std::size_t j = 0; j < tracked_.size(); ++j) detail::assign(tracked_[j], backup_[j]);
    backup_.clear();
  }
  /// apply() now, restore() when the returned guard goes out of scope.
  ema_guard<T> scoped_apply() { return ema_guard<T>(*this); }
  /// Copies the averages into `targets` (parameters then buffers, same count and shapes).
  /// @throws value_error for a count mismatch, shape_error for a shape mismatch.
  void apply_to(const std::vector<tensor<T>>& targets) const {
    KEXUE_CHECK(targets.size() == tracked_.size(), value_error, "ema::apply_to", "got ", targets.size(),
                " tensors, the average has ", tracked_.size());
    for (std::size_t j = 0; j < targets.size(); ++j) {
      KEXUE_CHECK(targets[j].defined() && targets[j].shape() == tracked_[j].shape(), shape_error, "ema::apply_to",
                  "tensor ", j, " has shape ", targets[j].defined() ? format_shape(targets[j].shape()) : "undefined",
                  ", the average ", format_shape(tracked_[j].shape()));
    }
    const auto avg = averages();
    for (std::size_t j = 0; j < targets.size(); ++j) detail::assign(targets[j], avg[j]);
  }

  state_dict save_state() const override {
    KEXUE_CHECK(!applied(), value_error, "ema::save_state", "the averaged weights are applied; restore() first");
    state_dict s;
    s.insert("updates", scalar<index_t>(updates_));
    for (std::size_t j = 0; j < average_.size(); ++j) s.insert("average." + std::to_string(j), average_[j].copy());
    return this->with_inner(std::move(s));
  }
  void load_state(const state_dict& s) override {
    const std::string op = "ema::load_state";
    KEXUE_CHECK(!applied(), value_error, op, "the averaged weights are applied; restore() first");
    const auto updates = detail::scalar_entry<index_t>(op, s, "updates");
    KEXUE_CHECK(updates >= 0, value_error, op, "entry 'updates' is negative (", updates, ")");
    std::vector<tensor<T>> average;
    for (std::size_t j = 0; j < average_.size(); ++j) {
      average.push_back(detail::tensor_entry<T>(op, s, "average." + std::to_string(j), tracked_[j].shape()));
    }
    this->load_inner(s, [&](const std::string& n) {
      return n == "updates" || detail::is_indexed_key(n, "average.", average_.size());
    });
    updates_ = updates;
    average_ = std::move(average);
  }
  std::string name() const override { return "ema"; }

 protected:
  bool do_step() override {
    KEXUE_CHECK(!applied(), value_error, "ema", "step() while the averaged weights are applied; restore() first");
    if (!this->inner_->step()) return false;
    ++updates_;
    const T a = static_cast<T>(options_.decay()), one_a = static_cast<T>(1 - options_.decay());
    for (std::size_t j = 0; j < tracked_.size(); ++j) {
      T* avg = average_[j].data();
      const T* w = tracked_[j].data();
      for (index_t i = 0; i < tracked_[j].numel(); ++i) avg[i] = a * avg[i] + one_a * w[i];
    }
    return true;
  }

 private:
  ema_options options_;
  std::vector<tensor<T>> tracked_, average_, backup_;
  index_t updates_ = 0;
};

template <class Inner, class... Rest>
ema(Inner&&, Rest&&...) -> ema<detail::optimizer_value_t<Inner>>;
template <class Inner>
ema(Inner&&, const ema_options&, const std::vector<tensor<detail::optimizer_value_t<Inner>>>&)
    -> ema<detail::optimizer_value_t<Inner>>;

}  // namespace kexue::optim
