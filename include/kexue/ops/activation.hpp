// SPDX-License-Identifier: MIT
// Activation functions: relu, leaky_relu, elu, gelu, swish/silu, sigmoid, tanh, softplus, log_sigmoid, softsign, mish,
// xminexp.
#pragma once

#include <algorithm>  // std::max, std::min
#include <cmath>      // std::exp, std::expm1, std::log1p, std::erfc, std::tanh
#include <utility>    // std::move

#include <kexue/autograd/node.hpp>
#include <kexue/core/eigen.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/elementwise.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/math.hpp>

namespace kexue {

// Every activation maps x of any shape to a tensor of the same shape, element by element. Forward passes are
// single raw loops or one Eigen array expression (vectorised exp, log1p, tanh; Eigen's exp returns a subnormal
// number instead of 0 below about −88 in float, −709 in double, which only shows in results below T's
// smallest normal number, e.g. softplus(−100) in float); gradients are composed of differentiable ops, so
// second- and higher-order gradients work. Where an activation's derivative is costly (elu, gelu, swish,
// softplus, log_sigmoid, softsign, mish) the first derivative f'(x) is computed in one raw loop and
// recorded as its own op ("<name>_derivative") whose gradient g·f''(x) is composed of differentiable ops:
// a plain backward costs one loop and one multiply, and create_graph still gives exact higher orders.
// Hyper-parameters are doubles, as PyTorch's Python floats, converted to T.

/// max(x, 0). NaN stays NaN. Gradient: g where x > 0, 0 where x ≤ 0 (0 at x = 0, as PyTorch).
template <class T>
tensor<T> relu(const tensor<T>& x);

/// x for x > 0, negative_slope·x otherwise. Gradient: g for x > 0, negative_slope·g for x ≤ 0 (PyTorch's
/// choice at 0).
template <class T>
tensor<T> leaky_relu(const tensor<T>& x, double negative_slope = 0.01);

/// x for x > 0, alpha·(eˣ − 1) otherwise (computed with expm1). Gradient: g for x > 0, g·alpha·eˣ for x ≤ 0
/// (so alpha·g at 0, as PyTorch).
template <class T>
tensor<T> elu(const tensor<T>& x, double alpha = 1.0);

/// Approximation used by gelu, as PyTorch's `approximate` argument: none (the exact erf form) or tanh.
enum class gelu_approximation { none, tanh };

/// Gaussian error linear unit. none: x·Φ(x) with Φ(x) = ½·erfc(−x/√2) (erfc keeps the tail accurate for
/// negative x). tanh: ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). Gradient: g·f'(x) of the chosen form
/// (none: Φ(x) + x·φ(x), φ the standard normal density).
template <class T>
tensor<T> gelu(const tensor<T>& x, gelu_approximation approximate = gelu_approximation::none);

/// Swish: x·σ(beta·x). Gradient: g·(s + beta·x·s·(1 − s)) with s = σ(beta·x).
template <class T>
tensor<T> swish(const tensor<T>& x, double beta = 1.0);

/// SiLU: swish with beta = 1, x·σ(x).
template <class T>
tensor<T> silu(const tensor<T>& x);

/// Logistic sigmoid σ(x) = 1/(1 + e⁻ˣ), finite for every input (0 for large negative, 1 for large
/// positive x). Gradient: g·y·(1 − y) from the saved output y.
template <class T>
tensor<T> sigmoid(const tensor<T>& x);

/// Hyperbolic tangent. Gradient: g·(1 − y²) from the saved output y.
template <class T>
tensor<T> tanh(const tensor<T>& x);

/// log(1 + e^(beta·x))/beta, as PyTorch: where beta·x > threshold the result is x itself (the difference is
/// below rounding). Stable for all x: max(z, 0) + log1p(e^−|z|) with z = beta·x. Gradient: g·σ(beta·x), and
/// g where beta·x > threshold. Error: value_error "softplus: beta must be positive (got 0)".
template <class T>
tensor<T> softplus(const tensor<T>& x, double beta = 1.0, double threshold = 20.0);

/// log σ(x) = −softplus(−x), computed as min(x, 0) − log1p(e^−|x|): finite for large negative x (≈ x).
/// Gradient: g·σ(−x).
template <class T>
tensor<T> log_sigmoid(const tensor<T>& x);

/// x/(1 + |x|). Gradient: g/(1 + |x|)².
template <class T>
tensor<T> softsign(const tensor<T>& x);

/// Mish: x·tanh(softplus(x)), softplus computed stably. Gradient: g·(t + x·(1 − t²)·σ(x)), t = tanh(softplus(x)).
template <class T>
tensor<T> mish(const tensor<T>& x);

/// x·min(1, eˣ) (spec A12, "xminexp"): x for x ≥ 0, x·eˣ for x < 0, evaluated without overflow (eˣ is only
/// taken of min(x, 0), so no inf, and no NaN from 0·inf, at any finite x; NaN stays NaN). Gradient: g for
/// x > 0, g·(1 + x)eˣ for x ≤ 0 (continuous: 1 at 0); f'' = (2 + x)eˣ for x < 0, 0 for x > 0, so second- and
/// higher-order gradients work.
template <class T>
tensor<T> xminexp(const tensor<T>& x);

// ~~~ Implementation ~~~

namespace detail {

/// σ(v) without overflow: e^−v is only taken for v ≥ 0 and eᵛ only for v < 0.
template <class T>
T sigmoid_scalar(T v) {
  if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
  const T e = std::exp(v);
  return e / (T(1) + e);
}

/// log(1 + eᵛ) without overflow, accurate for large negative v.
template <class T>
T softplus_scalar(T v) {
  return std::max(v, T(0)) + std::log1p(std::exp(-std::abs(v)));
}

/// 1 − t, recorded (for derivatives written from an output).
template <class T>
tensor<T> one_minus(const tensor<T>& t) {
  return add_scalar(neg(t), T(1));
}

/// Records y = f(x), already computed in `out`, as op `name`. Its gradient is g·f'(x), where f'(x) is
/// computed by `derivative` (scalar → scalar) in one raw loop and recorded as op `derivative_name`, whose own
/// gradient g·f''(x) is `second(x, f'(x))`, composed of differentiable ops.
template <class T, class Derivative, class Second>
tensor<T> record_activation(const char* name, const char* derivative_name, const tensor<T>& x, tensor<T> out,
                            Derivative derivative, Second second) {
  return record_unary<T>(name, x, std::move(out),
                         [derivative_name, derivative, second](const tensor<T>& in, const tensor<T>&) {
                           return record_unary<T>(derivative_name, in, map_unary<T>(in, derivative), second);
                         });
}

/// As record_activation, with f'(x) computed by `derivative` from the whole input tensor at once (a
/// vectorised Eigen expression where the scalar loop would call a branchy std::exp per element).
template <class T, class Derivative, class Second>
tensor<T> record_activation_vectorised(const char* name, const char* derivative_name, const tensor<T>& x, tensor<T> out,
                                       Derivative derivative, Second second) {
  return record_unary<T>(name, x, std::move(out),
                         [derivative_name, derivative, second](const tensor<T>& in, const tensor<T>&) {
                           return record_unary<T>(derivative_name, in, derivative(in), second);
                         });
}

/// σ(s·x) for every element, vectorised: 1 / (1 + e^(−s·x)); e^(−s·x) overflows to inf for very negative
/// s·x, giving 0 (never NaN).
template <class T>
tensor<T> sigmoid_values(const tensor<T>& x, T s) {
  auto out = tensor<T>::empty(x.shape());
  as_array(out) = (T(1) + (as_array(x) * (-s)).exp()).inverse();
  return out;
}

}  // namespace detail

namespace detail {

/// relu's backward in one pass, as PyTorch's threshold_backward: g where x > 0, else 0 (also for an infinite
/// or NaN g). Recorded with respect to g only: x acts as a constant mask (relu'' = 0 away from the kink), so
/// its own backward is the same masking of the incoming gradient.
template <class T>
tensor<T> relu_backward(const tensor<T>& g, const tensor<T>& x) {
  auto out = map_binary<T>(g, x, "relu_backward", [](T gv, T v) { return v <= T(0) ? T(0) : gv; });
  return autograd::record<T>("relu_backward", std::move(out), {g}, [x](auto) {
    return [x](const tensor<T>& gg) { return std::vector<tensor<T>>{relu_backward(gg, x)}; };
  });
}

}  // namespace detail

template <class T>
tensor<T> relu(const tensor<T>& x) {
  auto out = detail::map_unary<T>(x, [](T v) { return v <= T(0) ? T(0) : v; });
  return autograd::record<T>("relu", std::move(out), {x}, [x](auto) {
    return [x](const tensor<T>& g) { return std::vector<tensor<T>>{detail::relu_backward(g, x)}; };
  });
}

template <class T>
tensor<T> leaky_relu(const tensor<T>& x, double negative_slope) {
  const T s = static_cast<T>(negative_slope);
  auto out = detail::map_unary<T>(x, [s](T v) { return v > T(0) ? v : v * s; });
  return detail::record_unary<T>("leaky_relu", x, std::move(out), [s](const tensor<T>& in, const tensor<T>&) {
    return detail::map_unary<T>(in, [s](T v) { return v > T(0) ? T(1) : s; });
  });
}

template <class T>
tensor<T> elu(const tensor<T>& x, double alpha) {
  const T a = static_cast<T>(alpha);
  auto out = detail::map_unary<T>(x, [a](T v) { return v > T(0) ? v : a * std::expm1(v); });
  return detail::record_activation<T>(
      "elu", "elu_derivative", x, std::move(out), [a](T v) { return v > T(0) ? T(1) : a * std::exp(v); },
      [](const tensor<T>& in, const tensor<T>& d) {
        // f'' = alpha·eˣ = f' for x ≤ 0, and 0 for x > 0.
        return mul(d, detail::map_unary<T>(in, [](T v) { return v > T(0) ? T(0) : T(1); }));
      });
}

template <class T>
tensor<T> gelu(const tensor<T>& x, gelu_approximation approximate) {
  constexpr T inv_sqrt2 = T(0.70710678118654752440084436210484903);
  constexpr T inv_sqrt_2pi = T(0.39894228040143267793994605993438187);  // φ(0)
  constexpr T k = T(0.79788456080286535587989211986876374);             // √(2/π)
  constexpr T c = T(0.044715);
  if (approximate == gelu_approximation::none) {
    auto out = detail::map_unary<T>(x, [](T v) { return T(0.5) * v * std::erfc(-v * inv_sqrt2); });
    return detail::record_activation<T>(
        "gelu", "gelu_derivative", x, std::move(out),
        [](T v) { return T(0.5) * std::erfc(-v * inv_sqrt2) + v * inv_sqrt_2pi * std::exp(T(-0.5) * v * v); },
        [](const tensor<T>& in, const tensor<T>&) {
          // f'' = φ(x)·(2 − x²)
          const tensor<T> x2 = square(in);
          return mul(mul_scalar(exp(mul_scalar(x2, T(-0.5))), inv_sqrt_2pi), add_scalar(neg(x2), T(2)));
        });
  }
  auto out = tensor<T>::empty(x.shape());
  const auto a = as_array(x);
  as_array(out) = T(0.5) * a * (T(1) + (k * (a + c * a.cube())).tanh());
  return detail::record_activation<T>(
      "gelu", "gelu_derivative", x, std::move(out),
      [](T v) {
        // u = k(x + c·x³), t = tanh u: f' = ½(1 + t) + ½·x·(1 − t²)·u', u' = k(1 + 3c·x²). Beyond |x| = 10,
        // 1 − t² < 1e-37 and f' is 0 or 1 (this also avoids 0·inf once x³ overflows).
        if (std::abs(v) > T(10)) return v > T(0) ? T(1) : T(0);
        const T t = std::tanh(k * (v + c * v * v * v));
        return T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * k * (T(1) + T(3) * c * v * v);
      },
      [](const tensor<T>& in, const tensor<T>&) {
        // f'' = (1 − t²)·(u' − x·t·u'² + ½·x·u''), u'' = 6kc·x, so ½·x·u'' = 3kc·x².
        const tensor<T> x2 = square(in);
        const tensor<T> t = tanh(mul_scalar(add(in, mul_scalar(mul(x2, in), c)), k));
        const tensor<T> du = add_scalar(mul_scalar(x2, T(3) * c * k), k);
        const tensor<T> inner = add(sub(du, mul(mul(in, t), square(du))), mul_scalar(x2, T(3) * k * c));
        return mul(detail::one_minus(square(t)), inner);
      });
}

template <class T>
tensor<T> swish(const tensor<T>& x, double beta) {
  const T b = static_cast<T>(beta);
  auto out = tensor<T>::empty(x.shape());
  const auto a = as_array(x);
  // x/(1 + e^(−βx)): e^(−βx) overflows to inf for very negative βx, giving −0 (the limit), never NaN.
  as_array(out) = a / (T(1) + (a * (-b)).exp());
  return detail::record_activation<T>(
      "swish", "swish_derivative", x, std::move(out),
      [b](T v) {
        const T s = detail::sigmoid_scalar(b * v);
        return s + b * v * s * (T(1) - s);
      },
      [b](const tensor<T>& in, const tensor<T>&) {
        // f'' = β·s(1 − s)·(2 + βx(1 − 2s)), s = σ(βx)
        const tensor<T> s = sigmoid(mul_scalar(in, b));
        const tensor<T> bx_term = mul(mul_scalar(in, b), add_scalar(mul_scalar(s, T(-2)), T(1)));
        return mul_scalar(mul(mul(s, detail::one_minus(s)), add_scalar(bx_term, T(2))), b);
      });
}

template <class T>
tensor<T> silu(const tensor<T>& x) {
  return swish(x, 1.0);
}

template <class T>
tensor<T> sigmoid(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  // Eigen's vectorised exp; e^−x overflows to inf for very negative x, giving 0 (never NaN).
  as_array(out) = (T(1) + (-as_array(x)).exp()).inverse();
  return detail::record_unary<T>("sigmoid", x, std::move(out),
                                 [](const tensor<T>&, const tensor<T>& y) { return mul(y, detail::one_minus(y)); });
}

template <class T>
tensor<T> tanh(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  as_array(out) = as_array(x).tanh();
  return detail::record_unary<T>("tanh", x, std::move(out),
                                 [](const tensor<T>&, const tensor<T>& y) { return detail::one_minus(square(y)); });
}

template <class T>
tensor<T> softplus(const tensor<T>& x, double beta, double threshold) {
  KEXUE_CHECK(beta > 0, value_error, "softplus", "beta must be positive (got ", beta, ")");
  const T b = static_cast<T>(beta);
  const T th = static_cast<T>(threshold);
  auto out = tensor<T>::empty(x.shape());
  const auto a = as_array(x);
  as_array(out) = ((a * b).max(T(0)) + (-(a * b).abs()).exp().log1p()) * (T(1) / b);
  const T* __restrict px = x.data();
  T* __restrict po = out.data();
  for (index_t i = 0, n = x.numel(); i < n; ++i) po[i] = b * px[i] > th ? px[i] : po[i];
  return detail::record_activation_vectorised<T>(
      "softplus", "softplus_derivative", x, std::move(out),
      [b, th](const tensor<T>& in) {
        tensor<T> d = detail::sigmoid_values(in, b);  // σ(βx), 1 above the threshold
        const T* __restrict pi = in.data();
        T* __restrict pd = d.data();
        for (index_t i = 0, n = in.numel(); i < n; ++i) pd[i] = b * pi[i] > th ? T(1) : pd[i];
        return d;
      },
      [b](const tensor<T>&, const tensor<T>& d) {
        // f'' = β·σ(βx)(1 − σ(βx)) = β·d(1 − d); above the threshold d = 1 and this is 0.
        return mul_scalar(mul(d, detail::one_minus(d)), b);
      });
}

template <class T>
tensor<T> log_sigmoid(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  const auto a = as_array(x);
  as_array(out) = a.min(T(0)) - (-a.abs()).exp().log1p();
  return detail::record_activation_vectorised<T>(
      "log_sigmoid", "log_sigmoid_derivative", x, std::move(out),
      [](const tensor<T>& in) { return detail::sigmoid_values(in, T(-1)); },
      [](const tensor<T>&, const tensor<T>& d) {
        // f' = σ(−x) = d, f'' = −σ(x)σ(−x) = −d(1 − d)
        return neg(mul(d, detail::one_minus(d)));
      });
}

template <class T>
tensor<T> softsign(const tensor<T>& x) {
  auto out = detail::map_unary<T>(x, [](T v) { return v / (T(1) + std::abs(v)); });
  return detail::record_activation<T>(
      "softsign", "softsign_derivative", x, std::move(out),
      [](T v) {
        const T r = T(1) / (T(1) + std::abs(v));
        return r * r;
      },
      [](const tensor<T>& in, const tensor<T>& d) {
        // f'' = −2·sign(x)/(1 + |x|)³ = −2·sign(x)·d/(1 + |x|)
        return mul(mul_scalar(sign(in), T(-2)), div(d, add_scalar(abs(in), T(1))));
      });
}

template <class T>
tensor<T> mish(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  const auto a = as_array(x);
  as_array(out) = a * (a.max(T(0)) + (-a.abs()).exp().log1p()).tanh();
  return detail::record_activation<T>(
      "mish", "mish_derivative", x, std::move(out),
      [](T v) {
        const T t = std::tanh(detail::softplus_scalar(v));
        return t + v * (T(1) - t * t) * detail::sigmoid_scalar(v);
      },
      [](const tensor<T>& in, const tensor<T>&) {
        // With t = tanh(softplus x), s = σ(x), h = (1 − t²)·s = t': f'' = h·(2 + x·(1 − s − 2t·s)).
        const tensor<T> t = tanh(softplus(in));
        const tensor<T> s = sigmoid(in);
        const tensor<T> h = mul(detail::one_minus(square(t)), s);
        const tensor<T> bracket = sub(detail::one_minus(s), mul_scalar(mul(t, s), T(2)));
        return mul(h, add_scalar(mul(in, bracket), T(2)));
      });
}

template <class T>
tensor<T> xminexp(const tensor<T>& x) {
  auto out = tensor<T>::empty(x.shape());
  const auto a = as_array(x);
  as_array(out) = (a < T(0)).select(a * a.min(T(0)).exp(), a);
  return detail::record_activation_vectorised<T>(
      "xminexp", "xminexp_derivative", x, std::move(out),
      [](const tensor<T>& in) {
        auto d = tensor<T>::empty(in.shape());
        const auto v = as_array(in);
        as_array(d) = (v > T(0)).select(T(1), (v + T(1)) * v.min(T(0)).exp());
        return d;
      },
      [](const tensor<T>& in, const tensor<T>& d) {
        // f'' = (2 + x)eˣ = f' + eˣ for x < 0 (eˣ = e^−|x| there, which never overflows), 0 for x > 0.
        const tensor<T> negative = detail::map_unary<T>(in, [](T v) { return v < T(0) ? T(1) : T(0); });
        return mul(add(d, exp(neg(abs(in)))), negative);
      });
}

}  // namespace kexue
