// SPDX-License-Identifier: MIT
// softmax, log_softmax and logsumexp with additive or boolean masks, and their backward ops.
#pragma once

#include <algorithm>    // std::min
#include <array>        // input row pointers of the lane loop
#include <cmath>        // std::log, std::exp, std::isfinite
#include <cstdint>      // std::uint8_t keep masks of the kernels
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
#include <kexue/kernels/parallel.hpp>
#include <kexue/kernels/softmax.hpp>
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
//
// Arithmetic. Every lane goes through the row kernels of kernels/softmax.hpp (SIMD, split over threads,
// deterministic): the last axis in place, masks included when they repeat over rows (any mask whose last size is
// the lane's and whose leading sizes, read from the right, are x's then 1s, e.g. [n_q, n_k] or [B, 1, 1, n_k]
// over [B, H, n_q, n_k]); other axes through blocks of lanes gathered into scratch rows, and other masks
// applied to a copy of x first. logsumexp over trailing axes is logsumexp_rows; over other axes, a strided pass
// (same special values). Special values follow the kernels: NaN in a slice gives NaN; +inf logits share
// the slice's mass equally (softmax 1/k on them, PyTorch gives NaN).

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

// ~~~ Lanes through the row kernels ~~~
// The arithmetic is kernels/softmax.hpp's (SIMD, masks, special values, threads); this part only lays lanes out
// as the contiguous [rows, n] arrays the kernels take.

/// Calls rows_fn(in, out, rows) on contiguous [rows, n] arrays covering every lane along the axis of `l`
/// (lane (o, j) holds elements o·n·inner + i·inner + j, i < n); in[k] are the inputs' row pointers. Lanes of
/// the last axis are passed in place in one call (the kernel splits them over threads). Otherwise blocks of up
/// to 16 neighbouring lanes are gathered into scratch rows (reading whole cache lines), processed in one call,
/// and scattered back; the blocks are split over threads. When a lane's size in bytes is a multiple of 1 KiB the
/// scratch rows are one cache line longer than a lane, so that rows written side by side do not share cache
/// sets, and each lane is its own call. The inputs may alias `out`.
template <class T, std::size_t N, class RowsFn>
void for_each_lane(const axis_extent& l, const std::array<const T*, N>& in, T* out, RowsFn rows_fn) {
  const index_t n = l.size;
  if (l.outer == 0 || n == 0 || l.inner == 0) return;
  if (l.inner == 1) {
    rows_fn(in, out, l.outer);
    return;
  }
  constexpr index_t block = 16;
  constexpr index_t operands = static_cast<index_t>(N);
  const bool padded = (n * static_cast<index_t>(sizeof(T))) % 1024 == 0;
  const index_t ld = padded ? n + static_cast<index_t>(64 / sizeof(T)) : n;
  const index_t width = std::min(block, l.inner);
  const index_t blocks_per_outer = (l.inner + width - 1) / width;
  const index_t grain = std::max<index_t>(1, index_t(1 << 15) / (n * width));
  parallel_for(0, l.outer * blocks_per_outer, grain, [&](index_t begin, index_t end) {
    std::vector<T> scratch(static_cast<std::size_t>((operands + 1) * width * ld));
    T* lanes_out = scratch.data() + operands * width * ld;
    std::array<const T*, N> rows;
    for (index_t task = begin; task < end; ++task) {
      const index_t o = task / blocks_per_outer;
      const index_t j0 = (task % blocks_per_outer) * width;
      const index_t base = o * n * l.inner;
      const index_t w = std::min(width, l.inner - j0);
      for (std::size_t k = 0; k < N; ++k) {
        T* lanes_in = scratch.data() + static_cast<index_t>(k) * width * ld;
        for (index_t i = 0; i < n; ++i) {
          const T* src = in[k] + base + i * l.inner + j0;
          for (index_t j = 0; j < w; ++j) lanes_in[j * ld + i] = src[j];
        }
      }
      if (!padded) {
        for (std::size_t k = 0; k < N; ++k) rows[k] = scratch.data() + static_cast<index_t>(k) * width * ld;
        rows_fn(rows, lanes_out, w);
      } else {
        for (index_t j = 0; j < w; ++j) {
          for (std::size_t k = 0; k < N; ++k) rows[k] = scratch.data() + (static_cast<index_t>(k) * width + j) * ld;
          rows_fn(rows, lanes_out + j * ld, 1);
        }
      }
      for (index_t i = 0; i < n; ++i) {
        T* dst = out + base + i * l.inner + j0;
        for (index_t j = 0; j < w; ++j) dst[j] = lanes_out[j * ld + i];
      }
    }
  });
}

