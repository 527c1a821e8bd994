// SPDX-License-Identifier: MIT
// Arithmetic with broadcasting: add, sub, mul, div, neg, pow, and their operators (tensor and scalar forms).
#pragma once

#include <cmath>        // std::pow, std::log
#include <type_traits>  // std::enable_if_t
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/elementwise.hpp>
#include <kexue/ops/broadcast.hpp>

namespace kexue {

template <class T>
tensor<T> mul(const tensor<T>& a, const tensor<T>& b);
template <class T>
tensor<T> div(const tensor<T>& a, const tensor<T>& b);
template <class T>
tensor<T> neg(const tensor<T>& a);
template <class T>
tensor<T> mul_scalar(const tensor<T>& a, T s);
template <class T>
tensor<T> log(const tensor<T>& a);

/// a + b with broadcasting. Shapes [..] broadcast as in NumPy; the result has the broadcast shape.
/// Gradients: sum_to(g, a.shape()), sum_to(g, b.shape()).
template <class T>
tensor<T> add(const tensor<T>& a, const tensor<T>& b) {
  auto out = detail::map_binary<T>(a, b, "add", [](T x, T y) { return x + y; });
  return autograd::record<T>("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](auto) {
    return [sa, sb](const tensor<T>& g) { return std::vector<tensor<T>>{sum_to(g, sa), sum_to(g, sb)}; };
  });
}

/// a − b with broadcasting. Gradients: sum_to(g), sum_to(−g).
template <class T>
tensor<T> sub(const tensor<T>& a, const tensor<T>& b) {
  auto out = detail::map_binary<T>(a, b, "sub", [](T x, T y) { return x - y; });
  return autograd::record<T>("sub", out, {a, b}, [sa = a.shape(), sb = b.shape(), nb = b.requires_grad()](auto) {
    return [sa, sb, nb](const tensor<T>& g) {
      return std::vector<tensor<T>>{sum_to(g, sa), nb ? sum_to(neg(g), sb) : tensor<T>()};
    };
  });
}

/// a · b element-wise with broadcasting. Gradients: sum_to(g·b), sum_to(g·a).
template <class T>
tensor<T> mul(const tensor<T>& a, const tensor<T>& b) {
  auto out = detail::map_binary<T>(a, b, "mul", [](T x, T y) { return x * y; });
  return autograd::record<T>("mul", out, {a, b}, [a, b](auto) {
    return [a, b](const tensor<T>& g) {
      return std::vector<tensor<T>>{a.requires_grad() ? sum_to(mul(g, b), a.shape()) : tensor<T>(),
                                    b.requires_grad() ? sum_to(mul(g, a), b.shape()) : tensor<T>()};
    };
  });
}

/// a / b element-wise with broadcasting. Gradients: sum_to(g/b), sum_to(−g·a/b²).
template <class T>
tensor<T> div(const tensor<T>& a, const tensor<T>& b) {
  auto out = detail::map_binary<T>(a, b, "div", [](T x, T y) { return x / y; });
  return autograd::record<T>("div", out, {a, b}, [a, b](auto) {
    return [a, b](const tensor<T>& g) {
      tensor<T> ga, gb;
      const tensor<T> g_over_b = div(g, b);
      if (a.requires_grad()) ga = sum_to(g_over_b, a.shape());
      if (b.requires_grad()) gb = sum_to(neg(div(mul(g_over_b, a), b)), b.shape());
      return std::vector<tensor<T>>{ga, gb};
    };
  });
}

/// −a. Gradient: −g.
template <class T>
tensor<T> neg(const tensor<T>& a) {
  auto out = detail::map_unary<T>(a, [](T x) { return -x; });
  return autograd::record<T>("neg", out, {a}, [](auto) {
    return [](const tensor<T>& g) { return std::vector<tensor<T>>{neg(g)}; };
  });
}

/// a + s for a scalar s. Gradient: g.
template <class T>
tensor<T> add_scalar(const tensor<T>& a, T s) {
  auto out = detail::map_unary<T>(a, [s](T x) { return x + s; });
  return autograd::record<T>("add_scalar", out, {a}, [](auto) {
    return [](const tensor<T>& g) { return std::vector<tensor<T>>{g}; };
  });
}

/// a · s for a scalar s. Gradient: g · s.
template <class T>
tensor<T> mul_scalar(const tensor<T>& a, T s) {
  auto out = detail::map_unary<T>(a, [s](T x) { return x * s; });
  return autograd::record<T>("mul_scalar", out, {a}, [s](auto) {
    return [s](const tensor<T>& g) { return std::vector<tensor<T>>{mul_scalar(g, s)}; };
  });
}

