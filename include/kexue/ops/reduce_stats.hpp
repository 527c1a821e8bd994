// SPDX-License-Identifier: MIT
// Statistics over axes: variance and standard deviation (with a correction), and vector p-norms.
#pragma once

#include <algorithm>  // std::max
#include <cmath>      // std::sqrt, std::pow, std::isinf, NAN
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/broadcast.hpp>
#include <kexue/detail/elementwise.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reduce_minmax.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue {

/// The divisor correction of var / stddev: they divide by max(0, N − value), N the number of reduced
/// elements (PyTorch's `correction`; 1 is Bessel's unbiased estimate, 0 the population variance).
struct var_correction {
  index_t value = 1;
};

/// @brief Variance over `axes` (all when empty): Σ(x − mean)² / (N − 1) if `unbiased`, else / N.
/// @return the reduced shape (size-1 axes kept if `keepdim`).
/// Computed in two passes (mean, then deviations) with the correction term of the corrected two-pass
/// algorithm, Σd² − (Σd)²/N (Chan, Golub & LeVeque 1983), so a large common offset does not cancel the
/// digits. N − correction ≤ 0 divides by 0 (inf, or NaN for a zero sum), as PyTorch; N = 0 gives NaN.
/// Gradient: g · 2(x − mean)/(N − correction), composed of differentiable ops (second order works).
/// Errors: index_error for a bad or repeated axis.
template <class T>
tensor<T> var(const tensor<T>& x, const axes_t& axes = {}, bool unbiased = true, bool keepdim = false);
/// Variance with an explicit correction: `var(x, {1}, var_correction{0})`.
template <class T>
tensor<T> var(const tensor<T>& x, const axes_t& axes, var_correction correction, bool keepdim = false);
/// An integer third argument would silently convert to `unbiased`; say var_correction{n} instead.
template <class T>
tensor<T> var(const tensor<T>& x, const axes_t& axes, int correction, bool keepdim = false) = delete;

/// @brief Standard deviation √var over `axes` (same arguments, numerics and errors as var).
/// Gradient: g/(2·stddev) · 2(x − mean)/(N − correction), and 0 where stddev is 0 (a constant slice), as
/// PyTorch masks it. Composed of differentiable ops (second order works away from stddev = 0).
template <class T>
tensor<T> stddev(const tensor<T>& x, const axes_t& axes = {}, bool unbiased = true, bool keepdim = false);
/// Standard deviation with an explicit correction.
template <class T>
tensor<T> stddev(const tensor<T>& x, const axes_t& axes, var_correction correction, bool keepdim = false);
/// An integer third argument would silently convert to `unbiased`; say var_correction{n} instead.
template <class T>
tensor<T> stddev(const tensor<T>& x, const axes_t& axes, int correction, bool keepdim = false) = delete;

/// @brief Vector p-norm over `axes` (all when empty), as torch.linalg.vector_norm: (Σ|x|^p)^(1/p) for
/// p > 0, max|x| for p = inf (pass `std::numeric_limits<double>::infinity()`).
/// @return the reduced shape (size-1 axes kept if `keepdim`). Computed in one pass (no rescaling, so
/// values beyond ~1e154 overflow for p = 2 in double, as in PyTorch).
/// Gradient, all composed of differentiable ops (second order works away from the kinks):
///   p = 1: g·sign(x);  p = 2: g·x/‖x‖;  p = inf: g·sign(x) split evenly among the ties of max|x|;
///   other p: g·sign(x)·|x|^(p−1)/‖x‖^(p−1).
/// At x = 0 (the whole slice) the gradient is 0 for every p, the subgradient PyTorch picks; for p < 1 a
/// zero element of a non-zero slice also gets 0 (PyTorch does the same).
/// Errors: value_error "norm: p must be positive or inf (got 0)"; index_error for a bad or repeated
/// axis; shape_error for p = inf over an empty axis (max has no identity).
template <class T>
tensor<T> norm(const tensor<T>& x, double p = 2, const axes_t& axes = {}, bool keepdim = false);

// ~~~ Implementation ~~~

namespace detail {

/// acc[r] += Σ f(x) over the elements of x that reduce to r (acc has the keepdim-reduced shape `kept`).
template <class T, class F>
void accumulate_into(const tensor<T>& x, const shape& kept, T* acc, F f) {
  const shape strides[1] = {broadcast_strides(kept, x.shape())};
  const T* px = x.data();
  for_each_run<1>(x.shape(), strides, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    const T* src = px + o;
    T* dst = acc + off[0];
    if (inner[0] == 0) {
      T s = T(0);
      for (index_t i = 0; i < len; ++i) s += f(src[i]);
      *dst += s;
    } else {
      for (index_t i = 0; i < len; ++i) dst[i * inner[0]] += f(src[i]);
    }
  });
}

/// 1 where t is 0, else 0: a constant (not recorded) used to keep divisions by zero out of gradients.
template <class T>
tensor<T> zero_indicator(const tensor<T>& t) {
  return map_unary<T>(t.detach(), [](T v) { return v == T(0) ? T(1) : T(0); });
}

