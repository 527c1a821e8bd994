// SPDX-License-Identifier: MIT
// Decoupled weight decay wrapper (A28 §1): θ ← θ_inner − γλθ_before, around any optimizer.
#pragma once

#include <cmath>    // std::isfinite
#include <string>   // names
#include <utility>  // std::forward
#include <vector>

#include <kexue/optim/optimizer.hpp>

namespace kexue::optim {

/// @brief Decoupled weight decay around any optimizer or wrapper (AdamW-style, A28 §1):
///
///     θ_{t+1} = θ_inner − γ λ θ_t
///
/// where θ_inner is what the wrapped optimizer made of θ_t, γ the learning rate of the parameter's group and
/// θ_t the value **before** the update. Only parameters with a gradient at this step are decayed (as the
/// wrapped optimizer only updates those), and none when the wrapped optimizer did not update (gradient
/// accumulation between updates). `exclude` lists parameters that are not decayed (biases, norms).
/// With plain SGD (no momentum) this equals an L2 penalty ½λ‖θ‖² in the loss; `weight_decay(adam, λ)` equals
/// adamw with λ. Note the order matters: outer wrappers see the decayed update.
///
///     auto opt = optim::weight_decay(optim::adam<float>(params, adam_options().lr(1e-3)), 0.01, {bias});
///
/// State: only the wrapped optimizer's, under `inner.`. @throws value_error if rate < 0 or not finite, or an
/// excluded tensor is not a parameter.
template <class T>
class weight_decay : public wrapper<T> {
 public:
  template <class Inner, detail::enable_wrap<Inner, weight_decay> = 0>
  weight_decay(Inner&& inner, double rate = 0.01, const std::vector<tensor<T>>& exclude = {})
      : wrapper<T>(detail::own<T>(std::forward<Inner>(inner))), rate_(rate) {
    detail::check_hyper(std::isfinite(rate) && rate >= 0, "weight_decay", "rate must be >= 0", rate);
    decayed_ = detail::parameter_mask("weight_decay", this->parameters(), exclude);
    decayed_.flip();
  }
  double rate() const { return rate_; }

  state_dict save_state() const override { return this->with_inner({}); }
  void load_state(const state_dict& s) override {
    this->load_inner(s, [](const std::string&) { return false; });
  }
  std::string name() const override { return "weight_decay"; }

 protected:
  bool do_step() override {
    const auto before = this->snapshot(&decayed_);
    if (!this->inner_->step()) return false;
    const auto params = this->parameters();
    const auto group = this->group_indices();
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (!before[i].defined()) continue;
      const T decay = static_cast<T>(*this->param_groups()[group[i]].lr * rate_);
      T* p = params[i].data();
      const T* b = before[i].data();
      for (index_t j = 0; j < params[i].numel(); ++j) p[j] -= decay * b[j];
      params[i].bump_version();
    }
    return true;
  }

 private:
  double rate_;
  std::vector<bool> decayed_;
};

template <class Inner, class... Rest>
weight_decay(Inner&&, Rest&&...) -> weight_decay<detail::optimizer_value_t<Inner>>;
template <class Inner>
weight_decay(Inner&&, double, const std::vector<tensor<detail::optimizer_value_t<Inner>>>&)
    -> weight_decay<detail::optimizer_value_t<Inner>>;

}  // namespace kexue::optim