/// s / a for a scalar s. Gradient: −s·g/a².
template <class T>
tensor<T> rdiv_scalar(T s, const tensor<T>& a) {
  auto out = detail::map_unary<T>(a, [s](T x) { return s / x; });
  return autograd::record<T>("rdiv_scalar", out, {a}, [a, s](auto) {
    return [a, s](const tensor<T>& g) { return std::vector<tensor<T>>{mul_scalar(div(div(g, a), a), -s)}; };
  });
}

/// a^p for a scalar exponent p. Gradient: g · p · a^(p−1).
template <class T>
tensor<T> pow(const tensor<T>& a, T p) {
  tensor<T> out;
  if (p == T(2)) {
    out = detail::map_unary<T>(a, [](T x) { return x * x; });
  } else {
    out = detail::map_unary<T>(a, [p](T x) { return std::pow(x, p); });
  }
  return autograd::record<T>("pow", out, {a}, [a, p](auto) {
    return [a, p](const tensor<T>& g) {
      if (p == T(0)) return std::vector<tensor<T>>{mul_scalar(g, T(0))};
      const tensor<T> d = p == T(2) ? mul_scalar(a, T(2)) : mul_scalar(pow(a, p - T(1)), p);
      return std::vector<tensor<T>>{mul(g, d)};
    };
  });
}

/// a^b element-wise with broadcasting. Gradients: g·b·a^(b−1) and g·a^b·log(a) (the latter taken as 0
/// where a == 0 and the result is finite, as PyTorch does).
template <class T>
tensor<T> pow(const tensor<T>& a, const tensor<T>& b) {
  auto out = detail::map_binary<T>(a, b, "pow", [](T x, T y) { return std::pow(x, y); });
  return autograd::record<T>("pow", out, {a, b}, [a, b](auto self) {
    return [a, b, self](const tensor<T>& g) {
      tensor<T> ga, gb;
      if (a.requires_grad()) ga = sum_to(mul(g, mul(b, pow(a, add_scalar(b, T(-1))))), a.shape());
      if (b.requires_grad()) {
        // log(a) with 0 where a == 0 (the limit of a^b·log a for b > 0); constant mask, not differentiated.
        const tensor<T> safe_a = detail::map_unary<T>(a.detach(), [](T x) { return x == T(0) ? T(1) : x; });
        gb = sum_to(mul(g, mul(autograd::saved_output<T>(self), log(add(a, sub(safe_a, a.detach()))))), b.shape());
      }
      return std::vector<tensor<T>>{ga, gb};
    };
  });
}

// ~~~ Operators ~~~

template <class T>
tensor<T> operator+(const tensor<T>& a, const tensor<T>& b) {
  return add(a, b);
}
template <class T>
tensor<T> operator-(const tensor<T>& a, const tensor<T>& b) {
  return sub(a, b);
}
template <class T>
tensor<T> operator*(const tensor<T>& a, const tensor<T>& b) {
  return mul(a, b);
}
template <class T>
tensor<T> operator/(const tensor<T>& a, const tensor<T>& b) {
  return div(a, b);
}
template <class T>
tensor<T> operator-(const tensor<T>& a) {
  return neg(a);
}

/// Scalars of any arithmetic type combine with a tensor<T> after conversion to T: `x * 2`, `1.0 - x`.
template <class S>
using if_scalar = std::enable_if_t<std::is_arithmetic_v<S>, int>;

template <class T, class S, if_scalar<S> = 0>
tensor<T> operator+(const tensor<T>& a, S s) {
  return add_scalar(a, static_cast<T>(s));
}
template <class T, class S, if_scalar<S> = 0>
tensor<T> operator+(S s, const tensor<T>& a) {
  return add_scalar(a, static_cast<T>(s));
}
template <class T, class S, if_scalar<S> = 0>
tensor<T> operator-(const tensor<T>& a, S s) {
  return add_scalar(a, -static_cast<T>(s));
}
template <class T, class S, if_scalar<S> = 0>
tensor<T> operator-(S s, const tensor<T>& a) {
  return add_scalar(neg(a), static_cast<T>(s));
}
template <class T, class S, if_scalar<S> = 0>
tensor<T> operator*(const tensor<T>& a, S s) {
  return mul_scalar(a, static_cast<T>(s));
}
template <class T, class S, if_scalar<S> = 0>
tensor<T> operator*(S s, const tensor<T>& a) {
  return mul_scalar(a, static_cast<T>(s));
}
template <class T, class S, if_scalar<S> = 0>
tensor<T> operator/(const tensor<T>& a, S s) {
  return mul_scalar(a, T(1) / static_cast<T>(s));
}
template <class T, class S, if_scalar<S> = 0>
tensor<T> operator/(S s, const tensor<T>& a) {
  return rdiv_scalar(static_cast<T>(s), a);
}

}  // namespace kexue
