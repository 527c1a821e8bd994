// SPDX-License-Identifier: MIT
// softmax, log_softmax and logsumexp with additive or boolean masks, and their backward ops.
#pragma once

#include <algorithm>    // std::min
#include <array>        // input row pointers of the lane loop
#include <cmath>        // std::log, std::exp, std::isinf
#include <limits>       // infinity, smallest normal number
#include <type_traits>  // std::is_same_v
#include <utility>      // std::move
#include <vector>       // scratch rows for non-last axes

#include <Eigen/Core>

#include <kexue/autograd/node.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/broadcast.hpp>
#include <kexue/detail/elementwise.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/slice.hpp>  // detail::extent_around

namespace kexue {

// Masks. Every op here has two masked forms. An additive mask (a tensor of x's element type) is added to the
// logits before normalising: 0 keeps an entry, −inf excludes it, a finite value such as −1e9 only down-weights
// it (a row masked entirely with −1e9 is a uniform distribution, as in TensorFlow). A keep mask (tensor<bool>)
// excludes the entries where it is false. Either mask broadcasts to x's shape (x's shape itself is not
// changed: a [1, n] mask serves every row of an [m, n] input); otherwise shape_error "softmax: mask shape [3]
// does not broadcast to input shape [2, 4]". Excluded entries get probability exactly 0 (softmax), −inf
// (log_softmax) and zero gradient. A slice whose every entry is excluded gives all zeros from softmax (never
// NaN), all −inf from log_softmax and −inf from logsumexp, and passes no gradient.

/// Softmax along `axis` (negative counts from the end): y = exp(x − max) / Σ exp(x − max) along the axis,
/// computed per lane with the max subtracted, so large logits do not overflow. x any shape of rank ≥ 1;
/// returns x's shape, each lane summing to 1. Gradient: softmax_backward(y, g, axis) = y·(g − Σ g·y), from
/// the saved output. Error: index_error "softmax: axis 2 out of range for a tensor of rank 2".
template <class T>
tensor<T> softmax(const tensor<T>& x, int axis = -1);
/// Softmax of x + additive_mask. The mask receives the same gradient as x (summed over its broadcast axes).
template <class T>
tensor<T> softmax(const tensor<T>& x, const tensor<T>& additive_mask, int axis = -1);
/// Softmax over the entries where keep_mask is true; the others are 0.
template <class T>
tensor<T> softmax(const tensor<T>& x, const tensor<bool>& keep_mask, int axis = -1);

/// log softmax along `axis`: y = x − logsumexp(x) along the axis, stable for large logits. Gradient:
/// log_softmax_backward(y, g, axis) = g − exp(y)·Σg, the sum over the whole lane, and 0 at excluded entries
/// (y = −inf): with a keep mask this equals PyTorch's log_softmax(x.masked_fill(~keep, −inf)).
/// Error: index_error "log_softmax: axis 2 out of range for a tensor of rank 2".
template <class T>
tensor<T> log_softmax(const tensor<T>& x, int axis = -1);
/// log_softmax of x + additive_mask (the mask receives x's gradient, summed over its broadcast axes).
template <class T>
tensor<T> log_softmax(const tensor<T>& x, const tensor<T>& additive_mask, int axis = -1);
/// log_softmax over the entries where keep_mask is true; the others are −inf.
template <class T>
tensor<T> log_softmax(const tensor<T>& x, const tensor<bool>& keep_mask, int axis = -1);

/// log Σ exp(x) over `axes` (all axes when empty), computed as m + log Σ exp(x − m) with m the max over the
/// slice. x [d0, ..., dn] → the reduced shape, size-1 axes kept if `keepdim`. A slice of all −inf (or an
/// empty slice) gives −inf, not NaN; +inf anywhere gives +inf. Gradient: g·exp(x − y) (the softmax over the
/// slice), composed of where, sub, exp and mul; zero for an all −inf slice (up to kexue::exp(−inf), which is
/// a subnormal number rather than 0). Errors: index_error "logsumexp: axis 3 out of range for a tensor of
/// rank 2", "logsumexp: an axis is repeated".
template <class T>
tensor<T> logsumexp(const tensor<T>& x, const axes_t& axes = {}, bool keepdim = false);
/// logsumexp with a mask: a tensor<T> is an additive mask, a tensor<bool> a keep mask (see above). The mask's
/// element type is a template parameter so that `logsumexp(x, {0, 2})` still means axes. Composed of add /
/// where and logsumexp, so its gradients are those of the parts.
template <class T, class Mask>
tensor<T> logsumexp(const tensor<T>& x, const tensor<Mask>& mask, const axes_t& axes = {}, bool keepdim = false);

/// The backward of softmax as a differentiable op: dx = y·(g − Σ_axis g·y), y the softmax output and g the
/// gradient of y (same shape). Its own gradients (for second order): with upstream h,
/// d/dg = softmax_backward(y, h) and d/dy = h·(g − Σ g·y) − g·Σ h·y, composed of differentiable ops.
/// Errors: shape_error "softmax_backward: gradient shape [2, 3] differs from output shape [2, 4]"; bad axis.
template <class T>
tensor<T> softmax_backward(const tensor<T>& y, const tensor<T>& g, int axis = -1);

/// The backward of log_softmax as a differentiable op: dx = g − exp(y)·Σ_axis g, and 0 where y = −inf (an
/// excluded entry). Its own gradients: with upstream h and p = exp(y), d/dg = h·[y > −inf] − Σ h·p and
/// d/dy = −h·p·Σ g, composed of differentiable ops. Errors as softmax_backward, naming log_softmax_backward.
template <class T>
tensor<T> log_softmax_backward(const tensor<T>& y, const tensor<T>& g, int axis = -1);

// ~~~ Implementation ~~~

namespace detail {

// ~~~ Row kernels ~~~
// The per-lane arithmetic lives only here: each function sees one contiguous row of n values, so a SIMD
// kernel (kernels/softmax.hpp) can replace the body without touching the layout code below. `in` may equal
// `out` (the masked forms normalise in place).

/// out = softmax(in): exp(in − max)/Σ; a row of all −inf gives zeros.
template <class T>
void softmax_row(const T* in, T* out, index_t n) {
  if (n == 0) return;
  const Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> x(in, n);
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> y(out, n);
  const T m = x.maxCoeff();
  if (m == -std::numeric_limits<T>::infinity()) {
    y.setZero();
    return;
  }
  y = (x - m).exp();
  // Eigen's vectorised exp returns a subnormal number (not 0) for −inf; flush subnormal terms, which are far
  // below the rounding of a sum ≥ 1, so that excluded entries are exactly 0.
  const T tiny = std::numeric_limits<T>::min();
  for (index_t i = 0; i < n; ++i) out[i] = out[i] < tiny ? T(0) : out[i];
  y *= T(1) / y.sum();
}

/// out = log_softmax(in) = in − (max + log Σ exp(in − max)); a row of all −inf gives −inf.
template <class T>
void log_softmax_row(const T* in, T* out, index_t n) {
  if (n == 0) return;
  const Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> x(in, n);
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> y(out, n);
  const T m = x.maxCoeff();
  if (m == -std::numeric_limits<T>::infinity()) {
    y.setConstant(m);
    return;
  }
  const T lse = m + std::log((x - m).exp().sum());
  y = x - lse;
}

/// out = y·(g − Σ g·y)
template <class T>
void softmax_backward_row(const T* y_in, const T* g_in, T* out, index_t n) {
  if (n == 0) return;
  const Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> y(y_in, n), g(g_in, n);
  const T s = (g * y).sum();
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out, n) = y * (g - s);
}

/// out = g − exp(y)·Σg, and 0 where y = −inf.
template <class T>
void log_softmax_backward_row(const T* y_in, const T* g_in, T* out, index_t n) {
  if (n == 0) return;
  const Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> y(y_in, n), g(g_in, n);
  const T s = g.sum();
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out, n) = g - y.exp() * s;
  for (index_t i = 0; i < n; ++i) {
    if (y_in[i] == -std::numeric_limits<T>::infinity()) out[i] = T(0);
  }
}

