// SPDX-License-Identifier: MIT
// Optimizer interface, parameter groups, the base of SGD/Adam/RMSprop, the base of wrappers, gradient clipping.
#pragma once

#include <algorithm>      // std::find
#include <cmath>          // std::sqrt, std::pow, std::isfinite
#include <cstddef>        // std::size_t
#include <limits>         // infinity
#include <memory>         // std::unique_ptr
#include <optional>       // per-group overrides
#include <string>         // names in messages and state keys
#include <type_traits>    // wrapper constructor constraints
#include <unordered_set>  // deduplication of shared parameters
#include <utility>        // std::move, std::pair
#include <vector>

#include <Eigen/Core>

#include <kexue/autograd/grad_mode.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/state_dict.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue::optim {

/// @brief A set of parameters sharing a learning rate and a weight decay.
///
/// Unset fields take the optimizer's defaults (its options' lr and weight_decay):
///
///     optim::sgd<float> opt({{{w1, w2}}, {{bias}, 0.2}}, sgd_options().lr(0.05));  // bias at lr 0.2
///     param_group<float>({w}, std::nullopt, 0.0)                                   // no weight decay on w
///
/// After construction every group of an optimizer has both fields set.
template <class T>
struct param_group {
  param_group(std::vector<tensor<T>> params_, std::optional<double> lr_ = std::nullopt,
              std::optional<double> weight_decay_ = std::nullopt)
      : params(std::move(params_)), lr(lr_), weight_decay(weight_decay_) {}

  std::vector<tensor<T>> params;
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

/// @brief What every optimizer and every optimizer wrapper provides.
///
/// Parameters are numbered 0, 1, ... in group order, each tensor once (a tensor listed twice, e.g. a tied
/// embedding, counts once). `step()` updates the parameters in place from their `.grad()` (parameters whose
/// gradient is undefined are skipped, as in PyTorch) with recording off, and bumps their version. Wrappers
/// (optim/weight_decay.hpp, lookahead.hpp, ...) are optimizers too and own the optimizer they wrap.
///
/// Optimizers are movable, not copyable (their state buffers are tensor handles; a copy would share them).
template <class T>
class optimizer {
 public:
  using value_type = T;

  virtual ~optimizer() = default;
  optimizer(const optimizer&) = delete;
  optimizer& operator=(const optimizer&) = delete;
  optimizer(optimizer&&) noexcept = default;
  optimizer& operator=(optimizer&&) noexcept = default;

  /// Performs one optimization step. Returns true when the parameters were updated, false when the step
  /// only recorded gradients (gradient accumulation between updates); learning-rate schedules and loops
  /// that count updates use it.
  bool step() {
    no_grad_guard guard;
    return do_step();
  }

  /// Clears (sets to undefined) the gradient of every parameter.
  void zero_grad() {
    for (auto p : parameters()) p.zero_grad();
  }

  /// The parameter groups of the innermost optimizer, with lr and weight_decay set.
  virtual const std::vector<param_group<T>>& param_groups() const = 0;

  /// Every parameter once, in group order (index i is "parameter i" in saved state and in errors).
  std::vector<tensor<T>> parameters() const {
    std::vector<tensor<T>> out;
    for (const auto& g : param_groups()) out.insert(out.end(), g.params.begin(), g.params.end());
    return out;
  }

  /// The group index of each parameter, parallel to parameters().
  std::vector<std::size_t> group_indices() const {
    std::vector<std::size_t> out;
    const auto& groups = param_groups();
    for (std::size_t g = 0; g < groups.size(); ++g) out.insert(out.end(), groups[g].params.size(), g);
    return out;
  }

  /// Learning rate of the first group.
  double lr() const { return param_groups().front().lr.value(); }
  /// Sets the learning rate of every group. @throws value_error if lr is negative or not finite.
  void set_lr(double lr) {
    for (std::size_t g = 0; g < param_groups().size(); ++g) set_lr(g, lr);
  }
  /// Sets the learning rate of group `group`. @throws value_error for a bad lr, index_error for a bad group.
  virtual void set_lr(std::size_t group, double lr) = 0;

