// SPDX-License-Identifier: MIT
// topk: the k largest (or smallest) elements along one axis, with their positions.
#pragma once

#include <algorithm>  // std::partial_sort, std::nth_element, std::sort
#include <utility>    // std::pair
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/ops/index.hpp>
#include <kexue/ops/reduce_minmax.hpp>
#include <kexue/ops/slice.hpp>

namespace kexue {

/// The k chosen values and their positions along the axis.
template <class T>
using topk_result = values_indices<T>;

/// @brief The k largest elements of x along `axis` (the k smallest if `largest` is false).
/// @param x [.., n, ..] (axis of size n); k in [0, n].
/// @return values [.., k, ..] and int64 indices [.., k, ..] with values = x at indices. With `sorted`,
/// in order (descending for largest, ascending otherwise); without, the same elements in ascending
/// index order. Ties are broken by position, lower index first (stable; PyTorch leaves this
/// unspecified and its CPU kernel may pick other tie positions). NaN counts as larger than every
/// number, as PyTorch: largest picks NaNs first, smallest picks them last.
/// Gradient of values: scatter_add(zeros like x, axis, indices, g), whose own gradient is a gather, so
/// gradients of every order work. Indices carry no gradient.
/// Errors: value_error "topk: k = 3 is out of range for axis 0 of size 2 (shape [2])" (also k < 0);
/// index_error for a bad axis.
template <class T>
topk_result<T> topk(const tensor<T>& x, index_t k, int axis = -1, bool largest = true, bool sorted = true);

// ~~~ Implementation ~~~

template <class T>
topk_result<T> topk(const tensor<T>& x, index_t k, int axis, bool largest, bool sorted) {
  const int a = shape::normalize_axis(axis, x.rank(), "topk");
  const auto [outer, n, inner] = detail::extent_around(x.shape(), a);
  KEXUE_CHECK(k >= 0 && k <= n, value_error, "topk", "k = ", k, " is out of range for axis ", a, " of size ", n,
              " (shape ", format_shape(x.shape()), ")");
  shape out_shape = x.shape();
  out_shape[a] = k;
  auto indices = tensor<index_t>::empty(out_shape);
  auto values = tensor<T>::empty(out_shape);
  // Order on (value, position): NaN above every number, ties by lower position.
  using entry = std::pair<T, index_t>;
  auto before = [largest](const entry& p, const entry& q) {
    const bool pn = p.first != p.first, qn = q.first != q.first;
    if (pn != qn) return largest ? pn : qn;
    if (!pn && p.first != q.first) return largest ? p.first > q.first : p.first < q.first;
    return p.second < q.second;
  };
  auto by_position = [](const entry& p, const entry& q) { return p.second < q.second; };
  std::vector<entry> row(static_cast<std::size_t>(n));
  const T* px = x.data();
  T* pv = values.data();
  index_t* pi = indices.data();
  for (index_t o = 0; o < outer && k > 0; ++o) {
    for (index_t i = 0; i < inner; ++i) {
      for (index_t j = 0; j < n; ++j) row[j] = {px[(o * n + j) * inner + i], j};
      if (sorted) {
        std::partial_sort(row.begin(), row.begin() + k, row.end(), before);
      } else {
        std::nth_element(row.begin(), row.begin() + (k - 1), row.end(), before);
        std::sort(row.begin(), row.begin() + k, by_position);
      }
      for (index_t j = 0; j < k; ++j) {
        pv[(o * k + j) * inner + i] = row[j].first;
        pi[(o * k + j) * inner + i] = row[j].second;
      }
    }
  }
  values = autograd::record<T>("topk", values, {x}, [indices, a, s = x.shape()](auto) {
    return
        [indices, a, s](const tensor<T>& g) { return std::vector<tensor<T>>{scatter_add(zeros<T>(s), a, indices, g)}; };
  });
  return {values, indices};
}

}  // namespace kexue