// ~~~ Lanes along an axis ~~~

/// Calls row(rows, out_row, size) on every lane along the axis of `l` (lane (o, j) holds elements
/// o·size·inner + i·inner + j, i < size), where rows[k] points to the lane of input k. Lanes of the
/// last axis are contiguous and passed in place; otherwise blocks of up to 16 neighbouring lanes are
/// gathered into contiguous scratch rows (reading whole cache lines), processed, and scattered back. The
/// inputs may alias `out`.
template <class T, std::size_t N, class Row>
void for_each_lane(const axis_extent& l, const std::array<const T*, N>& in, T* out, Row row) {
  const index_t n = l.size;
  if (l.outer == 0 || n == 0 || l.inner == 0) return;
  std::array<const T*, N> rows;
  if (l.inner == 1) {
    for (index_t o = 0; o < l.outer; ++o) {
      for (std::size_t k = 0; k < N; ++k) rows[k] = in[k] + o * n;
      row(rows, out + o * n, n);
    }
    return;
  }
  constexpr index_t block = 16;
  constexpr index_t operands = static_cast<index_t>(N);
  // Scratch rows are one cache line longer than a lane, so that the `block` rows written side by side do not
  // fall into the same cache set when a lane's size in bytes is a multiple of 4 KiB.
  const index_t ld = n + static_cast<index_t>(64 / sizeof(T));
  const index_t width = std::min(block, l.inner);
  std::vector<T> scratch(static_cast<std::size_t>((operands + 1) * width * ld));
  T* lanes_out = scratch.data() + operands * width * ld;
  for (index_t o = 0; o < l.outer; ++o) {
    const index_t base = o * n * l.inner;
    for (index_t j0 = 0; j0 < l.inner; j0 += width) {
      const index_t w = std::min(width, l.inner - j0);
      for (std::size_t k = 0; k < N; ++k) {
        T* lanes_in = scratch.data() + static_cast<index_t>(k) * width * ld;
        for (index_t i = 0; i < n; ++i) {
          const T* src = in[k] + base + i * l.inner + j0;
          for (index_t j = 0; j < w; ++j) lanes_in[j * ld + i] = src[j];
        }
      }
      for (index_t j = 0; j < w; ++j) {
        for (std::size_t k = 0; k < N; ++k) rows[k] = scratch.data() + (static_cast<index_t>(k) * width + j) * ld;
        row(rows, lanes_out + j * ld, n);
      }
      for (index_t i = 0; i < n; ++i) {
        T* dst = out + base + i * l.inner + j0;
        for (index_t j = 0; j < w; ++j) dst[j] = lanes_out[j * ld + i];
      }
    }
  }
}