  /// The state tensors of parameter `index` that have its shape (momentum, moments), empty before the first
  /// update; lazy row updates restore rows of these. Wrappers forward to the optimizer they wrap.
  virtual std::vector<tensor<T>> parameter_state(std::size_t index) const = 0;

  /// @brief The whole state (hyper-parameters that change during training, step counts, buffers) as copies.
  /// Names are documented by each optimizer; a wrapper stores its own entries and those of the optimizer it
  /// wraps under `inner.`.
  virtual state_dict save_state() const = 0;
  /// @brief Restores a state saved by an optimizer of the same kind over the same parameter shapes. Values
  /// are copied. @throws value_error (or shape_error for a shape mismatch) naming the entry, and leaves the
  /// optimizer unchanged, when the state does not match.
  virtual void load_state(const state_dict& state) = 0;

  /// Short name for messages: "sgd", "adam", "lookahead", ...
  virtual std::string name() const = 0;

 protected:
  optimizer() = default;
  /// One step (called with recording off); returns whether the parameters changed.
  virtual bool do_step() = 0;
};

namespace detail {

/// Checks a hyper-parameter with a message showing its value: "adam: lr must be >= 0 (got -0.1)".
inline void check_hyper(bool ok, const std::string& op, const char* what, double value) {
  KEXUE_CHECK(ok, value_error, op, what, " (got ", value, ")");
}
/// Applies the learning-rate check shared by every optimizer.
inline void check_lr(const std::string& op, double lr) {
  check_hyper(std::isfinite(lr) && lr >= 0, op, "lr must be >= 0 and finite", lr);
}

/// Index of `t` in `params` (same tensor handle), or throws value_error naming `op`.
template <class T>
std::size_t parameter_index(const std::string& op, const std::vector<tensor<T>>& params, const tensor<T>& t) {
  KEXUE_CHECK(t.defined(), value_error, op, "undefined tensor given as a parameter");
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (params[i].impl() == t.impl()) return i;
  }
  KEXUE_THROW(value_error, op, "a tensor of shape ", format_shape(t.shape()),
              " is not among the optimizer's parameters");
}

/// Flags, parallel to `params`, marking the tensors of `chosen` (each must be a parameter).
template <class T>
std::vector<bool> parameter_mask(const std::string& op, const std::vector<tensor<T>>& params,
                                 const std::vector<tensor<T>>& chosen) {
  std::vector<bool> mask(params.size(), false);
  for (const auto& t : chosen) mask[parameter_index(op, params, t)] = true;
  return mask;
}

/// Element-wise optimizer updates run over chunks of this many elements: each chunk's several passes
/// (moments, then parameters) stay in L1 while Eigen vectorizes every pass.
constexpr index_t update_chunk = 1024;
/// A vectorizable view of `n` elements at `p` (Eigen array map).
template <class T>
using chunk_map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
/// A chunk-sized temporary on the stack.
template <class T>
using chunk_array = Eigen::Array<T, Eigen::Dynamic, 1, 0, update_chunk, 1>;

/// Calls f(offset, length) over [0, n) in chunks of update_chunk.
template <class F>
void for_each_chunk(index_t n, F&& f) {
  for (index_t at = 0; at < n; at += update_chunk) f(at, std::min(update_chunk, n - at));
}

/// Copies of tensors (undefined ones stay undefined).
template <class T>
std::vector<tensor<T>> copies(const std::vector<tensor<T>>& ts) {
  std::vector<tensor<T>> out;
  out.reserve(ts.size());
  for (const auto& t : ts) out.push_back(t.defined() ? t.copy() : tensor<T>());
  return out;
}

/// Writes `src`'s values into `dst` (same shape) and bumps dst's version.
template <class T>
void assign(const tensor<T>& dst, const tensor<T>& src) {
  std::copy(src.begin(), src.end(), dst.begin());
  dst.bump_version();
}

/// Reads a one-element entry of type U from a saved state, checking its shape.
template <class U>
U scalar_entry(const std::string& op, const state_dict& state, const std::string& key) {
  const auto t = state.get<U>(key);
  KEXUE_CHECK(t.numel() == 1, shape_error, op, "entry '", key, "' has shape ", format_shape(t.shape()),
              ", expected a scalar");
  return t.data()[0];
}

/// Reads a tensor entry of type U and checks it has shape `s`; returns a copy.
template <class U>
tensor<U> tensor_entry(const std::string& op, const state_dict& state, const std::string& key, const shape& s) {
  const auto t = state.get<U>(key);
  KEXUE_CHECK(t.shape() == s, shape_error, op, "entry '", key, "' has shape ", format_shape(t.shape()),
              ", the parameter has shape ", format_shape(s));
  return t.copy();
}

/// True when `name` is `prefix` followed by an index below `count` ("slow.3" for prefix "slow.").
inline bool is_indexed_key(const std::string& name, const std::string& prefix, std::size_t count) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return false;
  const std::string digits = name.substr(prefix.size());
  if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  return std::stoul(digits) < count;
}

