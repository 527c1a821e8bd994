// SPDX-License-Identifier: MIT
// Element-wise loops shared by ops: unary maps and broadcasting binary maps (no autograd here).
#pragma once

#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/detail/broadcast.hpp>
#include <kexue/kernels/parallel.hpp>

namespace kexue::detail {

/// Elements below which an element-wise loop stays on one thread: 64 Ki elements take ~20 µs at memory speed,
/// well above the few µs of an OpenMP fork and join. Only the contiguous loops (same shapes, tensor and
/// scalar) are split; f must be a pure function of its arguments.
inline constexpr index_t elementwise_grain = index_t(1) << 16;

/// out[i] = f(a[i]) into a new tensor of a's shape (out may be of another element type).
template <class Out, class T, class F>
tensor<Out> map_unary(const tensor<T>& a, F f) {
  auto out = tensor<Out>::empty(a.shape());
  const T* __restrict src = a.data();
  Out* __restrict dst = out.data();
  parallel_for(0, a.numel(), elementwise_grain, [&](index_t i0, index_t i1) {
    for (index_t i = i0; i < i1; ++i) dst[i] = f(src[i]);
  });
  return out;
}

/// out = f(a, b) with NumPy broadcasting into a new tensor; `op` names the operation in shape errors.
template <class Out, class A, class B, class F>
tensor<Out> map_binary(const tensor<A>& a, const tensor<B>& b, const char* op, F f) {
  const shape& sa = a.shape();
  const shape& sb = b.shape();
  const A* __restrict pa = a.data();
  const B* __restrict pb = b.data();
  if (sa == sb) {  // fast path: same shape
    auto out = tensor<Out>::empty(sa);
    Out* __restrict po = out.data();
    parallel_for(0, a.numel(), elementwise_grain, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) po[i] = f(pa[i], pb[i]);
    });
    return out;
  }
  const shape so = broadcast_shapes(sa, sb, op);
  auto out = tensor<Out>::empty(so);
  Out* __restrict po = out.data();
  if (b.numel() == 1 && so == sa) {  // fast path: tensor op scalar
    const B s = pb[0];
    parallel_for(0, out.numel(), elementwise_grain, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) po[i] = f(pa[i], s);
    });
    return out;
  }
  if (a.numel() == 1 && so == sb) {  // fast path: scalar op tensor
    const A s = pa[0];
    parallel_for(0, out.numel(), elementwise_grain, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) po[i] = f(s, pb[i]);
    });
    return out;
  }
  const shape strides[2] = {broadcast_strides(sa, so), broadcast_strides(sb, so)};
  for_each_run<2>(so, strides, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    const A* x = pa + off[0];
    const B* y = pb + off[1];
    Out* z = po + o;
    if (inner[0] == 1 && inner[1] == 1) {
      for (index_t i = 0; i < len; ++i) z[i] = f(x[i], y[i]);
    } else if (inner[0] == 1 && inner[1] == 0) {
      const B s = *y;
      for (index_t i = 0; i < len; ++i) z[i] = f(x[i], s);
    } else if (inner[0] == 0 && inner[1] == 1) {
      const A s = *x;
      for (index_t i = 0; i < len; ++i) z[i] = f(s, y[i]);
    } else {
      for (index_t i = 0; i < len; ++i) z[i] = f(x[i * inner[0]], y[i * inner[1]]);
    }
  });
  return out;
}

/// out = f(c, a, b) with three-way broadcasting (for where / clamp with tensor bounds).
template <class Out, class C, class A, class B, class F>
tensor<Out> map_ternary(const tensor<C>& c, const tensor<A>& a, const tensor<B>& b, const char* op, F f) {
  const shape so = broadcast_shapes(broadcast_shapes(c.shape(), a.shape(), op), b.shape(), op);
  auto out = tensor<Out>::empty(so);
  const shape strides[3] = {broadcast_strides(c.shape(), so), broadcast_strides(a.shape(), so),
                            broadcast_strides(b.shape(), so)};
  const C* pc = c.data();
  const A* pa = a.data();
  const B* pb = b.data();
  Out* po = out.data();
  for_each_run<3>(so, strides, [&](index_t o, const index_t* off, index_t len, const index_t* inner) {
    for (index_t i = 0; i < len; ++i) {
      po[o + i] = f(pc[off[0] + i * inner[0]], pa[off[1] + i * inner[1]], pb[off[2] + i * inner[2]]);
    }
  });
  return out;
}

}  // namespace kexue::detail