/// Softmax (or log_softmax when Log) of every lane of `in` along `axis` into `out` (which may be `in`).
template <bool Log, class T>
void normalize_lanes(const T* in, T* out, const shape& s, int axis) {
  for_each_lane<T, 1>(extent_around(s, axis), {in}, out, [](const std::array<const T*, 1>& r, T* o, index_t n) {
    if constexpr (Log) {
      log_softmax_row(r[0], o, n);
    } else {
      softmax_row(r[0], o, n);
    }
  });
}

/// Checks that a mask broadcasts to x's shape without changing it.
inline void check_mask_shape(const shape& mask, const shape& x, const char* op) {
  bool ok = mask.rank() <= x.rank();
  for (int i = 0; ok && i < mask.rank(); ++i) {
    const index_t d = mask[i], dx = x[x.rank() - mask.rank() + i];
    ok = d == 1 || d == dx;
  }
  KEXUE_CHECK(ok, shape_error, op, "mask shape ", format_shape(mask), " does not broadcast to input shape ",
              format_shape(x));
}

/// softmax or log_softmax of x + additive_mask (recorded with both as inputs).
template <bool Log, class T>
tensor<T> normalize_additive(const char* op, const tensor<T>& x, const tensor<T>& mask, int axis) {
  const int a = shape::normalize_axis(axis, x.rank(), op);
  check_mask_shape(mask.shape(), x.shape(), op);
  auto out = map_binary<T>(x, mask, op, [](T v, T m) { return v + m; });  // the masked logits z, shape of x
  normalize_lanes<Log>(out.data(), out.data(), out.shape(), a);
  return autograd::record<T>(
      op, std::move(out), {x, mask},
      [a, sm = mask.shape(), rx = x.requires_grad(), rm = mask.requires_grad()](auto self) {
        return [a, sm, rx, rm, self](const tensor<T>& g) {
          const tensor<T> y = autograd::saved_output<T>(self);
          const tensor<T> dz = Log ? log_softmax_backward(y, g, a) : softmax_backward(y, g, a);  // [x.shape]
          return std::vector<tensor<T>>{rx ? dz : tensor<T>(), rm ? sum_to(dz, sm) : tensor<T>()};
        };
      });
}