/// Throws value_error for an entry of `state` whose name is not accepted by `known`.
template <class Known>
void check_no_unexpected(const std::string& op, const state_dict& state, Known known) {
  for (const auto& [name, value] : state) {
    KEXUE_CHECK(known(name), value_error, op, "unexpected entry '", name, "' (state saved by another optimizer?)");
  }
}

}  // namespace detail

/// @brief Base of SGD, Adam, AdamW and RMSprop: owns the parameter groups and per-parameter state.
///
/// A subclass names its per-parameter buffers (`buffer_names()`, e.g. exp_avg, exp_avg_sq) and implements
/// `update()` for one parameter. Saved state (`save_state()`), for G groups and N parameters:
///
///     groups                   int64 [G]   number of parameters in each group (checked on load)
///     group.<g>.lr             float64 []  learning rate of group g
///     group.<g>.weight_decay   float64 []
///     param.<i>.step           int64 []    updates applied to parameter i (PyTorch counts per parameter)
///     param.<i>.<buffer>       T, the parameter's shape; present once created (first update of parameter i)
template <class T>
class basic_optimizer : public optimizer<T> {
 public:
  using optimizer<T>::set_lr;
  const std::vector<param_group<T>>& param_groups() const override { return groups_; }

  void set_lr(std::size_t group, double lr) override {
    KEXUE_CHECK(group < groups_.size(), index_error, name_, "group ", group, " out of range (", groups_.size(),
                " groups)");
    detail::check_lr(name_, lr);
    groups_[group].lr = lr;
  }

  std::vector<tensor<T>> parameter_state(std::size_t index) const override {
    KEXUE_CHECK(index < states_.size(), index_error, name_, "parameter ", index, " out of range (", states_.size(),
                " parameters)");
    std::vector<tensor<T>> out;
    for (const auto& b : states_[index].buffers) {
      if (b.defined()) out.push_back(b);
    }
    return out;
  }

  /// Updates applied to parameter `index` so far.
  index_t parameter_steps(std::size_t index) const { return states_.at(index).step; }

