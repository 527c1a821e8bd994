// SPDX-License-Identifier: MIT
// The autograd engine: tensor::backward() and kexue::grad(), with create_graph for higher-order gradients.
#pragma once

#include <algorithm>         // std::find
#include <cstring>           // std::memcpy
#include <initializer_list>  // grad({y}, {x})
#include <optional>          // retain_graph default
#include <unordered_map>     // per-node gradient sums
#include <vector>

#include <kexue/autograd/grad_mode.hpp>
#include <kexue/autograd/node.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/fwd.hpp>

namespace kexue {

/// Options of kexue::grad (and of backward through the engine).
struct grad_options {
  /// Record the backward computation, so the returned gradients can be differentiated again. Default false.
  grad_options& create_graph(bool on) {
    create_graph_ = on;
    return *this;
  }
  /// Keep the graph after the pass, to run backward through it again. Default: the value of create_graph.
  grad_options& retain_graph(bool on) {
    retain_graph_ = on;
    return *this;
  }
  /// Return an undefined tensor for an input the outputs do not depend on, instead of throwing. Default false.
  grad_options& allow_unused(bool on) {
    allow_unused_ = on;
    return *this;
  }
  bool create_graph() const { return create_graph_; }
  bool retain_graph() const { return retain_graph_.value_or(create_graph_); }
  bool allow_unused() const { return allow_unused_; }

 private:
  bool create_graph_ = false;
  std::optional<bool> retain_graph_;
  bool allow_unused_ = false;
};

namespace autograd {

/// Runs one backward pass from `roots` seeded with `root_grads` (undefined = ones for one-element roots).
/// With `targets` null, gradients accumulate into the `.grad` of every leaf that requires one; otherwise
/// the gradient of each target is returned (in order) and no `.grad` is touched.
template <class T>
std::vector<tensor<T>> run_backward(const std::vector<tensor<T>>& roots, const std::vector<tensor<T>>& root_grads,
                                    bool retain_graph, bool create_graph, const std::vector<tensor<T>>* targets,
                                    const char* op) {
  static_assert(std::is_floating_point_v<T>, "backward: only float and double tensors carry gradients");
  using node_ptr = node<T>*;
  std::optional<no_grad_guard> no_grad;
  std::optional<enable_grad_guard> with_grad;
  if (create_graph) {
    with_grad.emplace();
  } else {
    no_grad.emplace();
  }

  auto accumulate = [](tensor<T>& sum, const tensor<T>& g) { sum = sum.defined() ? add(sum, g) : g; };

  // 1. Seed gradients of the roots.
  std::unordered_map<node_ptr, tensor<T>> node_grad;             // gradient of each node's output
  std::unordered_map<tensor_impl<T>*, tensor<T>> leaf_grad;      // gradient of each reached leaf
  std::vector<tensor_impl<T>*> leaf_order;                        // leaves in the order first reached
  auto add_leaf_grad = [&](const tensor<T>& leaf, const tensor<T>& g) {
    auto [it, inserted] = leaf_grad.try_emplace(leaf.impl().get());
    if (inserted) leaf_order.push_back(leaf.impl().get());
    accumulate(it->second, g);
  };
  std::vector<node_ptr> stack;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    const auto& root = roots[i];
    KEXUE_CHECK(root.defined(), value_error, op, "output ", i, " is an undefined tensor");
    KEXUE_CHECK(root.requires_grad(), value_error, op, "output ", i,
                " does not require a gradient and has no grad_fn (shape ", format_shape(root.shape()), ")");
    tensor<T> g = i < root_grads.size() ? root_grads[i] : tensor<T>();
    if (!g.defined()) {
      KEXUE_CHECK(root.numel() == 1, value_error, op,
                  "a gradient can be created implicitly only for a one-element output (got shape ",
                  format_shape(root.shape()), "); pass the output gradient explicitly");
      g = tensor<T>::empty(root.shape());
      g.data()[0] = T(1);
    } else {
      KEXUE_CHECK(g.shape() == root.shape(), shape_error, op, "gradient shape ", format_shape(g.shape()),
                  " differs from output shape ", format_shape(root.shape()));
    }
    if (root.grad_fn()) {
      accumulate(node_grad[root.grad_fn().get()], g);
      stack.push_back(root.grad_fn().get());
    } else {
      add_leaf_grad(root, g);
    }
  }

