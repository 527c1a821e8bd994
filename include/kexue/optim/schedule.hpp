// SPDX-License-Identifier: MIT
// Learning-rate schedules over any optimizer or wrapper: step decay, cosine with warm-up, piecewise linear,
// reduce on plateau.
#pragma once

#include <algorithm>  // std::max
#include <cmath>      // std::cos, std::pow
#include <limits>     // infinity for the plateau's best value
#include <string>     // names
#include <utility>    // std::move
#include <vector>

#include <kexue/optim/optimizer.hpp>
#include <kexue/optim/piecewise_linear_lr.hpp>

namespace kexue::optim {

/// @brief Base of the schedules that set lr_g = base_g · f(t) for every group g of an optimizer (or wrapper:
/// groups are the innermost optimizer's), where base_g is the group's lr when the schedule is created and t
/// counts calls to step() (epochs or updates, as the caller decides; call it after optimizer.step(), as in
/// PyTorch; `if (opt.step()) schedule.step();` counts real updates under gradient accumulation). The
/// constructor already sets f(0). The schedule keeps a reference: build it on the finished (outermost)
/// optimizer, which must outlive it and not be moved.
///
/// State (`save_state()`): `steps` (int64 scalar) and `base_lr` (float64 [G]).
template <class T>
class lr_schedule {
 public:
  virtual ~lr_schedule() = default;
  /// Advances t by one and sets the learning rates.
  void step() {
    ++t_;
    apply();
  }
  /// Calls to step() so far.
  index_t steps() const { return t_; }
  /// The multiplier f(t) of the base learning rates.
  virtual double factor(index_t t) const = 0;
  const std::vector<double>& base_lrs() const { return base_; }

  state_dict save_state() const {
    state_dict s;
    s.insert("steps", scalar<index_t>(t_));
    s.insert("base_lr", from_vector(base_));
    return s;
  }
  /// @throws value_error (shape_error for a group-count mismatch) and changes nothing when the state does not fit.
  void load_state(const state_dict& s) {
    const std::string op = "lr_schedule::load_state";
    const auto t = detail::scalar_entry<index_t>(op, s, "steps");
    KEXUE_CHECK(t >= 0, value_error, op, "entry 'steps' is negative (", t, ")");
    const auto base = detail::tensor_entry<double>(op, s, "base_lr", shape{static_cast<index_t>(base_.size())});
    detail::check_no_unexpected(op, s, [](const std::string& n) { return n == "steps" || n == "base_lr"; });
    t_ = t;
    base_ = base.to_vector();
    apply();
  }

 protected:
  explicit lr_schedule(optimizer<T>& opt) : opt_(&opt) {
    for (const auto& g : opt.param_groups()) base_.push_back(*g.lr);
  }
  /// Sets lr_g = base_g · factor(t).
  void apply() {
    const double f = factor(t_);
    for (std::size_t g = 0; g < base_.size(); ++g) opt_->set_lr(g, base_[g] * f);
  }

 private:
  optimizer<T>* opt_;
  std::vector<double> base_;
  index_t t_ = 0;
};

/// @brief Step decay (PyTorch's StepLR): f(t) = γ^⌊t / step_size⌋.
/// @throws value_error if step_size < 1 or γ outside (0, 1].
template <class T>
class step_lr : public lr_schedule<T> {
 public:
  step_lr(optimizer<T>& opt, index_t step_size, double gamma = 0.1)
      : lr_schedule<T>(opt), step_size_(step_size), gamma_(gamma) {
    KEXUE_CHECK(step_size >= 1, value_error, "step_lr", "step_size must be >= 1 (got ", step_size, ")");
    detail::check_hyper(gamma > 0 && gamma <= 1, "step_lr", "gamma must be in (0, 1]", gamma);
    this->apply();
  }
  double factor(index_t t) const override { return std::pow(gamma_, static_cast<double>(t / step_size_)); }

 private:
  index_t step_size_;
  double gamma_;
};

/// Options of cosine_schedule (defaults in brackets).
struct cosine_options {
  /// Steps of linear warm-up from 0 [0].
  cosine_options& warmup_steps(index_t v) {
    warmup_ = v;
    return *this;
  }
  /// Step at which the cosine reaches its minimum (counted from 0, warm-up included) [required, > warmup].
  cosine_options& total_steps(index_t v) {
    total_ = v;
    return *this;
  }
  /// Final multiplier of the base lr [0].
  cosine_options& min_factor(double v) {
    min_ = v;
    return *this;
  }
  index_t warmup_steps() const { return warmup_; }
  index_t total_steps() const { return total_; }
  double min_factor() const { return min_; }

