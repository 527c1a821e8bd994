// SPDX-License-Identifier: MIT
// Extremes: max / min over axes (values), argmax / argmin, and max / min with indices along one axis.
#pragma once

#include <limits>  // infinities for the running extremes
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/broadcast.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/index.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/slice.hpp>  // detail::extent_around

namespace kexue {

/// Values and their positions along the reduced axis (max_with_indices, min_with_indices, topk).
template <class T>
struct values_indices {
  tensor<T> values;
  tensor<index_t> indices;
};

/// @brief Largest element over `axes` (all when empty), as PyTorch's `amax`.
/// @param x any shape; every reduced axis must be non-empty.
/// @return the reduced shape (size-1 axes kept if `keepdim`). A slice holding a NaN gives NaN.
/// Gradient: g split evenly among the elements equal to the maximum of their slice (ties share it, as
/// torch.amax in PyTorch 1.13: [1, 3, 3] → [0, g/2, g/2]); a NaN slice gets a NaN gradient, as PyTorch.
/// The split is a constant mask, so the gradient is again differentiable in g (second order: zero in x).
/// Errors: index_error for a bad or repeated axis; shape_error "max: cannot reduce over axis 0 of size 0
/// (shape [0, 3])".
template <class T>
tensor<T> max(const tensor<T>& x, const axes_t& axes = {}, bool keepdim = false);

/// Smallest element over `axes`; the mirror of max (same tie rule, NaN rule and errors, named "min").
template <class T>
tensor<T> min(const tensor<T>& x, const axes_t& axes = {}, bool keepdim = false);

/// @brief Position of the largest element along `axis` (first occurrence on ties, as PyTorch; the first
/// NaN if the slice holds one). x [.., n, ..] → int64 [.., ..] (or [.., 1, ..] with `keepdim`).
/// No gradient. Errors: index_error for a bad axis, shape_error for an empty axis.
template <class T>
tensor<index_t> argmax(const tensor<T>& x, int axis, bool keepdim = false);
/// Position of the largest element of the flattened x (a rank-0 int64 tensor).
template <class T>
tensor<index_t> argmax(const tensor<T>& x);

/// Position of the smallest element along `axis` (first occurrence on ties; the first NaN if any).
template <class T>
tensor<index_t> argmin(const tensor<T>& x, int axis, bool keepdim = false);
/// Position of the smallest element of the flattened x (a rank-0 int64 tensor).
template <class T>
tensor<index_t> argmin(const tensor<T>& x);

/// @brief Largest elements along one axis and their positions (PyTorch's `torch.max(x, dim)`).
/// values = x at indices; indices as argmax. Gradient: g goes to the chosen position only (not split
/// among ties), as PyTorch: scatter_add into zeros, whose own gradient is a gather (second order works).
template <class T>
values_indices<T> max_with_indices(const tensor<T>& x, int axis, bool keepdim = false);

/// Smallest elements along one axis and their positions (PyTorch's `torch.min(x, dim)`).
template <class T>
values_indices<T> min_with_indices(const tensor<T>& x, int axis, bool keepdim = false);

// ~~~ Implementation ~~~

namespace detail {

/// Throws shape_error naming `op` if one of the (normalised) `axes` of `s` has size 0.
inline void check_nonempty_axes(const shape& s, const std::vector<int>& axes, const char* op) {
  for (int a : axes) {
    KEXUE_CHECK(s[a] > 0, shape_error, op, "cannot reduce over axis ", a, " of size 0 (shape ", format_shape(s), ")");
  }
}

/// Running extreme: the candidate v replaces cur if it is larger (smaller) or NaN, so NaN sticks.
template <bool IsMax, class T>
inline bool improves(T v, T cur) {
  return (IsMax ? v > cur : v < cur) || v != v;
}

/// Gradient of a selection: g (shape of the reduced output) broadcast over x's shape, times the constant
/// `weights` (x's shape). d/dg is the same product; d/dx is zero (weights are piecewise constant).
template <class T>
tensor<T> spread_gradient(const tensor<T>& g, const shape& kept, const tensor<T>& weights) {
  return mul(expand(reshape(g, kept), weights.shape()), weights);
}

/// amax / amin over `axes`, recorded under `op`.
template <bool IsMax, class T>
tensor<T> extreme(const tensor<T>& x, const axes_t& axes, bool keepdim, const char* op) {
  const auto ax = normalize_axes(axes, x.rank(), op);
  check_nonempty_axes(x.shape(), ax, op);
  const shape kept = reduced_shape(x.shape(), ax, true);
  const T start = IsMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  auto out = full<T>(keepdim ? kept : reduced_shape(x.shape(), ax, false), start);
  const shape strides[1] = {broadcast_strides(kept, x.shape())};
  const T* px = x.data();
  T* py = out.data();
  for_each_run<1>(x.shape(), strides, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    const T* src = px + o;
    T* dst = py + off[0];
    if (inner[0] == 0) {
      T cur = *dst;
      for (index_t i = 0; i < len; ++i) cur = improves<IsMax>(src[i], cur) ? src[i] : cur;
      *dst = cur;
    } else {
      for (index_t i = 0; i < len; ++i) {
        T& cur = dst[i * inner[0]];
        cur = improves<IsMax>(src[i], cur) ? src[i] : cur;
      }
    }
  });
  return autograd::record<T>(op, out, {x}, [x, kept](auto self) {
    return [x, kept, self](const tensor<T>& g) {
      // weights = [x == y] / (number of ties in the slice); 0/0 = NaN for a NaN slice, as PyTorch.
      const tensor<T> y = autograd::saved_output<T>(self);
      auto weights = tensor<T>::empty(x.shape());
      auto count = zeros<T>(kept);
      const shape s[1] = {broadcast_strides(kept, x.shape())};
      const T* px = x.data();
      const T* py = y.data();
      T* pw = weights.data();
      T* pc = count.data();
      for_each_run<1>(x.shape(), s, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
        for (index_t i = 0; i < len; ++i) {
          const index_t r = off[0] + i * inner[0];
          pw[o + i] = px[o + i] == py[r] ? T(1) : T(0);
          pc[r] += pw[o + i];
        }
      });
      for_each_run<1>(x.shape(), s, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
        for (index_t i = 0; i < len; ++i) pw[o + i] /= pc[off[0] + i * inner[0]];
      });
      return std::vector<tensor<T>>{spread_gradient(g, kept, weights)};
    };
  });
}

