// SPDX-License-Identifier: MIT
// Gradient accumulation wrapper (A28 §4): one update with the mean gradient of k micro-batches.
#pragma once

#include <string>   // names
#include <utility>  // std::forward
#include <vector>

#include <kexue/optim/optimizer.hpp>

namespace kexue::optim {

/// @brief Emulates a k× larger batch (A28 §4): every call to step() adds the current gradients to a running
/// sum; every k-th call hands the **mean** (1/k)·Σ g to the wrapped optimizer (as the parameters' gradients,
/// restored afterwards), which performs one update, and clears the sum. On the other calls nothing changes:
/// parameters and the wrapped optimizer's state (moments, step counts, schedules) stay frozen, and step()
/// returns false. The wrapped optimizer therefore counts **real updates** (Adam's bias correction uses the
/// number of updates, not of micro-batches; the bert4keras reference counts micro-steps). A parameter
/// without a gradient in some micro-batches counts zero for them; one without a gradient in all k gets
/// none and is skipped. With SGD (no momentum), k micro-batches of size b give the same update as one batch of
/// size k·b whose loss is the mean over it.
///
///     auto opt = optim::gradient_accumulation(optim::adam<float>(params), 4);
///
/// State: `micro_steps` (int64 scalar, calls since the last update), `accum.<i>` (T, the running sum for
/// parameter i, when it has one), and the wrapped optimizer's under `inner.`. @throws value_error if steps < 1.
template <class T>
class gradient_accumulation : public wrapper<T> {
 public:
  template <class Inner, detail::enable_wrap<Inner, gradient_accumulation> = 0>
  explicit gradient_accumulation(Inner&& inner, index_t steps = 2)
      : wrapper<T>(detail::own<T>(std::forward<Inner>(inner))), steps_(steps) {
    KEXUE_CHECK(steps >= 1, value_error, "gradient_accumulation", "steps must be >= 1 (got ", steps, ")");
    accum_.resize(this->parameters().size());
  }
  /// k, the number of micro-batches per update.
  index_t steps() const { return steps_; }
  /// Calls to step() since the last update (0 ... k−1).
  index_t micro_steps() const { return micro_; }

  state_dict save_state() const override {
    state_dict s;
    s.insert("micro_steps", scalar<index_t>(micro_));
    for (std::size_t i = 0; i < accum_.size(); ++i) {
      if (accum_[i].defined()) s.insert("accum." + std::to_string(i), accum_[i].copy());
    }
    return this->with_inner(std::move(s));
  }
  void load_state(const state_dict& s) override {
    const std::string op = "gradient_accumulation::load_state";
    const auto micro = detail::scalar_entry<index_t>(op, s, "micro_steps");
    KEXUE_CHECK(micro >= 0 && micro < steps_, value_error, op, "entry 'micro_steps' is ", micro, ", expected 0 to ",
                steps_ - 1);
    const auto params = this->parameters();
    std::vector<tensor<T>> accum(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      const std::string key = "accum." + std::to_string(i);
      if (s.contains(key)) accum[i] = detail::tensor_entry<T>(op, s, key, params[i].shape());
    }
    this->load_inner(s, [&](const std::string& n) {
      return n == "micro_steps" || detail::is_indexed_key(n, "accum.", params.size());
    });
    micro_ = micro;
    accum_ = std::move(accum);
  }
  std::string name() const override { return "gradient_accumulation"; }

 protected:
  bool do_step() override {
    const auto params = this->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto g = params[i].grad();
      if (!g.defined()) continue;
      if (!accum_[i].defined()) {
        accum_[i] = g.detach().copy();
      } else {
        T* a = accum_[i].data();
        const T* gd = g.data();
        for (index_t j = 0; j < g.numel(); ++j) a[j] += gd[j];
      }
    }
    if (++micro_ < steps_) return false;
    micro_ = 0;
    // The means become the gradients for the inner step; accum_ lets go of them (a fresh sum starts).
    return this->step_inner_with([&](std::vector<tensor<T>>& ps) {
      for (std::size_t i = 0; i < ps.size(); ++i) {
        if (accum_[i].defined()) {
          for (T& a : accum_[i]) a /= static_cast<T>(steps_);
        }
        ps[i].set_grad(accum_[i]);
        accum_[i] = tensor<T>();
      }
    });
  }

 private:
  index_t steps_;
  index_t micro_ = 0;
  std::vector<tensor<T>> accum_;
};

template <class Inner, class... Rest>
gradient_accumulation(Inner&&, Rest&&...) -> gradient_accumulation<detail::optimizer_value_t<Inner>>;

}  // namespace kexue::optim