 private:
  index_t warmup_ = 0, total_ = 0;
  double min_ = 0;
};

/// @brief Cosine decay after a linear warm-up, with w = warmup_steps, n = total_steps, m = min_factor:
///
///     f(t) = t / w                                              t < w
///     f(t) = m + (1 − m) · ½ (1 + cos(π (t − w) / (n − w)))     w ≤ t ≤ n
///     f(t) = m                                                  t > n
///
/// @throws value_error if warmup_steps < 0, total_steps <= warmup_steps, or min_factor outside [0, 1].
template <class T>
class cosine_schedule : public lr_schedule<T> {
 public:
  cosine_schedule(optimizer<T>& opt, const cosine_options& options) : lr_schedule<T>(opt), options_(options) {
    KEXUE_CHECK(options.warmup_steps() >= 0, value_error, "cosine_schedule", "warmup_steps must be >= 0 (got ",
                options.warmup_steps(), ")");
    KEXUE_CHECK(options.total_steps() > options.warmup_steps(), value_error, "cosine_schedule",
                "total_steps must be > warmup_steps (got ", options.total_steps(), " and ", options.warmup_steps(),
                ")");
    detail::check_hyper(options.min_factor() >= 0 && options.min_factor() <= 1, "cosine_schedule",
                        "min_factor must be in [0, 1]", options.min_factor());
    this->apply();
  }
  double factor(index_t t) const override {
    const index_t w = options_.warmup_steps(), n = options_.total_steps();
    const double m = options_.min_factor();
    if (t < w) return static_cast<double>(t) / static_cast<double>(w);
    if (t >= n) return m;
    const double pi = 3.14159265358979323846;
    return m + (1 - m) * 0.5 * (1 + std::cos(pi * static_cast<double>(t - w) / static_cast<double>(n - w)));
  }

 private:
  cosine_options options_;
};

/// @brief Piecewise-linear schedule: f(t) = piecewise_linear(points, t) (see optim/piecewise_linear_lr.hpp;
/// (0, 0) is prepended when the first step is not 0). Unlike the piecewise_linear_lr wrapper, which scales
/// each update, this sets the learning rate (the same thing for optimizers linear in lr such as SGD and Adam).
template <class T>
class piecewise_linear_schedule : public lr_schedule<T> {
 public:
  piecewise_linear_schedule(optimizer<T>& opt, schedule_points points)
      : lr_schedule<T>(opt), points_(normalized_points("piecewise_linear_schedule", std::move(points))) {
    this->apply();
  }
  double factor(index_t t) const override { return piecewise_linear(points_, t); }

 private:
  schedule_points points_;
};

/// Options of reduce_on_plateau (defaults in brackets, PyTorch's ReduceLROnPlateau).
struct plateau_options {
  enum class mode_t { min, max };
  enum class threshold_mode_t { rel, abs };
  /// Whether lower (min) or higher (max) metrics are better [min].
  plateau_options& mode(mode_t v) {
    mode_ = v;
    return *this;
  }
  /// Multiplier of the lr on a plateau [0.1], in (0, 1).
  plateau_options& factor(double v) {
    factor_ = v;
    return *this;
  }
  /// Non-improving steps tolerated before reducing [10].
  plateau_options& patience(index_t v) {
    patience_ = v;
    return *this;
  }
  /// Minimum improvement that counts [1e-4], relative (rel) or absolute (abs) [rel].
  plateau_options& threshold(double v, threshold_mode_t m = threshold_mode_t::rel) {
    threshold_ = v;
    threshold_mode_ = m;
    return *this;
  }
  /// Steps after a reduction during which no plateau is counted [0].
  plateau_options& cooldown(index_t v) {
    cooldown_ = v;
    return *this;
  }
  /// Lower bound of every group's lr [0].
  plateau_options& min_lr(double v) {
    min_lr_ = v;
    return *this;
  }
  /// Reductions smaller than eps are skipped [1e-8].
  plateau_options& eps(double v) {
    eps_ = v;
    return *this;
  }
  mode_t mode() const { return mode_; }
  double factor() const { return factor_; }
  index_t patience() const { return patience_; }
  double threshold() const { return threshold_; }
  threshold_mode_t threshold_mode() const { return threshold_mode_; }
  index_t cooldown() const { return cooldown_; }
  double min_lr() const { return min_lr_; }
  double eps() const { return eps_; }

