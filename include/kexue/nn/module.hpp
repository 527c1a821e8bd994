// SPDX-License-Identifier: MIT
// nn::module: named, ordered parameters, buffers and child modules; train/eval; state save/load; deep copy.
#pragma once

#include <algorithm>   // std::find_if
#include <cstring>     // std::memcpy
#include <functional>  // forward hooks, apply()
#include <memory>      // std::shared_ptr
#include <sstream>     // printing
#include <string>
#include <type_traits>    // std::is_base_of_v
#include <typeinfo>       // typeid for default type names
#include <unordered_set>  // de-duplication of shared parameters
#include <utility>        // std::pair, std::move
#include <vector>

#if defined(__GNUG__)
#include <cstdlib>  // std::free

#include <cxxabi.h>  // abi::__cxa_demangle: readable default type names
#endif

#include <kexue/autograd/grad_mode.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/state_dict.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue::nn {

namespace detail {
/// typeid's name made readable: "kexue::nn::linear<float>" -> "linear<float>".
inline std::string readable_type_name(const std::type_info& type) {
  std::string name = type.name();
#if defined(__GNUG__)
  int status = 0;
  char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  if (status == 0 && demangled != nullptr) name = demangled;
  std::free(demangled);
#endif
  for (const std::string prefix : {"kexue::nn::", "kexue::"}) {
    for (auto at = name.find(prefix); at != std::string::npos; at = name.find(prefix)) name.erase(at, prefix.size());
  }
  return name;
}

/// Names of parameters, buffers and children: non-empty and without '.', which separates path components.
inline void check_entry_name(const std::string& name, const char* what) {
  KEXUE_CHECK(!name.empty(), value_error, what, "names must not be empty");
  KEXUE_CHECK(name.find('.') == std::string::npos, value_error, what, "name '", name,
              "' must not contain '.' (it separates the components of dotted paths)");
}
}  // namespace detail

/// @brief Base of every layer and model, as torch::nn::Module.
///
/// A module registers, in a fixed order, its parameters (tensors trained by optimizers), its buffers (state
/// saved with the model but not trained, such as batch norm's running mean) and its child modules, each under
/// a name. Paths join names with dots (`encoder.0.weight`), so saving, loading, optimizer state and printing
/// are stable. Layers keep handles to what they register as members:
///
///     template <class T = float>
///     class my_layer : public nn::cloneable<my_layer<T>, T> {
///      public:
///       explicit my_layer(index_t n, generator& gen = default_generator()) : n_(n) { reset(gen); }
///       void reset(generator& gen) override {       // (re)creates every parameter, buffer and child
///         weight = this->register_parameter("weight", randn<T>({n_, n_}, gen));
///         fc = this->register_module("fc", std::make_shared<nn::linear<T>>(nn::linear_options(n_, n_), gen));
///       }
///       tensor<T> forward(const tensor<T>& x) const { return (*fc)(matmul(x, weight)); }
///       tensor<T> weight;
///       std::shared_ptr<nn::linear<T>> fc;
///      private:
///       index_t n_;
///     };
///
/// Call a layer as `layer(x)` (cloneable's operator() runs forward() and then the forward hooks) or
/// `layer.forward(x)` (no hooks). Copying a module object copies handles: the copy shares its parameters
/// (as copying a tensor does); `clone()` makes an independent deep copy.
///
/// Weight sharing: registering the same tensor (or the same child) twice, in one module or in two, is
/// allowed; `parameters()` and `named_parameters()` list it once (under its first path), so optimizers
/// update it once; `state_dict()` lists every path, as PyTorch does, and loading writes the one tensor.
template <class T = float>
class module {
 public:
  using value_type = T;
  using forward_hook = std::function<void(const module&, const tensor<T>& output)>;

  module() = default;
  virtual ~module() = default;

  // ~~~ Registration (called from constructors and reset()) ~~~

  /// Registers `value` as a trainable parameter under `name` and returns the handle (requires_grad set to
  /// `trainable`). The tensor must be a leaf. @throws value_error for a duplicate or malformed name.
  tensor<T> register_parameter(const std::string& name, tensor<T> value, bool trainable = true) {
    check_new_name(name, "register_parameter");
    KEXUE_CHECK(value.defined(), value_error, "register_parameter", "parameter '", name, "' is undefined");
    KEXUE_CHECK(value.is_leaf(), value_error, "register_parameter", "parameter '", name,
                "' must be a leaf tensor (detach() it)");
    value.requires_grad(trainable);
    parameters_.emplace_back(name, value);
    return value;
  }