  state_dict save_state() const override {
    state_dict s;
    auto sizes = tensor<index_t>::empty({static_cast<index_t>(groups_.size())});
    for (std::size_t g = 0; g < groups_.size(); ++g) sizes.data()[g] = static_cast<index_t>(groups_[g].params.size());
    s.insert("groups", sizes);
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      s.insert("group." + std::to_string(g) + ".lr", scalar<double>(*groups_[g].lr));
      s.insert("group." + std::to_string(g) + ".weight_decay", scalar<double>(*groups_[g].weight_decay));
    }
    const auto names = buffer_names();
    for (std::size_t i = 0; i < states_.size(); ++i) {
      const std::string key = "param." + std::to_string(i) + ".";
      s.insert(key + "step", scalar<index_t>(states_[i].step));
      for (std::size_t b = 0; b < names.size(); ++b) {
        if (states_[i].buffers[b].defined()) s.insert(key + names[b], states_[i].buffers[b].copy());
      }
    }
    return s;
  }

  void load_state(const state_dict& s) override {
    const std::string op = name_ + "::load_state";
    const auto sizes = s.get<index_t>("groups");
    bool same = sizes.rank() == 1 && sizes.numel() == static_cast<index_t>(groups_.size());
    for (std::size_t g = 0; same && g < groups_.size(); ++g) {
      same = sizes.data()[g] == static_cast<index_t>(groups_[g].params.size());
    }
    KEXUE_CHECK(same, value_error, op, "the state has groups of ", describe(sizes), " parameters, the optimizer ",
                describe_groups());
    std::vector<double> lrs(groups_.size()), decays(groups_.size());
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const std::string key = "group." + std::to_string(g) + ".";
      lrs[g] = detail::scalar_entry<double>(op, s, key + "lr");
      decays[g] = detail::scalar_entry<double>(op, s, key + "weight_decay");
      detail::check_hyper(std::isfinite(lrs[g]) && lrs[g] >= 0, op, "saved lr must be >= 0", lrs[g]);
      detail::check_hyper(decays[g] >= 0, op, "saved weight_decay must be >= 0", decays[g]);
    }
    const auto names = buffer_names();
    const auto params = this->parameters();
    std::vector<param_state> states(states_.size());
    for (std::size_t i = 0; i < states_.size(); ++i) {
      const std::string key = "param." + std::to_string(i) + ".";
      states[i].step = detail::scalar_entry<index_t>(op, s, key + "step");
      KEXUE_CHECK(states[i].step >= 0, value_error, op, "entry '", key, "step' is negative (", states[i].step, ")");
      states[i].buffers.resize(names.size());
      for (std::size_t b = 0; b < names.size(); ++b) {
        const bool present = s.contains(key + names[b]);
        const bool expected = states[i].step > 0 && buffer_created(b);
        KEXUE_CHECK(present == expected, value_error, op, "entry '", key, names[b], "' is ",
                    present ? "present" : "missing", " but parameter ", i, " has step ", states[i].step,
                    " (state saved with other options or by another optimizer?)");
        if (present) states[i].buffers[b] = detail::tensor_entry<T>(op, s, key + names[b], params[i].shape());
      }
    }
    detail::check_no_unexpected(op, s, [&](const std::string& n) { return is_known_key(n, names); });
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      groups_[g].lr = lrs[g];
      groups_[g].weight_decay = decays[g];
    }
    states_ = std::move(states);
  }

  std::string name() const override { return name_; }

 protected:
  /// Per-parameter state: updates applied and the named buffers (undefined until created).
  struct param_state {
    index_t step = 0;
    std::vector<tensor<T>> buffers;
  };

  /// Validates and resolves the groups. `default_lr`/`default_weight_decay` fill unset group fields.
  basic_optimizer(std::string name, std::vector<param_group<T>> groups, double default_lr, double default_weight_decay)
      : name_(std::move(name)), groups_(std::move(groups)) {
    KEXUE_CHECK(!groups_.empty(), value_error, name_, "no parameter groups given");
    std::unordered_set<const void*> seen;
    std::size_t count = 0;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      auto& group = groups_[g];
      std::vector<tensor<T>> unique;
      std::unordered_set<const void*> in_group;
      for (const auto& p : group.params) {
        KEXUE_CHECK(p.defined(), value_error, name_, "parameter group ", g, " holds an undefined tensor");
        KEXUE_CHECK(p.is_leaf(), value_error, name_, "cannot optimize a non-leaf tensor (shape ",
                    format_shape(p.shape()), ", produced by an op); pass the leaf parameter");
        if (!in_group.insert(p.impl().get()).second) continue;  // shared parameter listed twice: once
        KEXUE_CHECK(seen.insert(p.impl().get()).second, value_error, name_, "a parameter of shape ",
                    format_shape(p.shape()), " appears in more than one parameter group");
        unique.push_back(p);
      }
      group.params = std::move(unique);
      count += group.params.size();
      if (!group.lr) group.lr = default_lr;
      if (!group.weight_decay) group.weight_decay = default_weight_decay;
      detail::check_lr(name_, *group.lr);
      detail::check_hyper(std::isfinite(*group.weight_decay) && *group.weight_decay >= 0, name_,
                          "weight_decay must be >= 0", *group.weight_decay);
    }
    KEXUE_CHECK(count > 0, value_error, name_, "no parameters to optimize");
  }

  /// Sizes the state once the subclass is constructed (buffer_names() is virtual).
  void init_state() {
    states_.assign(this->parameters().size(), param_state{});
    for (auto& s : states_) s.buffers.resize(buffer_names().size());
  }

  /// Names of the per-parameter buffers, in state order.
  virtual std::vector<std::string> buffer_names() const = 0;
  /// Whether buffer `b` exists after a parameter's first update with the current options.
  virtual bool buffer_created(std::size_t b) const = 0;
  /// Updates one parameter `p` in place from gradient `g` (same shape); `s.step` was already incremented.
  virtual void update(const tensor<T>& p, const tensor<T>& g, param_state& s, const param_group<T>& group) = 0;

  bool do_step() override {
    std::size_t i = 0;
    for (const auto& group : groups_) {
      for (const auto& p : group.params) {
        auto& state = states_[i++];
        const auto g = p.grad();
        if (!g.defined()) continue;
        ++state.step;
        update(p, g, state, group);
        p.bump_version();
      }
    }
    return true;
  }

  /// A buffer of zeros shaped like `p`, created on first use.
  static tensor<T>& buffer(param_state& s, std::size_t b, const tensor<T>& p) {
    if (!s.buffers[b].defined()) s.buffers[b] = zeros_like(p);
    return s.buffers[b];
  }

  std::string name_;

 private:
  /// Whether `n` names an entry of this optimizer's state ("group.<g>.lr", "param.<i>.exp_avg", ...).
  bool is_known_key(const std::string& n, const std::vector<std::string>& names) const {
    if (n == "groups") return true;
    const bool group = n.rfind("group.", 0) == 0, param = n.rfind("param.", 0) == 0;
    const auto dot = n.find('.', 6);  // after "group." or "param.": the index ends here
    if (!(group || param) || dot == std::string::npos) return false;
    const std::size_t count = group ? groups_.size() : states_.size();
    if (!detail::is_indexed_key(n.substr(0, dot), group ? "group." : "param.", count)) return false;
    const std::string field = n.substr(dot + 1);
    if (group) return field == "lr" || field == "weight_decay";
    return field == "step" || std::find(names.begin(), names.end(), field) != names.end();
  }
  static std::string describe(const tensor<index_t>& sizes) {
    std::string s = "[";
    for (index_t i = 0; i < sizes.numel(); ++i) s += (i ? ", " : "") + std::to_string(sizes.data()[i]);
    return s + "]";
  }
  std::string describe_groups() const {
    std::string s = "[";
    for (std::size_t g = 0; g < groups_.size(); ++g) s += (g ? ", " : "") + std::to_string(groups_[g].params.size());
    return s + "]";
  }

  std::vector<param_group<T>> groups_;
  std::vector<param_state> states_;
};