 private:
  mode_t mode_ = mode_t::min;
  double factor_ = 0.1;
  index_t patience_ = 10;
  double threshold_ = 1e-4;
  threshold_mode_t threshold_mode_ = threshold_mode_t::rel;
  index_t cooldown_ = 0;
  double min_lr_ = 0, eps_ = 1e-8;
};

/// @brief Reduces every group's lr by `factor` when the metric has not improved for more than `patience`
/// calls of step(metric), exactly as PyTorch's ReduceLROnPlateau: a metric a improves on the best b when
/// a < b(1 − threshold) (min, rel), a < b − threshold (min, abs), a > b(1 + threshold) (max, rel) or
/// a > b + threshold (max, abs); after a reduction (lr ← max(lr·factor, min_lr), skipped when the change is
/// below eps) `cooldown` steps pass with the bad-step count held at 0. It multiplies the current lr, so it
/// composes with manual set_lr calls.
///
/// State: `best` (float64), `bad_steps`, `cooldown_left`, `steps` (int64 scalars).
/// @throws value_error if factor is outside (0, 1), patience/cooldown < 0, threshold < 0 or min_lr < 0.
template <class T>
class reduce_on_plateau {
 public:
  reduce_on_plateau(optimizer<T>& opt, const plateau_options& options = {}) : opt_(&opt), options_(options) {
    const char* op = "reduce_on_plateau";
    detail::check_hyper(options.factor() > 0 && options.factor() < 1, op, "factor must be in (0, 1)", options.factor());
    KEXUE_CHECK(options.patience() >= 0, value_error, op, "patience must be >= 0 (got ", options.patience(), ")");
    KEXUE_CHECK(options.cooldown() >= 0, value_error, op, "cooldown must be >= 0 (got ", options.cooldown(), ")");
    detail::check_hyper(options.threshold() >= 0, op, "threshold must be >= 0", options.threshold());
    detail::check_hyper(options.min_lr() >= 0, op, "min_lr must be >= 0", options.min_lr());
    best_ = worst();
  }

  /// Records the metric of the step that just ended and reduces the learning rates on a plateau.
  /// Returns true when it reduced them.
  bool step(double metric) {
    ++steps_;
    if (improves(metric)) {
      best_ = metric;
      bad_ = 0;
    } else {
      ++bad_;
    }
    if (cooldown_left_ > 0) {
      --cooldown_left_;
      bad_ = 0;
    }
    if (bad_ <= options_.patience()) return false;
    for (std::size_t g = 0; g < opt_->param_groups().size(); ++g) {
      const double old_lr = *opt_->param_groups()[g].lr;
      const double new_lr = std::max(old_lr * options_.factor(), options_.min_lr());
      if (old_lr - new_lr > options_.eps()) opt_->set_lr(g, new_lr);
    }
    cooldown_left_ = options_.cooldown();
    bad_ = 0;
    return true;
  }
  double best() const { return best_; }
  index_t bad_steps() const { return bad_; }

  state_dict save_state() const {
    state_dict s;
    s.insert("best", scalar<double>(best_));
    s.insert("bad_steps", scalar<index_t>(bad_));
    s.insert("cooldown_left", scalar<index_t>(cooldown_left_));
    s.insert("steps", scalar<index_t>(steps_));
    return s;
  }
  void load_state(const state_dict& s) {
    const std::string op = "reduce_on_plateau::load_state";
    const double best = detail::scalar_entry<double>(op, s, "best");
    const index_t bad = detail::scalar_entry<index_t>(op, s, "bad_steps");
    const index_t cool = detail::scalar_entry<index_t>(op, s, "cooldown_left");
    const index_t steps = detail::scalar_entry<index_t>(op, s, "steps");
    KEXUE_CHECK(bad >= 0 && cool >= 0 && steps >= 0, value_error, op, "negative counter in the state");
    detail::check_no_unexpected(op, s, [](const std::string& n) {
      return n == "best" || n == "bad_steps" || n == "cooldown_left" || n == "steps";
    });
    best_ = best;
    bad_ = bad;
    cooldown_left_ = cool;
    steps_ = steps;
  }

 private:
  using mode_t = plateau_options::mode_t;
  double worst() const {
    const double inf = std::numeric_limits<double>::infinity();
    return options_.mode() == mode_t::min ? inf : -inf;
  }
  bool improves(double a) const {
    const double th = options_.threshold();
    const bool rel = options_.threshold_mode() == plateau_options::threshold_mode_t::rel;
    if (options_.mode() == mode_t::min) return rel ? a < best_ * (1 - th) : a < best_ - th;
    return rel ? a > best_ * (th + 1) : a > best_ + th;
  }

  optimizer<T>* opt_;
  plateau_options options_;
  double best_;
  index_t bad_ = 0, cooldown_left_ = 0, steps_ = 0;
};

}  // namespace kexue::optim