/// var (or stddev when `take_sqrt`) with divisor max(0, N − correction), recorded under `op`.
template <class T>
tensor<T> variance(const tensor<T>& x, const axes_t& axes, index_t correction, bool keepdim, bool take_sqrt,
                   const char* op) {
  const auto ax = normalize_axes(axes, x.rank(), op);
  index_t count = 1;
  for (int a : ax) count *= x.size(a);
  const shape kept = reduced_shape(x.shape(), ax, true);
  // Pass 1: the means.
  auto centre = zeros<T>(kept);
  T* pm = centre.data();
  accumulate_into(x, kept, pm, [](T v) { return v; });
  const T inv_count = count == 0 ? T(NAN) : T(1) / static_cast<T>(count);
  for (index_t r = 0, m = centre.numel(); r < m; ++r) pm[r] *= inv_count;
  // Pass 2: Σd² and Σd with d = x − mean (Σd is ~0 and corrects the rounding of the mean).
  auto out = zeros<T>(keepdim ? kept : reduced_shape(x.shape(), ax, false));
  auto deviation = zeros<T>(kept);
  T* ps = out.data();
  T* pd = deviation.data();
  const T* px = x.data();
  const shape strides[1] = {broadcast_strides(kept, x.shape())};
  for_each_run<1>(x.shape(), strides, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    for (index_t i = 0; i < len; ++i) {
      const index_t r = off[0] + i * inner[0];
      const T d = px[o + i] - pm[r];
      ps[r] += d * d;
      pd[r] += d;
    }
  });
  const T divisor = static_cast<T>(std::max<index_t>(0, count - correction));
  for (index_t r = 0, m = out.numel(); r < m; ++r) {
    const T v = (ps[r] - pd[r] * pd[r] * inv_count) / divisor;
    ps[r] = take_sqrt ? std::sqrt(v) : v;
  }
  return autograd::record<T>(op, out, {x}, [x, ax, kept, divisor, take_sqrt](auto self) {
    return [x, ax, kept, divisor, take_sqrt, self](const tensor<T>& g) {
      // d var / dx = 2(x − mean)/divisor;  d stddev = d var / (2·stddev), masked where stddev = 0.
      tensor<T> coef = reshape(g, kept);
      if (take_sqrt) {
        const tensor<T> y = reshape(autograd::saved_output<T>(self), kept);
        const tensor<T> at_zero = zero_indicator(y);
        coef = mul(div(coef, mul_scalar(add(y, at_zero), T(2))), add_scalar(neg(at_zero), T(1)));
      }
      const tensor<T> centred = sub(x, mean(x, ax, true));
      return std::vector<tensor<T>>{mul(expand(coef, x.shape()), mul_scalar(centred, T(2) / divisor))};
    };
  });
}

}  // namespace detail

template <class T>
tensor<T> var(const tensor<T>& x, const axes_t& axes, bool unbiased, bool keepdim) {
  return detail::variance(x, axes, unbiased ? 1 : 0, keepdim, false, "var");
}

template <class T>
tensor<T> var(const tensor<T>& x, const axes_t& axes, var_correction correction, bool keepdim) {
  return detail::variance(x, axes, correction.value, keepdim, false, "var");
}

template <class T>
tensor<T> stddev(const tensor<T>& x, const axes_t& axes, bool unbiased, bool keepdim) {
  return detail::variance(x, axes, unbiased ? 1 : 0, keepdim, true, "stddev");
}

template <class T>
tensor<T> stddev(const tensor<T>& x, const axes_t& axes, var_correction correction, bool keepdim) {
  return detail::variance(x, axes, correction.value, keepdim, true, "stddev");
}

template <class T>
tensor<T> norm(const tensor<T>& x, double p, const axes_t& axes, bool keepdim) {
  KEXUE_CHECK(p > 0, value_error, "norm", "p must be positive or inf (got ", p, ")");
  if (std::isinf(p)) return detail::extreme<true>(abs(x), axes, keepdim, "norm");
  const auto ax = detail::normalize_axes(axes, x.rank(), "norm");
  const shape kept = detail::reduced_shape(x.shape(), ax, true);
  auto out = zeros<T>(keepdim ? kept : detail::reduced_shape(x.shape(), ax, false));
  T* py = out.data();
  const T tp = static_cast<T>(p);
  if (p == 1) {
    detail::accumulate_into(x, kept, py, [](T v) { return std::abs(v); });
  } else if (p == 2) {
    detail::accumulate_into(x, kept, py, [](T v) { return v * v; });
    for (index_t r = 0, m = out.numel(); r < m; ++r) py[r] = std::sqrt(py[r]);
  } else {
    detail::accumulate_into(x, kept, py, [tp](T v) { return std::pow(std::abs(v), tp); });
    for (index_t r = 0, m = out.numel(); r < m; ++r) py[r] = std::pow(py[r], T(1) / tp);
  }
  return autograd::record<T>("norm", out, {x}, [x, kept, tp](auto self) {
    return [x, kept, tp, self](const tensor<T>& g) {
      const tensor<T> gk = reshape(g, kept);
      if (tp == T(1)) return std::vector<tensor<T>>{mul(expand(gk, x.shape()), sign(x))};
      // Adding 1 where y = 0 (then x = 0 in the whole slice) keeps 0/0 out; the factor x or sign(x) is 0.
      const tensor<T> y = reshape(autograd::saved_output<T>(self), kept);
      const tensor<T> y_safe = add(y, detail::zero_indicator(y));
      if (tp == T(2)) return std::vector<tensor<T>>{mul(x, expand(div(gk, y_safe), x.shape()))};
      // |x|^(p−1) with |0| replaced by 1 (multiplied by sign(0) = 0), so p < 1 gives no 0·inf.
      const tensor<T> scaled = mul(sign(x), pow(add(abs(x), detail::zero_indicator(x)), tp - T(1)));
      return std::vector<tensor<T>>{mul(scaled, expand(div(gk, pow(y_safe, tp - T(1))), x.shape()))};
    };
  });
}

}  // namespace kexue
