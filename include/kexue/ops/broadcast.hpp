// SPDX-License-Identifier: MIT
// expand (broadcast to a shape, materialised) and sum_to (its adjoint: sum over broadcast axes).
#pragma once

#include <Eigen/Core>

#include <kexue/autograd/node.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/broadcast.hpp>

namespace kexue {

template <class T>
tensor<T> sum_to(const tensor<T>& x, const shape& target);

/// x broadcast to `target` (NumPy rules), as a new contiguous tensor. Shape error if x does not broadcast.
/// Gradient: sum_to(grad, x.shape()).
template <class T>
tensor<T> expand(const tensor<T>& x, const shape& target) {
  const shape& s = x.shape();
  if (s == target) return x;
  const shape out_shape = broadcast_shapes(s, target, "expand");
  KEXUE_CHECK(out_shape == target, shape_error, "expand", "shape ", format_shape(s),
              " cannot be expanded to ", format_shape(target));
  auto out = tensor<T>::empty(target);
  const shape strides[1] = {detail::broadcast_strides(s, target)};
  const T* src = x.data();
  T* dst = out.data();
  detail::for_each_run<1>(target, strides, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    const T* p = src + off[0];
    if (inner[0] == 0) {
      for (index_t i = 0; i < len; ++i) dst[o + i] = *p;
    } else {
      for (index_t i = 0; i < len; ++i) dst[o + i] = p[i * inner[0]];
    }
  });
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("expand", out, {x}, [s](auto) {
      return [s](const tensor<T>& g) { return std::vector<tensor<T>>{sum_to(g, s)}; };
    });
  }
  return out;
}

/// Sums x over the axes along which `target` was broadcast to x's shape, giving a tensor of shape
/// `target` (the gradient of broadcasting). `target` must broadcast to x.shape(). Gradient: expand.
template <class T>
tensor<T> sum_to(const tensor<T>& x, const shape& target) {
  const shape& s = x.shape();
  if (s == target) return x;
  KEXUE_CHECK(target.rank() <= s.rank() && broadcast_shapes(target, s, "sum_to") == s, shape_error, "sum_to",
              "shape ", format_shape(target), " does not broadcast to ", format_shape(s));
  auto out = tensor<T>::empty(target);
  T* dst = out.data();
  for (index_t i = 0, n = out.numel(); i < n; ++i) dst[i] = T(0);
  const T* src = x.data();
  // Iterate over x; the output is read through broadcast strides (0 on summed axes).
  const shape strides[1] = {detail::broadcast_strides(target, s)};
  detail::for_each_run<1>(s, strides, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    T* p = dst + off[0];
    const T* q = src + o;
    if (inner[0] == 0) {
      // A contiguous run summed into one element: Eigen's reduction keeps several SIMD accumulators, so
      // the sum runs at memory speed instead of waiting on one scalar add chain.
      *p += Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(q, len).sum();
    } else {
      for (index_t i = 0; i < len; ++i) p[i * inner[0]] += q[i];
    }
  });
  return autograd::record<T>("sum_to", out, {x}, [s](auto) {
    return [s](const tensor<T>& g) { return std::vector<tensor<T>>{expand(g, s)}; };
  });
}

}  // namespace kexue