  // 2. Discover the graph and count, for each node, the edges that lead into it.
  std::unordered_map<node_ptr, int> pending;
  std::vector<node_ptr> discovered;
  // Owning references to every node of the pass: releasing one node frees its inputs, which must not
  // destroy nodes still to be visited or released.
  std::vector<std::shared_ptr<node<T>>> alive;
  for (const auto& root : roots) {
    if (root.defined() && root.grad_fn()) alive.push_back(root.grad_fn());
  }
  {
    std::vector<node_ptr> todo = stack;
    std::unordered_map<node_ptr, bool> seen;
    for (auto* n : todo) seen[n] = true;
    while (!todo.empty()) {
      node_ptr n = todo.back();
      todo.pop_back();
      KEXUE_CHECK(!n->released, value_error, op, "the graph through '", n->name,
                  "' was freed by an earlier backward pass; pass retain_graph = true to the first "
                  "backward to go through the graph twice");
      discovered.push_back(n);
      for (const auto& in : n->inputs) {
        if (!in.defined() || !in.grad_fn()) continue;
        node_ptr p = in.grad_fn().get();
        ++pending[p];
        if (!seen[p]) {
          seen[p] = true;
          alive.push_back(in.grad_fn());
          todo.push_back(p);
        }
      }
    }
  }

  // With targets, prune nodes from which no target can be reached.
  std::unordered_map<tensor_impl<T>*, std::size_t> target_index;
  std::unordered_map<node_ptr, bool> useful;
  if (targets) {
    for (std::size_t i = 0; i < targets->size(); ++i) target_index[(*targets)[i].impl().get()] = i;
    // A node is useful when its output is a target or one of its inputs is a target or a useful node:
    // an iterative post-order walk decides each node once.
    for (auto* start : discovered) {
      if (useful.count(start)) continue;
      std::vector<std::pair<node_ptr, bool>> walk{{start, false}};
      while (!walk.empty()) {
        auto [n, expanded] = walk.back();
        walk.pop_back();
        if (useful.count(n)) continue;
        if (!expanded) {
          walk.push_back({n, true});
          for (const auto& in : n->inputs) {
            if (in.defined() && in.grad_fn() && !useful.count(in.grad_fn().get())) {
              walk.push_back({in.grad_fn().get(), false});
            }
          }
          continue;
        }
        auto out = n->output.lock();
        bool u = out && target_index.count(out.get());
        for (const auto& in : n->inputs) {
          if (u) break;
          if (!in.defined()) continue;
          u = in.grad_fn() ? useful[in.grad_fn().get()] : target_index.count(in.impl().get()) > 0;
        }
        useful[n] = u;
      }
    }
  }
  std::vector<tensor<T>> results(targets ? targets->size() : 0);

  // 3. Run nodes in topological order (Kahn): a node runs once all its consumers have passed it gradients.
  std::vector<node_ptr> ready;
  for (auto* n : stack) {
    if (pending[n] == 0 && std::find(ready.begin(), ready.end(), n) == ready.end()) ready.push_back(n);
  }
  std::vector<node_ptr> processed;
  while (!ready.empty()) {
    node_ptr n = ready.back();
    ready.pop_back();
    processed.push_back(n);
    tensor<T> g = std::move(node_grad[n]);
    node_grad.erase(n);
    auto out = n->output.lock();
    if (out) {
      for (auto& hook : out->hooks) {
        auto replaced = hook(g);
        if (replaced.defined()) g = replaced;
      }
      if (targets) {
        auto it = target_index.find(out.get());
        if (it != target_index.end()) accumulate(results[it->second], g);
      } else if (out->retains_grad) {
        tensor<T> holder(out);
        tensor<T> current = holder.grad();
        accumulate(current, create_graph ? g : g.detach());
        holder.set_grad(current);
      }
    }
    const bool run = !targets || useful[n];
    std::vector<tensor<T>> input_grads;
    if (run && g.defined()) {
      for (std::size_t i = 0; i < n->inputs.size(); ++i) {
        const auto& in = n->inputs[i];
        if (in.defined() && in.version() != n->versions[i]) {
          KEXUE_THROW(value_error, op, "an input of '", n->name, "' was modified in place after it was used (its version is ",
                      in.version(), ", it was ", n->versions[i], " when recorded)");
        }
      }
      input_grads = n->backward_fn(g);
      KEXUE_CHECK(input_grads.size() == n->inputs.size(), std::logic_error, op, "backward of '", n->name,
                  "' returned ", input_grads.size(), " gradients for ", n->inputs.size(), " inputs");
    }
    for (std::size_t i = 0; i < n->inputs.size(); ++i) {
      const auto& in = n->inputs[i];
      if (!in.defined()) continue;
      const bool has_grad = i < input_grads.size() && input_grads[i].defined() && in.requires_grad();
      if (has_grad) {
        KEXUE_CHECK(input_grads[i].shape() == in.shape(), std::logic_error, op, "backward of '", n->name,
                    "' gave input ", i, " a gradient of shape ", format_shape(input_grads[i].shape()),
                    ", expected ", format_shape(in.shape()));
      }
      if (in.grad_fn()) {
        node_ptr p = in.grad_fn().get();
        if (has_grad) accumulate(node_grad[p], input_grads[i]);
        if (--pending[p] == 0) ready.push_back(p);
      } else if (has_grad) {
        add_leaf_grad(in, input_grads[i]);
      }
    }
  }

