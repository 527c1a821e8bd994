// SPDX-License-Identifier: MIT
// Joining and splitting along an axis: concat, stack, split, chunk, unbind.
#pragma once

#include <algorithm>         // std::min
#include <cstring>           // std::memcpy
#include <initializer_list>  // concat({a, b}, 0)
#include <memory>            // std::make_shared
#include <string>
#include <utility>  // std::move
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/ops/arithmetic.hpp>  // add, which the autograd engine accumulates with
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/slice.hpp>

namespace kexue {

/// The tensors joined along `axis` into a new tensor: all have the same rank and the same sizes except
/// along axis, where the sizes add up ([2, 3] and [2, 1] along axis 1 → [2, 4]). Gradient: each input
/// gets its slice of g (narrow). Works for every element type.
/// Errors: value_error for an empty list; index_error for a bad axis; shape_error (naming every shape)
/// when ranks or sizes off the axis differ.
///
///     concat({a, b}, 0)
template <class T>
tensor<T> concat(const std::vector<tensor<T>>& tensors, int axis = 0);
template <class T>
tensor<T> concat(std::initializer_list<tensor<T>> tensors, int axis = 0);

/// The tensors, all of one shape [..], joined along a new axis at `axis` (in [−rank−1, rank]):
/// N tensors of [2, 3] stacked at axis 1 → [2, N, 3]. Gradient: each input gets its slice of g (select).
/// Errors: value_error for an empty list; index_error for a bad axis; shape_error naming every shape.
template <class T>
tensor<T> stack(const std::vector<tensor<T>>& tensors, int axis = 0);
template <class T>
tensor<T> stack(std::initializer_list<tensor<T>> tensors, int axis = 0);

/// x cut along `axis` into pieces of `split_size` elements, the last smaller if the size does not
/// divide (torch.split); an empty axis gives one empty piece. Each piece is narrow(x, ...).
/// Note: `split(x, {2}, axis)` picks this overload (split size 2); pass std::vector<index_t>{2} for
/// one section. Errors: value_error for split_size ≤ 0; index_error for a bad axis.
template <class T>
std::vector<tensor<T>> split(const tensor<T>& x, index_t split_size, int axis = 0);

/// x cut along `axis` into pieces of the given sizes, which must add up to x.size(axis).
/// Errors: value_error for a negative size; shape_error if the sizes do not add up; index_error for a bad axis.
///
///     split(x /* [2, 5] */, {2, 3}, 1)  // [2, 2] and [2, 3]
template <class T>
std::vector<tensor<T>> split(const tensor<T>& x, const std::vector<index_t>& sizes, int axis = 0);

/// torch.chunk: x cut along `axis` into pieces of ceil(n / chunks) elements, so there may be fewer than
/// `chunks` pieces (6 into 4 gives 2, 2, 2); an empty axis gives `chunks` empty pieces.
/// Errors: value_error for chunks ≤ 0; index_error for a bad axis.
template <class T>
std::vector<tensor<T>> chunk(const tensor<T>& x, index_t chunks, int axis = 0);

/// The x.size(axis) slices of x along `axis`, each without that axis (select(x, axis, i) for each i).
/// Errors: index_error for a bad axis.
template <class T>
std::vector<tensor<T>> unbind(const tensor<T>& x, int axis = 0);

// Each piece of split, chunk and unbind is its own narrow/select, whose backward places that piece's
// gradient into zeros of x's shape: backpropagating through k pieces costs k passes over x's size.

// ~~~ Implementation ~~~

namespace detail {

/// "[2, 3], [2, 4]": every shape of a list, for messages.
template <class T>
std::string format_shapes(const std::vector<tensor<T>>& tensors) {
  std::string out;
  for (std::size_t i = 0; i < tensors.size(); ++i) out += (i ? ", " : "") + format_shape(tensors[i].shape());
  return out;
}

}  // namespace detail

template <class T>
tensor<T> concat(const std::vector<tensor<T>>& tensors, int axis) {
  KEXUE_CHECK(!tensors.empty(), value_error, "concat", "expects at least one tensor");
  const shape& first = tensors[0].shape();
  const int a = shape::normalize_axis(axis, first.rank(), "concat");
  shape out_shape = first;
  out_shape[a] = 0;
  for (const auto& t : tensors) {
    bool fits = t.rank() == first.rank();
    for (int d = 0; fits && d < first.rank(); ++d) fits = d == a || t.size(d) == first[d];
    KEXUE_CHECK(fits, shape_error, "concat", "shapes must match except along axis ", a, " (got ",
                detail::format_shapes(tensors), ")");
    out_shape[a] += t.size(a);
  }
  auto out = tensor<T>::empty(out_shape);
  const detail::axis_extent e = detail::extent_around(out_shape, a);
  T* d = out.data();
  for (index_t o = 0; o < e.outer; ++o) {
    for (const auto& t : tensors) {
      const index_t run = t.size(a) * e.inner;  // t's part of one outer row
      if (run > 0) std::memcpy(d, t.data() + o * run, static_cast<std::size_t>(run) * sizeof(T));
      d += run;
    }
  }
  if constexpr (tensor<T>::is_differentiable) {
    // make_backward runs inside record, so `tensors` may be read by reference there.
    return autograd::record<T>("concat", out, tensors, [a, &tensors](auto) {
      std::vector<index_t> sizes;  // extent of each input along the axis
      std::vector<bool> needed;    // whether each input needs a gradient
      for (const auto& t : tensors) {
        sizes.push_back(t.size(a));
        needed.push_back(t.requires_grad());
      }
      return [a, sizes, needed](const tensor<T>& g) {
        std::vector<tensor<T>> grads(sizes.size());
        index_t start = 0;
        for (std::size_t i = 0; i < sizes.size(); ++i) {
          if (needed[i]) grads[i] = detail::take_strided(g, a, start, 1, sizes[i], "narrow");
          start += sizes[i];
        }
        return grads;
      };
    });
  }
  return out;
}

template <class T>
tensor<T> concat(std::initializer_list<tensor<T>> tensors, int axis) {
  return concat(std::vector<tensor<T>>(tensors), axis);
}

template <class T>
tensor<T> stack(const std::vector<tensor<T>>& tensors, int axis) {
  KEXUE_CHECK(!tensors.empty(), value_error, "stack", "expects at least one tensor");
  const shape& first = tensors[0].shape();
  const int a = shape::normalize_axis(axis, first.rank() + 1, "stack");
  std::vector<tensor<T>> expanded;
  expanded.reserve(tensors.size());
  for (const auto& t : tensors) {
    KEXUE_CHECK(t.shape() == first, shape_error, "stack", "shapes must be equal (got ", detail::format_shapes(tensors),
                ")");
    expanded.push_back(unsqueeze(t, a));
  }
  return concat(expanded, a);
}

template <class T>
tensor<T> stack(std::initializer_list<tensor<T>> tensors, int axis) {
  return stack(std::vector<tensor<T>>(tensors), axis);
}

template <class T>
std::vector<tensor<T>> split(const tensor<T>& x, index_t split_size, int axis) {
  const int a = shape::normalize_axis(axis, x.rank(), "split");
  KEXUE_CHECK(split_size > 0, value_error, "split", "split size must be positive (got ", split_size, ")");
  const index_t n = x.size(a);
  std::vector<tensor<T>> pieces;
  if (n == 0) pieces.push_back(detail::take_strided(x, a, 0, 1, 0, "narrow"));
  for (index_t start = 0; start < n; start += split_size) {
    pieces.push_back(detail::take_strided(x, a, start, 1, std::min(split_size, n - start), "narrow"));
  }
  return pieces;
}

template <class T>
std::vector<tensor<T>> split(const tensor<T>& x, const std::vector<index_t>& sizes, int axis) {
  const int a = shape::normalize_axis(axis, x.rank(), "split");
  index_t total = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    KEXUE_CHECK(sizes[i] >= 0, value_error, "split", "section ", i, " has negative size ", sizes[i]);
    total += sizes[i];
  }
  KEXUE_CHECK(total == x.size(a), shape_error, "split", "sizes ", detail::format_list(sizes), " sum to ", total,
              ", but axis ", a, " has size ", x.size(a), " (shape ", format_shape(x.shape()), ")");
  std::vector<tensor<T>> pieces;
  pieces.reserve(sizes.size());
  index_t start = 0;
  for (index_t size : sizes) {
    pieces.push_back(detail::take_strided(x, a, start, 1, size, "narrow"));
    start += size;
  }
  return pieces;
}

template <class T>
std::vector<tensor<T>> chunk(const tensor<T>& x, index_t chunks, int axis) {
  const int a = shape::normalize_axis(axis, x.rank(), "chunk");
  KEXUE_CHECK(chunks > 0, value_error, "chunk", "number of chunks must be positive (got ", chunks, ")");
  const index_t n = x.size(a);
  if (n == 0) return split(x, std::vector<index_t>(static_cast<std::size_t>(chunks), 0), a);
  return split(x, (n + chunks - 1) / chunks, a);
}

template <class T>
std::vector<tensor<T>> unbind(const tensor<T>& x, int axis) {
  const int a = shape::normalize_axis(axis, x.rank(), "unbind");
  std::vector<tensor<T>> slices;
  slices.reserve(static_cast<std::size_t>(x.size(a)));
  for (index_t i = 0; i < x.size(a); ++i) slices.push_back(select(x, a, i));
  return slices;
}

}  // namespace kexue