/// softmax or log_softmax of x restricted to keep_mask (or of x itself when keep is undefined).
template <bool Log, class T>
tensor<T> normalize_kept(const char* op, const tensor<T>& x, const tensor<bool>& keep, int axis) {
  const int a = shape::normalize_axis(axis, x.rank(), op);
  tensor<T> out;
  if (keep.defined()) {
    check_mask_shape(keep.shape(), x.shape(), op);
    out = map_binary<T>(x, keep, op, [](T v, bool k) { return k ? v : -std::numeric_limits<T>::infinity(); });
    normalize_lanes<Log>(out.data(), out.data(), out.shape(), a);
  } else {
    out = tensor<T>::empty(x.shape());
    normalize_lanes<Log>(x.data(), out.data(), x.shape(), a);
  }
  // Excluded entries come out as 0 (softmax) or −inf (log_softmax), where both backward ops give 0.
  return autograd::record<T>(op, std::move(out), {x}, [a](auto self) {
    return [a, self](const tensor<T>& g) {
      const tensor<T> y = autograd::saved_output<T>(self);
      return std::vector<tensor<T>>{Log ? log_softmax_backward(y, g, a) : softmax_backward(y, g, a)};
    };
  });
}

/// Validates the operands of softmax_backward / log_softmax_backward and returns the normalised axis.
template <class T>
int check_backward_operands(const tensor<T>& y, const tensor<T>& g, int axis, const char* op) {
  KEXUE_CHECK(g.shape() == y.shape(), shape_error, op, "gradient shape ", format_shape(g.shape()),
              " differs from output shape ", format_shape(y.shape()));
  return shape::normalize_axis(axis, y.rank(), op);
}

}  // namespace detail

template <class T>
tensor<T> softmax(const tensor<T>& x, int axis) {
  return detail::normalize_kept<false>("softmax", x, tensor<bool>(), axis);
}
template <class T>
tensor<T> softmax(const tensor<T>& x, const tensor<T>& additive_mask, int axis) {
  return detail::normalize_additive<false>("softmax", x, additive_mask, axis);
}
template <class T>
tensor<T> softmax(const tensor<T>& x, const tensor<bool>& keep_mask, int axis) {
  return detail::normalize_kept<false>("softmax", x, keep_mask, axis);
}

template <class T>
tensor<T> log_softmax(const tensor<T>& x, int axis) {
  return detail::normalize_kept<true>("log_softmax", x, tensor<bool>(), axis);
}
template <class T>
tensor<T> log_softmax(const tensor<T>& x, const tensor<T>& additive_mask, int axis) {
  return detail::normalize_additive<true>("log_softmax", x, additive_mask, axis);
}
template <class T>
tensor<T> log_softmax(const tensor<T>& x, const tensor<bool>& keep_mask, int axis) {
  return detail::normalize_kept<true>("log_softmax", x, keep_mask, axis);
}

template <class T>
tensor<T> softmax_backward(const tensor<T>& y, const tensor<T>& g, int axis) {
  const int a = detail::check_backward_operands(y, g, axis, "softmax_backward");
  auto out = tensor<T>::empty(y.shape());
  detail::for_each_lane<T, 2>(
      detail::extent_around(y.shape(), a), {y.data(), g.data()}, out.data(),
      [](const std::array<const T*, 2>& r, T* o, index_t n) { detail::softmax_backward_row(r[0], r[1], o, n); });
  return autograd::record<T>("softmax_backward", std::move(out), {y, g}, [y, g, a](auto) {
    return [y, g, a](const tensor<T>& h) {
      // dx = y·(g − s), s = Σ g·y:  d/dg = y·(h − Σ h·y);  d/dy = h·(g − s) − g·Σ h·y   (all [y.shape])
      tensor<T> dy, dg;
      if (g.requires_grad()) dg = softmax_backward(y, h, a);
      if (y.requires_grad()) {
        const tensor<T> s = sum(mul(g, y), {a}, true);
        dy = sub(mul(h, sub(g, s)), mul(g, sum(mul(h, y), {a}, true)));
      }
      return std::vector<tensor<T>>{dy, dg};
    };
  });
}

template <class T>
tensor<T> log_softmax_backward(const tensor<T>& y, const tensor<T>& g, int axis) {
  const int a = detail::check_backward_operands(y, g, axis, "log_softmax_backward");
  auto out = tensor<T>::empty(y.shape());
  detail::for_each_lane<T, 2>(
      detail::extent_around(y.shape(), a), {y.data(), g.data()}, out.data(),
      [](const std::array<const T*, 2>& r, T* o, index_t n) { detail::log_softmax_backward_row(r[0], r[1], o, n); });
  return autograd::record<T>("log_softmax_backward", std::move(out), {y, g}, [y, g, a](auto) {
    return [y, g, a](const tensor<T>& h) {
      // dx = k·g − p·Σg with p = exp(y) and k = [y > −inf] (p = 0 where k = 0):
      // d/dg = k·h − Σ h·p;  d/dy = −h·p·Σg   (all [y.shape])
      tensor<T> dy, dg;
      const tensor<T> p = exp(y);
      if (g.requires_grad()) {
        const tensor<T> kept = detail::map_unary<T>(
            y, [](T v) { return v == -std::numeric_limits<T>::infinity() ? T(0) : T(1); });  // constant
        dg = sub(mul(kept, h), sum(mul(h, p), {a}, true));
      }
      if (y.requires_grad()) dy = neg(mul(mul(h, p), sum(g, {a}, true)));
      return std::vector<tensor<T>>{dy, dg};
    };
  });
}

