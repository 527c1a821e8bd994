// SPDX-License-Identifier: MIT
// Gradient clipping as a wrapper, so that it composes inside a stack (e.g. clipping the accumulated mean).
#pragma once

#include <cmath>    // std::isinf
#include <limits>   // infinity: "no bound"
#include <string>   // names
#include <utility>  // std::forward
#include <vector>

#include <kexue/optim/optimizer.hpp>

namespace kexue::optim {

/// Options of gradient_clipping (defaults in brackets: no clipping).
struct gradient_clipping_options {
  /// Bound of the global gradient norm, see clip_grad_norm [∞: off].
  gradient_clipping_options& max_norm(double v, double norm_type = 2.0) {
    max_norm_ = v;
    norm_type_ = norm_type;
    return *this;
  }
  /// Bound of each gradient element, see clip_grad_value [∞: off]; applied before the norm bound.
  gradient_clipping_options& max_value(double v) {
    max_value_ = v;
    return *this;
  }
  double max_norm() const { return max_norm_; }
  double norm_type() const { return norm_type_; }
  double max_value() const { return max_value_; }

 private:
  double max_norm_ = std::numeric_limits<double>::infinity(), norm_type_ = 2.0;
  double max_value_ = std::numeric_limits<double>::infinity();
};

/// @brief Clips the gradients the wrapped optimizer sees: by value (clip_grad_value) and then by global norm
/// over all its parameters (clip_grad_norm), then steps it. The caller's gradients are restored after the
/// step. Inside gradient accumulation, `gradient_accumulation(gradient_clipping(adam, ...), k)` clips the
/// mean gradient of each update; outside, each micro-batch's gradient.
///
///     auto opt = optim::gradient_clipping(optim::adam<float>(params), gradient_clipping_options().max_norm(1.0));
///
/// State: only the wrapped optimizer's, under `inner.`. `last_norm()` is the global norm before clipping at
/// the last step (NaN before the first or without a norm bound). @throws value_error for negative bounds or a
/// norm_type <= 0.
template <class T>
class gradient_clipping : public wrapper<T> {
 public:
  template <class Inner, detail::enable_wrap<Inner, gradient_clipping> = 0>
  gradient_clipping(Inner&& inner, const gradient_clipping_options& options)
      : wrapper<T>(detail::own<T>(std::forward<Inner>(inner))), options_(options) {
    detail::check_hyper(options.max_norm() >= 0, "gradient_clipping", "max_norm must be >= 0", options.max_norm());
    detail::check_hyper(options.norm_type() > 0, "gradient_clipping", "norm_type must be > 0 (or infinity)",
                        options.norm_type());
    detail::check_hyper(options.max_value() >= 0, "gradient_clipping", "max_value must be >= 0", options.max_value());
  }
  const gradient_clipping_options& options() const { return options_; }
  double last_norm() const { return last_norm_; }

  state_dict save_state() const override { return this->with_inner({}); }
  void load_state(const state_dict& s) override {
    this->load_inner(s, [](const std::string&) { return false; });
  }
  std::string name() const override { return "gradient_clipping"; }

 protected:
  bool do_step() override {
    return this->step_inner_with([&](const std::vector<tensor<T>>& params) {
      if (!std::isinf(options_.max_value())) clip_grad_value(params, options_.max_value());
      if (!std::isinf(options_.max_norm())) {
        last_norm_ = clip_grad_norm(params, options_.max_norm(), options_.norm_type());
      }
    });
  }

 private:
  gradient_clipping_options options_;
  double last_norm_ = std::numeric_limits<double>::quiet_NaN();
};

template <class Inner, class... Rest>
gradient_clipping(Inner&&, Rest&&...) -> gradient_clipping<detail::optimizer_value_t<Inner>>;

}  // namespace kexue::optim