  /// Registers a buffer: state saved and loaded with the module, never trained (running statistics, fixed
  /// tables). @throws value_error for a duplicate or malformed name.
  tensor<T> register_buffer(const std::string& name, tensor<T> value) {
    check_new_name(name, "register_buffer");
    KEXUE_CHECK(value.defined(), value_error, "register_buffer", "buffer '", name, "' is undefined");
    buffers_.emplace_back(name, value);
    return value;
  }

  /// Registers a child module and returns it. @throws value_error for a duplicate or malformed name, a null
  /// child, or a module registered inside itself.
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    static_assert(std::is_base_of_v<module<T>, M>, "register_module: the child must derive from nn::module<T>");
    check_new_name(name, "register_module");
    KEXUE_CHECK(child != nullptr, value_error, "register_module", "child '", name, "' is null");
    KEXUE_CHECK(static_cast<const module<T>*>(child.get()) != this, value_error, "register_module",
                "a module cannot be its own child ('", name, "')");
    children_.emplace_back(name, child);
    return child;
  }

  // ~~~ Parameters, buffers, children ~~~

  /// Every parameter, this module's first and then each child's in registration order; a tensor
  /// registered under several paths appears once.
  std::vector<tensor<T>> parameters(bool recurse = true) const {
    std::vector<tensor<T>> out;
    for (auto& named : named_parameters(recurse)) out.push_back(std::move(named.second));
    return out;
  }

  /// Parameters with their dotted paths (shared tensors once, under their first path).
  std::vector<std::pair<std::string, tensor<T>>> named_parameters(bool recurse = true) const {
    std::vector<std::pair<std::string, tensor<T>>> out;
    std::unordered_set<const void*> seen;
    collect(out, seen, "", recurse, /*buffers=*/false, /*dedupe=*/true);
    return out;
  }

  std::vector<tensor<T>> buffers(bool recurse = true) const {
    std::vector<tensor<T>> out;
    for (auto& named : named_buffers(recurse)) out.push_back(std::move(named.second));
    return out;
  }

  std::vector<std::pair<std::string, tensor<T>>> named_buffers(bool recurse = true) const {
    std::vector<std::pair<std::string, tensor<T>>> out;
    std::unordered_set<const void*> seen;
    collect(out, seen, "", recurse, /*buffers=*/true, /*dedupe=*/true);
    return out;
  }

  /// The direct children in registration order.
  std::vector<std::shared_ptr<module>> children() const {
    std::vector<std::shared_ptr<module>> out;
    for (const auto& c : children_) out.push_back(c.second);
    return out;
  }
  const std::vector<std::pair<std::string, std::shared_ptr<module>>>& named_children() const { return children_; }

  /// This module (path "") and every descendant with its dotted path, depth first, each module once.
  std::vector<std::pair<std::string, const module*>> named_modules() const {
    std::vector<std::pair<std::string, const module*>> out;
    std::unordered_set<const module*> seen;
    collect_modules(out, seen, "");
    return out;
  }

  /// The descendant at a dotted path ("encoder.0"), or null.
  std::shared_ptr<module> find(const std::string& path) const {
    const module* current = this;
    std::shared_ptr<module> found;
    std::size_t start = 0;
    while (start <= path.size()) {
      const auto dot = path.find('.', start);
      const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      const auto& kids = current->children_;
      const auto it = std::find_if(kids.begin(), kids.end(), [&](const auto& c) { return c.first == part; });
      if (it == kids.end()) return nullptr;
      found = it->second;
      current = found.get();
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return found;
  }

  /// Calls `fn` on every descendant (children first, depth first) and then on this module, as PyTorch.
  void apply(const std::function<void(module&)>& fn) {
    for (auto& c : children_) c.second->apply(fn);
    fn(*this);
  }

  /// Total number of parameter elements (shared tensors counted once); only trainable ones if asked.
  index_t num_parameters(bool trainable_only = false) const {
    index_t n = 0;
    for (const auto& p : parameters()) {
      if (!trainable_only || p.requires_grad()) n += p.numel();
    }
    return n;
  }

  // ~~~ Modes and gradients ~~~

  /// Training mode on (default) or off, for this module and every descendant (dropout, batch norm).
  void train(bool on = true) {
    apply([on](module& m) { m.training_ = on; });
  }
  /// Evaluation mode: train(false).
  void eval() { train(false); }
  bool is_training() const noexcept { return training_; }

  /// Clears every parameter's gradient (to undefined, as PyTorch's set_to_none).
  void zero_grad() {
    for (auto& p : parameters()) p.zero_grad();
  }

  /// Freezes (`trainable = false`) or unfreezes every parameter of this module and its descendants:
  /// frozen parameters get no gradient and count as non-trainable in summary().
  void set_trainable(bool trainable) {
    for (auto& p : parameters()) p.requires_grad(trainable);
  }
  void freeze() { set_trainable(false); }
  void unfreeze() { set_trainable(true); }

  // ~~~ State ~~~

  /// Every parameter and buffer under its dotted path: this module's parameters, then its buffers, then
  /// each child's entries in registration order (PyTorch's order). The tensors are the module's own (no
  /// copy): save them, or copy() them for a snapshot.
  kexue::state_dict state_dict() const {
    kexue::state_dict out;
    std::vector<std::pair<std::string, tensor<T>>> entries;
    std::unordered_set<const void*> unused;
    collect(entries, unused, "", true, false, false, /*both=*/true);
    for (const auto& [name, value] : entries) out.insert(name, value);
    return out;
  }

  /// @brief Copies values from `state` into this module's parameters and buffers, in place (handles held
  /// elsewhere, e.g. by optimizers, see the new values).
  /// Every entry is checked before anything is written, so a failed load leaves the module as it was. The
  /// element type may be float or double (converted); shapes must match exactly. With `strict`, the names
  /// must match exactly too; without it, missing and unexpected names are skipped.
  /// @throws value_error listing every missing, unexpected, mistyped or mis-shaped entry with both shapes.
  void load_state_dict(const kexue::state_dict& state, bool strict = true) {
    std::vector<std::pair<std::string, tensor<T>>> targets;
    std::unordered_set<const void*> unused;
    collect(targets, unused, "", true, false, false, /*both=*/true);
    std::vector<std::string> problems;
    std::unordered_set<std::string> known;
    for (const auto& [name, target] : targets) {
      known.insert(name);
      if (!state.contains(name)) {
        if (strict) problems.push_back("missing '" + name + "'");
        continue;
      }
      const any_tensor& source = state.at(name);
      const bool floating =
          std::holds_alternative<tensor<float>>(source) || std::holds_alternative<tensor<double>>(source);
      if (!floating) {
        problems.push_back("'" + name + "' holds " + dtype_name(source) + ", expected " + dtype_name<T>());
      } else if (shape_of(source) != target.shape()) {
        problems.push_back("shape mismatch for '" + name + "': model has " + format_shape(target.shape()) +
                           ", state_dict has " + format_shape(shape_of(source)));
      }
    }
    if (strict) {
      for (const auto& [name, value] : state) {
        if (known.count(name) == 0) problems.push_back("unexpected '" + name + "'");
      }
    }
    if (!problems.empty()) {
      std::string all;
      for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
      KEXUE_THROW(value_error, "load_state_dict", all);
    }
    no_grad_guard no_grad;
    for (auto& entry : targets) {
      if (!state.contains(entry.first)) continue;
      tensor<T>& target = entry.second;  // a named reference: lambdas cannot capture structured bindings in C++17
      std::visit(
          [&target](const auto& source) {
            using U = typename std::decay_t<decltype(source)>::value_type;
            if constexpr (std::is_floating_point_v<U>) {
              if (static_cast<const void*>(source.data()) == static_cast<const void*>(target.data()))
                return;  // own state
              T* dst = target.data();
              const U* src = source.data();
              for (index_t i = 0; i < target.numel(); ++i) dst[i] = static_cast<T>(src[i]);
              target.bump_version();
            }
          },
          state.at(entry.first));
    }
  }

  // ~~~ Deep copy ~~~

  /// An independent deep copy: same structure, same values, same trainable flags and mode, no shared
  /// storage. Implemented by nn::cloneable; other modules throw.
  virtual std::shared_ptr<module> clone() const {
    KEXUE_THROW(value_error, "clone", type_name(),
                " does not support clone(): derive it from nn::cloneable<Derived, T> and implement reset()");
  }

  /// (Re)creates every parameter, buffer and child from `gen`. Layers implement it; the base does nothing.
  virtual void reset(generator& gen) { (void)gen; }

  /// Re-initialises the module in place: drops every registration and calls reset(gen). Handles to the
  /// old parameters held elsewhere (optimizers) keep the old tensors.
  void reinitialize(generator& gen = default_generator()) {
    clear_registrations();
    reset(gen);
  }

  // ~~~ Forward hooks (intermediate outputs, A13 / A27) ~~~

  /// Adds `hook`, called with this module and its output after every call `layer(x)` (cloneable's
  /// operator(), and sequential for its children). Returns an id for remove_forward_hook.
  int register_forward_hook(forward_hook hook) {
    hooks_.emplace_back(++last_hook_id_, std::move(hook));
    return last_hook_id_;
  }
  void remove_forward_hook(int id) {
    hooks_.erase(std::remove_if(hooks_.begin(), hooks_.end(), [id](const auto& h) { return h.first == id; }),
                 hooks_.end());
  }
  /// Runs the forward hooks on `output` and returns it.
  const tensor<T>& run_forward_hooks(const tensor<T>& output) const {
    for (const auto& h : hooks_) h.second(*this, output);
    return output;
  }

  // ~~~ Printing ~~~

  /// The layer's type, for printing: "linear<float>" by default (demangled); layers may override.
  virtual std::string type_name() const { return detail::readable_type_name(typeid(*this)); }
  /// The layer's configuration, for printing: "in_features=4, out_features=2, bias=true".
  virtual std::string extra_repr() const { return ""; }

  /// The module tree as PyTorch prints it:
  ///
  ///     mlp(
  ///       (fc1): linear(in_features=4, out_features=8, bias=true)
  ///       (fc2): linear(in_features=8, out_features=2, bias=true)
  ///     )
  std::string to_string() const {
    std::ostringstream out;
    print_tree(out, 0);
    return out.str();
  }

  /// A Keras-like table: every module path, its type, its own parameter count; then the totals (shared
  /// tensors counted once) split into trainable and non-trainable.
  std::string summary() const {
    std::vector<std::vector<std::string>> rows{{"path", "type", "parameters"}};
    for (const auto& [path, m] : named_modules()) {
      index_t own = 0;
      for (const auto& p : m->parameters(false)) own += p.numel();
      rows.push_back({path.empty() ? "(root)" : path, m->type_name(), std::to_string(own)});
    }
    std::size_t w0 = 0, w1 = 0;
    for (const auto& r : rows) {
      w0 = std::max(w0, r[0].size());
      w1 = std::max(w1, r[1].size());
    }
    std::ostringstream out;
    const auto pad = [](const std::string& s, std::size_t w) { return s + std::string(w - s.size(), ' '); };
    for (std::size_t i = 0; i < rows.size(); ++i) {
      out << pad(rows[i][0], w0) << "  " << pad(rows[i][1], w1) << "  " << rows[i][2] << "\n";
      if (i == 0) out << std::string(w0 + w1 + 4 + 10, '-') << "\n";
    }
    const index_t total = num_parameters(), trainable = num_parameters(true);
    out << "Total params: " << total << " (trainable " << trainable << ", non-trainable " << total - trainable << ")\n";
    return out.str();
  }

 protected:
  module(const module&) = default;
  module& operator=(const module&) = default;

  /// Drops every parameter, buffer and child registration (used before reset()).
  void clear_registrations() {
    parameters_.clear();
    buffers_.clear();
    children_.clear();
  }
  /// Drops every forward hook (a clone starts without the original's hooks).
  void clear_forward_hooks() { hooks_.clear(); }

  /// Copies trainable flags and training mode from `other`, which has the same structure.
  void copy_flags_from(const module& other) {
    const auto mine = named_parameters();
    const auto theirs = other.named_parameters();
    KEXUE_CHECK(mine.size() == theirs.size(), value_error, "clone", type_name(), ": reset() registered ", mine.size(),
                " parameters, the original has ", theirs.size());
    for (std::size_t i = 0; i < mine.size(); ++i) {
      tensor<T> p = mine[i].second;
      p.requires_grad(theirs[i].second.requires_grad());
    }
    const auto my_modules = named_modules();
    const auto their_modules = other.named_modules();
    for (std::size_t i = 0; i < my_modules.size() && i < their_modules.size(); ++i) {
      const_cast<module*>(my_modules[i].second)->training_ = their_modules[i].second->training_;
    }
  }

 private:
  void check_new_name(const std::string& name, const char* what) const {
    detail::check_entry_name(name, what);
    const auto taken = [&name](const auto& list) {
      return std::any_of(list.begin(), list.end(), [&name](const auto& e) { return e.first == name; });
    };
    KEXUE_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), value_error, what, "name '", name,
                "' is already registered in ", type_name());
  }

  // Gathers parameters (or buffers, or both in state_dict order) with their paths.
  void collect(std::vector<std::pair<std::string, tensor<T>>>& out, std::unordered_set<const void*>& seen,
               const std::string& prefix, bool recurse, bool buffers, bool dedupe, bool both = false) const {
    const auto add = [&](const auto& list) {
      for (const auto& [name, value] : list) {
        if (dedupe && !seen.insert(value.impl().get()).second) continue;
        out.emplace_back(prefix + name, value);
      }
    };
    if (both || !buffers) add(parameters_);
    if (both || buffers) add(buffers_);
    if (!recurse) return;
    for (const auto& [name, child] : children_) {
      child->collect(out, seen, prefix + name + ".", true, buffers, dedupe, both);
    }
  }

  void collect_modules(std::vector<std::pair<std::string, const module*>>& out, std::unordered_set<const module*>& seen,
                       const std::string& path) const {
    if (!seen.insert(this).second) return;
    out.emplace_back(path, this);
    for (const auto& [name, child] : children_)
      child->collect_modules(out, seen, path.empty() ? name : path + "." + name);
  }

  void print_tree(std::ostringstream& out, int indent) const {
    out << type_name() << "(" << extra_repr();
    if (children_.empty()) {
      out << ")";
      return;
    }
    out << "\n";
    for (const auto& [name, child] : children_) {
      out << std::string(static_cast<std::size_t>(indent + 2), ' ') << "(" << name << "): ";
      child->print_tree(out, indent + 2);
      out << "\n";
    }
    out << std::string(static_cast<std::size_t>(indent), ' ') << ")";
  }

  std::vector<std::pair<std::string, tensor<T>>> parameters_;
  std::vector<std::pair<std::string, tensor<T>>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<module>>> children_;
  std::vector<std::pair<int, forward_hook>> hooks_;
  int last_hook_id_ = 0;
  bool training_ = true;
};