template <class T>
tensor<T> logsumexp(const tensor<T>& x, const axes_t& axes, bool keepdim) {
  const auto ax = detail::normalize_axes(axes, x.rank(), "logsumexp");
  const shape kept = detail::reduced_shape(x.shape(), ax, true);
  constexpr T inf = std::numeric_limits<T>::infinity();
  using array = Eigen::Array<T, Eigen::Dynamic, 1>;
  using const_map = Eigen::Map<const array>;
  auto m = full<T>(kept, -inf);  // max over each slice; NaN propagates
  auto s = zeros<T>(kept);       // Σ exp(x − shift), shift = m where finite, else 0
  const T* px = x.data();
  T* pm = m.data();
  T* ps = s.data();
  const auto take_max = [](T& acc, T v) { acc = (v > acc || v != v) ? v : acc; };
  // Runs over x in its own order; a run lies inside one slice (inner stride 0) or crosses slices (stride 1 when
  // the reduced axes are leading ones; other strides are rare).
  const shape strides[1] = {detail::broadcast_strides(kept, x.shape())};
  detail::for_each_run<1>(x.shape(), strides, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    if (inner[0] == 0) {
      take_max(pm[off[0]], const_map(px + o, len).template maxCoeff<Eigen::PropagateNaN>());
      return;
    }
    for (index_t i = 0; i < len; ++i) take_max(pm[off[0] + i * inner[0]], px[o + i]);
  });
  // A slice whose max is ±inf or NaN takes its result from the max alone; shifting it by 0 keeps exp finite.
  auto shift = tensor<T>::empty(kept);
  T* pshift = shift.data();
  for (index_t k = 0, n = kept.numel(); k < n; ++k) pshift[k] = std::isfinite(pm[k]) ? pm[k] : T(0);
  detail::for_each_run<1>(x.shape(), strides, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    if (inner[0] == 0) {
      ps[off[0]] += (const_map(px + o, len) - pshift[off[0]]).exp().sum();
    } else if (inner[0] == 1) {
      Eigen::Map<array>(ps + off[0], len) += (const_map(px + o, len) - const_map(pshift + off[0], len)).exp();
    } else {
      for (index_t i = 0; i < len; ++i)
        ps[off[0] + i * inner[0]] += std::exp(px[o + i] - pshift[off[0] + i * inner[0]]);
    }
  });
  auto out = tensor<T>::empty(kept);
  T* po = out.data();
  for (index_t k = 0, n = out.numel(); k < n; ++k) po[k] = std::isfinite(pm[k]) ? pm[k] + std::log(ps[k]) : pm[k];
  out = autograd::record<T>("logsumexp", std::move(out), {x}, [x](auto self) {
    return [x, self](const tensor<T>& g) {
      // dx = g·exp(x − y) (g, y [kept] broadcast over the slice); y = −inf (an all −inf slice) is taken as 0
      // there, so its entries get exp(−inf) = 0 instead of NaN.
      const tensor<T> y = autograd::saved_output<T>(self);
      const tensor<T> y_safe = where(equal(y, -inf), scalar<T>(T(0)), y);
      return std::vector<tensor<T>>{mul(g, exp(sub(x, y_safe)))};
    };
  });
  return keepdim ? out : reshape(out, detail::reduced_shape(x.shape(), ax, false));
}

template <class T, class Mask>
tensor<T> logsumexp(const tensor<T>& x, const tensor<Mask>& mask, const axes_t& axes, bool keepdim) {
  static_assert(std::is_same_v<Mask, T> || std::is_same_v<Mask, bool>,
                "logsumexp: the mask must be a tensor<bool> (true = keep) or a tensor of x's element type (added "
                "to x)");
  detail::check_mask_shape(mask.shape(), x.shape(), "logsumexp");
  if constexpr (std::is_same_v<Mask, bool>) {
    return logsumexp(where(mask, x, -std::numeric_limits<T>::infinity()), axes, keepdim);
  } else {
    return logsumexp(add(x, mask), axes, keepdim);
  }
}

}  // namespace kexue
