// SPDX-License-Identifier: MIT
// Layer adaptation wrapper (LAMB-style trust ratio, A28 §2), around any optimizer.
#pragma once

#include <algorithm>  // std::max
#include <cmath>      // std::sqrt
#include <string>     // names
#include <utility>    // std::forward
#include <vector>

#include <kexue/optim/optimizer.hpp>

namespace kexue::optim {

/// @brief Layer adaptation (LAMB when the wrapped optimizer is Adam, A28 §2): per parameter tensor, the
/// wrapped optimizer's update Δ = θ_inner − θ_t is rescaled so that its size is proportional to the
/// parameter's:
///
///     h = Δ / γ',  γ' = max(γ, 1e-7),   ratio = ‖θ_t‖₂ / ‖h‖₂  (1 when either norm is 0)
///     θ_{t+1} = θ_t + Δ · ratio            so ‖θ_{t+1} − θ_t‖ = γ'‖θ_t‖ whenever ‖Δ‖ > 0
///
/// γ is the learning rate of the parameter's group. `exclude` lists parameters left with the plain update.
/// Only parameters with a gradient take part. LayerAdaptation(WeightDecay(Adam)) puts the decay inside the
/// adapted direction, as in LAMB. Norms are accumulated in double.
///
/// State: only the wrapped optimizer's, under `inner.`. @throws value_error if an excluded tensor is not a
/// parameter.
template <class T>
class layer_adaptation : public wrapper<T> {
 public:
  template <class Inner, detail::enable_wrap<Inner, layer_adaptation> = 0>
  explicit layer_adaptation(Inner&& inner, const std::vector<tensor<T>>& exclude = {})
      : wrapper<T>(detail::own<T>(std::forward<Inner>(inner))) {
    adapted_ = detail::parameter_mask("layer_adaptation", this->parameters(), exclude);
    adapted_.flip();
  }

  state_dict save_state() const override { return this->with_inner({}); }
  void load_state(const state_dict& s) override {
    this->load_inner(s, [](const std::string&) { return false; });
  }
  std::string name() const override { return "layer_adaptation"; }

 protected:
  bool do_step() override {
    const auto before = this->snapshot(&adapted_);
    if (!this->inner_->step()) return false;
    const auto params = this->parameters();
    const auto group = this->group_indices();
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (!before[i].defined()) continue;
      T* p = params[i].data();
      const T* b = before[i].data();
      const index_t n = params[i].numel();
      double theta_sq = 0, delta_sq = 0;
      for (index_t j = 0; j < n; ++j) {
        const double d = static_cast<double>(p[j]) - static_cast<double>(b[j]);
        theta_sq += static_cast<double>(b[j]) * b[j];
        delta_sq += d * d;
      }
      const double lr = std::max(*this->param_groups()[group[i]].lr, 1e-7);
      const double h_norm = std::sqrt(delta_sq) / lr, theta_norm = std::sqrt(theta_sq);
      if (theta_norm == 0 || h_norm == 0) continue;  // ratio 1: keep the plain update
      const T ratio = static_cast<T>(theta_norm / h_norm);
      for (index_t j = 0; j < n; ++j) p[j] = b[j] + (p[j] - b[j]) * ratio;
      params[i].bump_version();
    }
    return true;
  }

 private:
  std::vector<bool> adapted_;
};

template <class Inner, class... Rest>
layer_adaptation(Inner&&, Rest&&...) -> layer_adaptation<detail::optimizer_value_t<Inner>>;
template <class Inner>
layer_adaptation(Inner&&, const std::vector<tensor<detail::optimizer_value_t<Inner>>>&)
    -> layer_adaptation<detail::optimizer_value_t<Inner>>;

}  // namespace kexue::optim
