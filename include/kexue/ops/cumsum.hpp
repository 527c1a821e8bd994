// SPDX-License-Identifier: MIT
// Cumulative sums along one axis, forward or reverse.
#pragma once

#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/ops/slice.hpp>  // detail::extent_around

namespace kexue {

/// @brief Inclusive cumulative sum along `axis`: y[.., i, ..] = Σ_{j ≤ i} x[.., j, ..]; with `reverse`,
/// Σ_{j ≥ i} (the sum from the end, TensorFlow's `reverse = True`).
/// @param x any shape of rank ≥ 1; @return x's shape.
/// Gradient: the cumulative sum of g in the other direction (cumsum(g, axis, !reverse)), itself a
/// recorded cumsum, so gradients of every order work.
/// Errors: index_error "cumsum: axis 2 out of range for a tensor of rank 2".
template <class T>
tensor<T> cumsum(const tensor<T>& x, int axis, bool reverse = false);

// ~~~ Implementation ~~~

template <class T>
tensor<T> cumsum(const tensor<T>& x, int axis, bool reverse) {
  const int a = shape::normalize_axis(axis, x.rank(), "cumsum");
  const auto [outer, n, inner] = detail::extent_around(x.shape(), a);
  auto out = tensor<T>::empty(x.shape());
  const T* px = x.data();
  T* py = out.data();
  // Rows of `inner` contiguous elements: y_row(k) = y_row(k ∓ 1) + x_row(k), vectorisable over the row.
  const index_t step = reverse ? -inner : inner;
  for (index_t o = 0; o < outer && n > 0; ++o) {
    const index_t first = o * n * inner + (reverse ? (n - 1) * inner : 0);
    const T* src = px + first;
    T* dst = py + first;
    for (index_t j = 0; j < inner; ++j) dst[j] = src[j];
    for (index_t k = 1; k < n; ++k) {
      src += step;
      const T* prev = dst;
      dst += step;
      for (index_t j = 0; j < inner; ++j) dst[j] = prev[j] + src[j];
    }
  }
  return autograd::record<T>("cumsum", out, {x}, [a, reverse](auto) {
    return [a, reverse](const tensor<T>& g) { return std::vector<tensor<T>>{cumsum(g, a, !reverse)}; };
  });
}

}  // namespace kexue
