// SPDX-License-Identifier: MIT
// Indexing with index tensors: index_select / index_add and gather / scatter_add (each the other's adjoint).
#pragma once

#include <algorithm>    // std::fill_n
#include <cstring>      // std::memcpy
#include <type_traits>  // std::is_same_v
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/broadcast.hpp>
#include <kexue/ops/arithmetic.hpp>  // add, which the autograd engine accumulates with
#include <kexue/ops/slice.hpp>

namespace kexue {

// Index values must lie in [0, n) for an axis of size n: negative indices are rejected, not wrapped
// (as in torch.index_select and torch.gather), so an off-by-one never reads the last row silently.
// Index tensors are read when the backward pass runs: do not change them in place in between.

/// Rows of x at `index` along `axis`: out[.., k, ..] = x[.., index[k], ..]. x [.., n, ..], index [m]
/// (1-D, repeats allowed) → [.., m, ..]. Gradient: index_add(zeros like x, axis, index, g) (repeated
/// indices accumulate). Works for every element type.
/// Errors: index_error for a bad axis or an index outside [0, n); shape_error if index is not 1-D.
///
///     index_select(embeddings /* [V, D] */, 0, tokens /* [T] */)  // [T, D]
template <class T>
tensor<T> index_select(const tensor<T>& x, int axis, const tensor<index_t>& index);

/// x with the rows of `src` added at `index` along `axis` (out of place): out = x, then
/// out[.., index[k], ..] += src[.., k, ..] for every k (repeated indices accumulate). x [.., n, ..],
/// index [m], src [.., m, ..] (x's shape with m along axis) → x's shape.
/// Gradients: g for x, index_select(g, axis, index) for src.
/// Errors: as index_select; shape_error if src's shape is not x's with m along axis.
template <class T>
tensor<T> index_add(const tensor<T>& x, int axis, const tensor<index_t>& index, const tensor<T>& src);

/// torch.gather: out has index's shape and out[i] = x[i with its `axis` coordinate replaced by index[i]],
/// e.g. out[i][j][k] = x[i][index[i][j][k]][k] for axis 1. index has x's rank and index.size(d) ≤
/// x.size(d) for d ≠ axis. Gradient: scatter_add(zeros like x, axis, index, g). Works for every type.
/// Errors: index_error for a bad axis or an index outside [0, x.size(axis)); shape_error for a rank
/// mismatch or an index larger than x on another axis.
///
///     gather(log_probs /* [B, C] */, 1, labels /* [B, 1] */)  // [B, 1]: the log-probability of each label
template <class T>
tensor<T> gather(const tensor<T>& x, int axis, const tensor<index_t>& index);

/// x with src scattered and added at index along `axis` (out of place): out = x, then
/// out[i with its axis coordinate replaced by index[i]] += src[i] for every i in index's shape. src must
/// have index's shape (PyTorch also accepts a larger src and ignores the rest; here that is an error);
/// index has x's rank and index.size(d) ≤ x.size(d) for d ≠ axis.
/// Gradients: g for x, gather(g, axis, index) for src. Errors: as gather, plus a src/index mismatch.
template <class T>
tensor<T> scatter_add(const tensor<T>& x, int axis, const tensor<index_t>& index, const tensor<T>& src);

// ~~~ Implementation ~~~

namespace detail {

/// Throws index_error naming `op` for the first index outside [0, n).
inline void check_indices(const tensor<index_t>& index, index_t n, int axis, const char* op) {
  const index_t* p = index.data();
  for (index_t k = 0, m = index.numel(); k < m; ++k) {
    if (p[k] < 0 || p[k] >= n) {
      KEXUE_THROW(index_error, op, "index ", p[k], " out of range for axis ", axis, " of size ", n);
    }
  }
}

/// Checks the index of gather / scatter_add against x's shape (rank, sizes off the axis, values).
inline void check_gather_index(const shape& x_shape, int axis, const tensor<index_t>& index, const char* op) {
  const shape& is = index.shape();
  KEXUE_CHECK(is.rank() == x_shape.rank(), shape_error, op, "index rank ", is.rank(), " differs from input rank ",
              x_shape.rank(), " (input ", format_shape(x_shape), ", index ", format_shape(is), ")");
  for (int d = 0; d < is.rank(); ++d) {
    KEXUE_CHECK(d == axis || is[d] <= x_shape[d], shape_error, op, "index shape ", format_shape(is),
                " exceeds input shape ", format_shape(x_shape), " on axis ", d, " (indexing along axis ", axis, ")");
  }
  check_indices(index, x_shape[axis], axis, op);
}

/// Calls visit(k, offset) for every element k of index (flat) with the flat offset in a contiguous
/// tensor of shape x_shape of the element it addresses along `axis`.
template <class Visit>
void for_each_gather_offset(const shape& x_shape, int axis, const tensor<index_t>& index, Visit&& visit) {
  shape strides = x_shape.strides();
  const index_t axis_stride = strides[axis];
  strides[axis] = 0;  // the axis coordinate comes from the index value
  const shape operand[1] = {strides};
  const index_t* idx = index.data();
  for_each_run<1>(index.shape(), operand, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    for (index_t i = 0; i < len; ++i) visit(o + i, off[0] + i * inner[0] + idx[o + i] * axis_stride);
  });
}

/// A tensor of shape s that starts as a copy of `base`, or as zeros when base is undefined (the backward
/// passes of index_select and gather add into zeros without allocating them twice).
template <class T>
tensor<T> copy_or_zeros(const tensor<T>& base, const shape& s) {
  if (base.defined()) return base.copy();
  auto out = tensor<T>::empty(s);
  std::fill_n(out.data(), out.numel(), T(0));
  return out;
}

/// index_add after validation; `x` may be undefined (zeros of `out_shape`).
template <class T>
tensor<T> index_add_unchecked(const tensor<T>& x, const shape& out_shape, int axis, const tensor<index_t>& index,
                              const tensor<T>& src) {
  auto out = copy_or_zeros(x, out_shape);
  const axis_extent e = extent_around(out_shape, axis);
  const index_t m = index.numel(), inner = e.inner;
  const index_t* idx = index.data();
  const T* s = src.data();
  T* d = out.data();
  for (index_t o = 0; o < e.outer; ++o) {
    for (index_t k = 0; k < m; ++k) {
      T* dst = d + (o * e.size + idx[k]) * inner;
      const T* row = s + (o * m + k) * inner;
      for (index_t j = 0; j < inner; ++j) dst[j] += row[j];
    }
  }
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("index_add", out, {x, src}, [axis, index, need_src = src.requires_grad()](auto) {
      return [axis, index, need_src](const tensor<T>& g) {
        return std::vector<tensor<T>>{g, need_src ? index_select(g, axis, index) : tensor<T>()};
      };
    });
  }
  return out;
}

