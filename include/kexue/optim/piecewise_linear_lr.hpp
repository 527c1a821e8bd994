// SPDX-License-Identifier: MIT
// Piecewise-linear learning-rate multiplier (A28 §3): the function and the wrapper that scales each update.
#pragma once

#include <cmath>    // std::isfinite
#include <string>   // names
#include <utility>  // std::pair, std::forward
#include <vector>

#include <kexue/optim/optimizer.hpp>

namespace kexue::optim {

/// Schedule points (t_k, ρ_k): step t_k has multiplier ρ_k.
using schedule_points = std::vector<std::pair<index_t, double>>;

/// @brief Checks schedule points (t_k strictly increasing, t_0 >= 0, ρ_k finite) and prepends (0, 0) when the
/// first step is not 0, so `{{1000, 1.0}}` is a linear warm-up from 0 to 1 over 1000 steps (A28 §3).
/// @throws value_error naming `op` for an empty list, unsorted or negative steps, or a non-finite value.
inline schedule_points normalized_points(const std::string& op, schedule_points points) {
  KEXUE_CHECK(!points.empty(), value_error, op, "the schedule needs at least one (step, multiplier) point");
  for (std::size_t k = 0; k < points.size(); ++k) {
    KEXUE_CHECK(points[k].first >= 0, value_error, op, "schedule steps must be >= 0 (got ", points[k].first, ")");
    KEXUE_CHECK(k == 0 || points[k].first > points[k - 1].first, value_error, op,
                "schedule steps must be strictly increasing (", points[k - 1].first, " then ", points[k].first, ")");
    KEXUE_CHECK(std::isfinite(points[k].second), value_error, op, "schedule value at step ", points[k].first,
                " is not finite (", points[k].second, ")");
  }
  if (points.front().first != 0) points.insert(points.begin(), {0, 0.0});
  return points;
}

/// @brief The piecewise-linear function through normalized `points` at step t: linear between neighbouring
/// points, the last value after the last point. Example: {{1000, 1}, {2000, 0.1}} at t = 0, 500, 1000, 1500,
/// 2000, 3000 gives 0, 0.5, 1, 0.55, 0.1, 0.1.
inline double piecewise_linear(const schedule_points& points, index_t t) {
  if (t <= points.front().first) return points.front().second;
  for (std::size_t k = 1; k < points.size(); ++k) {
    if (t <= points[k].first) {
      const auto& [t0, v0] = points[k - 1];
      const auto& [t1, v1] = points[k];
      return v0 + (v1 - v0) * static_cast<double>(t - t0) / static_cast<double>(t1 - t0);
    }
  }
  return points.back().second;
}

/// @brief Scales every update of the wrapped optimizer by ρ_t (A28 §3): θ_{t+1} = θ_t + (θ_inner − θ_t)·ρ_t,
/// with ρ the piecewise_linear function of `points` and t the number of updates already performed (0 at the
/// first, so with a warm-up the first update is multiplied by 0; the wrapped optimizer's state still
/// advances, as in the reference). Default points {(0, 1)}: no change. Updates with ρ_t = 1 are left
/// bit-exact. Only parameters with a gradient take part.
///
///     auto opt = optim::piecewise_linear_lr(optim::adam<float>(params), {{1000, 1.0}, {2000, 0.1}});
///
/// State: `updates` (int64 scalar), and the wrapped optimizer's under `inner.`.
/// @throws value_error for bad points (see normalized_points).
template <class T>
class piecewise_linear_lr : public wrapper<T> {
 public:
  template <class Inner, detail::enable_wrap<Inner, piecewise_linear_lr> = 0>
  explicit piecewise_linear_lr(Inner&& inner, schedule_points points = {{0, 1.0}})
      : wrapper<T>(detail::own<T>(std::forward<Inner>(inner))),
        points_(normalized_points("piecewise_linear_lr", std::move(points))) {}

  /// The multiplier the next update will use.
  double multiplier() const { return piecewise_linear(points_, updates_); }
  /// Updates performed so far.
  index_t updates() const { return updates_; }

  state_dict save_state() const override {
    state_dict s;
    s.insert("updates", scalar<index_t>(updates_));
    return this->with_inner(std::move(s));
  }
  void load_state(const state_dict& s) override {
    const auto updates = detail::scalar_entry<index_t>("piecewise_linear_lr::load_state", s, "updates");
    KEXUE_CHECK(updates >= 0, value_error, "piecewise_linear_lr::load_state", "entry 'updates' is negative (", updates,
                ")");
    this->load_inner(s, [](const std::string& n) { return n == "updates"; });
    updates_ = updates;
  }
  std::string name() const override { return "piecewise_linear_lr"; }

 protected:
  bool do_step() override {
    const double rho = multiplier();
    const auto before = rho == 1 ? std::vector<tensor<T>>() : this->snapshot();
    if (!this->inner_->step()) return false;
    ++updates_;
    if (rho == 1) return true;
    const auto params = this->parameters();
    const T r = static_cast<T>(rho);
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (!before[i].defined()) continue;
      T* p = params[i].data();
      const T* b = before[i].data();
      for (index_t j = 0; j < params[i].numel(); ++j) p[j] = b[j] + (p[j] - b[j]) * r;
      params[i].bump_version();
    }
    return true;
  }

 private:
  schedule_points points_;
  index_t updates_ = 0;
};

template <class Inner, class... Rest>
piecewise_linear_lr(Inner&&, Rest&&...) -> piecewise_linear_lr<detail::optimizer_value_t<Inner>>;
template <class Inner>
piecewise_linear_lr(Inner&&, schedule_points) -> piecewise_linear_lr<detail::optimizer_value_t<Inner>>;

}  // namespace kexue::optim
