// SPDX-License-Identifier: MIT
// Sum and mean over any set of axes, with keepdim.
#pragma once

#include <algorithm>  // std::sort, std::unique
#include <vector>

#include <kexue/core/tensor.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue {

/// Axes to reduce over; empty means all axes.
using axes_t = std::vector<int>;

namespace detail {
/// Normalised, sorted, unique axes (all axes when `axes` is empty); checks range and duplicates.
inline std::vector<int> normalize_axes(const axes_t& axes, int rank, const char* op) {
  std::vector<int> out;
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (int a : axes) out.push_back(shape::normalize_axis(a, rank, op));
  std::sort(out.begin(), out.end());
  KEXUE_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), index_error, op, "an axis is repeated");
  return out;
}
/// The shape after reducing `axes`: with size 1 there (keepdim) or without them.
inline shape reduced_shape(const shape& s, const std::vector<int>& axes, bool keepdim) {
  shape out;
  for (int i = 0; i < s.rank(); ++i) {
    const bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!reduced) {
      out.push_back(s[i]);
    } else if (keepdim) {
      out.push_back(1);
    }
  }
  return out;
}
}  // namespace detail

/// Sum over `axes` (all when empty). x [d0, ..., dn] → the reduced shape, size-1 axes kept if `keepdim`.
/// Gradient: g broadcast back over the reduced axes.
template <class T>
tensor<T> sum(const tensor<T>& x, const axes_t& axes = {}, bool keepdim = false) {
  const auto ax = detail::normalize_axes(axes, x.rank(), "sum");
  const shape kept = detail::reduced_shape(x.shape(), ax, true);
  tensor<T> s = sum_to(x, kept);
  return keepdim ? s : reshape(s, detail::reduced_shape(x.shape(), ax, false));
}

/// Arithmetic mean over `axes` (all when empty). Mean over zero elements is NaN, as in PyTorch.
template <class T>
tensor<T> mean(const tensor<T>& x, const axes_t& axes = {}, bool keepdim = false) {
  const auto ax = detail::normalize_axes(axes, x.rank(), "mean");
  index_t count = 1;
  for (int a : ax) count *= x.size(a);
  return mul_scalar(sum(x, axes, keepdim), count == 0 ? T(NAN) : T(1) / static_cast<T>(count));
}

}  // namespace kexue
