// SPDX-License-Identifier: MIT
// nn::sequential: layers applied one after the other; nn::lambda: a parameter-free function as a layer.
#pragma once

#include <functional>  // std::function steps
#include <memory>      // std::shared_ptr
#include <string>
#include <utility>  // std::move
#include <vector>

#include <kexue/core/error.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/module.hpp>

namespace kexue::nn {

/// @brief A function without parameters used as a layer (an activation, a reshape), so that it has a name
/// in a sequential and in printed models: `nn::lambda<float>("relu", [](const auto& x) { return relu(x); })`.
template <class T = float>
class lambda : public cloneable<lambda<T>, T> {
 public:
  using function = std::function<tensor<T>(const tensor<T>&)>;
  lambda(std::string name, function fn) : name_(std::move(name)), fn_(std::move(fn)) {
    KEXUE_CHECK(static_cast<bool>(fn_), value_error, "lambda", "function '", name_, "' is empty");
  }
  void reset(generator&) override {}
  tensor<T> forward(const tensor<T>& x) const { return fn_(x); }
  std::string type_name() const override { return "lambda"; }
  std::string extra_repr() const override { return name_; }

 private:
  std::string name_;
  function fn_;
};

/// @brief Layers applied in order, as torch.nn.Sequential / keras.Sequential. Each step takes one tensor
/// and returns one tensor. Steps are named "0", "1", ... unless a name is given, so parameters are
/// `0.weight`, `2.bias`, ... Intermediate outputs (A13, A27): `forward_all(x)` returns every step's output,
/// `forward_until(name, x)` stops after the named step, and forward hooks of the steps run on every call.
///
///     nn::sequential<float> mlp;
///     mlp.push_back(std::make_shared<nn::linear<float>>(nn::linear_options(4, 8)))
///        .push_back("relu", [](const tensor<float>& x) { return relu(x); })
///        .push_back(std::make_shared<nn::linear<float>>(nn::linear_options(8, 2)));
///     auto y = mlp(x);  // [B, 4] -> [B, 2]
///
/// A step module M must have `tensor<T> forward(const tensor<T>&) const`. The same module may be pushed
/// twice (weight sharing; its parameters are listed once).
template <class T = float>
class sequential : public module<T> {
 public:
  sequential() = default;

  /// Appends `layer` named by its position.
  template <class M>
  sequential& push_back(std::shared_ptr<M> layer) {
    return push_back(std::to_string(steps_.size()), std::move(layer));
  }

  /// Appends `layer` under `name`.
  template <class M>
  sequential& push_back(const std::string& name, std::shared_ptr<M> layer) {
    static_assert(std::is_base_of_v<module<T>, M>, "sequential::push_back: the layer must derive from nn::module<T>");
    this->register_module(name, layer);
    steps_.push_back(
        step{name, layer, [](const module<T>& m, const tensor<T>& x) { return static_cast<const M&>(m).forward(x); }});
    return *this;
  }

  /// Appends a parameter-free function under `name` (wrapped in an nn::lambda).
  sequential& push_back(const std::string& name, typename lambda<T>::function fn) {
    return push_back(name, std::make_shared<lambda<T>>(name, std::move(fn)));
  }

  /// Runs every step in order. x: whatever the first step takes; returns the last step's output. An empty
  /// sequential returns x.
  tensor<T> forward(const tensor<T>& x) const {
    tensor<T> h = x;
    for (const auto& s : steps_) h = run(s, h);
    return h;
  }
  /// forward() followed by this module's own forward hooks.
  tensor<T> operator()(const tensor<T>& x) const { return this->run_forward_hooks(forward(x)); }

  /// The output of every step, in order (the last one is forward(x)).
  std::vector<tensor<T>> forward_all(const tensor<T>& x) const {
    std::vector<tensor<T>> outs;
    tensor<T> h = x;
    for (const auto& s : steps_) outs.push_back(h = run(s, h));
    return outs;
  }

  /// The output of the step named `name` (later steps are not run).
  /// @throws value_error naming the step and listing the existing ones.
  tensor<T> forward_until(const std::string& name, const tensor<T>& x) const {
    index_of(name);  // validates first
    tensor<T> h = x;
    for (const auto& s : steps_) {
      h = run(s, h);
      if (s.name == name) break;
    }
    return h;
  }

  std::size_t size() const noexcept { return steps_.size(); }
  bool empty() const noexcept { return steps_.empty(); }
  /// The i-th step. @throws index_error when out of range.
  std::shared_ptr<module<T>> operator[](std::size_t i) const {
    KEXUE_CHECK(i < steps_.size(), index_error, "sequential", "step ", i, " out of range for ", steps_.size(),
                " steps");
    return steps_[i].layer;
  }
  /// The i-th step as its own type. @throws value_error if it is not an M.
  template <class M>
  std::shared_ptr<M> at(std::size_t i) const {
    auto typed = std::dynamic_pointer_cast<M>((*this)[i]);
    KEXUE_CHECK(typed != nullptr, value_error, "sequential", "step ", i, " is a ", (*this)[i]->type_name());
    return typed;
  }

  /// Deep copy: every step cloned (a module pushed twice becomes two clones sharing nothing with the
  /// original; the sharing between the two steps is kept).
  std::shared_ptr<module<T>> clone() const override {
    auto copy = std::make_shared<sequential>();
    std::vector<std::pair<const module<T>*, std::shared_ptr<module<T>>>> cloned;
    for (const auto& s : steps_) {
      std::shared_ptr<module<T>> layer;
      for (const auto& c : cloned) {
        if (c.first == s.layer.get()) layer = c.second;
      }
      if (!layer) {
        layer = s.layer->clone();
        cloned.emplace_back(s.layer.get(), layer);
      }
      copy->register_module(s.name, layer);
      copy->steps_.push_back(step{s.name, layer, s.call});
    }
    copy->train(this->is_training());
    return copy;
  }
  std::string type_name() const override { return "sequential"; }

 private:
  struct step {
    std::string name;
    std::shared_ptr<module<T>> layer;
    std::function<tensor<T>(const module<T>&, const tensor<T>&)> call;
  };

  static tensor<T> run(const step& s, const tensor<T>& x) { return s.layer->run_forward_hooks(s.call(*s.layer, x)); }

  std::size_t index_of(const std::string& name) const {
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      if (steps_[i].name == name) return i;
    }
    std::string names;
    for (const auto& s : steps_) names += (names.empty() ? "" : ", ") + s.name;
    KEXUE_THROW(value_error, "sequential", "no step named '", name, "' (steps: ", names, ")");
  }

  std::vector<step> steps_;
};

}  // namespace kexue::nn