/// scatter_add after validation; `x` may be undefined (zeros of `out_shape`).
template <class T>
tensor<T> scatter_add_unchecked(const tensor<T>& x, const shape& out_shape, int axis, const tensor<index_t>& index,
                                const tensor<T>& src) {
  auto out = copy_or_zeros(x, out_shape);
  const T* s = src.data();
  T* d = out.data();
  for_each_gather_offset(out_shape, axis, index, [&](index_t k, index_t offset) { d[offset] += s[k]; });
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("scatter_add", out, {x, src}, [axis, index, need_src = src.requires_grad()](auto) {
      return [axis, index, need_src](const tensor<T>& g) {
        return std::vector<tensor<T>>{g, need_src ? gather(g, axis, index) : tensor<T>()};
      };
    });
  }
  return out;
}

}  // namespace detail

template <class T>
tensor<T> index_select(const tensor<T>& x, int axis, const tensor<index_t>& index) {
  const int a = shape::normalize_axis(axis, x.rank(), "index_select");
  KEXUE_CHECK(index.rank() == 1, shape_error, "index_select", "index must be 1-D (got shape ",
              format_shape(index.shape()), ")");
  detail::check_indices(index, x.size(a), a, "index_select");
  shape out_shape = x.shape();
  const index_t m = index.numel();
  out_shape[a] = m;
  auto out = tensor<T>::empty(out_shape);
  const detail::axis_extent e = detail::extent_around(x.shape(), a);
  const index_t inner = e.inner;
  const index_t* idx = index.data();
  const T* s = x.data();
  T* d = out.data();
  for (index_t o = 0; o < e.outer && inner > 0; ++o) {
    for (index_t k = 0; k < m; ++k) {
      std::memcpy(d + (o * m + k) * inner, s + (o * e.size + idx[k]) * inner,
                  static_cast<std::size_t>(inner) * sizeof(T));
    }
  }
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("index_select", out, {x}, [a, index, s = x.shape()](auto) {
      return [a, index, s](const tensor<T>& g) {
        return std::vector<tensor<T>>{detail::index_add_unchecked(tensor<T>(), s, a, index, g)};
      };
    });
  }
  return out;
}

template <class T>
tensor<T> index_add(const tensor<T>& x, int axis, const tensor<index_t>& index, const tensor<T>& src) {
  static_assert(!std::is_same_v<T, bool>, "index_add: bool tensors cannot be added");
  const int a = shape::normalize_axis(axis, x.rank(), "index_add");
  KEXUE_CHECK(index.rank() == 1, shape_error, "index_add", "index must be 1-D (got shape ", format_shape(index.shape()),
              ")");
  shape expected = x.shape();
  expected[a] = index.numel();
  KEXUE_CHECK(src.shape() == expected, shape_error, "index_add", "source shape ", format_shape(src.shape()),
              " should be ", format_shape(expected), " (input shape ", format_shape(x.shape()), " with axis ", a,
              " of the index length ", index.numel(), ")");
  detail::check_indices(index, x.size(a), a, "index_add");
  return detail::index_add_unchecked(x, x.shape(), a, index, src);
}

template <class T>
tensor<T> gather(const tensor<T>& x, int axis, const tensor<index_t>& index) {
  const int a = shape::normalize_axis(axis, x.rank(), "gather");
  detail::check_gather_index(x.shape(), a, index, "gather");
  auto out = tensor<T>::empty(index.shape());
  const T* s = x.data();
  T* d = out.data();
  detail::for_each_gather_offset(x.shape(), a, index, [&](index_t k, index_t offset) { d[k] = s[offset]; });
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("gather", out, {x}, [a, index, s = x.shape()](auto) {
      return [a, index, s](const tensor<T>& g) {
        return std::vector<tensor<T>>{detail::scatter_add_unchecked(tensor<T>(), s, a, index, g)};
      };
    });
  }
  return out;
}

template <class T>
tensor<T> scatter_add(const tensor<T>& x, int axis, const tensor<index_t>& index, const tensor<T>& src) {
  static_assert(!std::is_same_v<T, bool>, "scatter_add: bool tensors cannot be added");
  const int a = shape::normalize_axis(axis, x.rank(), "scatter_add");
  KEXUE_CHECK(src.shape() == index.shape(), shape_error, "scatter_add", "source shape ", format_shape(src.shape()),
              " differs from index shape ", format_shape(index.shape()));
  detail::check_gather_index(x.shape(), a, index, "scatter_add");
  return detail::scatter_add_unchecked(x, x.shape(), a, index, src);
}

}  // namespace kexue
