// SPDX-License-Identifier: MIT
// Slicing along axes: narrow, slice (with step), select, pad (and slice_backward, their adjoint), flip.
#pragma once

#include <algorithm>  // std::fill_n
#include <cstring>    // std::memcpy
#include <sstream>    // format_list
#include <string>
#include <utility>  // std::pair
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/broadcast.hpp>
#include <kexue/ops/arithmetic.hpp>  // add, which the autograd engine accumulates with
#include <kexue/ops/reshape.hpp>

namespace kexue {

/// Elements [start, start + length) of x along `axis`, as a new contiguous tensor (PyTorch's narrow).
/// A negative start counts from the end of the axis. x [.., n, ..] → [.., length, ..].
/// Gradient: slice_backward(g, axis, n, start) (g placed into zeros). Works for every element type.
/// Errors: index_error for a bad axis, a start outside [−n, n] or start + length > n; value_error for a
/// negative length.
template <class T>
tensor<T> narrow(const tensor<T>& x, int axis, index_t start, index_t length);

/// x[.., start:end:step, ..] along `axis` with Python's semantics: negative start/end count from the
/// end of the axis, both are then clamped to [0, n], and start ≥ end gives an empty axis (so an `end`
/// of n or anything larger means "to the end"). step must be positive. Gradient: slice_backward.
/// Errors: index_error for a bad axis; value_error for step ≤ 0.
///
///     slice(x /* [2, 10] */, 1, -3, 100, 2)  // columns 7 and 9: [2, 2]
template <class T>
tensor<T> slice(const tensor<T>& x, int axis, index_t start, index_t end, index_t step = 1);

/// The adjoint of narrow and slice: a tensor like g but with `size` elements along `axis`, zero except
/// out[.., start + k·step, ..] = g[.., k, ..] for k < g.size(axis). Gradient: the matching slice of
/// the incoming gradient. Errors: index_error for a bad axis or positions outside [0, size);
/// value_error for step ≤ 0 or a negative size.
template <class T>
tensor<T> slice_backward(const tensor<T>& g, int axis, index_t size, index_t start, index_t step = 1);

/// x[.., index, ..]: the slice at `index` along `axis`, with that axis removed (x [.., n, ..] → [.., ..]).
/// A negative index counts from the end. Gradient: the gradient placed into zeros at `index`.
/// Errors: index_error for a bad axis or an index outside [−n, n).
template <class T>
tensor<T> select(const tensor<T>& x, int axis, index_t index);

/// Constant padding, one (before, after) pair per axis, first axis first (numpy.pad's pad_width, not
/// torch.nn.functional.pad's reversed flat list): out.size(i) = before_i + x.size(i) + after_i, x is
/// copied to offset (before_0, before_1, ...) and every other element is `value`.
/// Gradient: the interior of g (narrow along every padded axis); `value` is a constant.
/// Errors: shape_error if pads.size() != rank; value_error for a negative pad (use narrow to crop).
///
///     pad(x /* [2, 3] */, {{0, 0}, {1, 2}})  // [2, 6]: one column of zeros before, two after
template <class T>
tensor<T> pad(const tensor<T>& x, const std::vector<std::pair<index_t, index_t>>& pads,
              typename tensor<T>::value_type value = 0);

/// Constant padding of one axis: `before` elements of `value` before x along `axis`, `after` after it.
///
///     pad(x /* [B, C, T] */, -1, k - 1, 0)  // causal left padding for a convolution of width k
template <class T>
tensor<T> pad(const tensor<T>& x, int axis, index_t before, index_t after, typename tensor<T>::value_type value = 0);

/// x reversed along each of `axes` (an empty list copies x). Gradient: flip(g, axes).
/// Errors: index_error for an axis out of range or repeated.
template <class T>
tensor<T> flip(const tensor<T>& x, const std::vector<int>& axes);

// ~~~ Implementation ~~~

namespace detail {

/// A tensor seen as [outer, size, inner] around one axis (outer: product of the axes before it, inner:
/// of the axes after it).
struct axis_extent {
  index_t outer = 1;
  index_t size = 1;
  index_t inner = 1;
};
inline axis_extent extent_around(const shape& s, int axis) {
  axis_extent e;
  for (int i = 0; i < axis; ++i) e.outer *= s[i];
  e.size = s[axis];
  for (int i = axis + 1; i < s.rank(); ++i) e.inner *= s[i];
  return e;
}

/// "[2, -1, 3]": a list of numbers in the format of format_shape, for messages.
template <class Number>
std::string format_list(const std::vector<Number>& values) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  out << ']';
  return out.str();
}

/// Copies rows [outer, length, inner] between a dense tensor and positions start + k·step of the axis of
/// another (`size` along it): `to_strided` false reads the strided side (slice), true writes it (its adjoint).
template <class T>
void copy_strided_rows(const T* src, T* dst, const axis_extent& e, index_t start, index_t step, index_t length,
                       bool to_strided) {
  const index_t inner = e.inner;
  for (index_t o = 0; o < e.outer; ++o) {
    const index_t dense_base = o * length * inner;
    const index_t strided_base = (o * e.size + start) * inner;
    if (step == 1) {
      const T* s = src + (to_strided ? dense_base : strided_base);
      T* d = dst + (to_strided ? strided_base : dense_base);
      std::memcpy(d, s, static_cast<std::size_t>(length * inner) * sizeof(T));
      continue;
    }
    for (index_t k = 0; k < length; ++k) {
      const T* s = src + (to_strided ? dense_base + k * inner : strided_base + k * step * inner);
      T* d = dst + (to_strided ? strided_base + k * step * inner : dense_base + k * inner);
      for (index_t j = 0; j < inner; ++j) d[j] = s[j];
    }
  }
}

/// x[.., start + k·step, ..] for k < length along an axis (arguments already checked), recorded as `name`.
template <class T>
tensor<T> take_strided(const tensor<T>& x, int axis, index_t start, index_t step, index_t length, const char* name) {
  shape out_shape = x.shape();
  out_shape[axis] = length;
  auto out = tensor<T>::empty(out_shape);
  if (out.numel() > 0)
    copy_strided_rows(x.data(), out.data(), extent_around(x.shape(), axis), start, step, length, false);
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>(name, out, {x}, [axis, n = x.size(axis), start, step](auto) {
      return [axis, n, start, step](const tensor<T>& g) {
        return std::vector<tensor<T>>{slice_backward(g, axis, n, start, step)};
      };
    });
  }
  return out;
}

}  // namespace detail

