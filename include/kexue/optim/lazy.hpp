// SPDX-License-Identifier: MIT
// Lazy row updates (A28 §6): rows whose gradient is all zero keep their values (and optionally their state).
#pragma once

#include <algorithm>  // std::copy, std::fill
#include <string>     // names
#include <utility>    // std::forward
#include <vector>

#include <kexue/optim/optimizer.hpp>

namespace kexue::optim {

/// Options of lazy (defaults in brackets).
struct lazy_options {
  /// Also keep the wrapped optimizer's per-parameter state (momentum, moments) of untouched rows [true],
  /// as TensorFlow's LazyAdam. false updates the state of every row, as the bert4keras reference does (the
  /// author reports it works better); only the parameter rows are kept.
  lazy_options& freeze_state(bool v) {
    freeze_state_ = v;
    return *this;
  }
  bool freeze_state() const { return freeze_state_; }

 private:
  bool freeze_state_ = true;
};

/// @brief Lazy optimization for embedding tables (A28 §6). A "row" of a parameter of shape [..., D] is one
/// position of its leading axes (a row of a [V, D] embedding; the whole tensor for rank 0 and 1). After the
/// wrapped optimizer's update, every row whose gradient is all zero at this step gets its previous values
/// back, bit for bit:
///
///     r = any(g ≠ 0 along the last axis),   θ_new = r ? θ_inner : θ
///
/// and, with freeze_state (default), the rows of the wrapped optimizer's state tensors of that parameter
/// (`parameter_state(i)`: momentum, Adam's m and v) are restored too (to zeros when the state is created by
/// this very update). Per-parameter step counts still advance. `only` restricts lazy treatment to some
/// parameters (e.g. the embedding table); by default every parameter is lazy. Wrap the optimizer directly
/// (outside gradient accumulation, rows are judged by the last micro-batch's gradient).
///
///     auto opt = optim::lazy(optim::adam<float>(params), {embedding_table});
///
/// State: only the wrapped optimizer's, under `inner.`. @throws value_error if a tensor of `only` is not a
/// parameter.
template <class T>
class lazy : public wrapper<T> {
 public:
  template <class Inner, detail::enable_wrap<Inner, lazy> = 0>
  explicit lazy(Inner&& inner, const std::vector<tensor<T>>& only = {}, const lazy_options& options = {})
      : wrapper<T>(detail::own<T>(std::forward<Inner>(inner))), options_(options) {
    const auto params = this->parameters();
    lazy_ = only.empty() ? std::vector<bool>(params.size(), true) : detail::parameter_mask("lazy", params, only);
  }
  const lazy_options& options() const { return options_; }

  state_dict save_state() const override { return this->with_inner({}); }
  void load_state(const state_dict& s) override {
    this->load_inner(s, [](const std::string&) { return false; });
  }
  std::string name() const override { return "lazy"; }

 protected:
  bool do_step() override {
    const auto before = this->snapshot(&lazy_);
    std::vector<std::vector<tensor<T>>> state_before(before.size());
    if (options_.freeze_state()) {
      for (std::size_t i = 0; i < before.size(); ++i) {
        if (before[i].defined()) state_before[i] = detail::copies(this->inner_->parameter_state(i));
      }
    }
    if (!this->inner_->step()) return false;
    const auto params = this->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (!before[i].defined()) continue;
      const auto g = params[i].grad();
      const index_t width = params[i].rank() >= 1 ? params[i].size(-1) : 1;
      const index_t rows = width == 0 ? 0 : params[i].numel() / width;
      const auto state = options_.freeze_state() ? this->inner_->parameter_state(i) : std::vector<tensor<T>>();
      for (index_t r = 0; r < rows; ++r) {
        const T* gr = g.data() + r * width;
        if (std::any_of(gr, gr + width, [](T v) { return v != T(0); })) continue;
        const index_t at = r * width;
        std::copy(before[i].data() + at, before[i].data() + at + width, params[i].data() + at);
        for (std::size_t k = 0; k < state.size(); ++k) {
          T* dst = state[k].data() + at;
          if (k < state_before[i].size()) {
            std::copy(state_before[i][k].data() + at, state_before[i][k].data() + at + width, dst);
          } else {
            std::fill(dst, dst + width, T(0));  // state created by this update: as never updated
          }
        }
      }
      params[i].bump_version();
    }
    return true;
  }

 private:
  lazy_options options_;
  std::vector<bool> lazy_;
};

template <class Inner, class... Rest>
lazy(Inner&&, Rest&&...) -> lazy<detail::optimizer_value_t<Inner>>;
template <class Inner>
lazy(Inner&&, const std::vector<tensor<detail::optimizer_value_t<Inner>>>&) -> lazy<detail::optimizer_value_t<Inner>>;
template <class Inner>
lazy(Inner&&, const std::vector<tensor<detail::optimizer_value_t<Inner>>>&, const lazy_options&)
    -> lazy<detail::optimizer_value_t<Inner>>;

}  // namespace kexue::optim
