// SPDX-License-Identifier: MIT
// permute and transpose: reorder the axes of a tensor into a new contiguous tensor.
#pragma once

#include <algorithm>  // std::min
#include <cstring>    // std::memcpy
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/broadcast.hpp>
#include <kexue/ops/arithmetic.hpp>  // add, which the autograd engine accumulates with

namespace kexue {

/// x with its axes reordered, as a new contiguous tensor: out.size(i) == x.size(dims[i]) and
/// out[i_0, ..., i_{r-1}] = x[j] where j[dims[k]] = i_k. `dims` is a permutation of the axes (negative
/// axes count from the end). The identity permutation returns x itself.
/// Gradient: permute(g, inverse of dims). Works for every element type (no gradient for int64/bool).
/// Errors: shape_error if dims.size() != rank; index_error for an axis out of range or repeated.
///
///     permute(x /* [N, C, H, W] */, {0, 2, 3, 1})  // [N, H, W, C]
template <class T>
tensor<T> permute(const tensor<T>& x, const std::vector<int>& dims);

/// x with axes `axis0` and `axis1` swapped (a new contiguous tensor; x itself when the axes are equal).
/// Gradient: the same swap of g. Errors: index_error for an axis out of range.
template <class T>
tensor<T> transpose(const tensor<T>& x, int axis0, int axis1);

/// The matrix transpose (torch.t): swaps the two axes of a 2-D tensor; a tensor of rank 0 or 1 is
/// returned as it is. Errors: shape_error for rank > 2 (name the axes to swap instead).
template <class T>
tensor<T> transpose(const tensor<T>& x);

// ~~~ Implementation ~~~

namespace detail {

/// dst[c, r] = src[r, c] for a row-major src [rows, cols], in square blocks that stay in cache.
template <class T>
void transpose_blocked(const T* src, T* dst, index_t rows, index_t cols) {
  constexpr index_t block = 32;
  for (index_t r0 = 0; r0 < rows; r0 += block) {
    const index_t r1 = std::min(rows, r0 + block);
    for (index_t c0 = 0; c0 < cols; c0 += block) {
      const index_t c1 = std::min(cols, c0 + block);
      for (index_t c = c0; c < c1; ++c) {
        T* d = dst + c * rows;
        for (index_t r = r0; r < r1; ++r) d[r] = src[r * cols + c];
      }
    }
  }
}

/// Writes the contiguous `out` (shape `out_shape`) from `src` read with `src_strides` in out's index
/// space. Axes are coalesced first; a batch of matrix transposes (src [B, R, C] → out [B, C, R], which
/// covers the last-two-axes transpose and NCHW ↔ NHWC) takes the blocked path, everything else copies
/// runs along the innermost axis.
template <class T>
void permute_copy(const T* src, T* out, const shape& out_shape, const shape& src_strides) {
  if (out_shape.numel() == 0) return;
  index_t dims[shape::max_rank];
  index_t strides[shape::max_rank];
  int n = 0;
  for (int i = 0; i < out_shape.rank(); ++i) {
    if (out_shape[i] == 1) continue;
    if (n > 0 && strides[n - 1] == src_strides[i] * out_shape[i]) {
      dims[n - 1] *= out_shape[i];
      strides[n - 1] = src_strides[i];
      continue;
    }
    dims[n] = out_shape[i];
    strides[n] = src_strides[i];
    ++n;
  }
  if (n <= 1) {  // the permutation moves only size-1 axes: the data are in order
    std::memcpy(out, src, static_cast<std::size_t>(out_shape.numel()) * sizeof(T));
    return;
  }
  if (n == 2 && strides[0] == 1 && strides[1] == dims[0]) {
    transpose_blocked(src, out, dims[1], dims[0]);
    return;
  }
  if (n == 3 && strides[0] == dims[1] * dims[2] && strides[1] == 1 && strides[2] == dims[1]) {
    const index_t matrix = dims[1] * dims[2];
    for (index_t b = 0; b < dims[0]; ++b) transpose_blocked(src + b * matrix, out + b * matrix, dims[2], dims[1]);
    return;
  }
  const shape operand[1] = {src_strides};
  for_each_run<1>(out_shape, operand, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    const T* p = src + off[0];
    T* d = out + o;
    if (inner[0] == 1) {
      std::memcpy(d, p, static_cast<std::size_t>(len) * sizeof(T));
    } else {
      for (index_t i = 0; i < len; ++i) d[i] = p[i * inner[0]];
    }
  });
}

}  // namespace detail

namespace detail {

/// Axes of a permutation, inline (no allocation): `axes[i]` is the input axis that becomes output axis i.
struct axis_order {
  int axes[shape::max_rank] = {};
  int rank = 0;
};

/// permute after validation (`order` is a permutation of x's axes, not the identity).
template <class T>
tensor<T> permute_checked(const tensor<T>& x, const axis_order& order) {
  const shape& s = x.shape();
  const shape dense = s.strides();
  shape out_shape, src_strides;
  for (int i = 0; i < order.rank; ++i) {
    out_shape.push_back(s[order.axes[i]]);
    src_strides.push_back(dense[order.axes[i]]);
  }
  auto out = tensor<T>::empty(out_shape);
  permute_copy(x.data(), out.data(), out_shape, src_strides);
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("permute", out, {x}, [&order](auto) {
      axis_order inverse;
      inverse.rank = order.rank;
      for (int i = 0; i < order.rank; ++i) inverse.axes[order.axes[i]] = i;
      return [inverse](const tensor<T>& g) { return std::vector<tensor<T>>{permute_checked(g, inverse)}; };
    });
  }
  return out;
}

}  // namespace detail

template <class T>
tensor<T> permute(const tensor<T>& x, const std::vector<int>& dims) {
  const int r = x.rank();
  KEXUE_CHECK(static_cast<int>(dims.size()) == r, shape_error, "permute", dims.size(),
              " axes given for a tensor of rank ", r, " (shape ", format_shape(x.shape()), ")");
  detail::axis_order order;
  order.rank = r;
  bool seen[shape::max_rank] = {};
  bool identity = true;
  for (int i = 0; i < r; ++i) {
    const int a = shape::normalize_axis(dims[i], r, "permute");
    KEXUE_CHECK(!seen[a], index_error, "permute", "axis ", dims[i], " appears twice in the permutation");
    seen[a] = true;
    order.axes[i] = a;
    identity = identity && a == i;
  }
  return identity ? x : detail::permute_checked(x, order);
}

template <class T>
tensor<T> transpose(const tensor<T>& x, int axis0, int axis1) {
  const int r = x.rank();
  const int a = shape::normalize_axis(axis0, r, "transpose");
  const int b = shape::normalize_axis(axis1, r, "transpose");
  if (a == b) return x;
  detail::axis_order order;
  order.rank = r;
  for (int i = 0; i < r; ++i) order.axes[i] = i;
  order.axes[a] = b;
  order.axes[b] = a;
  return detail::permute_checked(x, order);
}

template <class T>
tensor<T> transpose(const tensor<T>& x) {
  KEXUE_CHECK(x.rank() <= 2, shape_error, "transpose", "without axes, expects a tensor of rank at most 2 (got shape ",
              format_shape(x.shape()), "); pass the two axes to swap");
  return x.rank() < 2 ? x : transpose(x, 0, 1);
}

}  // namespace kexue
