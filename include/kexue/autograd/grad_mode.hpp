// SPDX-License-Identifier: MIT
// Whether ops record the graph for autograd: a thread-local switch and RAII guards.
#pragma once

namespace kexue {

namespace detail {
inline bool& grad_mode_flag() noexcept {
  thread_local bool enabled = true;
  return enabled;
}
}  // namespace detail

/// True when ops on tensors that require gradients record the graph (the default).
inline bool is_grad_enabled() noexcept { return detail::grad_mode_flag(); }
/// Switches graph recording on or off for the current thread.
inline void set_grad_enabled(bool on) noexcept { detail::grad_mode_flag() = on; }

/// Turns graph recording off for its scope (inference, optimizer updates), then restores the previous
/// state: `{ kexue::no_grad_guard guard; ... }`.
class no_grad_guard {
 public:
  no_grad_guard() noexcept : previous_(is_grad_enabled()) { set_grad_enabled(false); }
  ~no_grad_guard() { set_grad_enabled(previous_); }
  no_grad_guard(const no_grad_guard&) = delete;
  no_grad_guard& operator=(const no_grad_guard&) = delete;

 private:
  bool previous_;
};

/// Turns graph recording on for its scope (inside a no_grad region), then restores the previous state.
class enable_grad_guard {
 public:
  enable_grad_guard() noexcept : previous_(is_grad_enabled()) { set_grad_enabled(true); }
  ~enable_grad_guard() { set_grad_enabled(previous_); }
  enable_grad_guard(const enable_grad_guard&) = delete;
  enable_grad_guard& operator=(const enable_grad_guard&) = delete;

 private:
  bool previous_;
};

}  // namespace kexue
