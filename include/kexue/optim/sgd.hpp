// SPDX-License-Identifier: MIT
// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay (as PyTorch).
#pragma once

#include <string>   // names
#include <utility>  // std::move
#include <vector>

#include <kexue/optim/optimizer.hpp>

namespace kexue::optim {

/// Options of sgd (defaults in brackets).
struct sgd_options {
  /// Learning rate γ [0.01].
  sgd_options& lr(double v) {
    lr_ = v;
    return *this;
  }
  /// Momentum μ [0, none].
  sgd_options& momentum(double v) {
    momentum_ = v;
    return *this;
  }
  /// Dampening τ of the momentum's gradient term [0].
  sgd_options& dampening(double v) {
    dampening_ = v;
    return *this;
  }
  /// L2 penalty λ added to the gradient [0] (coupled; for decoupled decay wrap in optim::weight_decay).
  sgd_options& weight_decay(double v) {
    weight_decay_ = v;
    return *this;
  }
  /// Nesterov momentum [false]; needs momentum > 0 and dampening 0.
  sgd_options& nesterov(bool v) {
    nesterov_ = v;
    return *this;
  }
  double lr() const { return lr_; }
  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  double weight_decay() const { return weight_decay_; }
  bool nesterov() const { return nesterov_; }

 private:
  double lr_ = 0.01, momentum_ = 0, dampening_ = 0, weight_decay_ = 0;
  bool nesterov_ = false;
};

/// @brief SGD, step for step as PyTorch's torch.optim.SGD:
///
///     d = g + λθ
///     b = d (first update),  b ← μ b + (1 − τ) d (later)          when μ ≠ 0
///     d = d + μ b (Nesterov)  or  d = b                            when μ ≠ 0
///     θ ← θ − γ d
///
/// State: `param.<i>.momentum_buffer` (when μ ≠ 0), plus the entries listed at basic_optimizer.
/// @throws value_error for lr < 0, momentum < 0, dampening outside [0, 1], weight_decay < 0, or Nesterov
/// without momentum or with dampening.
template <class T>
class sgd : public basic_optimizer<T> {
 public:
  sgd(std::vector<tensor<T>> params, const sgd_options& options = {})
      : sgd(std::vector<param_group<T>>{param_group<T>(std::move(params))}, options) {}
  sgd(std::vector<param_group<T>> groups, const sgd_options& options)
      : basic_optimizer<T>("sgd", std::move(groups), options.lr(), options.weight_decay()), options_(options) {
    detail::check_hyper(options.momentum() >= 0, "sgd", "momentum must be >= 0", options.momentum());
    detail::check_hyper(options.dampening() >= 0 && options.dampening() <= 1, "sgd", "dampening must be in [0, 1]",
                        options.dampening());
    KEXUE_CHECK(!options.nesterov() || (options.momentum() > 0 && options.dampening() == 0), value_error, "sgd",
                "nesterov momentum requires momentum > 0 and dampening 0 (got momentum ", options.momentum(),
                ", dampening ", options.dampening(), ")");
    this->init_state();
  }
  const sgd_options& options() const { return options_; }

 protected:
  using typename basic_optimizer<T>::param_state;
  std::vector<std::string> buffer_names() const override { return {"momentum_buffer"}; }
  bool buffer_created(std::size_t) const override { return options_.momentum() != 0; }

  void update(const tensor<T>& p, const tensor<T>& g, param_state& s, const param_group<T>& group) override {
    const T lr = static_cast<T>(*group.lr), wd = static_cast<T>(*group.weight_decay);
    const T mu = static_cast<T>(options_.momentum()), damp = static_cast<T>(1 - options_.dampening());
    const bool nesterov = options_.nesterov();
    T* theta = p.data();
    const T* grad = g.data();
    const index_t n = p.numel();
    if (mu == 0) {
      for (index_t i = 0; i < n; ++i) theta[i] -= lr * (grad[i] + wd * theta[i]);
      return;
    }
    const bool first = !s.buffers[0].defined();
    T* buf = this->buffer(s, 0, p).data();
    for (index_t i = 0; i < n; ++i) {
      const T d = grad[i] + wd * theta[i];
      buf[i] = first ? d : mu * buf[i] + damp * d;
      theta[i] -= lr * (nesterov ? d + mu * buf[i] : buf[i]);
    }
  }

 private:
  sgd_options options_;
};

}  // namespace kexue::optim
