// SPDX-License-Identifier: MIT
// Tiling: repeat (torch.Tensor.repeat), tile (numpy/torch tile) and repeat_interleave, composed of
// reshape and expand, so their gradients (a sum over the copies) and second order come from those ops.
#pragma once

#include <vector>

#include <kexue/core/tensor.hpp>
#include <kexue/ops/arithmetic.hpp>  // add, which the autograd engine accumulates with
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue {

/// x tiled `repeats[i]` times along axis i (torch.Tensor.repeat). repeats may be longer than x's rank:
/// x is then read as having leading axes of size 1. x [2, 3] with repeats {2, 1, 2} → [2, 2, 6], where
/// out[i, j, k] = x[j mod 2, k mod 3]. A count of 0 gives an empty axis; all counts 1 return a view of x.
/// Gradient: the sum of g over the copies. Works for every element type.
/// Errors: shape_error if repeats has fewer entries than x's rank or more than shape::max_rank;
/// value_error for a negative count.
template <class T>
tensor<T> repeat(const tensor<T>& x, const std::vector<index_t>& repeats);

/// numpy.tile / torch.tile: as repeat, except that a list shorter than x's rank is padded with leading
/// ones (tile(x [2, 3], {2}) repeats the last axis: [2, 6]).
template <class T>
tensor<T> tile(const tensor<T>& x, const std::vector<index_t>& repeats);

/// Each element of x along `axis` repeated `repeats` times in place: x [.., n, ..] → [.., n·repeats, ..],
/// out[.., i, ..] = x[.., i / repeats, ..] ({1, 2} → {1, 1, 2, 2}; torch.repeat_interleave with an
/// integer count and a dim). Gradient: the sum of g over each group of copies.
/// Errors: index_error for a bad axis; value_error for a negative count.
template <class T>
tensor<T> repeat_interleave(const tensor<T>& x, index_t repeats, int axis);

// ~~~ Implementation ~~~

namespace detail {

template <class T>
tensor<T> repeat_checked(const tensor<T>& x, const std::vector<index_t>& repeats, const char* op) {
  const shape& s = x.shape();
  const int r = static_cast<int>(repeats.size());
  KEXUE_CHECK(r >= s.rank(), shape_error, op, r, " repeat counts given for a tensor of rank ", s.rank(), " (shape ",
              format_shape(s), "); need at least ", s.rank());
  KEXUE_CHECK(r <= shape::max_rank, shape_error, op, r, " repeat counts exceed the maximum rank ", shape::max_rank);
  for (int i = 0; i < r; ++i) {
    KEXUE_CHECK(repeats[i] >= 0, value_error, op, "repeat count ", repeats[i], " for axis ", i, " is negative");
  }
  // Read x as [1, s_i] pairs for the repeated axes and broadcast the 1 to the count: x [a, b] repeated
  // {p, 1} becomes [1, a·b] → [p, a·b] → [p·a, b]. Runs of axes not repeated merge into one dimension.
  shape source, target, result;
  bool last_is_data = false;
  for (int i = 0; i < r; ++i) {
    const index_t size = i < r - s.rank() ? 1 : s[i - (r - s.rank())];
    result.push_back(size * repeats[i]);
    if (repeats[i] == 1 && last_is_data) {
      source[source.rank() - 1] *= size;
      target[target.rank() - 1] *= size;
      continue;
    }
    if (repeats[i] != 1) {
      if (source.rank() + 2 > shape::max_rank) {
        // Too many axes for one broadcast: repeat the axes one at a time.
        tensor<T> y = x;
        for (int j = 0; j < r; ++j) {
          std::vector<index_t> one(static_cast<std::size_t>(r), 1);
          one[j] = repeats[j];
          if (repeats[j] != 1) y = repeat_checked(y, one, op);
        }
        return y;
      }
      source.push_back(1);
      target.push_back(repeats[i]);
    }
    source.push_back(size);
    target.push_back(size);
    last_is_data = true;
  }
  return reshape(expand(reshape(x, source), target), result);
}

}  // namespace detail

template <class T>
tensor<T> repeat(const tensor<T>& x, const std::vector<index_t>& repeats) {
  return detail::repeat_checked(x, repeats, "repeat");
}

template <class T>
tensor<T> tile(const tensor<T>& x, const std::vector<index_t>& repeats) {
  std::vector<index_t> full = repeats;
  if (static_cast<int>(full.size()) < x.rank()) full.insert(full.begin(), x.rank() - full.size(), 1);
  return detail::repeat_checked(x, full, "tile");
}

template <class T>
tensor<T> repeat_interleave(const tensor<T>& x, index_t repeats, int axis) {
  const int a = shape::normalize_axis(axis, x.rank(), "repeat_interleave");
  KEXUE_CHECK(repeats >= 0, value_error, "repeat_interleave", "repeat count ", repeats, " is negative");
  // x [outer, n, inner] → [outer, n, 1, inner] → broadcast to [outer, n, repeats, inner].
  index_t outer = 1, inner = 1;
  for (int i = 0; i < a; ++i) outer *= x.size(i);
  for (int i = a + 1; i < x.rank(); ++i) inner *= x.size(i);
  const index_t n = x.size(a);
  shape result = x.shape();
  result[a] = n * repeats;
  return reshape(expand(reshape(x, shape{outer, n, 1, inner}), shape{outer, n, repeats, inner}), result);
}

}  // namespace kexue
