// SPDX-License-Identifier: MIT
// Comparisons to boolean masks, logical ops on masks, where, maximum/minimum and clamp.
#pragma once

#include <algorithm>    // std::max
#include <functional>   // std::equal_to, std::less, ... (comparison functors)
#include <limits>       // infinities for one-sided clamp
#include <optional>     // optional clamp bounds
#include <type_traits>  // std::common_type_t, std::enable_if_t
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/elementwise.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/broadcast.hpp>

namespace kexue {

// ~~~ Comparisons ~~~
//
// equal, not_equal, less, less_equal, greater, greater_equal: a and b broadcast (NumPy rules) and the result
// is a tensor<bool> of the broadcast shape; with a scalar right-hand side the result has a's shape and the
// comparison is done in the common type of T and the scalar (so `less(ids, 0.5)` on int64 compares with 0.5,
// not 0). Comparisons are not differentiable: they never attach a graph node, whether or not the inputs
// require gradients. NaN compares unequal to everything (not_equal is true, every other comparison false).
// Errors: shape_error "<op>: shapes cannot be broadcast (lhs [2, 3], rhs [4])".

template <class T>
tensor<bool> equal(const tensor<T>& a, const tensor<T>& b);
template <class T>
tensor<bool> not_equal(const tensor<T>& a, const tensor<T>& b);
template <class T>
tensor<bool> less(const tensor<T>& a, const tensor<T>& b);
template <class T>
tensor<bool> less_equal(const tensor<T>& a, const tensor<T>& b);
template <class T>
tensor<bool> greater(const tensor<T>& a, const tensor<T>& b);
template <class T>
tensor<bool> greater_equal(const tensor<T>& a, const tensor<T>& b);

// Scalar right-hand sides: `greater(x, 0)`, `equal(labels, 3)`.
template <class T, class S, if_scalar<S> = 0>
tensor<bool> equal(const tensor<T>& a, S b);
template <class T, class S, if_scalar<S> = 0>
tensor<bool> not_equal(const tensor<T>& a, S b);
template <class T, class S, if_scalar<S> = 0>
tensor<bool> less(const tensor<T>& a, S b);
template <class T, class S, if_scalar<S> = 0>
tensor<bool> less_equal(const tensor<T>& a, S b);
template <class T, class S, if_scalar<S> = 0>
tensor<bool> greater(const tensor<T>& a, S b);
template <class T, class S, if_scalar<S> = 0>
tensor<bool> greater_equal(const tensor<T>& a, S b);

// ~~~ Logical ops on masks ~~~

/// a ∧ b for boolean masks, with broadcasting. Error: shape_error "logical_and: shapes cannot be broadcast
/// (lhs [2], rhs [3])".
inline tensor<bool> logical_and(const tensor<bool>& a, const tensor<bool>& b);
/// a ∨ b for boolean masks, with broadcasting. Error: as logical_and, naming "logical_or".
inline tensor<bool> logical_or(const tensor<bool>& a, const tensor<bool>& b);
/// ¬a for a boolean mask (same shape).
inline tensor<bool> logical_not(const tensor<bool>& a);

// ~~~ Selection ~~~

/// mask ? a : b element-wise, with three-way broadcasting of mask, a and b; the result has the broadcast shape.
/// Works for any element type (float, double, int64, bool).
/// Gradients (float/double): a gets sum_to(where(mask, g, 0), a.shape()), b gets sum_to(where(mask, 0, g),
/// b.shape()); the mask gets none. Both are where ops again, so second order works.
/// Error: shape_error "where: shapes cannot be broadcast (mask [2, 3], a [4], b [3])".
template <class T>
tensor<T> where(const tensor<bool>& mask, const tensor<T>& a, const tensor<T>& b);
/// where with a scalar for the unselected entries: `where(keep, x, 0.0)` (b's gradient is dropped).
template <class T, class S, if_scalar<S> = 0>
tensor<T> where(const tensor<bool>& mask, const tensor<T>& a, S b);
/// where with a scalar for the selected entries: `where(pad, -1e9, x)`.
template <class T, class S, if_scalar<S> = 0>
tensor<T> where(const tensor<bool>& mask, S a, const tensor<T>& b);
/// A tensor of the mask's shape holding a where the mask is true and b elsewhere (no gradient), e.g. an
/// additive mask from a keep mask: `where(keep, 0.0f, -INFINITY)`.
template <class T, if_scalar<T> = 0>
tensor<T> where(const tensor<bool>& mask, T a, T b);

/// Element-wise maximum of a and b with broadcasting; NaN in either input gives NaN (as torch.maximum).
/// Gradient (as PyTorch 1.13): where a > b all of g goes to a, where a < b all of it to b, and at ties it is
/// split g/2 to each (so the sum of both gradients is g everywhere); where an input is NaN both get g.
/// Each is then sum_to the input's shape. Second order: the routing weights are constants, so it works.
/// Error: shape_error "maximum: shapes cannot be broadcast (lhs [2], rhs [3])".
template <class T>
tensor<T> maximum(const tensor<T>& a, const tensor<T>& b);
/// Element-wise minimum; as maximum with the roles of < and > swapped (ties split g/2 each, as PyTorch).
template <class T>
tensor<T> minimum(const tensor<T>& a, const tensor<T>& b);

namespace detail {
/// T, in a context that template argument deduction ignores: clamp's scalar bounds take their type from the
/// tensor, so `clamp(x_float, 0.0, 1.0)` converts the double bounds to float.
template <class T>
struct non_deduced {
  using type = T;
};
template <class T>
using non_deduced_t = typename non_deduced<T>::type;
}  // namespace detail

/// x limited to [lo, hi]: min(max(x, lo), hi); either bound may be std::nullopt (one-sided). NaN x stays NaN.
/// Gradient: g where lo ≤ x ≤ hi (boundaries included, as PyTorch's clamp), 0 elsewhere (and at NaN).
/// Errors: value_error "clamp: at least one bound must be given", "clamp: lower bound is NaN" (same for
/// upper), "clamp: lower bound 2 is greater than upper bound 1" (PyTorch would silently return hi).
template <class T>
tensor<T> clamp(const tensor<T>& x, std::optional<detail::non_deduced_t<T>> lo,
                std::optional<detail::non_deduced_t<T>> hi);
/// max(x, lo): clamp with only a lower bound.
template <class T>
tensor<T> clamp_min(const tensor<T>& x, detail::non_deduced_t<T> lo);
/// min(x, hi): clamp with only an upper bound.
template <class T>
tensor<T> clamp_max(const tensor<T>& x, detail::non_deduced_t<T> hi);
/// Clamp with tensor bounds, all three broadcasting together: min(max(x, lo), hi), NaN propagating from any
/// input. Where lo > hi the result is hi (PyTorch's rule; not checked element by element).
/// Gradients, exactly PyTorch 1.13's masks: x gets g where lo ≤ x ≤ hi; lo gets g where x < lo and lo < hi;
/// hi gets g where x > hi or hi < lo (so at lo == hi > x no input gets the gradient, as in PyTorch).
/// Each is sum_to its input's shape. Error: shape_error "clamp: shapes cannot be broadcast (x [2], lo [3],
/// hi [1])".
template <class T>
tensor<T> clamp(const tensor<T>& x, const tensor<T>& lo, const tensor<T>& hi);

// ~~~ Implementation ~~~

namespace detail {

/// Compares every element of a with the scalar s in the common type of T and S.
template <class Compare, class T, class S>
tensor<bool> compare_scalar(const tensor<T>& a, S s, Compare compare) {
  using common = std::common_type_t<T, S>;
  const common c = static_cast<common>(s);
  return map_unary<bool>(a, [c, compare](T v) { return compare(static_cast<common>(v), c); });
}

/// NaN-propagating maximum and minimum of two values (the NaN, if any, wins).
template <class T>
T max_propagate_nan(T x, T y) {
  return (x > y || x != x) ? x : y;
}
template <class T>
T min_propagate_nan(T x, T y) {
  return (x < y || x != x) ? x : y;
}

/// Broadcast shape of three operands, or a shape_error naming `op` and all three shapes with `names`.
inline shape broadcast_three(const shape& a, const shape& b, const shape& c, const char* op,
                             const char* const (&names)[3]) {
  const int r = std::max({a.rank(), b.rank(), c.rank()});
  const shape* operands[3] = {&a, &b, &c};
  shape out;
  for (int i = 0; i < r; ++i) {
    index_t d = 1;
    bool ok = true;
    for (const shape* s : operands) {
      const int j = s->rank() - r + i;
      const index_t dj = j >= 0 ? (*s)[j] : 1;
      if (dj != 1) {
        ok = ok && (d == 1 || d == dj);
        d = dj;
      }
    }
    if (!ok) {
      KEXUE_THROW(shape_error, op, "shapes cannot be broadcast (", names[0], " ", format_shape(a), ", ", names[1], " ",
                  format_shape(b), ", ", names[2], " ", format_shape(c), ")");
    }
    out.push_back(d);
  }
  return out;
}

/// The gradient of a binary op whose output routes g to a and b with constant weights wa, wb (of the output
/// shape): sum_to(g·wa, a.shape()) and sum_to(g·wb, b.shape()), each only if that input needs it.
template <class T>
std::vector<tensor<T>> routed_gradients(const tensor<T>& g, std::initializer_list<const tensor<T>*> inputs,
                                        std::initializer_list<tensor<T>> weights) {
  std::vector<tensor<T>> out;
  auto w = weights.begin();
  for (const tensor<T>* in : inputs) {
    out.push_back(in->requires_grad() ? sum_to(mul(g, *w), in->shape()) : tensor<T>());
    ++w;
  }
  return out;
}

}  // namespace detail

template <class T>
tensor<bool> equal(const tensor<T>& a, const tensor<T>& b) {
  return detail::map_binary<bool>(a, b, "equal", std::equal_to<T>());
}
template <class T>
tensor<bool> not_equal(const tensor<T>& a, const tensor<T>& b) {
  return detail::map_binary<bool>(a, b, "not_equal", std::not_equal_to<T>());
}
template <class T>
tensor<bool> less(const tensor<T>& a, const tensor<T>& b) {
  return detail::map_binary<bool>(a, b, "less", std::less<T>());
}
template <class T>
tensor<bool> less_equal(const tensor<T>& a, const tensor<T>& b) {
  return detail::map_binary<bool>(a, b, "less_equal", std::less_equal<T>());
}
template <class T>
tensor<bool> greater(const tensor<T>& a, const tensor<T>& b) {
  return detail::map_binary<bool>(a, b, "greater", std::greater<T>());
}
template <class T>
tensor<bool> greater_equal(const tensor<T>& a, const tensor<T>& b) {
  return detail::map_binary<bool>(a, b, "greater_equal", std::greater_equal<T>());
}

template <class T, class S, if_scalar<S>>
tensor<bool> equal(const tensor<T>& a, S b) {
  return detail::compare_scalar(a, b, std::equal_to<>());
}
template <class T, class S, if_scalar<S>>
tensor<bool> not_equal(const tensor<T>& a, S b) {
  return detail::compare_scalar(a, b, std::not_equal_to<>());
}
template <class T, class S, if_scalar<S>>
tensor<bool> less(const tensor<T>& a, S b) {
  return detail::compare_scalar(a, b, std::less<>());
}
template <class T, class S, if_scalar<S>>
tensor<bool> less_equal(const tensor<T>& a, S b) {
  return detail::compare_scalar(a, b, std::less_equal<>());
}
template <class T, class S, if_scalar<S>>
tensor<bool> greater(const tensor<T>& a, S b) {
  return detail::compare_scalar(a, b, std::greater<>());
}
template <class T, class S, if_scalar<S>>
tensor<bool> greater_equal(const tensor<T>& a, S b) {
  return detail::compare_scalar(a, b, std::greater_equal<>());
}

inline tensor<bool> logical_and(const tensor<bool>& a, const tensor<bool>& b) {
  return detail::map_binary<bool>(a, b, "logical_and", [](bool x, bool y) { return x && y; });
}
inline tensor<bool> logical_or(const tensor<bool>& a, const tensor<bool>& b) {
  return detail::map_binary<bool>(a, b, "logical_or", [](bool x, bool y) { return x || y; });
}
inline tensor<bool> logical_not(const tensor<bool>& a) {
  return detail::map_unary<bool>(a, [](bool x) { return !x; });
}

// ~~~ where ~~~

template <class T>
tensor<T> where(const tensor<bool>& mask, const tensor<T>& a, const tensor<T>& b) {
  detail::broadcast_three(mask.shape(), a.shape(), b.shape(), "where", {"mask", "a", "b"});
  auto out = detail::map_ternary<T>(mask, a, b, "where", [](bool m, T x, T y) { return m ? x : y; });
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>(
        "where", out, {a, b},
        [mask, sa = a.shape(), sb = b.shape(), ra = a.requires_grad(), rb = b.requires_grad()](auto) {
          return [mask, sa, sb, ra, rb](const tensor<T>& g) {
            // g has the broadcast shape; where(mask, g, 0) keeps it and sum_to folds broadcast axes back.
            const tensor<T> zero = scalar<T>(T(0));
            return std::vector<tensor<T>>{ra ? sum_to(where(mask, g, zero), sa) : tensor<T>(),
                                          rb ? sum_to(where(mask, zero, g), sb) : tensor<T>()};
          };
        });
  }
  return out;
}

