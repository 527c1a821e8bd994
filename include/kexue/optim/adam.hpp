// SPDX-License-Identifier: MIT
// Adam (L2 weight decay in the gradient) and AdamW (decoupled weight decay), with optional AMSGrad, as PyTorch.
#pragma once

#include <algorithm>  // std::max
#include <cmath>      // std::pow, std::sqrt
#include <string>     // names
#include <utility>    // std::move
#include <vector>

#include <kexue/optim/optimizer.hpp>

namespace kexue::optim {

/// Options shared by adam and adamw (defaults in brackets; adamw's weight_decay defaults to 0.01).
template <class Derived>
struct adam_options_base {
  /// Learning rate γ [1e-3].
  Derived& lr(double v) { return set(lr_, v); }
  /// Decay rates β₁ [0.9] and β₂ [0.999] of the first and second moments.
  Derived& betas(double beta1, double beta2) {
    beta1_ = beta1;
    return set(beta2_, beta2);
  }
  /// ε added to the denominator [1e-8] (bert4keras uses 1e-6).
  Derived& eps(double v) { return set(eps_, v); }
  /// Weight decay λ [adam: 0, adamw: 0.01].
  Derived& weight_decay(double v) { return set(weight_decay_, v); }
  /// AMSGrad: divide by the running maximum of the second moment [false].
  Derived& amsgrad(bool v) {
    amsgrad_ = v;
    return static_cast<Derived&>(*this);
  }
  double lr() const { return lr_; }
  double beta1() const { return beta1_; }
  double beta2() const { return beta2_; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }
  bool amsgrad() const { return amsgrad_; }

 protected:
  Derived& set(double& field, double v) {
    field = v;
    return static_cast<Derived&>(*this);
  }
  double lr_ = 1e-3, beta1_ = 0.9, beta2_ = 0.999, eps_ = 1e-8, weight_decay_ = 0;
  bool amsgrad_ = false;
};

/// Options of adam.
struct adam_options : adam_options_base<adam_options> {};

/// Options of adamw (weight_decay defaults to 0.01, as PyTorch's AdamW).
struct adamw_options : adam_options_base<adamw_options> {
  adamw_options() { weight_decay_ = 1e-2; }
};

/// @brief Adam (Kingma & Ba), step for step as PyTorch's torch.optim.Adam; t counts the updates of each
/// parameter:
///
///     g ← g + λθ                                   (adam: L2 penalty in the gradient)
///     θ ← θ (1 − γλ)                               (adamw: decoupled decay, before the update)
///     m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²,   v̂max ← max(v̂max, v) (AMSGrad)
///     θ ← θ − (γ / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)        (√v̂max with AMSGrad)
///
/// State: `param.<i>.exp_avg`, `param.<i>.exp_avg_sq`, `param.<i>.max_exp_avg_sq` (AMSGrad), plus the entries
/// listed at basic_optimizer. @throws value_error for lr < 0, β outside [0, 1), eps < 0 or weight_decay < 0.
template <class T>
class adam : public basic_optimizer<T> {
 public:
  adam(std::vector<tensor<T>> params, const adam_options& options = {})
      : adam(std::vector<param_group<T>>{param_group<T>(std::move(params))}, options) {}
  adam(std::vector<param_group<T>> groups, const adam_options& options)
      : adam("adam", std::move(groups), options, false) {}
  const adam_options& options() const { return options_; }

 protected:
  using typename basic_optimizer<T>::param_state;

  template <class Options>
  adam(std::string name, std::vector<param_group<T>> groups, const Options& o, bool decoupled)
      : basic_optimizer<T>(std::move(name), std::move(groups), o.lr(), o.weight_decay()), decoupled_(decoupled) {
    detail::check_hyper(o.beta1() >= 0 && o.beta1() < 1, this->name_, "beta1 must be in [0, 1)", o.beta1());
    detail::check_hyper(o.beta2() >= 0 && o.beta2() < 1, this->name_, "beta2 must be in [0, 1)", o.beta2());
    detail::check_hyper(o.eps() >= 0, this->name_, "eps must be >= 0", o.eps());
    options_.lr(o.lr()).betas(o.beta1(), o.beta2()).eps(o.eps()).weight_decay(o.weight_decay()).amsgrad(o.amsgrad());
    this->init_state();
  }

  std::vector<std::string> buffer_names() const override { return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}; }
  bool buffer_created(std::size_t b) const override { return b < 2 || options_.amsgrad(); }

  void update(const tensor<T>& p, const tensor<T>& g, param_state& s, const param_group<T>& group) override {
    const double lr = *group.lr, wd = *group.weight_decay;
    const double beta1 = options_.beta1(), beta2 = options_.beta2();
    const double t = static_cast<double>(s.step);
    const T step_size = static_cast<T>(lr / (1 - std::pow(beta1, t)));
    const T bc2_sqrt = static_cast<T>(std::sqrt(1 - std::pow(beta2, t)));
    const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2), eps = static_cast<T>(options_.eps());
    const T one_b1 = static_cast<T>(1 - beta1), one_b2 = static_cast<T>(1 - beta2);
    const T l2 = decoupled_ ? T(0) : static_cast<T>(wd);
    const T shrink = static_cast<T>(1 - lr * wd);
    T* theta = p.data();
    T* grad = g.data();
    T* m = this->buffer(s, 0, p).data();
    T* v = this->buffer(s, 1, p).data();
    T* vmax = options_.amsgrad() ? this->buffer(s, 2, p).data() : nullptr;
    using map = detail::chunk_map<T>;
    detail::for_each_chunk(p.numel(), [&](index_t at, index_t len) {
      map th(theta + at, len), gr(grad + at, len), mc(m + at, len), vc(v + at, len);
      if (decoupled_ && wd != 0) th *= shrink;
      detail::chunk_array<T> gi = gr;
      if (l2 != 0) gi += l2 * th;
      mc = b1 * mc + one_b1 * gi;
      vc = b2 * vc + one_b2 * gi.square();
      if (vmax != nullptr) {
        map vm(vmax + at, len);
        vm = vm.max(vc);
        th -= step_size * (mc / (vm.sqrt() / bc2_sqrt + eps));
      } else {
        th -= step_size * (mc / (vc.sqrt() / bc2_sqrt + eps));
      }
    });
  }

  adam_options options_;
  bool decoupled_ = false;
};

/// @brief AdamW (Loshchilov & Hutter): Adam with decoupled weight decay θ ← θ(1 − γλ) applied before the
/// Adam update, as PyTorch's torch.optim.AdamW (λ defaults to 0.01). Equal, up to rounding, to
/// `optim::weight_decay(optim::adam(...), λ)`. State as adam.
template <class T>
class adamw : public adam<T> {
 public:
  adamw(std::vector<tensor<T>> params, const adamw_options& options = {})
      : adamw(std::vector<param_group<T>>{param_group<T>(std::move(params))}, options) {}
  adamw(std::vector<param_group<T>> groups, const adamw_options& options)
      : adam<T>("adamw", std::move(groups), options, true) {}
};

}  // namespace kexue::optim