/// Prints the module tree (module::to_string()).
template <class T>
std::ostream& operator<<(std::ostream& out, const module<T>& m) {
  return out << m.to_string();
}

/// @brief CRTP base of layers: provides clone() (deep copy through Derived's reset()) and operator(),
/// which calls Derived::forward and then the forward hooks. Layers define forward() and reset(), and no
/// operator() of their own.
template <class Derived, class T = float>
class cloneable : public module<T> {
 public:
  /// Deep copy: copies Derived (options, handles), drops its registrations, rebuilds them with reset() from
  /// a scratch generator (the process-wide one is not touched), then copies every value, trainable flag
  /// and the training mode from this module.
  std::shared_ptr<module<T>> clone() const override {
    auto copy = std::make_shared<Derived>(static_cast<const Derived&>(*this));
    copy->clear_registrations();
    copy->clear_forward_hooks();
    generator scratch(0);
    copy->reset(scratch);
    copy->load_state_dict(this->state_dict());
    copy->copy_flags_from(*this);
    return copy;
  }

  /// The clone with its own type: `auto copy = layer.clone_as();`
  std::shared_ptr<Derived> clone_as() const { return std::static_pointer_cast<Derived>(clone()); }

  /// Runs forward(args...) and then the forward hooks (when the output is one tensor).
  template <class... Args>
  auto operator()(Args&&... args) const {
    auto out = static_cast<const Derived&>(*this).forward(std::forward<Args>(args)...);
    if constexpr (std::is_same_v<decltype(out), tensor<T>>) this->run_forward_hooks(out);
    return out;
  }
};

}  // namespace kexue::nn