template <class T, class S, if_scalar<S>>
tensor<T> where(const tensor<bool>& mask, const tensor<T>& a, S b) {
  return where(mask, a, scalar<T>(static_cast<T>(b)));
}

template <class T, class S, if_scalar<S>>
tensor<T> where(const tensor<bool>& mask, S a, const tensor<T>& b) {
  return where(mask, scalar<T>(static_cast<T>(a)), b);
}

template <class T, if_scalar<T>>
tensor<T> where(const tensor<bool>& mask, T a, T b) {
  return detail::map_unary<T>(mask, [a, b](bool m) { return m ? a : b; });
}

// ~~~ maximum, minimum ~~~

template <class T>
tensor<T> maximum(const tensor<T>& a, const tensor<T>& b) {
  auto out = detail::map_binary<T>(a, b, "maximum", [](T x, T y) { return detail::max_propagate_nan(x, y); });
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("maximum", out, {a, b}, [a, b](auto) {
      return [a, b](const tensor<T>& g) {
        // PyTorch: a gets where(a == b, g/2, g) zeroed where a < b; b gets the same zeroed where a > b.
        const auto wa = detail::map_binary<T>(a, b, "maximum", [](T x, T y) {
          return x < y ? T(0) : x == y ? T(0.5) : T(1);
        });
        const auto wb = detail::map_binary<T>(a, b, "maximum", [](T x, T y) {
          return x > y ? T(0) : x == y ? T(0.5) : T(1);
        });
        return detail::routed_gradients<T>(g, {&a, &b}, {wa, wb});
      };
    });
  }
  return out;
}

