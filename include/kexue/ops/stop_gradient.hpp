// SPDX-License-Identifier: MIT
// Gradient routing: stop_gradient (sg[x]), straight_through (x + sg[y − x]) and clone (differentiable copy).
#pragma once

#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/ops/broadcast.hpp>

namespace kexue {

/// @brief sg[x] of the spec: forward identity, zero gradient.
/// @param x any shape (any element type).
/// @return x's values with x's shape, sharing x's storage; the result does not require a gradient and has
/// no grad_fn, so nothing flows back through it (as `detach()`). Writing into the result writes into x.
/// Used by the single-loss GAN (A18), VQ-VAE's straight-through and commitment terms (A29) and loss
/// weights that must not be differentiated (A09).
template <class T>
tensor<T> stop_gradient(const tensor<T>& x);

/// @brief Straight-through estimator, VQ-VAE's `x + sg[y − x]` (spec A29): the value of y, the gradient of x.
/// @param x `[...]` the tensor that receives the gradient (the encoder output z).
/// @param y `[...]` the value to use forward (the quantised z_q); it receives no gradient through this op.
/// @return the broadcast shape of x and y, with exactly y's values (bit for bit: y is copied, never computed
/// as x + (y − x) in floating point). Gradient: sum_to(g, x.shape()) to x (identity when shapes agree),
/// nothing to y. The result requires a gradient only if x does.
/// @throws shape_error if x and y do not broadcast.
template <class T>
tensor<T> straight_through(const tensor<T>& x, const tensor<T>& y);

/// @brief A differentiable copy: new storage holding x's values. Gradient: g (identity).
template <class T>
tensor<T> clone(const tensor<T>& x);

// ~~~ Implementation ~~~

template <class T>
tensor<T> stop_gradient(const tensor<T>& x) {
  return x.detach();
}

template <class T>
tensor<T> straight_through(const tensor<T>& x, const tensor<T>& y) {
  static_assert(tensor<T>::is_differentiable, "straight_through: only float and double tensors carry gradients");
  const shape out_shape = broadcast_shapes(x.shape(), y.shape(), "straight_through");
  // y.detach(): the value is read from y, but the graph never links to y.
  tensor<T> out = out_shape == y.shape() ? y.copy() : expand(y.detach(), out_shape);
  return autograd::record<T>("straight_through", out, {x}, [sx = x.shape()](auto) {
    // dL/dx = sum_to(g, x.shape()): g [out_shape] summed over the axes x was broadcast along.
    return [sx](const tensor<T>& g) { return std::vector<tensor<T>>{sum_to(g, sx)}; };
  });
}

template <class T>
tensor<T> clone(const tensor<T>& x) {
  tensor<T> out = x.copy();
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("clone", out, {x},
                               [](auto) { return [](const tensor<T>& g) { return std::vector<tensor<T>>{g}; }; });
  }
  return out;
}

}  // namespace kexue