/// @brief Base of optimizer wrappers: owns the wrapped optimizer and forwards groups, lr and state to it.
///
/// A wrapper's saved state holds its own entries plus the wrapped optimizer's under `inner.`; loading
/// validates the wrapper's own entries first, then loads the inner state (which validates itself and
/// changes nothing on failure), then commits, so a failed load changes nothing at any level.
template <class T>
class wrapper : public optimizer<T> {
 public:
  using optimizer<T>::set_lr;
  const std::vector<param_group<T>>& param_groups() const override { return inner_->param_groups(); }
  void set_lr(std::size_t group, double lr) override { inner_->set_lr(group, lr); }
  std::vector<tensor<T>> parameter_state(std::size_t index) const override { return inner_->parameter_state(index); }
  /// The wrapped optimizer.
  optimizer<T>& inner() { return *inner_; }
  /// The wrapped optimizer as its concrete type (no check: use the type it was built with).
  template <class O>
  O& inner_as() {
    return static_cast<O&>(*inner_);
  }
  const optimizer<T>& inner() const { return *inner_; }

 protected:
  explicit wrapper(std::unique_ptr<optimizer<T>> inner) : inner_(std::move(inner)) {
    KEXUE_CHECK(inner_ != nullptr, value_error, "optimizer wrapper", "the wrapped optimizer is null");
  }
  /// Own entries plus the inner state under "inner.".
  state_dict with_inner(state_dict own) const {
    own.merge("inner", inner_->save_state());
    return own;
  }
  /// Rejects entries that are neither `inner.*` nor accepted by `own_key`, then loads the inner state.
  template <class Known>
  void load_inner(const state_dict& s, Known own_key) {
    detail::check_no_unexpected(this->name() + "::load_state", s,
                                [&](const std::string& n) { return n.rfind("inner.", 0) == 0 || own_key(n); });
    inner_->load_state(s.sub("inner"));
  }
  /// Runs `prepare(params)`, which may replace the parameters' gradients, and the inner step, then gives
  /// the parameters back the gradients they had, also when either throws. Returns the inner step's result.
  template <class Prepare>
  bool step_inner_with(Prepare prepare) {
    auto params = this->parameters();
    std::vector<tensor<T>> saved;
    for (const auto& p : params) saved.push_back(p.grad());
    auto restore = [&] {
      for (std::size_t i = 0; i < params.size(); ++i) params[i].set_grad(saved[i]);
    };
    try {
      prepare(params);
      const bool updated = inner_->step();
      restore();
      return updated;
    } catch (...) {
      restore();
      throw;
    }
  }
  /// Copies of the parameters whose gradient is defined (and, with `mask`, whose flag is set), taken before
  /// the inner step; undefined entries elsewhere.
  std::vector<tensor<T>> snapshot(const std::vector<bool>* mask = nullptr) const {
    auto params = this->parameters();
    std::vector<tensor<T>> out(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (params[i].grad().defined() && (mask == nullptr || (*mask)[i])) out[i] = params[i].detach().copy();
    }
    return out;
  }
  std::unique_ptr<optimizer<T>> inner_;
};

