// SPDX-License-Identifier: MIT
// Lookahead wrapper (A28 §5): k fast steps forward, one interpolation step back towards slow weights.
#pragma once

#include <cmath>    // std::isfinite
#include <string>   // names
#include <utility>  // std::forward
#include <vector>

#include <kexue/optim/optimizer.hpp>

namespace kexue::optim {

/// Options of lookahead (defaults in brackets, bert4keras'/the paper's).
struct lookahead_options {
  /// k, fast updates per slow update [5].
  lookahead_options& k(index_t v) {
    k_ = v;
    return *this;
  }
  /// α, the slow step size [0.5].
  lookahead_options& alpha(double v) {
    alpha_ = v;
    return *this;
  }
  index_t k() const { return k_; }
  double alpha() const { return alpha_; }

 private:
  index_t k_ = 5;
  double alpha_ = 0.5;
};

/// @brief Lookahead (Zhang et al. 2019; A28 §5). Slow weights Θ start as copies of the parameters at
/// construction (θ₀; not zeros). The wrapped optimizer makes the fast updates; after every k-th of its updates
///
///     Θ ← Θ + α (θ − Θ),   θ ← Θ
///
/// for every parameter. Calls that do not update (gradient accumulation) do not count.
///
///     auto opt = optim::lookahead(optim::gradient_accumulation(optim::adam<float>(params), 4),
///                                 optim::lookahead_options().k(5).alpha(0.5));
///
/// State: `updates` (int64 scalar, fast updates so far), `slow.<i>` (T, the slow weights of parameter i), and
/// the wrapped optimizer's under `inner.`. @throws value_error if k < 1 or α outside [0, 1].
template <class T>
class lookahead : public wrapper<T> {
 public:
  template <class Inner, detail::enable_wrap<Inner, lookahead> = 0>
  explicit lookahead(Inner&& inner, const lookahead_options& options = {})
      : wrapper<T>(detail::own<T>(std::forward<Inner>(inner))), options_(options) {
    KEXUE_CHECK(options.k() >= 1, value_error, "lookahead", "k must be >= 1 (got ", options.k(), ")");
    detail::check_hyper(options.alpha() >= 0 && options.alpha() <= 1, "lookahead", "alpha must be in [0, 1]",
                        options.alpha());
    for (const auto& p : this->parameters()) slow_.push_back(p.detach().copy());
  }
  const lookahead_options& options() const { return options_; }
  /// The slow weights, parallel to parameters().
  const std::vector<tensor<T>>& slow_weights() const { return slow_; }

  state_dict save_state() const override {
    state_dict s;
    s.insert("updates", scalar<index_t>(updates_));
    for (std::size_t i = 0; i < slow_.size(); ++i) s.insert("slow." + std::to_string(i), slow_[i].copy());
    return this->with_inner(std::move(s));
  }
  void load_state(const state_dict& s) override {
    const std::string op = "lookahead::load_state";
    const auto updates = detail::scalar_entry<index_t>(op, s, "updates");
    KEXUE_CHECK(updates >= 0, value_error, op, "entry 'updates' is negative (", updates, ")");
    std::vector<tensor<T>> slow;
    for (std::size_t i = 0; i < slow_.size(); ++i) {
      slow.push_back(detail::tensor_entry<T>(op, s, "slow." + std::to_string(i), slow_[i].shape()));
    }
    this->load_inner(
        s, [&](const std::string& n) { return n == "updates" || detail::is_indexed_key(n, "slow.", slow_.size()); });
    updates_ = updates;
    slow_ = std::move(slow);
  }
  std::string name() const override { return "lookahead"; }

 protected:
  bool do_step() override {
    if (!this->inner_->step()) return false;
    if (++updates_ % options_.k() != 0) return true;
    const auto params = this->parameters();
    const T alpha = static_cast<T>(options_.alpha());
    for (std::size_t i = 0; i < params.size(); ++i) {
      T* p = params[i].data();
      T* s = slow_[i].data();
      for (index_t j = 0; j < params[i].numel(); ++j) {
        s[j] += alpha * (p[j] - s[j]);
        p[j] = s[j];
      }
      params[i].bump_version();
    }
    return true;
  }

 private:
  lookahead_options options_;
  std::vector<tensor<T>> slow_;
  index_t updates_ = 0;
};

template <class Inner, class... Rest>
lookahead(Inner&&, Rest&&...) -> lookahead<detail::optimizer_value_t<Inner>>;

}  // namespace kexue::optim
