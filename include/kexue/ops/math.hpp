// SPDX-License-Identifier: MIT
// Unary element-wise math: exp, log, log1p, expm1, sqrt, rsqrt, abs, sign, sin, cos, erf, square.
#pragma once

#include <cmath>  // std::exp, std::log, ...
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/eigen.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/elementwise.hpp>
#include <kexue/kernels/vector_math.hpp>
#include <kexue/ops/arithmetic.hpp>

namespace kexue {

template <class T>
tensor<T> sin(const tensor<T>& x);
template <class T>
tensor<T> cos(const tensor<T>& x);
template <class T>
tensor<T> sign(const tensor<T>& x);
template <class T>
tensor<T> exp(const tensor<T>& x);

namespace detail {
/// Records a unary op whose gradient is g · derivative(x, y), with y the op's output.
template <class T, class Derivative>
tensor<T> record_unary(const char* name, const tensor<T>& x, tensor<T> out, Derivative derivative) {
  return autograd::record<T>(name, std::move(out), {x}, [x, derivative](auto self) {
    return [x, derivative, self](const tensor<T>& g) {
      return std::vector<tensor<T>>{mul(g, derivative(x, autograd::saved_output<T>(self)))};
    };
  });
}
}  // namespace detail

/// e^x. Gradient: g·e^x (reuses the output).
template <class T>
tensor<T> exp(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  vexp(x.data(), out.data(), x.numel());  // SIMD, a few ulp; exp(−inf) = 0 exactly
  return detail::record_unary<T>("exp", x, out, [](const tensor<T>&, const tensor<T>& y) { return y; });
}
/// Natural logarithm (−inf at 0, NaN below). Gradient: g/x.
template <class T>
tensor<T> log(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  vlog(x.data(), out.data(), x.numel());
  return autograd::record<T>("log", out, {x}, [x](auto) {
    return [x](const tensor<T>& g) { return std::vector<tensor<T>>{div(g, x)}; };
  });
}
/// log(1 + x), accurate for small x. Gradient: g/(1 + x).
template <class T>
tensor<T> log1p(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  vlog1p(x.data(), out.data(), x.numel());
  return autograd::record<T>("log1p", out, {x}, [x](auto) {
    return [x](const tensor<T>& g) { return std::vector<tensor<T>>{div(g, add_scalar(x, T(1)))}; };
  });
}
/// e^x − 1, accurate for small x. Gradient: g·(y + 1).
template <class T>
tensor<T> expm1(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  vexpm1(x.data(), out.data(), x.numel());
  return detail::record_unary<T>("expm1", x, out,
                                 [](const tensor<T>&, const tensor<T>& y) { return add_scalar(y, T(1)); });
}
/// Square root. Gradient: g/(2·y).
template <class T>
tensor<T> sqrt(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  as_array(out) = as_array(x).sqrt();
  return autograd::record<T>("sqrt", out, {x}, [](auto self) {
    return [self](const tensor<T>& g) {
      return std::vector<tensor<T>>{div(mul_scalar(g, T(0.5)), autograd::saved_output<T>(self))};
    };
  });
}
/// 1/√x. Gradient: −g·y³/2.
template <class T>
tensor<T> rsqrt(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  as_array(out) = as_array(x).rsqrt();
  return detail::record_unary<T>("rsqrt", x, out, [](const tensor<T>&, const tensor<T>& y) {
    return mul_scalar(mul(mul(y, y), y), T(-0.5));
  });
}
/// x². Gradient: 2·g·x.
template <class T>
tensor<T> square(const tensor<T>& x) {
  auto out = detail::map_unary<T>(x, [](T v) { return v * v; });
  return detail::record_unary<T>("square", x, out,
                                 [](const tensor<T>& in, const tensor<T>&) { return mul_scalar(in, T(2)); });
}
/// |x|. Gradient: g·sign(x) (0 at 0, as PyTorch).
template <class T>
tensor<T> abs(const tensor<T>& x) {
  auto out = detail::map_unary<T>(x, [](T v) { return std::abs(v); });
  return detail::record_unary<T>("abs", x, out, [](const tensor<T>& in, const tensor<T>&) { return sign(in); });
}
/// −1, 0 or +1 (NaN stays NaN). Gradient: 0.
template <class T>
tensor<T> sign(const tensor<T>& x) {
  auto out = detail::map_unary<T>(x, [](T v) { return v > T(0) ? T(1) : (v < T(0) ? T(-1) : v); });
  return autograd::record<T>("sign", out, {x}, [](auto) {
    return [](const tensor<T>& g) { return std::vector<tensor<T>>{mul_scalar(g, T(0))}; };
  });
}
/// sin x. Gradient: g·cos x.
template <class T>
tensor<T> sin(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  as_array(out) = as_array(x).sin();
  return detail::record_unary<T>("sin", x, out, [](const tensor<T>& in, const tensor<T>&) { return cos(in); });
}
/// cos x. Gradient: −g·sin x.
template <class T>
tensor<T> cos(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  as_array(out) = as_array(x).cos();
  return detail::record_unary<T>("cos", x, out,
                                 [](const tensor<T>& in, const tensor<T>&) { return neg(sin(in)); });
}
/// Error function. Gradient: g·2/√π·e^(−x²).
template <class T>
tensor<T> erf(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  verf(x.data(), out.data(), x.numel());
  return detail::record_unary<T>("erf", x, out, [](const tensor<T>& in, const tensor<T>&) {
    constexpr T two_over_sqrt_pi = T(1.1283791670955125738961589031215452);
    return mul_scalar(exp(neg(mul(in, in))), two_over_sqrt_pi);
  });
}

}  // namespace kexue