namespace detail {
template <class X>
struct is_unique_ptr : std::false_type {};
template <class O>
struct is_unique_ptr<std::unique_ptr<O>> : std::true_type {};

/// Moves an optimizer (or takes a unique_ptr to one) into the unique_ptr a wrapper holds.
template <class T, class Inner>
std::unique_ptr<optimizer<T>> own(Inner&& inner) {
  using I = std::decay_t<Inner>;
  if constexpr (is_unique_ptr<I>::value) {
    static_assert(std::is_base_of_v<optimizer<T>, typename I::element_type>,
                  "optimizer wrappers wrap a kexue::optim::optimizer<T> of the same element type");
    return std::unique_ptr<optimizer<T>>(std::move(inner));
  } else {
    static_assert(std::is_base_of_v<optimizer<T>, I>,
                  "optimizer wrappers wrap a kexue::optim::optimizer<T> of the same element type");
    static_assert(!std::is_lvalue_reference_v<Inner>,
                  "optimizer wrappers take ownership: pass a temporary or std::move(optimizer)");
    return std::make_unique<I>(std::move(inner));
  }
}
/// The element type of an optimizer type or of a unique_ptr to one (for deduction guides).
template <class Inner>
struct optimizer_value {
  using type = typename Inner::value_type;
};
template <class O>
struct optimizer_value<std::unique_ptr<O>> {
  using type = typename O::value_type;
};
template <class Inner>
using optimizer_value_t = typename optimizer_value<std::decay_t<Inner>>::type;
/// Keeps a wrapper's constructor template from standing in for its move constructor.
template <class Inner, class Self>
using enable_wrap = std::enable_if_t<!std::is_same_v<std::decay_t<Inner>, Self>, int>;
}  // namespace detail

