// SPDX-License-Identifier: MIT
// autograd::node: one recorded operation of the graph, and `record`, which attaches one to an op's result.
#pragma once

#include <cstdint>           // std::uint64_t
#include <functional>        // std::function
#include <initializer_list>  // record's input list
#include <memory>            // std::shared_ptr, std::weak_ptr
#include <utility>           // std::move
#include <vector>

#include <kexue/autograd/grad_mode.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue::autograd {

/// A recorded op with one output. `inputs` are the tensors the op read (the graph edges);
/// `backward_fn` maps the gradient of the output to one gradient per input (an undefined tensor where an
/// input needs none). Backward functions are written with differentiable ops, so running them with
/// recording on yields gradients that can be differentiated again (create_graph).
template <class T>
struct node {
  using backward_function = std::function<std::vector<tensor<T>>(const tensor<T>& grad_output)>;

  const char* name = "";                  // static op name, for messages
  std::vector<tensor<T>> inputs;          // edges to the producers of the inputs
  std::vector<std::uint64_t> versions;    // buffer version of each input when recorded
  backward_function backward_fn;          // null once the graph was freed
  std::weak_ptr<tensor_impl<T>> output;   // weak: the output owns this node
  bool released = false;

  /// Frees what backward needed (called after a backward pass without retain_graph).
  void release() {
    backward_fn = nullptr;
    inputs.clear();
    versions.clear();
    released = true;
  }
};

/// True if recording is on and any of `inputs` requires a gradient.
template <class T>
bool any_requires_grad(std::initializer_list<const tensor<T>*> inputs) {
  if (!is_grad_enabled()) return false;
  for (const auto* t : inputs) {
    if (t->defined() && t->requires_grad()) return true;
  }
  return false;
}

/// Attaches a node named `name` to `output` when recording is on and any input requires a gradient, and
/// returns `output`. `make_backward` is called only in that case and returns the backward function, so
/// ops capture their saved values only when a graph is being built. A backward function that needs the
/// op's own output reads it through `saved_output(node)`, never by capturing it (that would be a cycle).
/// `inputs` is any range of tensors (an initializer list, or a std::vector for ops with N inputs).
template <class T, class Inputs, class MakeBackward>
tensor<T> record_range(const char* name, tensor<T> output, const Inputs& inputs, MakeBackward&& make_backward) {
  if (!is_grad_enabled()) return output;
  bool needed = false;
  for (const auto& t : inputs) needed = needed || (t.defined() && t.requires_grad());
  if (!needed) return output;
  auto n = std::make_shared<node<T>>();
  n->name = name;
  n->inputs.assign(inputs.begin(), inputs.end());
  n->versions.reserve(n->inputs.size());
  for (const auto& t : inputs) n->versions.push_back(t.defined() ? t.version() : 0);
  n->backward_fn = make_backward(std::weak_ptr<node<T>>(n));
  auto& impl = output.checked_impl();
  n->output = output.impl();
  impl.grad_fn = std::move(n);
  impl.requires_grad = true;
  return output;
}

template <class T, class MakeBackward>
tensor<T> record(const char* name, tensor<T> output, std::initializer_list<tensor<T>> inputs,
                 MakeBackward&& make_backward) {
  return record_range<T>(name, std::move(output), inputs, std::forward<MakeBackward>(make_backward));
}

template <class T, class MakeBackward>
tensor<T> record(const char* name, tensor<T> output, const std::vector<tensor<T>>& inputs,
                 MakeBackward&& make_backward) {
  return record_range<T>(name, std::move(output), inputs, std::forward<MakeBackward>(make_backward));
}

/// The output of the node (for backward functions that reuse the forward result, such as exp and
/// softmax). The output is alive whenever its node is reached from a live tensor.
template <class T>
tensor<T> saved_output(const std::weak_ptr<node<T>>& self) {
  auto n = self.lock();
  KEXUE_ASSERT(n != nullptr);
  auto out = n->output.lock();
  KEXUE_CHECK(out != nullptr, value_error, n->name, "the output saved for backward no longer exists");
  return tensor<T>(out);
}

}  // namespace kexue::autograd
