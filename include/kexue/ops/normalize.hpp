// SPDX-License-Identifier: MIT
// l2_normalize and cosine_similarity along an axis, composed from differentiable ops.
#pragma once

#include <cmath>  // std::sqrt

#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/elementwise.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>

namespace kexue {

/// @brief x scaled to unit Euclidean length along `axis`: x / max(‖x‖₂, eps), as
/// torch.nn.functional.normalize(x, p=2, dim=axis, eps=eps).
/// @param x `[...]`; @param axis the axis holding the vectors (negative counts from the end).
/// @param eps lower bound of the norm, so a zero vector maps to zero instead of NaN.
/// @return x's shape. A NaN anywhere in a vector makes the whole normalised vector NaN.
/// Gradient: that of the composition (norm clamped at eps gets no gradient where ‖x‖ < eps, as clamp_min;
/// boundaries ‖x‖ = eps pass it). Zero vectors get the finite gradient g/eps, not NaN. Second order works.
/// @throws index_error if axis is out of range.
template <class T>
tensor<T> l2_normalize(const tensor<T>& x, int axis = -1, double eps = 1e-12);

/// @brief Cosine similarity of a and b along `axis`, with broadcasting: Σ â·b̂ with â = a / max(‖a‖, eps),
/// b̂ = b / max(‖b‖, eps), the semantics of torch.nn.functional.cosine_similarity in PyTorch 1.13 (each vector is
/// normalised first, so the result always lies in [−1, 1]; older versions clamped the product of the norms).
/// @param a, b shapes that broadcast (NumPy rules); `axis` indexes the broadcast shape. When an input is
/// broadcast along `axis` itself, it is expanded before its norm is taken, as PyTorch does.
/// @return the broadcast shape without `axis`. Example: a `[B, 1, D]`, b `[N, D]` → `[B, N]`.
/// Gradient: that of the composition. PyTorch 1.13 differs only for vectors with 0 < ‖a‖ < eps: it clamps the
/// norms in place without recording it, so there its norm's derivative is a/eps instead of 0; kexue gives
/// the true gradient of the value it returns. Second order works.
/// @throws shape_error if a and b do not broadcast; index_error if axis is out of range.
template <class T>
tensor<T> cosine_similarity(const tensor<T>& a, const tensor<T>& b, int axis = -1, double eps = 1e-8);

// ~~~ Implementation ~~~

template <class T>
tensor<T> l2_normalize(const tensor<T>& x, int axis, double eps) {
  static_assert(tensor<T>::is_differentiable, "l2_normalize: x must be a float or double tensor");
  const int ax = shape::normalize_axis(axis, x.rank(), "l2_normalize");
  const T floor = static_cast<T>(eps);
  const tensor<T> squares = sum(square(x), {ax}, true);  // [..., 1, ...]
  // max(√s, eps) without evaluating √ at s = 0, whose derivative would give 0/0 = NaN even with a zero
  // incoming gradient: where the norm is at least eps (or NaN) take √s, else the constant eps; the inner
  // where keeps √ away from small s. Values equal max(√s, eps) bit for bit.
  const tensor<bool> above = detail::map_unary<bool>(squares, [floor](T s) { return !(std::sqrt(s) < floor); });
  const tensor<T> norm = where(above, sqrt(where(above, squares, T(1))), floor);
  return div(x, norm);
}

template <class T>
tensor<T> cosine_similarity(const tensor<T>& a, const tensor<T>& b, int axis, double eps) {
  static_assert(tensor<T>::is_differentiable, "cosine_similarity: inputs must be float or double tensors");
  const shape out = broadcast_shapes(a.shape(), b.shape(), "cosine_similarity");
  const int ax = shape::normalize_axis(axis, out.rank(), "cosine_similarity");
  // Each input normalised along its own copy of the axis; expanded first if it lacks that axis or has size
  // 1 there while the other does not (its norm must then count every repeated element, as in PyTorch).
  auto unit = [&](const tensor<T>& v) {
    const int own = ax - (out.rank() - v.rank());
    if (own < 0 || v.size(own) != out[ax]) return l2_normalize(expand(v, out), ax, eps);
    return l2_normalize(v, own, eps);
  };
  return sum(mul(unit(a), unit(b)), {ax});
}

}  // namespace kexue