/// @brief The tensors of `named` (e.g. `module.named_parameters()`) whose name contains any of `substrings`,
/// for the wrappers' parameter lists, as bert4keras' name filters (`exclude_from_weight_decay=['Norm',
/// 'bias']`):
///
///     optim::weight_decay(optim::adam(model.parameters()), 0.01,
///                         optim::parameters_matching(model.named_parameters(), {"norm", "bias"}));
template <class T>
std::vector<tensor<T>> parameters_matching(const std::vector<std::pair<std::string, tensor<T>>>& named,
                                           const std::vector<std::string>& substrings) {
  std::vector<tensor<T>> out;
  for (const auto& [name, t] : named) {
    for (const auto& s : substrings) {
      if (name.find(s) != std::string::npos) {
        out.push_back(t);
        break;
      }
    }
  }
  return out;
}

// ~~~ Gradient clipping ~~~

/// @brief Scales the gradients of `params` so that their global norm is at most `max_norm` (PyTorch's
/// clip_grad_norm_): total = (Σ_p ‖g_p‖_q^q)^(1/q) over every defined gradient (q = norm_type, ∞ for the
/// max-abs norm); when total > max_norm every gradient is multiplied by max_norm / (total + 1e-6).
/// Gradients are replaced by new tensors (never written in place), shared parameters counted once.
/// @return the total norm before clipping. @throws value_error if max_norm < 0 or norm_type <= 0.
template <class T>
double clip_grad_norm(const std::vector<tensor<T>>& params, double max_norm, double norm_type = 2.0) {
  detail::check_hyper(max_norm >= 0, "clip_grad_norm", "max_norm must be >= 0", max_norm);
  detail::check_hyper(norm_type > 0, "clip_grad_norm", "norm_type must be > 0 (or infinity)", norm_type);
  std::vector<tensor<T>> unique;
  std::unordered_set<const void*> seen;
  for (const auto& p : params) {
    if (p.defined() && p.grad().defined() && seen.insert(p.impl().get()).second) unique.push_back(p);
  }
  const bool inf = std::isinf(norm_type);
  double total = 0;
  for (const auto& p : unique) {
    const auto g = p.grad();
    for (const T v : g) {
      const double a = std::abs(static_cast<double>(v));
      if (inf) {
        total = std::max(total, a);
      } else {
        total += norm_type == 2.0 ? a * a : std::pow(a, norm_type);
      }
    }
  }
  if (!inf) total = norm_type == 2.0 ? std::sqrt(total) : std::pow(total, 1.0 / norm_type);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1) {
    for (auto p : unique) {
      auto g = p.grad().copy();
      for (T& v : g) v = static_cast<T>(v * coef);
      p.set_grad(g);
    }
  }
  return total;
}

/// @brief Clamps every gradient element of `params` to [-clip_value, clip_value] (PyTorch's
/// clip_grad_value_). Gradients are replaced by new tensors. @throws value_error if clip_value < 0.
template <class T>
void clip_grad_value(const std::vector<tensor<T>>& params, double clip_value) {
  detail::check_hyper(clip_value >= 0, "clip_grad_value", "clip_value must be >= 0", clip_value);
  const T c = static_cast<T>(clip_value);
  std::unordered_set<const void*> seen;
  for (auto p : params) {
    if (!p.defined() || !p.grad().defined() || !seen.insert(p.impl().get()).second) continue;
    auto g = p.grad().copy();
    for (T& v : g) v = std::min(std::max(v, -c), c);
    p.set_grad(g);
  }
}

}  // namespace kexue::optim
