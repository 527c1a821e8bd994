// SPDX-License-Identifier: MIT
// Inverted dropout with a Keras-style noise_shape (one mask broadcast over chosen axes), and its mask.
#pragma once

#include <cmath>  // std::isnan
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/elementwise.hpp>
#include <kexue/ops/arithmetic.hpp>

namespace kexue {

/// @brief The scaled keep mask of inverted dropout: each element is 1/(1 − p) with probability 1 − p, else 0.
/// @param s the mask shape (a dropout's noise_shape).
/// @param p drop probability in [0, 1]; p = 1 gives all zeros (and draws nothing).
/// @param gen one uniform draw per element, row-major: element i is kept when u_i ≥ p.
/// @return tensor<T> of shape s, not differentiable. Multiply by it (with broadcasting) to apply the same
/// mask to several tensors, e.g. the two discriminator evaluations of A18 that must see one mask.
/// @throws value_error if p is outside [0, 1] or NaN.
template <class T>
tensor<T> dropout_mask(const shape& s, double p, generator& gen);

/// @brief Inverted dropout: zeroes elements with probability p and scales the kept ones by 1/(1 − p), so the
/// expectation is x.
/// @param x `[...]` input.
/// @param p drop probability in [0, 1] (p = 1 gives zeros, as PyTorch).
/// @param training when false, or when p == 0, x itself is returned (same handle, no draw).
/// @param gen the random stream (one uniform per mask element, see dropout_mask).
/// @param noise_shape the shape of the mask, broadcast to x by NumPy rules (as Keras's noise_shape): for x
/// `[B, T, D]`, `{B, T, 1}` drops whole time steps (the same mask for every feature, spec A01) and `{B, 1, D}`
/// drops a feature for every time step. Empty means x's shape (one draw per element).
/// @return x's shape: x · mask. Gradient: g · mask (= g · keep/(1 − p)); second order works (the mask is a
/// constant).
/// @throws value_error if p is outside [0, 1]; shape_error if noise_shape does not broadcast to x's shape.
template <class T>
tensor<T> dropout(const tensor<T>& x, double p, bool training, generator& gen, const shape& noise_shape = {});

// ~~~ Implementation ~~~

namespace detail {
inline void check_dropout_probability(double p, const char* op) {
  KEXUE_CHECK(!std::isnan(p) && p >= 0.0 && p <= 1.0, value_error, op, "p must lie in [0, 1] (got ", p, ")");
}
}  // namespace detail

template <class T>
tensor<T> dropout_mask(const shape& s, double p, generator& gen) {
  detail::check_dropout_probability(p, "dropout_mask");
  auto mask = tensor<T>::empty(s);
  T* m = mask.data();
  const index_t n = mask.numel();
  if (p == 1.0) {
    for (index_t i = 0; i < n; ++i) m[i] = T(0);
    return mask;
  }
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  for (index_t i = 0; i < n; ++i) m[i] = gen.uniform() >= p ? scale : T(0);
  return mask;
}

template <class T>
tensor<T> dropout(const tensor<T>& x, double p, bool training, generator& gen, const shape& noise_shape) {
  static_assert(tensor<T>::is_differentiable, "dropout: x must be a float or double tensor");
  detail::check_dropout_probability(p, "dropout");
  const shape& xs = x.shape();
  const shape ms = noise_shape.empty() ? xs : noise_shape;
  bool fits = ms.rank() <= xs.rank();
  for (int i = 0; fits && i < ms.rank(); ++i) {
    const index_t d = ms[ms.rank() - 1 - i];
    fits = d == 1 || d == xs[xs.rank() - 1 - i];
  }
  KEXUE_CHECK(fits, shape_error, "dropout", "noise_shape ", format_shape(noise_shape),
              " does not broadcast to the input shape ", format_shape(xs));
  if (!training || p == 0.0) return x;
  tensor<T> mask = dropout_mask<T>(ms, p, gen);
  auto out = detail::map_binary<T>(x, mask, "dropout", [](T v, T m) { return v * m; });
  return autograd::record<T>("dropout", out, {x}, [mask](auto) {
    // dL/dx = g · mask: g [x.shape()], mask [noise_shape] broadcast over it.
    return [mask](const tensor<T>& g) { return std::vector<tensor<T>>{mul(g, mask)}; };
  });
}

}  // namespace kexue