template <class T>
tensor<T> minimum(const tensor<T>& a, const tensor<T>& b) {
  auto out = detail::map_binary<T>(a, b, "minimum", [](T x, T y) { return detail::min_propagate_nan(x, y); });
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("minimum", out, {a, b}, [a, b](auto) {
      return [a, b](const tensor<T>& g) {
        const auto wa = detail::map_binary<T>(a, b, "minimum", [](T x, T y) {
          return x > y ? T(0) : x == y ? T(0.5) : T(1);
        });
        const auto wb = detail::map_binary<T>(a, b, "minimum", [](T x, T y) {
          return x < y ? T(0) : x == y ? T(0.5) : T(1);
        });
        return detail::routed_gradients<T>(g, {&a, &b}, {wa, wb});
      };
    });
  }
  return out;
}

// ~~~ clamp ~~~

template <class T>
tensor<T> clamp(const tensor<T>& x, std::optional<detail::non_deduced_t<T>> lo,
                std::optional<detail::non_deduced_t<T>> hi) {
  KEXUE_CHECK(lo.has_value() || hi.has_value(), value_error, "clamp", "at least one bound must be given");
  KEXUE_CHECK(!lo || *lo == *lo, value_error, "clamp", "lower bound is NaN");
  KEXUE_CHECK(!hi || *hi == *hi, value_error, "clamp", "upper bound is NaN");
  KEXUE_CHECK(!lo || !hi || !(*lo > *hi), value_error, "clamp", "lower bound ", *lo, " is greater than upper bound ",
              *hi);
  using limits = std::numeric_limits<T>;
  const T l = lo ? *lo : (limits::has_infinity ? -limits::infinity() : limits::lowest());
  const T h = hi ? *hi : (limits::has_infinity ? limits::infinity() : limits::max());
  auto out = detail::map_unary<T>(x, [l, h](T v) { return v < l ? l : (v > h ? h : v); });
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("clamp", out, {x}, [x, l, h](auto) {
      return [x, l, h](const tensor<T>& g) {
        // Boundaries pass the gradient (lo ≤ x ≤ hi), as torch.clamp; NaN compares false and gets 0.
        const auto pass = detail::map_unary<T>(x, [l, h](T v) { return v >= l && v <= h ? T(1) : T(0); });
        return std::vector<tensor<T>>{mul(g, pass)};
      };
    });
  }
  return out;
}

