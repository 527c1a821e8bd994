// SPDX-License-Identifier: MIT
// Sphere-constrained rows (A21, JoSE): tangent projection, update-size correction, renormalisation, around any
// optimizer.
#pragma once

#include <cmath>    // std::sqrt
#include <string>   // names
#include <utility>  // std::forward
#include <vector>

#include <kexue/optim/optimizer.hpp>

namespace kexue::optim {

/// Options of sphere (defaults in brackets).
struct sphere_options {
  /// Scale each row's projected gradient by JoSE's update-size correction 1 + x̂ᵀg/‖g‖ [true]; false gives
  /// plain projected (Riemannian) steps.
  sphere_options& correction(bool v) {
    correction_ = v;
    return *this;
  }
  bool correction() const { return correction_; }

 private:
  bool correction_ = true;
};

/// @brief Unit-norm rows for embedding tables (A21, JoSE, https://kexue.fm/archives/7063). A "row" of a
/// parameter of shape [..., D] is one position of its leading axes (a row of a [V, D] table; the whole tensor
/// for rank 0 and 1). For every row x with a nonzero gradient g at this step (a "touched" row), the wrapped
/// optimizer is given, instead of g, the tangent and corrected gradient
///
///     x̂ = x/‖x‖,   g_t = c (I − x̂x̂ᵀ) g = c (g − (x̂ᵀg) x̂),   c = 1 + x̂ᵀg/‖g‖  (1 without correction)
///
/// and after its update the row is renormalised to ‖x‖ = 1. With plain SGD (learning rate η) this is JoSE's
/// rule x ← normalize(x − η (1 + xᵀg/‖g‖)(I − xxᵀ) g): the factor c = 1 − cos(−g, x) makes the step small when
/// −g points along x (such a step would only change the norm) and up to twice as large when it points
/// against x. Rows whose gradient is all zero (the hinge inactive, or not in the batch: JoSE skips them, the
/// factor being undefined) get a zero gradient and are not renormalised: with an optimizer that still moves
/// them (momentum, Adam) wrap that optimizer in optim::lazy first, `sphere(lazy(adam(...)))`. Rows are
/// expected to start on the sphere (e.g. l2_normalize of a random table); the projection uses x̂, so a
/// non-unit touched row is also fine and lands on the sphere after its first step. The parameters keep the
/// gradients they had (the wrapped optimizer sees the replaced ones only during its step). `only` restricts
/// the constraint to some parameters (by default every parameter is constrained); the others get the wrapped
/// optimizer's plain update. Wrap the optimizer directly (outside gradient accumulation: rows are projected
/// with the last micro-batch's values).
///
///     auto opt = optim::sphere(optim::sgd<double>({u, v, d}, optim::sgd_options().lr(0.04)));
///
/// State: only the wrapped optimizer's, under `inner.`. @throws value_error if a tensor of `only` is not a
/// parameter ("sphere: a tensor of shape [3] is not among the optimizer's parameters").
template <class T>
class sphere : public wrapper<T> {
 public:
  template <class Inner, detail::enable_wrap<Inner, sphere> = 0>
  explicit sphere(Inner&& inner, const std::vector<tensor<T>>& only = {}, const sphere_options& options = {})
      : wrapper<T>(detail::own<T>(std::forward<Inner>(inner))), options_(options) {
    const auto params = this->parameters();
    constrained_ =
        only.empty() ? std::vector<bool>(params.size(), true) : detail::parameter_mask("sphere", params, only);
  }
  const sphere_options& options() const { return options_; }

  state_dict save_state() const override { return this->with_inner({}); }
  void load_state(const state_dict& s) override {
    this->load_inner(s, [](const std::string&) { return false; });
  }
  std::string name() const override { return "sphere"; }

 protected:
  bool do_step() override {
    // touched[i][r]: row r of parameter i had a nonzero gradient (and is renormalised after the step).
    std::vector<std::vector<bool>> touched(constrained_.size());
    const bool updated = this->step_inner_with([&](std::vector<tensor<T>>& params) {
      for (std::size_t i = 0; i < params.size(); ++i) {
        if (!constrained_[i] || !params[i].grad().defined()) continue;
        const auto g = params[i].grad();
        auto projected = tensor<T>::empty(g.shape());
        const index_t width = row_width(params[i]);
        const index_t rows = width == 0 ? 0 : params[i].numel() / width;
        touched[i].assign(static_cast<std::size_t>(rows), false);
        for (index_t r = 0; r < rows; ++r) {
          const T* x = params[i].data() + r * width;
          const T* gr = g.data() + r * width;
          T* out = projected.data() + r * width;
          double gg = 0, xx = 0, xg = 0;
          for (index_t k = 0; k < width; ++k) {
            gg += static_cast<double>(gr[k]) * gr[k];
            xx += static_cast<double>(x[k]) * x[k];
            xg += static_cast<double>(x[k]) * gr[k];
          }
          if (gg == 0 || xx == 0) {  // untouched (or a zero row: no direction to project on)
            for (index_t k = 0; k < width; ++k) out[k] = T(0);
            continue;
          }
          touched[i][static_cast<std::size_t>(r)] = true;
          const double inv_norm = 1 / std::sqrt(xx), xg_hat = xg * inv_norm;  // x̂ᵀg
          const double c = options_.correction() ? 1 + xg_hat / std::sqrt(gg) : 1;
          for (index_t k = 0; k < width; ++k)
            out[k] = static_cast<T>(c * (gr[k] - xg_hat * inv_norm * static_cast<double>(x[k])));
        }
        params[i].set_grad(projected);
      }
    });
    if (!updated) return false;
    const auto params = this->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (touched[i].empty()) continue;
      const index_t width = row_width(params[i]);
      for (std::size_t r = 0; r < touched[i].size(); ++r) {
        if (!touched[i][r]) continue;
        T* x = params[i].data() + static_cast<index_t>(r) * width;
        double xx = 0;
        for (index_t k = 0; k < width; ++k) xx += static_cast<double>(x[k]) * x[k];
        if (xx == 0) continue;
        const double inv = 1 / std::sqrt(xx);
        for (index_t k = 0; k < width; ++k) x[k] = static_cast<T>(x[k] * inv);
      }
      params[i].bump_version();
    }
    return true;
  }

 private:
  static index_t row_width(const tensor<T>& p) { return p.rank() >= 1 ? p.size(-1) : 1; }

  sphere_options options_;
  std::vector<bool> constrained_;
};

template <class Inner, class... Rest>
sphere(Inner&&, Rest&&...) -> sphere<detail::optimizer_value_t<Inner>>;
template <class Inner>
sphere(Inner&&, const std::vector<tensor<detail::optimizer_value_t<Inner>>>&)
    -> sphere<detail::optimizer_value_t<Inner>>;
template <class Inner>
sphere(Inner&&, const std::vector<tensor<detail::optimizer_value_t<Inner>>>&, const sphere_options&)
    -> sphere<detail::optimizer_value_t<Inner>>;

}  // namespace kexue::optim
