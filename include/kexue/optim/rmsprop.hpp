// SPDX-License-Identifier: MIT
// RMSprop (plain or centered, with optional momentum and L2 weight decay), as PyTorch.
#pragma once

#include <cmath>    // std::sqrt
#include <string>   // names
#include <utility>  // std::move
#include <vector>

#include <kexue/optim/optimizer.hpp>

namespace kexue::optim {

/// Options of rmsprop (defaults in brackets, PyTorch's).
struct rmsprop_options {
  /// Learning rate γ [0.01].
  rmsprop_options& lr(double v) { return set(lr_, v); }
  /// Smoothing constant α of the running averages [0.99].
  rmsprop_options& alpha(double v) { return set(alpha_, v); }
  /// ε added to the denominator [1e-8].
  rmsprop_options& eps(double v) { return set(eps_, v); }
  /// L2 penalty λ added to the gradient [0].
  rmsprop_options& weight_decay(double v) { return set(weight_decay_, v); }
  /// Momentum μ [0, none].
  rmsprop_options& momentum(double v) { return set(momentum_, v); }
  /// Centered: normalise by the variance estimate E[g²] − E[g]² instead of E[g²] [false].
  rmsprop_options& centered(bool v) {
    centered_ = v;
    return *this;
  }
  double lr() const { return lr_; }
  double alpha() const { return alpha_; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }
  double momentum() const { return momentum_; }
  bool centered() const { return centered_; }

 private:
  rmsprop_options& set(double& field, double v) {
    field = v;
    return *this;
  }
  double lr_ = 0.01, alpha_ = 0.99, eps_ = 1e-8, weight_decay_ = 0, momentum_ = 0;
  bool centered_ = false;
};

/// @brief RMSprop (Hinton), step for step as PyTorch's torch.optim.RMSprop:
///
///     g ← g + λθ
///     s ← α s + (1 − α) g²
///     a ← α a + (1 − α) g,   d = √(s − a²) + ε      (centered)   or   d = √s + ε
///     b ← μ b + g / d,  θ ← θ − γ b                 (μ > 0)       or   θ ← θ − γ g / d
///
/// State: `param.<i>.square_avg`, `param.<i>.grad_avg` (centered), `param.<i>.momentum_buffer` (μ > 0), plus
/// the entries listed at basic_optimizer. @throws value_error for lr < 0, α outside [0, 1], eps < 0,
/// momentum < 0 or weight_decay < 0.
template <class T>
class rmsprop : public basic_optimizer<T> {
 public:
  rmsprop(std::vector<tensor<T>> params, const rmsprop_options& options = {})
      : rmsprop(std::vector<param_group<T>>{param_group<T>(std::move(params))}, options) {}
  rmsprop(std::vector<param_group<T>> groups, const rmsprop_options& options)
      : basic_optimizer<T>("rmsprop", std::move(groups), options.lr(), options.weight_decay()), options_(options) {
    detail::check_hyper(options.alpha() >= 0 && options.alpha() <= 1, "rmsprop", "alpha must be in [0, 1]",
                        options.alpha());
    detail::check_hyper(options.eps() >= 0, "rmsprop", "eps must be >= 0", options.eps());
    detail::check_hyper(options.momentum() >= 0, "rmsprop", "momentum must be >= 0", options.momentum());
    this->init_state();
  }
  const rmsprop_options& options() const { return options_; }

 protected:
  using typename basic_optimizer<T>::param_state;
  std::vector<std::string> buffer_names() const override { return {"square_avg", "grad_avg", "momentum_buffer"}; }
  bool buffer_created(std::size_t b) const override {
    return b == 0 || (b == 1 && options_.centered()) || (b == 2 && options_.momentum() > 0);
  }

  void update(const tensor<T>& p, const tensor<T>& g, param_state& s, const param_group<T>& group) override {
    const T lr = static_cast<T>(*group.lr), wd = static_cast<T>(*group.weight_decay);
    const T alpha = static_cast<T>(options_.alpha()), one_alpha = static_cast<T>(1 - options_.alpha());
    const T eps = static_cast<T>(options_.eps()), mu = static_cast<T>(options_.momentum());
    T* theta = p.data();
    T* grad = g.data();
    T* sq = this->buffer(s, 0, p).data();
    T* avg = options_.centered() ? this->buffer(s, 1, p).data() : nullptr;
    T* buf = mu > 0 ? this->buffer(s, 2, p).data() : nullptr;
    using map = detail::chunk_map<T>;
    detail::for_each_chunk(p.numel(), [&](index_t at, index_t len) {
      map th(theta + at, len), gr(grad + at, len), sc(sq + at, len);
      detail::chunk_array<T> gi = gr;
      if (wd != 0) gi += wd * th;
      sc = alpha * sc + one_alpha * gi.square();
      detail::chunk_array<T> d(len);
      if (avg != nullptr) {
        map ac(avg + at, len);
        ac = alpha * ac + one_alpha * gi;
        d = (sc - ac.square()).sqrt() + eps;
      } else {
        d = sc.sqrt() + eps;
      }
      if (buf != nullptr) {
        map bc(buf + at, len);
        bc = mu * bc + gi / d;
        th -= lr * bc;
      } else {
        th -= lr * (gi / d);
      }
    });
  }

 private:
  rmsprop_options options_;
};

}  // namespace kexue::optim