template <class T>
tensor<T> narrow(const tensor<T>& x, int axis, index_t start, index_t length) {
  const int a = shape::normalize_axis(axis, x.rank(), "narrow");
  const index_t n = x.size(a);
  KEXUE_CHECK(length >= 0, value_error, "narrow", "length ", length, " is negative");
  KEXUE_CHECK(start >= -n && start <= n, index_error, "narrow", "start ", start, " out of range for axis ", a,
              " of size ", n, " (shape ", format_shape(x.shape()), ")");
  const index_t begin = start < 0 ? start + n : start;
  KEXUE_CHECK(length <= n - begin, index_error, "narrow", "start ", begin, " + length ", length, " exceeds the size ",
              n, " of axis ", a, " (shape ", format_shape(x.shape()), ")");
  return detail::take_strided(x, a, begin, 1, length, "narrow");
}

template <class T>
tensor<T> slice(const tensor<T>& x, int axis, index_t start, index_t end, index_t step) {
  const int a = shape::normalize_axis(axis, x.rank(), "slice");
  KEXUE_CHECK(step > 0, value_error, "slice", "step must be positive (got ", step, ")");
  const index_t n = x.size(a);
  auto clamp = [n](index_t v) {
    if (v < 0) v += n;
    return v < 0 ? index_t(0) : (v > n ? n : v);
  };
  const index_t begin = clamp(start), stop = clamp(end);
  const index_t length = stop > begin ? (stop - begin - 1) / step + 1 : 0;
  return detail::take_strided(x, a, begin, step, length, "slice");
}

template <class T>
tensor<T> slice_backward(const tensor<T>& g, int axis, index_t size, index_t start, index_t step) {
  const int a = shape::normalize_axis(axis, g.rank(), "slice_backward");
  KEXUE_CHECK(step > 0, value_error, "slice_backward", "step must be positive (got ", step, ")");
  KEXUE_CHECK(size >= 0, value_error, "slice_backward", "size ", size, " is negative");
  const index_t length = g.size(a);
  KEXUE_CHECK(start >= 0 && (length == 0 || (start < size && (length - 1) <= (size - 1 - start) / step)), index_error,
              "slice_backward", length, " positions from ", start, " in steps of ", step,
              " do not fit an axis of size ", size, " (gradient shape ", format_shape(g.shape()), ")");
  shape out_shape = g.shape();
  out_shape[a] = size;
  auto out = tensor<T>::empty(out_shape);
  std::fill_n(out.data(), out.numel(), T(0));
  detail::axis_extent e = detail::extent_around(out_shape, a);
  if (g.numel() > 0) detail::copy_strided_rows(g.data(), out.data(), e, start, step, length, true);
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("slice_backward", out, {g}, [a, start, step, length](auto) {
      return [a, start, step, length](const tensor<T>& gg) {
        return std::vector<tensor<T>>{detail::take_strided(gg, a, start, step, length, "slice")};
      };
    });
  }
  return out;
}