  // 4. Deliver leaf gradients: to the results, or accumulated into .grad.
  for (auto* impl : leaf_order) {
    tensor<T> g = std::move(leaf_grad[impl]);
    for (auto& hook : impl->hooks) {
      auto replaced = hook(g);
      if (replaced.defined()) g = replaced;
    }
    if (targets) {
      auto it = target_index.find(impl);
      if (it != target_index.end()) accumulate(results[it->second], g);
      continue;
    }
    if (!impl->grad) {
      const bool exclusive = g.impl().use_count() == 1 && g.buffer().use_count() == 1 && !g.grad_fn();
      impl->grad = (create_graph || exclusive) ? g.impl() : g.copy().impl();
    } else if (create_graph || impl->grad->grad_fn) {
      impl->grad = add(tensor<T>(impl->grad), g).impl();
    } else {
      T* dst = impl->grad->data();
      const T* src = g.data();
      const index_t count = g.numel();
      for (index_t k = 0; k < count; ++k) dst[k] += src[k];
      ++impl->grad->buffer->version;
    }
  }

  if (!retain_graph) {
    for (auto* n : processed) n->release();
  }
  return results;
}

}  // namespace autograd

template <class T>
void tensor<T>::backward(const tensor<T>& gradient, bool retain_graph, bool create_graph) const {
  autograd::run_backward<T>({*this}, {gradient}, retain_graph || create_graph, create_graph, nullptr, "backward");
}

/// Runs backward from `outputs` (seeded with ones for one-element outputs, or with `grad_outputs`) and
/// accumulates into the .grad of every leaf that requires a gradient.
template <class T>
void backward(const std::vector<tensor<T>>& outputs, const std::vector<tensor<T>>& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false) {
  autograd::run_backward<T>(outputs, grad_outputs, retain_graph || create_graph, create_graph, nullptr, "backward");
}

/// Gradients of the sum of `outputs` with respect to each of `inputs`, without touching any `.grad`:
///
///     auto g = kexue::grad({loss}, {w}, kexue::grad_options().create_graph(true));  // g[0] has w's shape
///
/// With create_graph the gradients are themselves differentiable (WGAN-GP's penalty). `grad_outputs`
/// seeds each output (default: ones for one-element outputs).
template <class T>
std::vector<tensor<T>> grad(const std::vector<tensor<T>>& outputs, const std::vector<tensor<T>>& inputs,
                            const grad_options& options = {}, const std::vector<tensor<T>>& grad_outputs = {}) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    KEXUE_CHECK(inputs[i].defined() && inputs[i].requires_grad(), value_error, "grad", "input ", i,
                " does not require a gradient");
  }
  auto result = autograd::run_backward<T>(outputs, grad_outputs, options.retain_graph(), options.create_graph(),
                                          &inputs, "grad");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    KEXUE_CHECK(result[i].defined() || options.allow_unused(), value_error, "grad", "input ", i,
                " (shape ", format_shape(inputs[i].shape()),
                ") was not used to compute the outputs; pass grad_options().allow_unused(true) to get an "
                "undefined gradient instead");
  }
  return result;
}

template <class T>
std::vector<tensor<T>> grad(std::initializer_list<tensor<T>> outputs, std::initializer_list<tensor<T>> inputs,
                            const grad_options& options = {}) {
  return grad<T>(std::vector<tensor<T>>(outputs), std::vector<tensor<T>>(inputs), options);
}

}  // namespace kexue