template <class T>
tensor<T> clamp_min(const tensor<T>& x, detail::non_deduced_t<T> lo) {
  return clamp(x, std::optional<T>(lo), std::nullopt);
}

template <class T>
tensor<T> clamp_max(const tensor<T>& x, detail::non_deduced_t<T> hi) {
  return clamp(x, std::nullopt, std::optional<T>(hi));
}

template <class T>
tensor<T> clamp(const tensor<T>& x, const tensor<T>& lo, const tensor<T>& hi) {
  detail::broadcast_three(x.shape(), lo.shape(), hi.shape(), "clamp", {"x", "lo", "hi"});
  auto out = detail::map_ternary<T>(
      x, lo, hi, "clamp", [](T v, T l, T h) { return detail::min_propagate_nan(detail::max_propagate_nan(v, l), h); });
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("clamp", out, {x, lo, hi}, [x, lo, hi](auto) {
      return [x, lo, hi](const tensor<T>& g) {
        // PyTorch 1.13's clamp_backward and clamp_backward_min_max masks, on the broadcast shape.
        const auto wx =
            detail::map_ternary<T>(x, lo, hi, "clamp", [](T v, T l, T h) { return v >= l && v <= h ? T(1) : T(0); });
        const auto wl =
            detail::map_ternary<T>(x, lo, hi, "clamp", [](T v, T l, T h) { return v < l && l < h ? T(1) : T(0); });
        const auto wh =
            detail::map_ternary<T>(x, lo, hi, "clamp", [](T v, T l, T h) { return v > h || h < l ? T(1) : T(0); });
        return detail::routed_gradients<T>(g, {&x, &lo, &hi}, {wx, wl, wh});
      };
    });
  }
  return out;
}

}  // namespace kexue