template <class T>
tensor<T> select(const tensor<T>& x, int axis, index_t index) {
  const int a = shape::normalize_axis(axis, x.rank(), "select");
  const index_t n = x.size(a);
  KEXUE_CHECK(index >= -n && index < n, index_error, "select", "index ", index, " out of range for axis ", a,
              " of size ", n, " (shape ", format_shape(x.shape()), ")");
  return squeeze(detail::take_strided(x, a, index < 0 ? index + n : index, 1, 1, "select"), a);
}

template <class T>
tensor<T> pad(const tensor<T>& x, const std::vector<std::pair<index_t, index_t>>& pads,
              typename tensor<T>::value_type value) {
  const shape& s = x.shape();
  KEXUE_CHECK(static_cast<int>(pads.size()) == s.rank(), shape_error, "pad", pads.size(),
              " (before, after) pairs given for a tensor of rank ", s.rank(), " (shape ", format_shape(s),
              "); expected one per axis");
  shape out_shape;
  for (int i = 0; i < s.rank(); ++i) {
    const auto [before, after] = pads[i];
    KEXUE_CHECK(before >= 0 && after >= 0, value_error, "pad", "padding (", before, ", ", after, ") of axis ", i,
                " is negative");
    out_shape.push_back(before + s[i] + after);
  }
  auto out = tensor<T>::empty(out_shape);
  std::fill_n(out.data(), out.numel(), value);
  // Visit x's elements; the output is read through its own strides from the corner (before_0, before_1, ..).
  const shape out_strides = out_shape.strides();
  index_t corner = 0;
  for (int i = 0; i < s.rank(); ++i) corner += pads[i].first * out_strides[i];
  const shape operand[1] = {out_strides};
  const T* src = x.data();
  T* dst = out.data() + corner;
  detail::for_each_run<1>(s, operand, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    T* d = dst + off[0];
    for (index_t i = 0; i < len; ++i) d[i * inner[0]] = src[o + i];
  });
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("pad", out, {x}, [pads, s](auto) {
      return [pads, s](const tensor<T>& g) {
        tensor<T> interior = g;
        for (int i = 0; i < s.rank(); ++i) {
          if (pads[i].first != 0 || pads[i].second != 0) {
            interior = detail::take_strided(interior, i, pads[i].first, 1, s[i], "narrow");
          }
        }
        return std::vector<tensor<T>>{interior};
      };
    });
  }
  return out;
}

template <class T>
tensor<T> pad(const tensor<T>& x, int axis, index_t before, index_t after, typename tensor<T>::value_type value) {
  const int a = shape::normalize_axis(axis, x.rank(), "pad");
  std::vector<std::pair<index_t, index_t>> pads(static_cast<std::size_t>(x.rank()), {0, 0});
  pads[a] = {before, after};
  return pad(x, pads, value);
}

template <class T>
tensor<T> flip(const tensor<T>& x, const std::vector<int>& axes) {
  const shape& s = x.shape();
  shape strides = s.strides();
  std::vector<bool> flipped(static_cast<std::size_t>(s.rank()), false);
  index_t start = 0;  // offset of the first element read: the last one along every flipped axis
  for (int axis : axes) {
    const int a = shape::normalize_axis(axis, s.rank(), "flip");
    KEXUE_CHECK(!flipped[a], index_error, "flip", "axis ", axis, " is repeated");
    flipped[a] = true;
    if (s[a] > 0) start += (s[a] - 1) * strides[a];
    strides[a] = -strides[a];
  }
  auto out = tensor<T>::empty(s);
  const shape operand[1] = {strides};
  const T* src = x.data() + (x.numel() > 0 ? start : 0);
  T* dst = out.data();
  detail::for_each_run<1>(s, operand, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    const T* p = src + off[0];
    for (index_t i = 0; i < len; ++i) dst[o + i] = p[i * inner[0]];
  });
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("flip", out, {x}, [axes](auto) {
      return [axes](const tensor<T>& g) { return std::vector<tensor<T>>{flip(g, axes)}; };
    });
  }
  return out;
}

}  // namespace kexue