/// softmax_rows or log_softmax_rows.
template <bool Log, class T>
void normalize_rows(const T* x, T* y, index_t rows, index_t n, const softmax_options<T>& opt = {}) {
  if constexpr (Log) {
    log_softmax_rows(x, y, rows, n, opt);
  } else {
    softmax_rows(x, y, rows, n, opt);
  }
}

/// Softmax (or log_softmax when Log) of every lane of `in` along `axis` into `out` (which may be `in`).
template <bool Log, class T>
void normalize_lanes(const T* in, T* out, const shape& s, int axis) {
  const index_t n = s[axis];
  for_each_lane<T, 1>(extent_around(s, axis), {in}, out, [n](const std::array<const T*, 1>& r, T* o, index_t rows) {
    normalize_rows<Log>(r[0], o, rows, n);
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

/// How a mask that broadcasts to x [..., n] maps onto the kernels' periodic mask rows, for softmax over x's last
/// axis: x's rows split into `outer` groups of `group` rows; the mask row of row r of group o starts at
/// offset(o) + (r % period)·n. Holds when the mask's last size is n (not a broadcast 1) and its leading sizes,
/// read from the right, are full sizes then 1s (e.g. [Q, n], [1, Q, n], or [B, 1, 1, n] with groups of H·Q
/// rows for x [B, H, Q, n]); `fits` is false otherwise.
struct mask_rows {
  bool fits = false;
  index_t outer = 1, group = 1, period = 1;
  shape outer_sizes;    // x's sizes before the group
  shape outer_strides;  // the mask's strides over them (0 where it broadcasts)
  index_t offset(index_t o) const {
    index_t off = 0;
    for (int i = outer_sizes.rank() - 1; i >= 0; --i) {
      off += (o % outer_sizes[i]) * outer_strides[i];
      o /= outer_sizes[i];
    }
    return off;
  }
};

inline mask_rows plan_mask_rows(const shape& mask, const shape& x) {
  mask_rows p;
  const int k = x.rank() - 1;  // leading axes of x
  const index_t n = x[k];
  const auto mask_size = [&](int i) {
    return i - (x.rank() - mask.rank()) >= 0 ? mask[i - (x.rank() - mask.rank())] : 1;
  };
  if (mask_size(k) != n && n != 1) return p;
  // Scan the leading axes from the right: full sizes (the period), then 1s (the group), then the outer loop.
  int i = k - 1;
  for (; i >= 0 && (mask_size(i) == x[i] || x[i] == 1); --i) p.period *= x[i];
  p.group = p.period;
  for (; i >= 0 && (mask_size(i) == 1 || x[i] == 1); --i) p.group *= x[i];
  const int outer_rank = i + 1;
  std::vector<index_t> sizes(outer_rank), strides(outer_rank);
  index_t stride = 1;
  for (int a = k; a >= 0; --a) {
    if (a < outer_rank) {
      sizes[a] = x[a];
      strides[a] = mask_size(a) == 1 ? 0 : stride;
      p.outer *= x[a];
    }
    stride *= mask_size(a);
  }
  p.outer_sizes = shape(sizes);
  p.outer_strides = shape(strides);
  p.fits = true;
  return p;
}

/// Normalises x's last axis under a mask through the kernels when the mask fits their row pattern (see
/// mask_rows); returns false (and does nothing) otherwise. Additive (M = T) or keep (M = bool) masks.
template <bool Log, class T, class M>
bool normalize_last_masked(const tensor<T>& x, const tensor<M>& mask, T* out) {
  const mask_rows p = plan_mask_rows(mask.shape(), x.shape());
  if (!p.fits) return false;
  const index_t n = x.shape()[x.rank() - 1];
  if (x.numel() == 0) return true;
  softmax_options<T> opt;
  for (index_t o = 0; o < p.outer; ++o) {
    if constexpr (std::is_same_v<M, bool>) {
      opt.keep = reinterpret_cast<const std::uint8_t*>(mask.data()) + p.offset(o);
      opt.keep_rows = p.period;
      opt.keep_row_stride = n;
    } else {
      opt.add_mask = mask.data() + p.offset(o);
      opt.add_mask_rows = p.period;
      opt.add_mask_row_stride = n;
    }
    normalize_rows<Log>(x.data() + o * p.group * n, out + o * p.group * n, p.group, n, opt);
  }
  return true;
}

/// softmax or log_softmax of x + additive_mask (recorded with both as inputs).
template <bool Log, class T>
tensor<T> normalize_additive(const char* op, const tensor<T>& x, const tensor<T>& mask, int axis) {
  const int a = shape::normalize_axis(axis, x.rank(), op);
  check_mask_shape(mask.shape(), x.shape(), op);
  tensor<T> out;
  if (a == x.rank() - 1) {
    out = tensor<T>::empty(x.shape());
    if (!normalize_last_masked<Log>(x, mask, out.data())) out = tensor<T>();
  }
  if (!out.defined()) {
    out = map_binary<T>(x, mask, op, [](T v, T m) { return v + m; });  // the masked logits z, shape of x
    normalize_lanes<Log>(out.data(), out.data(), out.shape(), a);
  }
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
  tensor<T> out = tensor<T>::empty(x.shape());
  if (!keep.defined()) {
    normalize_lanes<Log>(x.data(), out.data(), x.shape(), a);
  } else {
    check_mask_shape(keep.shape(), x.shape(), op);
    if (a != x.rank() - 1 || !normalize_last_masked<Log>(x, keep, out.data())) {
      out = map_binary<T>(x, keep, op, [](T v, bool k) { return k ? v : -std::numeric_limits<T>::infinity(); });
      normalize_lanes<Log>(out.data(), out.data(), out.shape(), a);
    }
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

/// Sets dx_i = 0 where y_i = −inf, over n elements (a counting pass first, so rows without −inf are only read).
template <class T>
void zero_where_excluded(const T* __restrict y, T* __restrict dx, index_t n) {
  constexpr T minus_inf = -std::numeric_limits<T>::infinity();
  int excluded = 0;
  for (index_t i = 0; i < n; ++i) excluded |= y[i] == minus_inf ? 1 : 0;
  if (excluded == 0) return;
  for (index_t i = 0; i < n; ++i) dx[i] = y[i] == minus_inf ? T(0) : dx[i];
}

/// log_softmax_backward_rows, then dx = 0 where y = −inf (the kernel, as PyTorch, leaves dy there). Rows are
/// taken in blocks of about 8K elements so that the clean-up reads y and dx from cache.
template <class T>
void log_softmax_backward_rows_masked(const T* y, const T* g, T* dx, index_t rows, index_t n) {
  const index_t chunk = std::max<index_t>(1, index_t(1 << 13) / std::max<index_t>(n, 1));
  parallel_for(0, rows, std::max<index_t>(chunk, index_t(1 << 16) / std::max<index_t>(n, 1)),
               [&](index_t begin, index_t end) {
                 for (index_t r0 = begin; r0 < end; r0 += chunk) {
                   const index_t r1 = std::min(end, r0 + chunk);
                   log_softmax_backward_rows(y + r0 * n, g + r0 * n, dx + r0 * n, r1 - r0, n);
                   zero_where_excluded(y + r0 * n, dx + r0 * n, (r1 - r0) * n);
                 }
               });
}

/// The trailing block of x's axes when `ax` (sorted) is exactly the last ax.size() axes: [rows, cols] with
/// cols the product of their sizes; {-1, -1} otherwise.
inline std::array<index_t, 2> trailing_rows(const shape& s, const std::vector<int>& ax) {
  const int r = s.rank(), k = static_cast<int>(ax.size());
  for (int i = 0; i < k; ++i) {
    if (ax[i] != r - k + i) return {-1, -1};
  }
  index_t rows = 1, cols = 1;
  for (int i = 0; i < r; ++i) (i < r - k ? rows : cols) *= s[i];
  return {rows, cols};
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
  detail::for_each_lane<T, 2>(detail::extent_around(y.shape(), a), {y.data(), g.data()}, out.data(),
                              [n = y.shape()[a]](const std::array<const T*, 2>& r, T* o, index_t rows) {
                                softmax_backward_rows(r[0], r[1], o, rows, n);
                              });
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
  detail::for_each_lane<T, 2>(detail::extent_around(y.shape(), a), {y.data(), g.data()}, out.data(),
                              [n = y.shape()[a]](const std::array<const T*, 2>& r, T* o, index_t rows) {
                                detail::log_softmax_backward_rows_masked(r[0], r[1], o, rows, n);
                              });
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

namespace detail {

/// logsumexp of x over any set of axes into `out` [kept], by runs over x in its own order (the row kernel takes
/// the common case of trailing axes).
template <class T>
void logsumexp_strided(const tensor<T>& x, const shape& kept, T* po) {
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
  for (index_t k = 0, n = kept.numel(); k < n; ++k) po[k] = std::isfinite(pm[k]) ? pm[k] + std::log(ps[k]) : pm[k];
}

}  // namespace detail

template <class T>
tensor<T> logsumexp(const tensor<T>& x, const axes_t& axes, bool keepdim) {
  const auto ax = detail::normalize_axes(axes, x.rank(), "logsumexp");
  const shape kept = detail::reduced_shape(x.shape(), ax, true);
  constexpr T inf = std::numeric_limits<T>::infinity();
  auto out = tensor<T>::empty(kept);
  if (const auto rc = detail::trailing_rows(x.shape(), ax); rc[0] >= 0) {
    if (rc[0] > 0) logsumexp_rows(x.data(), out.data(), rc[0], rc[1]);  // the last axes: the row kernel
  } else {
    detail::logsumexp_strided(x, kept, out.data());
  }
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