/// Extreme along one axis with its first position; fills `values` when it is non-null.
template <bool IsMax, class T>
tensor<index_t> arg_extreme(const tensor<T>& x, int axis, bool keepdim, const char* op, tensor<T>* values) {
  const int a = shape::normalize_axis(axis, x.rank(), op);
  check_nonempty_axes(x.shape(), {a}, op);
  const shape out_shape = reduced_shape(x.shape(), {a}, keepdim);
  auto indices = tensor<index_t>::empty(out_shape);
  auto best = tensor<T>::empty(out_shape);
  const auto [outer, n, inner] = extent_around(x.shape(), a);
  const T* px = x.data();
  T* pb = best.data();
  index_t* pi = indices.data();
  for (index_t o = 0; o < outer; ++o) {
    const T* slab = px + o * n * inner;
    T* b = pb + o * inner;
    index_t* idx = pi + o * inner;
    for (index_t j = 0; j < inner; ++j) {
      b[j] = slab[j];
      idx[j] = 0;
    }
    // Strict improvement keeps the first occurrence of ties; a NaN is taken once and never replaced.
    for (index_t k = 1; k < n; ++k) {
      const T* row = slab + k * inner;
      for (index_t j = 0; j < inner; ++j) {
        if (improves<IsMax>(row[j], b[j]) && b[j] == b[j]) {
          b[j] = row[j];
          idx[j] = k;
        }
      }
    }
  }
  if (values != nullptr) *values = best;
  return indices;
}

/// max/min with indices: values recorded with a one-hot gradient at the returned positions.
template <bool IsMax, class T>
values_indices<T> extreme_with_indices(const tensor<T>& x, int axis, bool keepdim, const char* op) {
  values_indices<T> r;
  r.indices = arg_extreme<IsMax>(x, axis, keepdim, op, &r.values);
  const int a = shape::normalize_axis(axis, x.rank(), op);
  const shape kept = reduced_shape(x.shape(), {a}, true);
  r.values = autograd::record<T>(op, r.values, {x}, [xs = x.shape(), a, kept, idx = r.indices](auto) {
    return [xs, a, kept, idx](const tensor<T>& g) {
      return std::vector<tensor<T>>{scatter_add(zeros<T>(xs), a, reshape(idx, kept), reshape(g, kept))};
    };
  });
  return r;
}

}  // namespace detail

template <class T>
tensor<T> max(const tensor<T>& x, const axes_t& axes, bool keepdim) {
  return detail::extreme<true>(x, axes, keepdim, "max");
}

template <class T>
tensor<T> min(const tensor<T>& x, const axes_t& axes, bool keepdim) {
  return detail::extreme<false>(x, axes, keepdim, "min");
}

template <class T>
tensor<index_t> argmax(const tensor<T>& x, int axis, bool keepdim) {
  return detail::arg_extreme<true>(x, axis, keepdim, "argmax", static_cast<tensor<T>*>(nullptr));
}

template <class T>
tensor<index_t> argmax(const tensor<T>& x) {
  return reshape(argmax(reshape(x.detach(), shape{x.numel()}), 0), shape{});
}

template <class T>
tensor<index_t> argmin(const tensor<T>& x, int axis, bool keepdim) {
  return detail::arg_extreme<false>(x, axis, keepdim, "argmin", static_cast<tensor<T>*>(nullptr));
}

template <class T>
tensor<index_t> argmin(const tensor<T>& x) {
  return reshape(argmin(reshape(x.detach(), shape{x.numel()}), 0), shape{});
}

template <class T>
values_indices<T> max_with_indices(const tensor<T>& x, int axis, bool keepdim) {
  return detail::extreme_with_indices<true>(x, axis, keepdim, "max_with_indices");
}

template <class T>
values_indices<T> min_with_indices(const tensor<T>& x, int axis, bool keepdim) {
  return detail::extreme_with_indices<false>(x, axis, keepdim, "min_with_indices");
}

}  // namespace kexue
